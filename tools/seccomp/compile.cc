// `bulwark-seccomp compile PROFILE`: the filter the launcher would load, as
// raw BPF (struct sock_filter, 8 bytes each, host byte order), as a
// disassembly, or as libseccomp's PFC text.
#include <fcntl.h>
#include <linux/audit.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/strings.h"
#include "seccomp/bpf.h"
#include "seccomp/export.h"
#include "seccomp/profile_input.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp_tool {

namespace {

using json = nlohmann::json;

std::string as_bytes(const std::vector<struct sock_filter>& program) {
  return std::string(reinterpret_cast<const char*>(program.data()),
                     program.size() * sizeof(struct sock_filter));
}

// The instructions as numbers: libseccomp writes a program in its
// architecture's byte order, so one for a big-endian machine reads swapped
// here.
std::vector<struct sock_filter> host_order(std::vector<struct sock_filter> program,
                                           const std::string& arch) {
  const uint32_t here = seccomp::audit_arch(seccomp::native_arch_name());
  if ((seccomp::audit_arch(arch) & __AUDIT_ARCH_LE) == (here & __AUDIT_ARCH_LE)) return program;
  for (auto& ins : program) {
    ins.code = __builtin_bswap16(ins.code);
    ins.k = __builtin_bswap32(ins.k);
  }
  return program;
}

Result<void> write_output(const std::string& out, const std::string& data) {
  if (out.empty() || out == "-") {
    if (fwrite(data.data(), 1, data.size(), stdout) != data.size() || fflush(stdout) != 0)
      return sys_error("writing to stdout");
    return {};
  }
  return with_context(write_file_atomic(out, data, 0644, Durability::volatile_),
                      "writing '" + out + "'");
}

}  // namespace

int cmd_compile(const Common& common, const std::vector<std::string>& words) {
  auto args = parse_verb_args(words, common, {"caps", "arch", "format", "o", "output", "engine"});
  if (!args) return fail(common, args.error().message, 2);
  const Common& c = args->common;
  if (args->positional.size() != 1) return fail(c, "compile: expected one PROFILE", 2);
  std::string format = args->values.count("format") ? args->get("format") : "bpf";
  if (format != "bpf" && format != "asm" && format != "pfc")
    return fail(c, "--format: expected bpf, asm or pfc, found '" + format + "'", 2);
  std::string out = args->values.count("o") ? args->get("o") : args->get("output");
  auto target = target_from(*args);
  if (!target) return fail(c, target.error().message, 2);
  auto machine = arch_option(*args);
  if (!machine) return fail(c, machine.error().message, 2);
  target->machine = *machine;
  auto engine = engine_option(*args);
  if (!engine) return fail(c, engine.error().message, 2);
  const std::string native = seccomp::native_arch_name();
  std::string arch = machine->empty() ? native : *machine;
  // Bulwark's generator targets this machine only; libseccomp can build for
  // another architecture.
  if (arch != native && !args->values.count("engine")) *engine = seccomp::Engine::libseccomp_tree;
  if (arch != native && *engine == seccomp::Engine::bulwark)
    return fail(c, "--engine bulwark generates for this machine (" + native +
                       ") only; use --engine libseccomp-tree or libseccomp-linear with --arch", 2);
  bool to_stdout = out.empty() || out == "-";
  if (format == "bpf" && to_stdout && !c.json && isatty(STDOUT_FILENO))
    return fail(c, "compile: not writing binary BPF to a terminal; use -o FILE or --format asm", 2);

  auto profile = load_profile(args->positional[0], *target);
  if (!profile) return fail(c, profile.error().message, profile.error().code ? 2 : 1);
  const Profile& p = *profile;
  // The launcher's compile checks the whole section and lists the names
  // libseccomp does not know. For another machine it runs without the
  // section's architectures, which this machine may not be able to filter
  // (another byte order); libseccomp builds the program below.
  oci::Seccomp checked = p.section;
  if (arch != native) checked.architectures.clear();
  auto filter = seccomp::compile(checked, "", arch == native ? *engine : seccomp::Engine::bulwark);
  if (!filter) return fail(c, file_message(p.source.file, p.locate(filter.error().message)), 1);
  if (!filter->unknown_names.empty())
    fprintf(stderr, "bulwark-seccomp: %s\n",
            file_message(p.source.file,
                         strf("%s: %zu syscall name%s unknown to the installed libseccomp %s "
                              "left out of the filter: %s",
                              c.strict ? "error" : "warning", filter->unknown_names.size(),
                              filter->unknown_names.size() == 1 ? " is" : "s are",
                              c.strict ? "and would be" : "and",
                              join(filter->unknown_names, ", ").c_str()))
                .c_str());
  if (c.strict && !filter->unknown_names.empty()) return 1;

  bool tree = *engine != seccomp::Engine::libseccomp_linear;
  std::vector<struct sock_filter> program = filter->program;
  if (arch != native) {
    auto other = seccomp::export_bpf(p.section, arch, tree);
    if (!other) return fail(c, file_message(p.source.file, "compiling for " + arch + ": " +
                                                               other.error().text()), 1);
    program = std::move(*other);
  }
  std::string data;
  if (format == "bpf") {
    data = as_bytes(program);
  } else if (format == "asm") {
    data = seccomp::disassemble(host_order(program, arch));
  } else {
    // PFC is libseccomp's text: the libseccomp rendering of the section.
    auto pfc = seccomp::export_pfc(p.section, arch, tree);
    if (!pfc) return fail(c, "seccomp_export_pfc: " + pfc.error().text(), 1);
    data = std::move(*pfc);
  }

  if (!c.json) {
    if (auto w = write_output(out, data); !w) return fail(c, w.error().text(), 2);
    if (!to_stdout)
      fprintf(stderr, "bulwark-seccomp: wrote %s (%zu BPF instructions for %s, %s engine) to %s\n",
              format.c_str(), program.size(), arch.c_str(), seccomp::engine_name(*engine),
              out.c_str());
    return 0;
  }
  json j = {{"profile", p.source.file},
            {"form", form_name(p.source.form)},
            {"arch", arch},
            {"architectures", p.section.architectures},
            {"format", format},
            {"engine", format == "pfc" ? (tree ? "libseccomp-tree" : "libseccomp-linear")
                                       : seccomp::engine_name(*engine)},
            {"instructions", program.size()},
            {"bytes", program.size() * sizeof(struct sock_filter)},
            {"flags", filter->flags},
            {"uses_notify", filter->uses_notify},
            {"unknown_names", filter->unknown_names},
            {"output", to_stdout ? json(nullptr) : json(out)}};
  if (p.source.form == ProfileForm::docker) j["caps"] = p.target.caps;
  if (!to_stdout) {
    if (auto w = write_output(out, data); !w) return fail(c, w.error().text(), 2);
  } else if (format == "bpf") {
    j["program"] = json::array();
    for (const auto& ins : host_order(program, arch))
      j["program"].push_back({{"code", ins.code}, {"jt", ins.jt}, {"jf", ins.jf}, {"k", ins.k}});
  } else {
    j["text"] = data;
  }
  printf("%s\n", j.dump(2).c_str());
  return 0;
}

}  // namespace bw::seccomp_tool
