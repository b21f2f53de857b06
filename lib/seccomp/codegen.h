// Bulwark's seccomp BPF generator: compiles an OCI linux.seccomp section
// straight to classic BPF, without libseccomp's code generator (libseccomp
// still resolves syscall names). compile() uses it by default
// (Engine::bulwark).
//
// Meaning. The program decides exactly what evaluate() says (evaluate.h),
// which follows libseccomp's compiled filter for the same section; model.h
// states those rules (rule merging, argument widths, socketcall()/ipc()) and
// the one known difference. On top of libseccomp's meaning it adds the ENOSYS
// rule below.
//
// ENOSYS rule (runc's patchbpf idea, stated exactly). Let max(A) be the
// highest syscall number that any name in the section resolves to on
// architecture A, counting every rule (rules with the default action and
// conditional ones too), multiplexed calls by both their direct number and
// socketcall()/ipc(), and x32 separately from x86_64 (x32 numbers include
// bit 30). When the default action is SCMP_ACT_ERRNO with an errno other than
// ENOSYS, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD or SCMP_ACT_KILL_PROCESS, a
// syscall on A whose number is above max(A) returns SECCOMP_RET_ERRNO|ENOSYS
// instead of the default action, so that glibc's fallbacks for syscalls newer
// than the profile keep working. Such a number is never named, so no rule is
// bypassed. Number 0xFFFFFFFF (-1, used by tracers to skip a call) keeps the
// default action; an architecture with no resolvable name gets no ENOSYS.
// Unlike runc, SCMP_ACT_TRAP as the default is left alone: a SIGSYS handler
// exists to deal with unknown calls itself. Numbers at or below max(A) that
// the profile does not name keep the default action.
//
// Architectures. The native architecture is always in the filter (as
// libseccomp's seccomp_init() adds it), then the section's architectures; one
// dispatch on seccomp_data.arch, native first. An architecture not in the
// filter gets SECCOMP_RET_KILL_THREAD (libseccomp's SCMP_FLTATR_ACT_BADARCH
// default, which compile() never changes). Under AUDIT_ARCH_X86_64, numbers
// with bit 30 set are x32 calls: they follow SCMP_ARCH_X32's rules when it is
// in the filter and are a bad architecture otherwise (except -1, which gets
// the default action), as libseccomp does; with SCMP_ARCH_X32 and no x86_64,
// x86_64 numbers are the bad architecture. Architectures with the other byte
// order than this machine's are refused, as libseccomp refuses them.
//
// Shape. For each architecture the syscall numbers 0..2^32-1 are split into
// ranges with the same outcome (a return value, or an argument check for one
// syscall); adjacent numbers with the same unconditional outcome merge into one
// range, and a balanced binary search over the range starts (jge, with jeq
// for a lone number between two equal ranges) reaches any number in
// O(log ranges) comparisons, reading only nr and arch (so the kernel's
// per-syscall action cache still applies to unconditional outcomes). An
// argument check tries the rules in the plan's order; consecutive rules with
// the same action that each compare one and the same argument with
// ==, !=, <, <=, >, >= merge into one set of value ranges, tested by a
// binary search on the high word and then the low word. Jumps beyond the
// 8-bit offset go through a `ja` (or a copy of the target `ret`). A program
// over BPF_MAXINSNS (4096) instructions is an error (E2BIG).
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp {

// Generates the program for `s`. Names libseccomp does not know are left out
// and, when unknown_names is given, listed there (once each).
Result<std::vector<struct sock_filter>> generate_bpf(
    const oci::Seccomp& s, std::vector<std::string>* unknown_names = nullptr);

}  // namespace bw::seccomp
