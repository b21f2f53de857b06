// Observed calls -> a minimal OCI seccomp section (see minimize.h for the
// rules it makes and why).
#include "seccomp/minimize.h"

#include <linux/audit.h>
#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/strings.h"
#include "seccomp/internal.h"

namespace bw::seccomp {

namespace {

constexpr uint32_t kX32SyscallBit = 0x40000000;

struct ArgRule {
  const char* name;
  bool namespace_mask;  // clone: values are flags & kCloneNamespaceMask
};
constexpr ArgRule kArgRules[] = {
    {"clone", true}, {"socket", false}, {"personality", false}, {"prctl", false}};

const ArgRule* arg_rule(std::string_view name) {
  for (const ArgRule& r : kArgRules)
    if (name == r.name) return &r;
  return nullptr;
}

// s390 passes clone's flags second (Docker's profile has the same exception).
int rule_index(const std::string& arch, const ArgRule& r) {
  if (r.namespace_mask && (arch == "SCMP_ARCH_S390" || arch == "SCMP_ARCH_S390X")) return 1;
  return 0;
}

// libseccomp token -> OCI name, for the architectures this libseccomp knows.
const std::map<uint32_t, std::string>& arch_names() {
  static const std::map<uint32_t, std::string> names = [] {
    constexpr const char* kNames[] = {
        "x86_64", "x86",    "x32",    "aarch64",   "arm",    "riscv64",  "s390",
        "s390x",  "ppc",    "ppc64",  "ppc64le",   "mips",   "mipsel",   "mips64",
        "mipsel64", "mips64n32", "mipsel64n32", "loongarch64", "parisc", "parisc64",
        "m68k", "sh", "sheb"};
    std::map<uint32_t, std::string> m;
    for (const char* n : kNames) {
      uint32_t token = seccomp_arch_resolve_name(n);
      if (token == 0) continue;
      std::string oci = "SCMP_ARCH_";
      for (const char* c = n; *c; ++c) oci += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
      m.emplace(token, oci);
    }
    return m;
  }();
  return names;
}

uint32_t arch_token_of(uint32_t audit_arch, int nr) {
  // x32 shares AUDIT_ARCH_X86_64 and marks its numbers with a bit instead.
  if (audit_arch == AUDIT_ARCH_X86_64 && (static_cast<uint32_t>(nr) & kX32SyscallBit))
    return SCMP_ARCH_X32;
  return audit_arch;  // libseccomp's tokens are the AUDIT_ARCH_* values
}

std::string syscall_name(uint32_t token, int nr) {
  std::unique_ptr<char, decltype(&std::free)> name(seccomp_syscall_resolve_num_arch(token, nr),
                                                   &std::free);
  return name ? std::string(name.get()) : std::string();
}

// What a name needs, merged over the architectures it was seen on.
struct NameUse {
  int index = -1;
  std::set<uint64_t> values;
  bool overflow = false;
};

oci::SeccompSyscall allow(std::vector<std::string> names) {
  oci::SeccompSyscall sc;
  sc.names = std::move(names);
  sc.action = "SCMP_ACT_ALLOW";
  return sc;
}

std::string hex(uint64_t v) { return strf("%#llx", static_cast<unsigned long long>(v)); }

void add_arg_rules(const std::string& name, const ArgRule& rule, const NameUse& use,
                   std::vector<oci::SeccompSyscall>& out) {
  for (uint64_t v : use.values) {
    oci::SeccompSyscall sc = allow({name});
    oci::SeccompArg a;
    a.index = static_cast<uint32_t>(use.index);
    if (rule.namespace_mask) {
      a.op = "SCMP_CMP_MASKED_EQ";
      a.value = kCloneNamespaceMask;
      a.value_two = v;
    } else {
      a.op = "SCMP_CMP_EQ";
      a.value = v;
    }
    sc.args.push_back(a);
    out.push_back(std::move(sc));
  }
}

// The base's rules that do not allow, minus the recorded names.
void keep_base_rules(const oci::Seccomp& base, const std::map<std::string, NameUse>& used,
                     MinimalProfile& out) {
  for (size_t i = 0; i < base.syscalls.size(); ++i) {
    const oci::SeccompSyscall& rule = base.syscalls[i];
    if (rule.action == "SCMP_ACT_ALLOW") continue;
    oci::SeccompSyscall kept = rule;
    kept.names.clear();
    std::vector<std::string> dropped;
    for (const std::string& n : rule.names) (used.count(n) ? dropped : kept.names).push_back(n);
    if (!dropped.empty())
      out.notes.push_back(strf("base syscalls[%zu] (%s) no longer covers %s: the command used %s",
                               i, rule.action.c_str(), join(dropped, ", ").c_str(),
                               dropped.size() == 1 ? "it" : "them"));
    if (!kept.names.empty()) out.profile.syscalls.push_back(std::move(kept));
  }
}

}  // namespace

std::string oci_arch_name(uint32_t audit_arch, int nr) {
  auto it = arch_names().find(arch_token_of(audit_arch, nr));
  return it == arch_names().end() ? std::string() : it->second;
}

void Recording::add(uint32_t audit_arch, int nr, const std::array<uint64_t, 6>& args, pid_t pid) {
  uint64_t key = (static_cast<uint64_t>(audit_arch) << 32) | static_cast<uint32_t>(nr);
  auto [it, fresh] = uses_.try_emplace(key);
  SyscallUse& u = it->second;
  if (fresh) {
    u.audit_arch = audit_arch;
    u.arch = oci_arch_name(audit_arch, nr);
    if (u.arch.empty()) u.arch = strf("AUDIT_ARCH_%#x", audit_arch);
    u.nr = nr;
    u.name = syscall_name(arch_token_of(audit_arch, nr), nr);
    u.first_pid = pid;
    u.first_args = args;
    if (const ArgRule* r = arg_rule(u.name)) u.rule_index = rule_index(u.arch, *r);
  }
  ++u.count;
  ++calls_;
  if (u.rule_index >= 0 && !u.values_overflow) {
    uint64_t v = args[static_cast<size_t>(u.rule_index)];
    if (arg_rule(u.name)->namespace_mask) v &= kCloneNamespaceMask;
    u.values.insert(v);
    if (u.values.size() > kMaxRuleValues) u.values_overflow = true;
  }
}

std::vector<const SyscallUse*> Recording::sorted() const {
  std::vector<const SyscallUse*> out;
  out.reserve(uses_.size());
  for (const auto& [key, use] : uses_) out.push_back(&use);
  std::sort(out.begin(), out.end(), [](const SyscallUse* a, const SyscallUse* b) {
    if (a->name.empty() != b->name.empty()) return b->name.empty();
    if (a->name != b->name) return a->name < b->name;
    if (a->arch != b->arch) return a->arch < b->arch;
    return a->nr < b->nr;
  });
  return out;
}

std::vector<std::string> Recording::architectures() const {
  std::set<std::string> seen;
  for (const auto& [key, use] : uses_) seen.insert(use.arch);
  std::vector<std::string> out;
  const std::string& native = detail::native_arch();
  if (seen.erase(native)) out.push_back(native);
  out.insert(out.end(), seen.begin(), seen.end());
  return out;
}

Result<MinimalProfile> minimal_profile(const Recording& r, const ProfileOptions& opts) {
  MinimalProfile out;
  oci::Seccomp& p = out.profile;
  const std::string native = opts.native_arch.empty() ? detail::native_arch() : opts.native_arch;
  if (opts.base) {
    p.default_action = opts.base->default_action;
    p.default_errno_ret = opts.base->default_errno_ret;
    p.architectures = opts.base->architectures;
    p.flags = opts.base->flags;
    p.listener_path = opts.base->listener_path;
    p.listener_metadata = opts.base->listener_metadata;
    if (p.default_action == "SCMP_ACT_ALLOW" || p.default_action == "SCMP_ACT_LOG")
      out.notes.push_back(strf("the base profile's defaultAction is %s: the recorded allow "
                               "rules change nothing",
                               p.default_action.c_str()));
  } else {
    p.default_action = "SCMP_ACT_ERRNO";
    p.default_errno_ret = EPERM;
    p.architectures.push_back(native);
  }
  for (const std::string& arch : r.architectures()) {
    if (arch.starts_with("AUDIT_ARCH_")) {
      out.notes.push_back(strf("calls on %s, an architecture libseccomp does not know, cannot be "
                               "allowed",
                               arch.c_str()));
      continue;
    }
    if (std::find(p.architectures.begin(), p.architectures.end(), arch) != p.architectures.end())
      continue;
    // An empty list means the native architecture alone.
    if (p.architectures.empty() && arch == native) continue;
    if (opts.base) out.notes.push_back(strf("added %s, which the command used", arch.c_str()));
    p.architectures.push_back(arch);
  }

  std::map<std::string, NameUse> used;
  for (const SyscallUse* u : r.sorted()) {
    if (u->name.empty()) {
      out.notes.push_back(strf("call %d on %s is unknown to libseccomp %s, so no profile can "
                               "name it; it will be denied",
                               u->nr, u->arch.c_str(), detail::libseccomp_version().c_str()));
      continue;
    }
    NameUse& n = used[u->name];
    if (u->rule_index < 0) continue;
    if (n.index >= 0 && n.index != u->rule_index) n.overflow = true;
    n.index = u->rule_index;
    n.overflow = n.overflow || u->values_overflow;
    n.values.insert(u->values.begin(), u->values.end());
    if (n.values.size() > kMaxRuleValues) n.overflow = true;
  }
  bool clone3 = used.erase("clone3") > 0;
  if (clone3 && !used.count("clone")) {
    // What the C library falls back to; a thread or a fork needs no namespace.
    NameUse& n = used["clone"];
    n.index = rule_index(native, *arg_rule("clone"));
    n.values.insert(0);
    out.notes.push_back("clone3 is answered with ENOSYS (a filter cannot read its flags); "
                        "clone, which the C library then uses, is allowed without namespace "
                        "flags");
  }

  std::vector<std::string> plain;
  std::vector<oci::SeccompSyscall> ruled;
  for (const auto& [name, n] : used) {
    const ArgRule* rule = arg_rule(name);
    if (!rule || n.index < 0) {
      plain.push_back(name);
    } else if (n.overflow) {
      out.notes.push_back(strf("%s was called with more than %zu different %s; allowed for all",
                               name.c_str(), kMaxRuleValues,
                               rule->namespace_mask ? "namespace flag sets" : "first arguments"));
      plain.push_back(name);
    } else {
      if (rule->namespace_mask && (n.values.size() > 1 || !n.values.count(0))) {
        std::vector<std::string> sets;
        for (uint64_t v : n.values) sets.push_back(hex(v));
        out.notes.push_back(strf("clone created namespaces (flags & %s: %s); only those sets "
                                 "are allowed",
                                 hex(kCloneNamespaceMask).c_str(), join(sets, ", ").c_str()));
      }
      add_arg_rules(name, *rule, n, ruled);
    }
  }
  if (!plain.empty()) p.syscalls.push_back(allow(std::move(plain)));
  for (auto& sc : ruled) p.syscalls.push_back(std::move(sc));
  if (clone3) {
    oci::SeccompSyscall sc;
    sc.names = {"clone3"};
    sc.action = "SCMP_ACT_ERRNO";
    sc.errno_ret = ENOSYS;
    p.syscalls.push_back(std::move(sc));
    used["clone3"];  // a base rule for clone3 gives way to this one
  }
  out.allowed_names = used.size() - (clone3 ? 1 : 0);
  if (opts.base) keep_base_rules(*opts.base, used, out);
  return out;
}

std::string profile_to_json(const oci::Seccomp& s) {
  using ojson = nlohmann::ordered_json;
  ojson j = ojson::object();
  j["defaultAction"] = s.default_action;
  if (s.default_errno_ret) j["defaultErrnoRet"] = *s.default_errno_ret;
  if (!s.architectures.empty()) j["architectures"] = s.architectures;
  if (!s.flags.empty()) j["flags"] = s.flags;
  if (!s.listener_path.empty()) j["listenerPath"] = s.listener_path;
  if (!s.listener_metadata.empty()) j["listenerMetadata"] = s.listener_metadata;
  ojson rules = ojson::array();
  for (const oci::SeccompSyscall& sc : s.syscalls) {
    ojson rule = ojson::object();
    rule["names"] = sc.names;
    rule["action"] = sc.action;
    if (sc.errno_ret) rule["errnoRet"] = *sc.errno_ret;
    if (!sc.args.empty()) {
      ojson args = ojson::array();
      for (const oci::SeccompArg& a : sc.args) {
        ojson arg = {{"index", a.index}, {"value", a.value}};
        if (a.value_two != 0 || a.op == "SCMP_CMP_MASKED_EQ") arg["valueTwo"] = a.value_two;
        arg["op"] = a.op;
        args.push_back(std::move(arg));
      }
      rule["args"] = std::move(args);
    }
    rules.push_back(std::move(rule));
  }
  j["syscalls"] = std::move(rules);
  return j.dump(2) + "\n";
}

}  // namespace bw::seccomp
