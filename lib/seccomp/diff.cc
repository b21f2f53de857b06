// Two profiles compared by evaluating both on every syscall and on the
// argument values their rules care about.
#include "seccomp/diff.h"

#include <linux/seccomp.h>

#include <cerrno>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "base/strings.h"
#include "seccomp/bpf.h"
#include "seccomp/evaluate.h"
#include "seccomp/export.h"

namespace bw::seccomp {

namespace {

// Above this many combinations a syscall is probed one argument at a time.
constexpr size_t kMaxProbes = 4096;
// Disagreeing probes kept per difference, to show as examples.
constexpr size_t kMaxExamples = 3;

bool allows(uint32_t ret) {
  uint32_t action = ret & SECCOMP_RET_ACTION_FULL;
  return action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG;
}

std::string number_text(uint64_t v) {
  if (v < 0x1000) return std::to_string(v);
  return strf("%#llx", static_cast<unsigned long long>(v));
}

void add_interesting(const oci::SeccompArg& a, std::vector<uint64_t>& out) {
  auto around = [&out](uint64_t v) {
    out.push_back(v);
    if (v > 0) out.push_back(v - 1);
    if (v < UINT64_MAX) out.push_back(v + 1);
  };
  if (a.op != "SCMP_CMP_MASKED_EQ") {
    around(a.value);
    return;
  }
  // value is the mask, valueTwo the expected result: flipping each masked
  // bit of a matching value in turn shows which bits the rule is about.
  out.push_back(a.value_two);
  out.push_back(a.value_two ^ a.value);
  for (int bit = 0; bit < 64; ++bit) {
    uint64_t b = uint64_t{1} << bit;
    if (a.value & b) out.push_back(a.value_two ^ b);
  }
}

std::vector<const oci::SeccompSyscall*> rules_naming(const oci::Seccomp& s,
                                                     const std::string& name) {
  std::vector<const oci::SeccompSyscall*> out;
  for (const auto& sc : s.syscalls)
    if (std::find(sc.names.begin(), sc.names.end(), name) != sc.names.end()) out.push_back(&sc);
  return out;
}

std::string action_text(const std::string& action, std::optional<uint32_t> errno_ret) {
  auto ret = action_ret(action, errno_ret);
  return ret ? describe_action(*ret) : action;
}

// "arg0&0x7e020000==0: allow; otherwise errno 1 (EPERM)". `unnamed` is the
// decision for a syscall no rule names: the default action, or ENOSYS for a
// number above every number the profile names (see codegen.h), or the bad
// architecture action.
std::string describe_rules(const oci::Seccomp& s,
                           const std::vector<const oci::SeccompSyscall*>& rules,
                           uint32_t unnamed) {
  std::vector<std::string> parts;
  bool unconditional = false;
  for (const oci::SeccompSyscall* r : rules) {
    std::string act = action_text(r->action, r->errno_ret);
    if (r->args.empty()) {
      unconditional = true;
      parts.push_back(act);
    } else {
      parts.push_back(describe_conditions(*r) + ": " + act);
    }
  }
  std::string def = action_text(s.default_action, s.default_errno_ret);
  if (!parts.empty()) {
    if (!unconditional) parts.push_back("otherwise " + def);
    return join(parts, "; ");
  }
  auto def_ret = action_ret(s.default_action, s.default_errno_ret);
  if (def_ret && unnamed == *def_ret) return def + " (default action)";
  if (unnamed == (SECCOMP_RET_ERRNO | ENOSYS))
    return describe_action(unnamed) + " (not named, newer than the profile)";
  return describe_action(unnamed) + " (architecture not in the profile)";
}

struct Comparison {
  std::vector<DiffProbe> disagree;
  bool a_any = false, a_all = true, b_any = false, b_all = true;
  bool same_allowed = true;
};

DiffKind classify(const Comparison& c) {
  if (c.same_allowed) return DiffKind::actions;
  if (c.a_all && !c.b_any) return DiffKind::only_a;
  if (c.b_all && !c.a_any) return DiffKind::only_b;
  return DiffKind::arguments;
}

std::vector<std::string> arches_to_compare(const oci::Seccomp& a, const oci::Seccomp& b) {
  std::vector<std::string> out{native_arch_name()};
  for (const auto* s : {&a, &b})
    for (const auto& arch : s->architectures)
      if (std::find(out.begin(), out.end(), arch) == out.end()) out.push_back(arch);
  return out;
}

}  // namespace

const char* diff_kind_name(DiffKind k) {
  switch (k) {
    case DiffKind::only_a: return "only_a";
    case DiffKind::only_b: return "only_b";
    case DiffKind::arguments: return "arguments";
    case DiffKind::actions: return "actions";
  }
  return "?";
}

std::string describe_conditions(const oci::SeccompSyscall& rule) {
  std::array<int, 6> per_index{};
  std::vector<std::string> conds;
  for (const oci::SeccompArg& a : rule.args) {
    if (a.index < per_index.size()) ++per_index[a.index];
    std::string lhs = strf("arg%u", a.index);
    static constexpr std::pair<const char*, const char*> kOps[] = {
        {"SCMP_CMP_NE", "!="}, {"SCMP_CMP_LT", "<"},  {"SCMP_CMP_LE", "<="},
        {"SCMP_CMP_EQ", "=="}, {"SCMP_CMP_GE", ">="}, {"SCMP_CMP_GT", ">"}};
    if (a.op == "SCMP_CMP_MASKED_EQ") {
      conds.push_back(lhs + "&" + number_text(a.value) + "==" + number_text(a.value_two));
      continue;
    }
    std::string op = " " + a.op + " ";
    for (const auto& [name, text] : kOps)
      if (a.op == name) op = text;
    conds.push_back(lhs + op + number_text(a.value));
  }
  bool repeated = std::any_of(per_index.begin(), per_index.end(), [](int n) { return n > 1; });
  return join(conds, repeated ? " || " : " && ");
}

std::vector<std::array<uint64_t, 6>> probe_arguments(
    const std::vector<const oci::SeccompSyscall*>& rules) {
  std::array<std::vector<uint64_t>, 6> values;
  for (const oci::SeccompSyscall* r : rules)
    for (const oci::SeccompArg& a : r->args)
      if (a.index < values.size()) add_interesting(a, values[a.index]);
  std::vector<size_t> used;
  size_t combinations = 1;
  for (size_t i = 0; i < values.size(); ++i) {
    auto& v = values[i];
    if (v.empty()) continue;
    v.push_back(0);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    used.push_back(i);
    combinations = std::min(combinations * v.size(), kMaxProbes + 1);
  }
  std::vector<std::array<uint64_t, 6>> probes{std::array<uint64_t, 6>{}};
  if (combinations > kMaxProbes) {
    for (size_t i : used)
      for (uint64_t v : values[i]) {
        if (v == 0) continue;
        std::array<uint64_t, 6> p{};
        p[i] = v;
        probes.push_back(p);
      }
    return probes;
  }
  for (size_t i : used) {
    std::vector<std::array<uint64_t, 6>> next;
    for (const auto& p : probes)
      for (uint64_t v : values[i]) {
        auto q = p;
        q[i] = v;
        next.push_back(q);
      }
    probes = std::move(next);
  }
  return probes;
}

Result<ProfileDiff> diff_profiles(const oci::Seccomp& a, const oci::Seccomp& b,
                                  const std::vector<std::string>& arches) {
  ProfileDiff out;
  out.arches = arches.empty() ? arches_to_compare(a, b) : arches;
  BW_ASSIGN_OR_RETURN(Evaluator eval_a, with_context(Evaluator::create(a), "profile A"));
  BW_ASSIGN_OR_RETURN(Evaluator eval_b, with_context(Evaluator::create(b), "profile B"));
  // (name, kind, a_rules, b_rules) -> index in out.differences, to merge the
  // same difference found on several architectures.
  std::map<std::tuple<std::string, DiffKind, std::string, std::string>, size_t> seen;
  for (const std::string& arch : out.arches) {
    if (normalize_arch(arch) != arch)
      return make_error(0, "unknown architecture '%s'", arch.c_str());
    uint32_t audit = audit_arch(arch);
    for (const std::string& name : known_syscall_names()) {
      auto nr = syscall_number(arch, name);
      if (!nr || *nr < 0) continue;  // not a syscall on this architecture
      auto rules_a = rules_naming(a, name);
      auto rules_b = rules_naming(b, name);
      std::vector<const oci::SeccompSyscall*> both = rules_a;
      both.insert(both.end(), rules_b.begin(), rules_b.end());
      bool checks_args = std::any_of(both.begin(), both.end(),
                                     [](const oci::SeccompSyscall* r) { return !r->args.empty(); });
      auto probes = checks_args ? probe_arguments(both)
                                : std::vector<std::array<uint64_t, 6>>{std::array<uint64_t, 6>{}};
      ++out.syscalls;
      Comparison c;
      uint32_t first_a = 0, first_b = 0;
      for (size_t i = 0; i < probes.size(); ++i) {
        uint32_t ra = eval_a.decide(audit, static_cast<uint32_t>(*nr), probes[i]).ret;
        uint32_t rb = eval_b.decide(audit, static_cast<uint32_t>(*nr), probes[i]).ret;
        if (i == 0) first_a = ra, first_b = rb;
        ++out.probes;
        bool aa = allows(ra), ba = allows(rb);
        c.a_any |= aa;
        c.a_all &= aa;
        c.b_any |= ba;
        c.b_all &= ba;
        c.same_allowed &= aa == ba;
        if (ra != rb) c.disagree.push_back(DiffProbe{probes[i], ra, rb});
      }
      if (c.disagree.empty()) continue;

      SyscallDiff d;
      d.name = name;
      d.kind = classify(c);
      d.a_rules = describe_rules(a, rules_a, first_a);
      d.b_rules = describe_rules(b, rules_b, first_b);
      d.checks_args = checks_args;
      auto key = std::make_tuple(d.name, d.kind, d.a_rules, d.b_rules);
      if (auto it = seen.find(key); it != seen.end()) {
        out.differences[it->second].arches.push_back(arch);
        continue;
      }
      d.arches.push_back(arch);
      if (c.disagree.size() > kMaxExamples) c.disagree.resize(kMaxExamples);
      d.examples = std::move(c.disagree);
      seen.emplace(std::move(key), out.differences.size());
      out.differences.push_back(std::move(d));
    }
  }
  std::stable_sort(out.differences.begin(), out.differences.end(),
                   [](const SyscallDiff& x, const SyscallDiff& y) {
                     return std::tie(x.kind, x.name) < std::tie(y.kind, y.name);
                   });
  return out;
}

}  // namespace bw::seccomp
