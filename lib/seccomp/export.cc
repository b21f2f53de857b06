// PFC and foreign-architecture BPF renderings of a profile with libseccomp,
// and the syscall tables the rest of the module uses.
//
// The libseccomp context is built from compile.cc's translation of the
// section the way its libseccomp engines build it; a unit test checks that
// export_bpf() for the native architecture gives compile()'s
// Engine::libseccomp_* programs byte for byte.
#include "seccomp/export.h"

#include <linux/filter.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <set>

#include "base/file.h"
#include "base/unique_fd.h"
#include "seccomp/internal.h"
#include "seccomp/model.h"

namespace bw::seccomp {

namespace {

using detail::ScmpCtx;
using detail::scmp_error;

// libseccomp's context for the section, as compile.cc's libseccomp engines
// build it.
Result<ScmpCtx> build_context(const oci::Seccomp& s, const std::string& target_arch,
                              bool binary_tree) {
  BW_ASSIGN_OR_RETURN(detail::TranslatedSection t, detail::translate_section(s));
  ScmpCtx ctx(seccomp_init(t.default_action));
  if (!ctx)
    return make_error(EINVAL, "libseccomp refused default action '%s'", s.default_action.c_str());
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1); rc < 0)
    return scmp_error(rc, "setting SCMP_FLTATR_API_SYSRAWRC");
  if (!target_arch.empty() && target_arch != detail::native_arch()) {
    uint32_t token = detail::arch_token(target_arch);
    if (token == 0) return make_error(0, "unknown architecture '%s'", target_arch.c_str());
    // Native out first: libseccomp refuses to mix byte orders in one filter.
    if (int rc = seccomp_arch_remove(ctx.get(), SCMP_ARCH_NATIVE); rc < 0)
      return scmp_error(rc, "removing the native architecture");
    if (int rc = seccomp_arch_add(ctx.get(), token); rc < 0 && rc != -EEXIST)
      return scmp_error(rc, strf("adding architecture '%s'", target_arch.c_str()));
  }
  for (uint32_t token : t.arch_tokens) {
    int rc = seccomp_arch_add(ctx.get(), token);
    if (rc < 0 && rc != -EEXIST) return scmp_error(rc, strf("adding architecture %#x", token));
  }
  if (binary_tree) {
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
      return scmp_error(rc, "setting SCMP_FLTATR_CTL_OPTIMIZE to 2");
  }
  for (size_t i = 0; i < t.rules.size(); ++i) {
    if (t.rules[i].action == t.default_action) continue;
    for (const std::string& name : s.syscalls[i].names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // compile() reports these as unknown_names
      for (const auto& conds : t.rules[i].cond_sets) {
        int rc = seccomp_rule_add_array(ctx.get(), t.rules[i].action, nr,
                                        static_cast<unsigned>(conds.size()), conds.data());
        if (rc < 0)
          return scmp_error(rc, strf("syscalls[%zu] (name '%s'): adding the rule", i,
                                     name.c_str()));
      }
    }
  }
  return ctx;
}

// libseccomp 2.5 exports to an fd only.
Result<std::string> export_to_string(void* ctx, int (*exporter)(const scmp_filter_ctx, int),
                                     const char* what) {
  int raw = memfd_create("bw-seccomp-export", MFD_CLOEXEC);
  if (raw < 0) return sys_error("memfd_create('bw-seccomp-export')");
  UniqueFd fd(raw);
  if (int rc = exporter(ctx, fd.get()); rc < 0) return scmp_error(rc, strf("%s", what));
  if (lseek(fd.get(), 0, SEEK_SET) < 0) return sys_error("lseek on the exported filter");
  return read_fd(fd.get());
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::string> export_pfc(const oci::Seccomp& s, const std::string& target_arch,
                               bool binary_tree) {
  BW_ASSIGN_OR_RETURN(ScmpCtx ctx, build_context(s, target_arch, binary_tree));
  return export_to_string(ctx.get(), seccomp_export_pfc, "seccomp_export_pfc");
}

Result<std::vector<struct sock_filter>> export_bpf(const oci::Seccomp& s,
                                                   const std::string& target_arch,
                                                   bool binary_tree) {
  BW_ASSIGN_OR_RETURN(ScmpCtx ctx, build_context(s, target_arch, binary_tree));
  BW_ASSIGN_OR_RETURN(std::string bytes,
                      export_to_string(ctx.get(), seccomp_export_bpf, "seccomp_export_bpf"));
  if (bytes.empty() || bytes.size() % sizeof(struct sock_filter) != 0)
    return make_error(EIO, "libseccomp exported %zu bytes, not whole BPF instructions",
                      bytes.size());
  std::vector<struct sock_filter> program(bytes.size() / sizeof(struct sock_filter));
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(program.data()));
  return program;
}

Result<uint32_t> action_ret(const std::string& action, std::optional<uint32_t> errno_ret) {
  oci::Seccomp s;
  s.default_action = action;
  s.default_errno_ret = errno_ret;
  auto t = detail::translate_section(s);
  if (!t) {
    // "linux.seccomp.defaultAction: unknown action ..." -> "unknown action ..."
    std::string m = t.error().message;
    if (auto colon = m.find(": "); colon != std::string::npos) m = m.substr(colon + 2);
    return make_error(0, "%s", m.c_str());
  }
  return t->default_action;
}

std::string native_arch_name() { return detail::native_arch(); }

std::string normalize_arch(const std::string& name) {
  std::string lib = lower(name);
  if (lib.starts_with("scmp_arch_")) lib = lib.substr(10);
  if (lib == "amd64") lib = "x86_64";
  if (lib == "arm64") lib = "aarch64";
  if (lib == "386" || lib == "i386") lib = "x86";
  std::string oci = "SCMP_ARCH_" + upper(lib);
  return detail::arch_token(oci) == 0 ? std::string() : oci;
}

Result<int> syscall_number(const std::string& arch, const std::string& name) {
  uint32_t token = detail::arch_token(arch);
  if (token == 0) return make_error(0, "unknown architecture '%s'", arch.c_str());
  if (seccomp_syscall_resolve_name(name.c_str()) == __NR_SCMP_ERROR)
    return make_error(0, "syscall '%s' is unknown to libseccomp %s", name.c_str(),
                      detail::libseccomp_version().c_str());
  return detail::syscall_number(token, name);
}

std::string syscall_name(const std::string& arch, int nr) {
  uint32_t token = detail::arch_token(arch);
  if (token == 0 || nr < 0) return {};
  return detail::syscall_name(token, static_cast<uint32_t>(nr));
}

const std::vector<std::string>& known_syscall_names() {
  // libseccomp has no list call; its table for any one architecture holds
  // every name, with pseudo-numbers (down to about -10250 in 2.5) for the
  // syscalls that architecture lacks.
  static const std::vector<std::string> names = [] {
    std::set<std::string> found;
    uint32_t native = seccomp_arch_native();
    for (int nr = -12000; nr < 4096; ++nr) {
      char* name = seccomp_syscall_resolve_num_arch(native, nr);
      if (!name) continue;
      found.insert(name);
      free(name);
    }
    return std::vector<std::string>(found.begin(), found.end());
  }();
  return names;
}

}  // namespace bw::seccomp
