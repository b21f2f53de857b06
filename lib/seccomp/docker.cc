// Docker/moby-format seccomp profiles -> OCI linux.seccomp, following moby's
// profiles/seccomp setupSeccomp() and containers/common's variant of it.
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "seccomp/internal.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp {

namespace {

using json = nlohmann::json;

Unexpected field_error(const std::string& path, const char* expected, const json& found) {
  return make_error(0, "seccomp profile: %s: expected %s, found %s", path.c_str(), expected,
                    found.type_name());
}

// Absent and null are both "not given", as Go's encoding/json treats them.
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> get_string(const json& obj, const char* key, const std::string& path) {
  const json* v = member(obj, key);
  if (!v) return std::string();
  if (!v->is_string()) return field_error(path + key, "a string", *v);
  return v->get<std::string>();
}

Result<std::optional<uint64_t>> get_uint(const json& obj, const char* key, const std::string& path,
                                         uint64_t max) {
  const json* v = member(obj, key);
  if (!v) return std::optional<uint64_t>();
  if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0))
    return field_error(path + key, "an unsigned integer", *v);
  uint64_t n = v->get<uint64_t>();
  if (n > max)
    return make_error(0, "seccomp profile: %s%s: %llu is out of range (at most %llu)", path.c_str(),
                      key, static_cast<unsigned long long>(n),
                      static_cast<unsigned long long>(max));
  return std::optional<uint64_t>(n);
}

Result<std::vector<std::string>> get_strings(const json& obj, const char* key,
                                             const std::string& path) {
  std::vector<std::string> out;
  const json* v = member(obj, key);
  if (!v) return out;
  if (!v->is_array()) return field_error(path + key, "an array of strings", *v);
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_string()) return field_error(strf("%s%s[%zu]", path.c_str(), key, i), "a string", e);
    out.push_back(e.get<std::string>());
  }
  return out;
}

// "ENOSYS" -> 38, by glibc's own table.
std::optional<uint32_t> errno_by_name(const std::string& name) {
  for (int e = 1; e < 512; ++e) {
    const char* n = strerrorname_np(e);
    if (n && name == n) return static_cast<uint32_t>(e);
  }
  return std::nullopt;
}

// containers/common gives errnos by name ("errno": "ENOSYS") beside or instead
// of the number; when both are present they must agree.
Result<std::optional<uint32_t>> get_errno(const json& obj, const char* number_key,
                                          const char* name_key, const std::string& path) {
  BW_ASSIGN_OR_RETURN(auto number, get_uint(obj, number_key, path, 0xFFFF));
  BW_ASSIGN_OR_RETURN(std::string name, get_string(obj, name_key, path));
  std::optional<uint32_t> out;
  if (number) out = static_cast<uint32_t>(*number);
  if (!name.empty()) {
    auto by_name = errno_by_name(name);
    if (!by_name)
      return make_error(0, "seccomp profile: %s%s: unknown errno name '%s'", path.c_str(), name_key,
                        name.c_str());
    if (out && *out != *by_name)
      return make_error(0, "seccomp profile: %s: %s %u and %s '%s' (%u) disagree", path.c_str(),
                        number_key, *out, name_key, name.c_str(), *by_name);
    out = *by_name;
  }
  return out;
}

using Version = std::array<unsigned, 3>;

// "6.1.0-18-amd64" -> {6, 1, 0}; "4.8" -> {4, 8, 0}. Missing parts are 0,
// like moby's kernel.ParseRelease. strict: nothing may follow the numbers.
std::optional<Version> parse_version(const std::string& s, bool strict) {
  Version v{};
  size_t pos = 0, part = 0;
  while (part < v.size()) {
    size_t start = pos;
    unsigned n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 9)
      n = n * 10 + static_cast<unsigned>(s[pos++] - '0');
    if (pos == start) return std::nullopt;
    v[part++] = n;
    if (pos < s.size() && s[pos] == '.' && part < v.size()) {
      ++pos;
      continue;
    }
    break;
  }
  if (part < 2 || (strict && pos != s.size())) return std::nullopt;
  return v;
}

struct Conditions {
  std::vector<std::string> caps, arches;
  std::string min_kernel;
};

Result<Conditions> get_conditions(const json& rule, const char* key, const std::string& path) {
  Conditions c;
  const json* v = member(rule, key);
  if (!v) return c;
  std::string p = path + key;
  if (!v->is_object()) return field_error(p, "an object", *v);
  p += '.';
  BW_ASSIGN_OR_RETURN(c.caps, get_strings(*v, "caps", p));
  BW_ASSIGN_OR_RETURN(c.arches, get_strings(*v, "arches", p));
  BW_ASSIGN_OR_RETURN(c.min_kernel, get_string(*v, "minKernel", p));
  return c;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& e : v)
    if (e == s) return true;
  return false;
}

struct Target {
  const std::vector<std::string>& caps;
  std::string arch;               // Docker's name of the native architecture: "amd64"
  std::string release;            // kernel release
  std::optional<Version> kernel;  // parsed lazily: only minKernel needs it
};

// kernel >= min_kernel.
Result<bool> kernel_at_least(Target& t, const std::string& min_kernel, const std::string& path) {
  auto min = parse_version(min_kernel, true);
  if (!min)
    return make_error(0, "seccomp profile: %sminKernel: '%s' is not a kernel version like '4.8'",
                      path.c_str(), min_kernel.c_str());
  if (!t.kernel) {
    t.kernel = parse_version(t.release, false);
    if (!t.kernel)
      return make_error(0, "seccomp profile: cannot read a version from kernel release '%s'",
                        t.release.c_str());
  }
  return *t.kernel >= *min;
}

// moby's rule filter. A rule applies when none of its excludes holds and all
// of its includes hold:
//  - excludes.arches: skipped if the native architecture is listed;
//  - excludes.caps: skipped if the container has ANY of the listed caps;
//  - excludes.minKernel: skipped if the kernel is at least that version;
//  - includes.arches: kept only if the native architecture is listed;
//  - includes.caps: kept only if the container has ALL of the listed caps
//    (moby loops over includes.Caps and `continue Loop`s on the first one
//    missing from the bounding set; containers/common does the same);
//  - includes.minKernel: kept only if the kernel is at least that version.
// Only the native architecture is compared, not the subArchitectures, as in moby.
Result<bool> rule_applies(const json& rule, const std::string& path, Target& t) {
  BW_ASSIGN_OR_RETURN(Conditions ex, get_conditions(rule, "excludes", path));
  BW_ASSIGN_OR_RETURN(Conditions in, get_conditions(rule, "includes", path));
  if (contains(ex.arches, t.arch)) return false;
  for (const auto& c : ex.caps)
    if (contains(t.caps, c)) return false;
  if (!ex.min_kernel.empty()) {
    BW_ASSIGN_OR_RETURN(bool newer, kernel_at_least(t, ex.min_kernel, path + "excludes."));
    if (newer) return false;
  }
  if (!in.arches.empty() && !contains(in.arches, t.arch)) return false;
  for (const auto& c : in.caps)
    if (!contains(t.caps, c)) return false;
  if (!in.min_kernel.empty()) {
    BW_ASSIGN_OR_RETURN(bool newer, kernel_at_least(t, in.min_kernel, path + "includes."));
    if (!newer) return false;
  }
  return true;
}

Result<oci::SeccompArg> get_arg(const json& a, const std::string& path) {
  if (!a.is_object()) return field_error(path, "an object", a);
  std::string p = path + ".";
  oci::SeccompArg arg;
  BW_ASSIGN_OR_RETURN(auto index, get_uint(a, "index", p, 0xFFFFFFFF));
  BW_ASSIGN_OR_RETURN(auto value, get_uint(a, "value", p, UINT64_MAX));
  BW_ASSIGN_OR_RETURN(auto value_two, get_uint(a, "valueTwo", p, UINT64_MAX));
  BW_ASSIGN_OR_RETURN(arg.op, get_string(a, "op", p));
  if (!index) return make_error(0, "seccomp profile: %sindex is missing", p.c_str());
  if (arg.op.empty()) return make_error(0, "seccomp profile: %sop is missing", p.c_str());
  arg.index = static_cast<uint32_t>(*index);
  arg.value = value.value_or(0);
  arg.value_two = value_two.value_or(0);
  return arg;
}

Result<oci::SeccompSyscall> get_syscall(const json& rule, const std::string& path) {
  oci::SeccompSyscall sc;
  BW_ASSIGN_OR_RETURN(std::string name, get_string(rule, "name", path));
  BW_ASSIGN_OR_RETURN(sc.names, get_strings(rule, "names", path));
  if (!name.empty() && !sc.names.empty())
    return make_error(0, "seccomp profile: %s: both 'name' and 'names' are given; use 'names'",
                      path.substr(0, path.size() - 1).c_str());
  if (!name.empty()) sc.names.push_back(name);
  BW_ASSIGN_OR_RETURN(sc.action, get_string(rule, "action", path));
  if (sc.action.empty()) return make_error(0, "seccomp profile: %saction is missing", path.c_str());
  BW_ASSIGN_OR_RETURN(sc.errno_ret, get_errno(rule, "errnoRet", "errno", path));
  if (const json* args = member(rule, "args")) {
    if (!args->is_array()) return field_error(path + "args", "an array", *args);
    for (size_t j = 0; j < args->size(); ++j) {
      BW_ASSIGN_OR_RETURN(auto arg, get_arg((*args)[j], strf("%sargs[%zu]", path.c_str(), j)));
      sc.args.push_back(std::move(arg));
    }
  }
  return sc;
}

// archMap: the entry for the native architecture gives `architectures`.
Result<std::vector<std::string>> arches_from_map(const json& map, const std::string& native) {
  std::vector<std::string> out;
  if (!map.is_array()) return field_error("archMap", "an array", map);
  for (size_t i = 0; i < map.size(); ++i) {
    const json& e = map[i];
    std::string p = strf("archMap[%zu]", i);
    if (!e.is_object()) return field_error(p, "an object", e);
    p += '.';
    BW_ASSIGN_OR_RETURN(std::string arch, get_string(e, "architecture", p));
    if (arch != native) continue;
    BW_ASSIGN_OR_RETURN(auto subs, get_strings(e, "subArchitectures", p));
    out.push_back(arch);
    for (auto& s : subs) out.push_back(std::move(s));
    break;
  }
  return out;
}

}  // namespace

Result<oci::Seccomp> from_docker_profile(const std::string& json_text,
                                         const std::vector<std::string>& caps,
                                         const std::string& kernel_release,
                                         const std::string& native_arch) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return make_error(0, "seccomp profile: invalid JSON: %s", e.what());
  }
  if (!doc.is_object()) return field_error("(top level)", "an object", doc);

  std::string native = native_arch.empty() ? detail::native_arch() : native_arch;
  if (!native.starts_with("SCMP_ARCH_"))
    return make_error(0, "seccomp profile: native architecture '%s' is not an SCMP_ARCH_* name",
                      native.c_str());
  Target target{caps,
                detail::docker_arch_name(native),
                kernel_release.empty() ? detail::kernel_release() : kernel_release,
                {}};

  oci::Seccomp s;
  BW_ASSIGN_OR_RETURN(s.default_action, get_string(doc, "defaultAction", ""));
  if (s.default_action.empty()) return make_error(0, "seccomp profile: defaultAction is missing");
  BW_ASSIGN_OR_RETURN(s.default_errno_ret, get_errno(doc, "defaultErrnoRet", "defaultErrno", ""));
  BW_ASSIGN_OR_RETURN(s.architectures, get_strings(doc, "architectures", ""));
  if (const json* map = member(doc, "archMap")) {
    if (!s.architectures.empty() && !map->empty())
      return make_error(0,
                        "seccomp profile: both 'architectures' and 'archMap' are given; "
                        "use one of them");
    BW_ASSIGN_OR_RETURN(s.architectures, arches_from_map(*map, native));
  }
  BW_ASSIGN_OR_RETURN(s.flags, get_strings(doc, "flags", ""));
  BW_ASSIGN_OR_RETURN(s.listener_path, get_string(doc, "listenerPath", ""));
  BW_ASSIGN_OR_RETURN(s.listener_metadata, get_string(doc, "listenerMetadata", ""));

  if (const json* rules = member(doc, "syscalls")) {
    if (!rules->is_array()) return field_error("syscalls", "an array", *rules);
    for (size_t i = 0; i < rules->size(); ++i) {
      const json& rule = (*rules)[i];
      std::string path = strf("syscalls[%zu]", i);
      if (!rule.is_object()) return field_error(path, "an object", rule);
      path += '.';
      // Every rule is parsed, applicable or not, so that a typo in a rule for
      // another architecture is still reported.
      BW_ASSIGN_OR_RETURN(oci::SeccompSyscall sc, get_syscall(rule, path));
      BW_ASSIGN_OR_RETURN(bool applies, rule_applies(rule, path, target));
      if (applies) s.syscalls.push_back(std::move(sc));
    }
  }
  return s;
}

}  // namespace bw::seccomp
