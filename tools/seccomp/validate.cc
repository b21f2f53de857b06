// `bulwark-seccomp validate PROFILE`: every schema and semantic problem of a
// profile, each with the JSON path of the field, then the checks that need
// the profile resolved and compiled (the launcher's own compile, and whether
// the workload's execve would get through).
#include <linux/seccomp.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "base/strings.h"
#include "seccomp/bpf.h"
#include "seccomp/evaluate.h"
#include "seccomp/export.h"
#include "seccomp/profile_input.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp_tool {

namespace {

using json = nlohmann::json;

// The kernel caps an errno return at MAX_ERRNO.
constexpr uint64_t kMaxErrno = 4095;

constexpr const char* kActions[] = {"SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
                                    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};
constexpr const char* kOps[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",       "SCMP_CMP_EQ",
                                "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
// The runtime spec's architectures; libseccomp may know fewer.
constexpr const char* kArches[] = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",      "SCMP_ARCH_X32",       "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",        "SCMP_ARCH_MIPS64",    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64",    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",     "SCMP_ARCH_S390",      "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64",    "SCMP_ARCH_RISCV64",   "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",    "SCMP_ARCH_SH",          "SCMP_ARCH_SHEB"};
constexpr const char* kFlags[] = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};

template <size_t N>
bool one_of(const std::string& s, const char* const (&list)[N]) {
  for (const char* e : list)
    if (s == e) return true;
  return false;
}

template <size_t N>
std::string list_text(const char* const (&list)[N]) {
  return join(std::vector<std::string>(std::begin(list), std::end(list)), ", ");
}

bool takes_errno(const std::string& action) {
  return action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE";
}

struct Finding {
  bool error = false;
  std::string path;  // JSON path in the file; "" for the file as a whole
  std::string message;
};

// Walks the section's JSON, collecting every problem instead of stopping at
// the first, so that one run shows all of them.
class Checker {
 public:
  // machine: the architecture Docker profiles are resolved for.
  Checker(const ProfileSource& src, bool strict, std::string machine)
      : src_(src), strict_(strict), machine_(std::move(machine)) {}

  // rel: a JSON path inside the section ("syscalls[3].action"; "" for the
  // section itself).
  void error(const std::string& rel, const std::string& m) { error_at(abs(rel), m); }
  void warning(const std::string& rel, const std::string& m) {
    findings_.push_back(Finding{strict_, abs(rel), strict_ ? m + " [--strict]" : m});
  }
  // path: a JSON path in the file.
  void warning_at(const std::string& path, const std::string& m) {
    findings_.push_back(Finding{strict_, path, strict_ ? m + " [--strict]" : m});
  }
  void error_at(const std::string& path, const std::string& m) {
    findings_.push_back(Finding{true, path, m});
  }
  bool has_errors() const {
    for (const auto& f : findings_)
      if (f.error) return true;
    return false;
  }
  std::vector<Finding>& findings() { return findings_; }

  void check_section(const json& s);

 private:
  std::string abs(const std::string& rel) const {
    return rel.empty() && src_.base.empty() ? "" : src_.path(rel);
  }
  bool docker() const { return src_.form == ProfileForm::docker; }

  // nullptr when absent or null, as Go and the OCI parser treat null.
  static const json* member(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  void wrong_type(const std::string& p, const char* expected, const json& v) {
    error(p, strf("expected %s, found %s", expected, v.type_name()));
  }
  const json* string_field(const json& obj, const char* key, const std::string& p, bool required);
  std::optional<uint64_t> uint_field(const json& obj, const char* key, const std::string& p,
                                     bool required);
  std::vector<std::string> strings_field(const json& obj, const char* key, const std::string& p);
  void unknown_keys(const json& obj, const std::string& p, std::initializer_list<const char*> oci,
                    std::initializer_list<const char*> docker_only);
  std::optional<std::string> action_field(const json& obj, const char* key, const std::string& p);
  void errno_fields(const json& obj, const char* number_key, const char* name_key,
                    const std::string& action, const std::string& p);
  void check_arches(const json& obj, const char* key, const std::string& p, bool used);
  void check_arch(const std::string& arch, const std::string& path, bool used);
  void check_conditions(const json& rule, const char* key, const std::string& p);
  void check_rule(const json& rule, const std::string& p, bool& notify);
  void check_arg(const json& arg, const std::string& p, std::array<int, 6>& per_index);

  const ProfileSource& src_;
  bool strict_;
  std::string machine_;
  std::vector<Finding> findings_;
};

const json* Checker::string_field(const json& obj, const char* key, const std::string& p,
                                  bool required) {
  const json* v = member(obj, key);
  std::string path = p.empty() ? key : p + "." + key;
  if (!v) {
    if (required) error(path, "missing");
    return nullptr;
  }
  if (!v->is_string()) {
    wrong_type(path, "a string", *v);
    return nullptr;
  }
  return v;
}

std::optional<uint64_t> Checker::uint_field(const json& obj, const char* key, const std::string& p,
                                            bool required) {
  const json* v = member(obj, key);
  std::string path = p.empty() ? key : p + "." + key;
  if (!v) {
    if (required) error(path, "missing");
    return std::nullopt;
  }
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer())
    error(path, strf("expected an unsigned integer, found %s", v->dump().c_str()));
  else if (v->is_number_float())
    error(path, strf("expected an integer, found %s", v->dump().c_str()));
  else
    wrong_type(path, "an unsigned integer", *v);
  return std::nullopt;
}

std::vector<std::string> Checker::strings_field(const json& obj, const char* key,
                                                const std::string& p) {
  std::vector<std::string> out;
  const json* v = member(obj, key);
  std::string path = p.empty() ? key : p + "." + key;
  if (!v) return out;
  if (!v->is_array()) {
    wrong_type(path, "an array of strings", *v);
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string())
      wrong_type(strf("%s[%zu]", path.c_str(), i), "a string", (*v)[i]);
    else
      out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

void Checker::unknown_keys(const json& obj, const std::string& p,
                           std::initializer_list<const char*> oci,
                           std::initializer_list<const char*> docker_only) {
  for (const auto& [key, value] : obj.items()) {
    std::string path = p.empty() ? key : p + "." + key;
    bool is_oci = false, is_docker = false;
    for (const char* k : oci) is_oci |= key == k;
    for (const char* k : docker_only) is_docker |= key == k;
    if (is_oci || (is_docker && docker())) continue;
    if (is_docker)
      warning(path, "a Docker profile field, which OCI runtimes ignore" +
                        std::string(key == "includes" || key == "excludes"
                                        ? ": the rule applies whatever it says"
                                        : ""));
    else
      warning(path, "unknown field, ignored");
  }
}

std::optional<std::string> Checker::action_field(const json& obj, const char* key,
                                                 const std::string& p) {
  const json* v = string_field(obj, key, p, true);
  if (!v) return std::nullopt;
  std::string action = v->get<std::string>();
  std::string path = p.empty() ? key : p + "." + key;
  if (!one_of(action, kActions)) {
    error(path, strf("unknown action '%s' (expected one of %s)", action.c_str(),
                     list_text(kActions).c_str()));
    return std::nullopt;
  }
  return action;
}

void Checker::errno_fields(const json& obj, const char* number_key, const char* name_key,
                           const std::string& action, const std::string& p) {
  std::string path = p.empty() ? number_key : p + "." + number_key;
  auto number = uint_field(obj, number_key, p, false);
  if (number && *number > kMaxErrno)
    error(path, strf("%llu is out of range (an errno is 1-%llu)",
                     static_cast<unsigned long long>(*number),
                     static_cast<unsigned long long>(kMaxErrno)));
  else if (number && *number == 0)
    warning(path, "errno 0 makes the syscall return 0 without running it");
  const json* name = docker() ? string_field(obj, name_key, p, false) : nullptr;
  if (name) {
    std::string n = name->get<std::string>();
    std::optional<uint64_t> by_name;
    for (int e = 1; e < 4096 && !by_name; ++e) {
      const char* en = strerrorname_np(e);
      if (en && n == en) by_name = static_cast<uint64_t>(e);
    }
    std::string npath = p.empty() ? name_key : p + "." + name_key;
    if (!by_name)
      error(npath, strf("unknown errno name '%s'", n.c_str()));
    else if (number && *number != *by_name)
      error(npath, strf("'%s' is %llu, but %s says %llu", n.c_str(),
                        static_cast<unsigned long long>(*by_name), number_key,
                        static_cast<unsigned long long>(*number)));
  }
  if ((number || name) && !action.empty() && !takes_errno(action))
    error(number ? path : (p.empty() ? name_key : p + "." + name_key),
          strf("not allowed with action %s (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one)",
               action.c_str()));
}

// used: the filter is built with these architectures (`architectures`, or
// the archMap entry of this machine), so libseccomp must know them; other
// archMap entries only need to be valid names.
void Checker::check_arches(const json& obj, const char* key, const std::string& p, bool used) {
  std::string path = p.empty() ? key : p + "." + key;
  auto arches = strings_field(obj, key, p);
  for (size_t i = 0; i < arches.size(); ++i)
    check_arch(arches[i], strf("%s[%zu]", path.c_str(), i), used);
}

void Checker::check_arch(const std::string& arch, const std::string& path, bool used) {
  if (!one_of(arch, kArches))
    error(path, strf("unknown architecture '%s' (expected one of %s)", arch.c_str(),
                     list_text(kArches).c_str()));
  else if (seccomp::normalize_arch(arch) != arch && used)
    error(path, strf("architecture '%s' is unknown to the installed libseccomp", arch.c_str()));
  else if (seccomp::normalize_arch(arch) != arch)
    warning(path, strf("architecture '%s' is unknown to the installed libseccomp; a profile "
                       "resolved for it could not be compiled here", arch.c_str()));
}

void Checker::check_conditions(const json& rule, const char* key, const std::string& p) {
  const json* c = member(rule, key);
  std::string path = p + "." + key;
  if (!c) return;
  if (!c->is_object()) return wrong_type(path, "an object", *c);
  unknown_keys(*c, path, {"caps", "arches", "minKernel"}, {});
  auto caps = strings_field(*c, "caps", path);
  for (size_t i = 0; i < caps.size(); ++i)
    if (!parse_caps(caps[i]) || !caps[i].starts_with("CAP_"))
      warning(strf("%s.caps[%zu]", path.c_str(), i),
              strf("unknown capability '%s'", caps[i].c_str()));
  (void)strings_field(*c, "arches", path);
  if (const json* k = string_field(*c, "minKernel", path, false)) {
    std::string v = k->get<std::string>();
    auto parts = split(v, '.');
    bool ok = parts.size() >= 2 && parts.size() <= 3;
    for (const auto& part : parts) ok = ok && parse_int(part) && *parse_int(part) >= 0;
    if (!ok) error(path + ".minKernel", strf("'%s' is not a kernel version like '4.8'", v.c_str()));
  }
}

void Checker::check_arg(const json& arg, const std::string& p, std::array<int, 6>& per_index) {
  if (!arg.is_object()) return wrong_type(p, "an object", arg);
  unknown_keys(arg, p, {"index", "value", "valueTwo", "op"}, {});
  auto index = uint_field(arg, "index", p, true);
  if (index && *index > 5)
    error(p + ".index", strf("%llu is out of range (a syscall has arguments 0-5)",
                             static_cast<unsigned long long>(*index)));
  else if (index)
    ++per_index[*index];
  auto value = uint_field(arg, "value", p, !docker());
  auto value_two = uint_field(arg, "valueTwo", p, false);
  if (const json* op = string_field(arg, "op", p, true)) {
    std::string o = op->get<std::string>();
    if (!one_of(o, kOps))
      error(p + ".op", strf("unknown operator '%s' (expected one of %s)", o.c_str(),
                            list_text(kOps).c_str()));
    else if (o == "SCMP_CMP_MASKED_EQ" && value_two && (*value_two & ~value.value_or(0)))
      warning(p + ".valueTwo",
              strf("has bits outside the mask %#llx (value), which are ignored: the "
                   "comparison is arg & %#llx == %#llx",
                   static_cast<unsigned long long>(value.value_or(0)),
                   static_cast<unsigned long long>(value.value_or(0)),
                   static_cast<unsigned long long>(*value_two & value.value_or(0))));
  }
}

void Checker::check_rule(const json& rule, const std::string& p, bool& notify) {
  if (!rule.is_object()) return wrong_type(p, "an object", rule);
  unknown_keys(rule, p, {"names", "action", "errnoRet", "args", "comment"},
               {"name", "includes", "excludes", "errno"});
  // (name, its path) from "names" and Docker's single "name".
  std::vector<std::pair<std::string, std::string>> names;
  std::vector<std::string> listed = strings_field(rule, "names", p);
  for (size_t i = 0; i < listed.size(); ++i)
    names.emplace_back(listed[i], strf("%s.names[%zu]", p.c_str(), i));
  const json* single = docker() ? string_field(rule, "name", p, false) : nullptr;
  if (single && member(rule, "names"))
    error(p, "both 'name' and 'names' are given; use 'names'");
  if (single) names.emplace_back(single->get<std::string>(), p + ".name");
  if (!member(rule, "names") && !single) error(p + ".names", "missing");
  else if (names.empty() && member(rule, "names")->is_array())
    error(p + ".names", "must not be empty");
  for (const auto& [name, np] : names) {
    if (name.empty()) error(np, "empty syscall name");
    else if (!seccomp::syscall_number(seccomp::native_arch_name(), name))
      warning(np, strf("syscall '%s' is unknown to the installed libseccomp; the compiled "
                       "filter leaves it out", name.c_str()));
  }
  auto action = action_field(rule, "action", p);
  notify |= action && *action == "SCMP_ACT_NOTIFY";
  errno_fields(rule, "errnoRet", "errno", action.value_or(""), p);
  if (const json* args = member(rule, "args")) {
    if (!args->is_array()) return wrong_type(p + ".args", "an array", *args);
    std::array<int, 6> per_index{};
    for (size_t j = 0; j < args->size(); ++j)
      check_arg((*args)[j], strf("%s.args[%zu]", p.c_str(), j), per_index);
    for (size_t i = 0; i < per_index.size(); ++i)
      if (per_index[i] > 1)
        warning(p + ".args", strf("argument %zu is compared %d times; like runc, the rule "
                                  "matches when ANY of these comparisons holds",
                                  i, per_index[i]));
  }
  check_conditions(rule, "includes", p);
  check_conditions(rule, "excludes", p);
}

void Checker::check_section(const json& s) {
  if (!s.is_object()) return wrong_type("", "an object", s);
  unknown_keys(s, "", {"defaultAction", "defaultErrnoRet", "architectures", "flags",
                       "listenerPath", "listenerMetadata", "syscalls"},
               {"archMap", "defaultErrno"});
  auto def = action_field(s, "defaultAction", "");
  if (def && *def == "SCMP_ACT_NOTIFY")
    error("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action (the runtime's own "
                           "syscalls before exec would wait for a listener)");
  errno_fields(s, "defaultErrnoRet", "defaultErrno", def.value_or(""), "");
  check_arches(s, "architectures", "", true);
  if (const json* map = docker() ? member(s, "archMap") : nullptr) {
    if (!map->is_array()) {
      wrong_type("archMap", "an array", *map);
    } else {
      for (size_t i = 0; i < map->size(); ++i) {
        std::string p = strf("archMap[%zu]", i);
        const json& e = (*map)[i];
        if (!e.is_object()) {
          wrong_type(p, "an object", e);
          continue;
        }
        unknown_keys(e, p, {"architecture", "subArchitectures"}, {});
        const json* a = string_field(e, "architecture", p, true);
        bool here = a && a->get<std::string>() == machine_;
        if (a) check_arch(a->get<std::string>(), p + ".architecture", here);
        check_arches(e, "subArchitectures", p, here);
      }
    }
  }
  auto flags = strings_field(s, "flags", "");
  for (size_t i = 0; i < flags.size(); ++i)
    if (!one_of(flags[i], kFlags))
      error(strf("flags[%zu]", i), strf("unknown flag '%s' (expected one of %s)", flags[i].c_str(),
                                         list_text(kFlags).c_str()));
  const json* listener = string_field(s, "listenerPath", "", false);
  (void)string_field(s, "listenerMetadata", "", false);
  bool notify = false;
  if (const json* rules = member(s, "syscalls")) {
    if (!rules->is_array()) return wrong_type("syscalls", "an array", *rules);
    for (size_t i = 0; i < rules->size(); ++i)
      check_rule((*rules)[i], strf("syscalls[%zu]", i), notify);
  }
  if (notify && !listener)
    error("listenerPath", "missing; it is required when a rule uses SCMP_ACT_NOTIFY");
}

// The workload is started with execve by the launcher after the filter is in
// place, so a profile that denies it can never run anything.
void check_exec(const Profile& p, const std::string& arch, Checker& c) {
  for (const char* name : {"execve", "execveat"}) {
    auto d = seccomp::evaluate(p.section, arch, name, {});
    if (!d) {
      c.warning("", strf("could not evaluate %s: %s", name, d.error().text().c_str()));
      continue;
    }
    uint32_t action = d->ret & SECCOMP_RET_ACTION_FULL;
    std::string path = p.rule_path(d->rule);
    std::string what = strf("%s is %s by %s (%s)", name, seccomp::describe_action(d->ret).c_str(),
                            d->rule < 0 ? "the default action" : "this rule", d->reason.c_str());
    if (action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG) continue;
    if (action == SECCOMP_RET_USER_NOTIF)
      c.warning_at(path, what + "; the workload starts only if the listener allows it");
    else
      c.error_at(path, what + ": the workload could never start");
  }
}

// libseccomp lets the first unconditional rule for a syscall decide alone
// (see model.h): later unconditional rules and all conditional ones for that
// syscall are dropped. Rules with the default action are dropped before that.
void check_shadowed(const Profile& p, Checker& c) {
  const oci::Seccomp& s = p.section;
  auto def = seccomp::action_ret(s.default_action, s.default_errno_ret);
  if (!def) return;
  std::map<std::string, size_t> decides;  // name -> first unconditional rule
  std::vector<uint32_t> rets;
  for (size_t i = 0; i < s.syscalls.size(); ++i) {
    auto ret = seccomp::action_ret(s.syscalls[i].action, s.syscalls[i].errno_ret);
    rets.push_back(ret ? *ret : *def);
    if (rets[i] == *def || !s.syscalls[i].args.empty()) continue;
    for (const auto& name : s.syscalls[i].names) decides.emplace(name, i);
  }
  for (size_t i = 0; i < s.syscalls.size(); ++i) {
    if (rets[i] == *def) continue;
    std::map<size_t, std::vector<std::string>> by;  // deciding rule -> names it takes over
    for (const auto& name : s.syscalls[i].names) {
      auto it = decides.find(name);
      if (it != decides.end() && it->second != i && rets[it->second] != rets[i])
        by[it->second].push_back(name);
    }
    for (const auto& [j, names] : by)
      c.warning_at(p.rule_path(static_cast<int>(i)),
                   strf("never applies to %s: %s decides %s unconditionally (%s), and libseccomp "
                        "lets such a rule decide alone",
                        join(names, ", ").c_str(), p.rule_path(static_cast<int>(j)).c_str(),
                        names.size() == 1 ? "it" : "them",
                        seccomp::describe_action(rets[j]).c_str()));
  }
}

// "linux.seccomp.syscalls[3] (name 'x'): unknown action" -> path and the
// rest, when the message starts with a JSON path.
Finding library_finding(const std::string& message) {
  size_t colon = message.find(": ");
  std::string head = message.substr(0, colon == std::string::npos ? 0 : colon);
  if (auto named = head.find(" (name '"); named != std::string::npos && head.ends_with("')"))
    head.resize(named);
  if (colon == std::string::npos || head.empty() || head.find(' ') != std::string::npos)
    return Finding{true, "", message};
  return Finding{true, head, message.substr(colon + 2)};
}

// Errors about a profile file start with "FILE: ".
std::string without_file(const std::string& file, const std::string& message) {
  std::string prefix = file_message(file, "");
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

void print_human(const std::string& file, const std::vector<Finding>& findings) {
  for (const auto& f : findings)
    fprintf(stderr, "%s\n",
            file_message(file, strf("%s: %s%s%s", f.error ? "error" : "warning",
                                        f.path.c_str(), f.path.empty() ? "" : ": ",
                                        f.message.c_str()))
                .c_str());
}

}  // namespace

int cmd_validate(const Common& common, const std::vector<std::string>& words) {
  auto args = parse_verb_args(words, common, {"caps", "arch"});
  if (!args) return fail(common, args.error().message, 2);
  if (args->positional.size() != 1)
    return fail(args->common, "validate: expected one PROFILE", 2);
  const Common& c = args->common;
  auto target = target_from(*args);
  if (!target) return fail(c, target.error().message, 2);
  auto arch = arch_option(*args);
  if (!arch) return fail(c, arch.error().message, 2);
  target->machine = *arch;
  const std::string& file = args->positional[0];

  std::vector<Finding> findings;
  std::optional<ProfileSource> src;
  std::optional<Profile> profile;
  size_t instructions = 0;
  if (auto s = read_profile(file)) {
    src = std::move(*s);
  } else if (s.error().code != 0) {
    return fail(c, s.error().text(), 2);  // unreadable: not a finding about the profile
  } else {
    findings.push_back(library_finding(without_file(file, s.error().message)));
  }
  if (src) {
    Checker checker(*src, c.strict,
                    target->machine.empty() ? seccomp::native_arch_name() : target->machine);
    checker.check_section(src->section);
    // Only a profile without schema errors is resolved and compiled, so that
    // each problem is reported once, at its own path.
    if (!checker.has_errors()) {
      auto p = resolve_profile(*src, *target);
      std::optional<seccomp::Filter> filter;
      bool here = target->machine.empty() || target->machine == seccomp::native_arch_name();
      if (p) {
        // For another machine, without its architectures, which this one may
        // not be able to filter (another byte order).
        oci::Seccomp checked = p->section;
        if (!here) checked.architectures.clear();
        auto f = seccomp::compile(checked, "");
        if (f) filter = std::move(*f);
        else checker.findings().push_back(library_finding(p->locate(f.error().message)));
      } else {
        checker.findings().push_back(library_finding(without_file(file, p.error().message)));
      }
      if (filter) {
        if (here) instructions = filter->program.size();
        profile = std::move(*p);
        std::string on = target->machine.empty() ? seccomp::native_arch_name() : target->machine;
        check_shadowed(*profile, checker);
        if (auto note = place_on_arch(*profile, on); note)
          check_exec(*profile, on, checker);
        else
          checker.findings().push_back(library_finding(note.error().message));
      }
    }
    findings = std::move(checker.findings());
  }
  size_t errors = 0, warnings = 0;
  for (const auto& f : findings) ++(f.error ? errors : warnings);
  bool valid = errors == 0;

  if (c.json) {
    json out = {{"profile", file},
                {"valid", valid},
                {"form", src ? json(form_name(src->form)) : json(nullptr)},
                {"errors", json::array()},
                {"warnings", json::array()}};
    for (const auto& f : findings)
      out[f.error ? "errors" : "warnings"].push_back({{"path", f.path}, {"message", f.message}});
    if (profile) {
      out["architectures"] = profile->section.architectures;
      out["rules"] = profile->section.syscalls.size();
      out["instructions"] = instructions ? json(instructions) : json(nullptr);
      if (profile->source.form == ProfileForm::docker) out["caps"] = profile->target.caps;
    }
    printf("%s\n", out.dump(2).c_str());
    return valid ? 0 : 1;
  }
  print_human(file, findings);
  if (!valid) {
    fprintf(stderr, "%s\n", file_message(file, strf("invalid: %zu error%s, %zu warning%s", errors,
                                                    errors == 1 ? "" : "s", warnings,
                                                    warnings == 1 ? "" : "s")).c_str());
    return 1;
  }
  std::string how = form_name(profile->source.form);
  if (profile->source.form == ProfileForm::docker)
    how += strf(" resolved with %zu capabilities", profile->target.caps.size());
  std::vector<std::string> arches = profile->section.architectures;
  if (arches.empty()) arches.push_back(seccomp::native_arch_name());
  std::string size = instructions ? strf("; %zu BPF instructions", instructions) : "";
  printf("%s\n", file_message(file, strf("valid (%s; %zu rules, %s%s%s)",
                                         how.c_str(), profile->section.syscalls.size(),
                                         join(arches, ", ").c_str(), size.c_str(),
                                         warnings ? strf("; %zu warning%s", warnings,
                                                         warnings == 1 ? "" : "s").c_str()
                                                  : "")).c_str());
  return 0;
}

}  // namespace bw::seccomp_tool
