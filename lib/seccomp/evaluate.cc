// evaluate(): a profile's decision for one syscall, read off the plan that
// Bulwark's generator compiles (model.h), with the reason in words.
#include "seccomp/evaluate.h"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <charconv>
#include <optional>

#include "seccomp/bpf.h"
#include "seccomp/internal.h"
#include "seccomp/model.h"

namespace bw::seccomp {

namespace {

std::string number_text(uint32_t nr) {
  if (nr & detail::kX32SyscallBit && nr != 0xFFFFFFFFu)
    return strf("#%u (x32 #%u)", nr, nr & ~detail::kX32SyscallBit);
  return strf("#%u", nr);
}

std::string syscall_label(const detail::ArchPlan& a, uint32_t nr) {
  std::string name = detail::syscall_name(a.token, nr);
  return name.empty() ? number_text(nr) : "'" + name + "'";
}

std::string rule_reason(const detail::SyscallPlan& sp, const detail::PlannedRule& r) {
  std::string out = strf("syscalls[%d] (%s", r.source, r.name.c_str());
  if (r.via_multiplexer) out += ", via " + sp.name;
  out += ")";
  for (size_t i = 0; i < r.conds.size(); ++i)
    out += (i == 0 ? ": " : " && ") + detail::cond_text(r.conds[i]);
  return out;
}

Decision explain(const detail::Plan& p, uint32_t audit_arch, uint32_t nr,
                 const std::array<uint64_t, 6>& args) {
  detail::Outcome o = detail::decide(p, audit_arch, nr, args);
  Decision d;
  d.ret = o.ret;
  switch (o.kind) {
    case detail::Outcome::rule:
      d.rule = o.matched->source;
      d.reason = rule_reason(*o.syscall, *o.matched);
      break;
    case detail::Outcome::default_action:
      if (o.syscall)
        d.reason = strf("default action (no rule for '%s' matches)", o.syscall->name.c_str());
      else
        d.reason = strf("default action (no rule names %s)", syscall_label(*o.arch, nr).c_str());
      break;
    case detail::Outcome::enosys:
      d.reason = strf(
          "not in the profile and newer than it (%s is above %s, the highest number "
          "it names on %s): ENOSYS",
          number_text(nr).c_str(), number_text(*o.arch->max_named).c_str(),
          o.arch->oci_name.c_str());
      break;
    case detail::Outcome::bad_arch:
      if (audit_arch == AUDIT_ARCH_X86_64 && (nr & detail::kX32SyscallBit))
        d.reason = "an x32 call and SCMP_ARCH_X32 is not in the profile: " + describe_action(d.ret);
      else if (audit_arch == AUDIT_ARCH_X86_64)
        d.reason =
            "an x86_64 call and only SCMP_ARCH_X32 is in the profile: " + describe_action(d.ret);
      else
        d.reason = strf("architecture %#x is not in the profile: %s", audit_arch,
                        describe_action(d.ret).c_str());
      break;
  }
  return d;
}

// "#437" or "#0x1b5" -> the number.
std::optional<uint32_t> parse_number(const std::string& text) {
  if (text.size() < 2 || text[0] != '#') return std::nullopt;
  const char* b = text.data() + 1;
  const char* e = text.data() + text.size();
  int base = 10;
  if (e - b > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X')) {
    b += 2;
    base = 16;
  }
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(b, e, v, base);
  if (ec != std::errc() || end != e) return std::nullopt;
  return v;
}

}  // namespace

Result<Evaluator> Evaluator::create(const oci::Seccomp& s) {
  BW_ASSIGN_OR_RETURN(detail::Plan p, detail::build_plan(s));
  return Evaluator(std::make_shared<const detail::Plan>(std::move(p)));
}

Decision Evaluator::decide(uint32_t audit_arch, uint32_t nr,
                           const std::array<uint64_t, 6>& args) const {
  return explain(*plan_, audit_arch, nr, args);
}

Result<Decision> Evaluator::decide(const std::string& arch, const std::string& name,
                                   const std::array<uint64_t, 6>& args) const {
  const std::string& oci = arch.empty() ? detail::native_arch() : arch;
  uint32_t token = detail::arch_token(oci);
  if (token == 0) return make_error(0, "unknown architecture '%s'", oci.c_str());
  std::optional<uint32_t> nr = parse_number(name);
  if (!nr) {
    if (seccomp_syscall_resolve_name(name.c_str()) == __NR_SCMP_ERROR)
      return make_error(0, "unknown syscall '%s'", name.c_str());
    int n = detail::syscall_number(token, name);
    if (n < 0) return make_error(0, "syscall '%s' has no number on %s", name.c_str(), oci.c_str());
    nr = static_cast<uint32_t>(n);
  }
  return explain(*plan_, audit_arch(oci), *nr, args);
}

const std::vector<std::string>& Evaluator::unknown_names() const { return plan_->unknown_names; }

Result<Decision> evaluate(const oci::Seccomp& s, const std::string& arch, const std::string& name,
                          const std::array<uint64_t, 6>& args) {
  BW_ASSIGN_OR_RETURN(Evaluator e, Evaluator::create(s));
  return e.decide(arch, name, args);
}

}  // namespace bw::seccomp
