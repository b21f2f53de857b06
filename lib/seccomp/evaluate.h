// What a profile decides for one syscall, evaluated on the profile itself
// (not on compiled BPF), with the rule that decides. This is the meaning the
// compiled filter must have; tests check compilers against it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp {

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

}  // namespace bw::seccomp
