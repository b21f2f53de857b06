// What two seccomp profiles decide differently. Both are evaluated (with
// Evaluator, the meaning the compiled filters must have) for every syscall
// libseccomp knows, on every architecture either profile covers; syscalls
// that some rule of either profile checks arguments for are also evaluated on
// argument values taken from those rules (each value, its neighbours, and
// for masked comparisons each bit of the mask).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp {

enum class DiffKind {
  only_a,     // A allows the syscall whatever the arguments; B allows it for none
  only_b,     // and the other way round
  arguments,  // at least one of them allows it only for some arguments, and not the same ones
  actions,    // both allow it for the same arguments, but deny (or log) differently
};

// "only_a", "only_b", "arguments", "actions": the keys of `diff --json`.
const char* diff_kind_name(DiffKind k);

// One set of arguments on which the profiles disagree.
struct DiffProbe {
  std::array<uint64_t, 6> args{};
  uint32_t a = 0, b = 0;  // SECCOMP_RET_* | data
};

struct SyscallDiff {
  std::string name;
  DiffKind kind = DiffKind::only_a;
  std::vector<std::string> arches;  // OCI names, where this difference was found
  // What each profile does with the syscall, as rules read:
  // "arg0&0x7e020000==0: allow; otherwise errno 1 (EPERM)", "allow".
  std::string a_rules, b_rules;
  std::vector<DiffProbe> examples;  // a few probes on which they disagree
  bool checks_args = false;         // some rule of either profile compares its arguments
};

struct ProfileDiff {
  std::vector<std::string> arches;  // compared, OCI names
  size_t syscalls = 0;              // (arch, syscall) pairs compared
  size_t probes = 0;                // evaluations per profile
  std::vector<SyscallDiff> differences;  // by kind, then name

  bool equal() const { return differences.empty(); }
};

// Compares a and b on `arches` (OCI names; empty: this machine's
// architecture plus every architecture either section lists).
Result<ProfileDiff> diff_profiles(const oci::Seccomp& a, const oci::Seccomp& b,
                                  const std::vector<std::string>& arches = {});

// The argument tuples a syscall is probed with, given the rules that name it
// in either profile: all zero, plus every combination of the interesting
// values of each compared argument (capped, then one argument at a time).
std::vector<std::array<uint64_t, 6>> probe_arguments(
    const std::vector<const oci::SeccompSyscall*>& rules);

// "arg0&0x7e020000==0", "arg0<38", "arg1!=0x10 && arg2==3"; a rule that
// compares one argument twice reads as alternatives ("arg0==1 || arg0==2"),
// as compile() treats it.
std::string describe_conditions(const oci::SeccompSyscall& rule);

}  // namespace bw::seccomp
