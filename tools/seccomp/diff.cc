// `bulwark-seccomp diff A B`: the syscalls and argument rules one profile
// allows and the other does not (seccomp::diff_profiles). Exit 0 when they
// decide every probed call the same, 1 when not, 2 when a profile cannot be
// read or resolved (as diff(1) does).
#include <cctype>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "base/strings.h"
#include "seccomp/bpf.h"
#include "seccomp/diff.h"
#include "seccomp/export.h"
#include "seccomp/profile_input.h"

namespace bw::seccomp_tool {

namespace {

using json = nlohmann::json;

// "SCMP_ARCH_X86_64" -> "x86_64", for people.
std::string short_arch(const std::string& oci) {
  std::string s = oci.starts_with("SCMP_ARCH_") ? oci.substr(10) : oci;
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string args_text(const std::array<uint64_t, 6>& args) {
  size_t last = 0;
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i]) last = i + 1;
  std::vector<std::string> parts;
  for (size_t i = 0; i < last; ++i)
    parts.push_back(strf("%#llx", static_cast<unsigned long long>(args[i])));
  return join(parts, ", ");
}

// " [x86]" when the difference holds on some of the compared architectures only.
std::string where(const seccomp::SyscallDiff& d, const seccomp::ProfileDiff& r) {
  if (d.arches.size() == r.arches.size()) return "";
  std::vector<std::string> a;
  for (const auto& arch : d.arches) a.push_back(short_arch(arch));
  return " [" + join(a, ", ") + "]";
}

std::string profile_label(const Profile& p) {
  std::string s = p.source.file + " (" + form_name(p.source.form);
  if (p.source.form == ProfileForm::docker)
    s += strf(", %zu capabilities", p.target.caps.size());
  return s + ")";
}

void print_human(const Profile& a, const Profile& b, const seccomp::ProfileDiff& r) {
  std::vector<std::string> arches;
  for (const auto& arch : r.arches) arches.push_back(short_arch(arch));
  printf("A: %s\nB: %s\n", profile_label(a).c_str(), profile_label(b).c_str());
  printf("compared %zu syscalls across %s (%zu evaluations each)\n", r.syscalls,
         join(arches, ", ").c_str(), r.probes);
  if (r.equal()) {
    printf("no differences\n");
  }
  for (auto kind : {seccomp::DiffKind::only_a, seccomp::DiffKind::only_b}) {
    std::vector<std::string> names;
    for (const auto& d : r.differences)
      if (d.kind == kind) names.push_back(d.name + where(d, r));
    if (!names.empty())
      printf("only %s allows: %s\n", kind == seccomp::DiffKind::only_a ? "A" : "B",
             join(names, ", ").c_str());
  }
  // Syscalls with argument rules one by one, with the calls they disagree on.
  bool headers[2] = {false, false};  // arguments, actions
  for (auto kind : {seccomp::DiffKind::arguments, seccomp::DiffKind::actions}) {
    bool& header = headers[kind == seccomp::DiffKind::actions];
    for (const auto& d : r.differences) {
      if (d.kind != kind || (kind == seccomp::DiffKind::actions && !d.checks_args)) continue;
      if (!header)
        printf("%s:\n", kind == seccomp::DiffKind::arguments ? "different argument rules"
                                                              : "different actions");
      header = true;
      printf("  %s%s (A: %s | B: %s)\n", d.name.c_str(), where(d, r).c_str(), d.a_rules.c_str(),
             d.b_rules.c_str());
      for (const auto& e : d.examples)
        printf("      %s(%s): A %s, B %s\n", d.name.c_str(), args_text(e.args).c_str(),
               seccomp::describe_action(e.a).c_str(), seccomp::describe_action(e.b).c_str());
    }
  }
  // The others grouped by what each profile does.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> groups;
  for (const auto& d : r.differences)
    if (d.kind == seccomp::DiffKind::actions && !d.checks_args)
      groups[{d.a_rules, d.b_rules}].push_back(d.name + where(d, r));
  if (!groups.empty() && !headers[1]) printf("different actions:\n");
  for (const auto& [rules, names] : groups)
    printf("  A: %s | B: %s: %s\n", rules.first.c_str(), rules.second.c_str(),
           join(names, ", ").c_str());
}

json diff_json(const Profile& a, const Profile& b, const seccomp::ProfileDiff& r) {
  json j = {{"a", a.source.file},
            {"b", b.source.file},
            {"a_form", form_name(a.source.form)},
            {"b_form", form_name(b.source.form)},
            {"equal", r.equal()},
            {"architectures", r.arches},
            {"syscalls_compared", r.syscalls},
            {"evaluations", r.probes}};
  for (auto kind : {seccomp::DiffKind::only_a, seccomp::DiffKind::only_b,
                    seccomp::DiffKind::arguments, seccomp::DiffKind::actions})
    j[seccomp::diff_kind_name(kind)] = json::array();
  for (const auto& d : r.differences) {
    json e = {{"syscall", d.name},
              {"architectures", d.arches},
              {"a_rules", d.a_rules},
              {"b_rules", d.b_rules},
              {"checks_args", d.checks_args},
              {"examples", json::array()}};
    for (const auto& ex : d.examples)
      e["examples"].push_back({{"args", ex.args},
                               {"a", seccomp::describe_action(ex.a)},
                               {"b", seccomp::describe_action(ex.b)},
                               {"a_ret", ex.a},
                               {"b_ret", ex.b}});
    j[seccomp::diff_kind_name(d.kind)].push_back(std::move(e));
  }
  return j;
}

}  // namespace

int cmd_diff(const Common& common, const std::vector<std::string>& words) {
  auto args = parse_verb_args(words, common, {"caps", "arch"});
  if (!args) return fail(common, args.error().message, 2);
  const Common& c = args->common;
  if (args->positional.size() != 2) return fail(c, "diff: expected two profiles, A and B", 2);
  auto target = target_from(*args);
  if (!target) return fail(c, target.error().message, 2);
  auto arch = arch_option(*args);
  if (!arch) return fail(c, arch.error().message, 2);

  std::vector<Profile> profiles;
  for (const std::string& file : args->positional) {
    auto p = load_profile(file, *target);
    if (!p) return fail(c, p.error().message, 2);
    profiles.push_back(std::move(*p));
  }
  std::vector<std::string> arches;
  if (!arch->empty()) {
    for (Profile& p : profiles) {
      auto note = place_on_arch(p, *arch);
      if (!note) return fail(c, note.error().message, 2);
      if (!note->empty() && !c.json) fprintf(stderr, "bulwark-seccomp: %s: %s\n", p.source.file.c_str(), note->c_str());
    }
    arches.push_back(*arch);
  }
  auto result = seccomp::diff_profiles(profiles[0].section, profiles[1].section, arches);
  if (!result) return fail(c, "diff: " + result.error().text(), 2);
  if (c.json)
    printf("%s\n", diff_json(profiles[0], profiles[1], *result).dump(2).c_str());
  else
    print_human(profiles[0], profiles[1], *result);
  return result->equal() ? 0 : 1;
}

}  // namespace bw::seccomp_tool
