// What a profile decides for one syscall, evaluated on the profile itself
// (not on compiled BPF), with the rule that decides. This is the meaning the
// compiled filter must have; tests check compilers against it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp {

namespace detail {
struct Plan;
}

struct Decision {
  uint32_t ret = 0;  // SECCOMP_RET_* | data, as the filter returns it
  int rule = -1;     // index in syscalls[]; -1 when the default action decides
  // Why: "syscalls[12] (clone): arg0 & 0x7e020000 == 0" or "default action
  // (no rule names 'mount')" or "not in the profile and newer than it: ENOSYS".
  std::string reason;
};

// Evaluates `s` for the syscall `name` (or a number as text, "#437") on the
// OCI arch `arch` ("" = native) with arguments `args`. An unknown syscall
// name is an error.
Result<Decision> evaluate(const oci::Seccomp& s, const std::string& arch, const std::string& name,
                          const std::array<uint64_t, 6>& args);

// The same, with the profile prepared once for many questions.
class Evaluator {
 public:
  static Result<Evaluator> create(const oci::Seccomp& s);

  // By name (or "#437") on an OCI arch ("" = native), as evaluate().
  Result<Decision> decide(const std::string& arch, const std::string& name,
                          const std::array<uint64_t, 6>& args) const;
  // As the kernel asks: audit_arch is AUDIT_ARCH_*, and x32 calls come as
  // AUDIT_ARCH_X86_64 with bit 30 set in nr.
  Decision decide(uint32_t audit_arch, uint32_t nr, const std::array<uint64_t, 6>& args) const;

  // Names libseccomp does not know, as compile() reports them.
  const std::vector<std::string>& unknown_names() const;

 private:
  explicit Evaluator(std::shared_ptr<const detail::Plan> plan) : plan_(std::move(plan)) {}
  std::shared_ptr<const detail::Plan> plan_;
};

}  // namespace bw::seccomp
