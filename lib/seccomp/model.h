// What a linux.seccomp section means, per architecture and syscall number:
// the rules that apply to each number, in the order they are tried. Both
// evaluate() and Bulwark's BPF generator work from this plan, so the
// generated program and the explanation of a decision cannot disagree.
// Not part of the module's API.
//
// The plan reproduces what libseccomp 2.5 compiles from the same section
// (through compile()'s translation: rules whose action is the default are
// dropped, and a rule comparing one argument twice becomes one rule per
// comparison):
//  - Names are resolved per architecture, the way libseccomp translates a
//    rule from the native architecture (native number -> native name -> the
//    architecture's number). On architectures that multiplex socket and IPC
//    calls (x86, ppc, s390, mips o32), a rule for such a call also applies to
//    socketcall()/ipc() with argument 0 replaced by "== the sub-call number",
//    besides the direct syscall when the architecture has one.
//  - On 32-bit architectures (x86, x32, arm, ...) only the low 32 bits of
//    arguments and values are compared; on 64-bit ones the full 64 bits.
//    SCMP_CMP_MASKED_EQ compares (arg & value) with (valueTwo & value), and a
//    mask of zero makes the comparison always true (dropped).
//  - For one syscall number: the first rule without conditions, if any,
//    decides alone (libseccomp keeps the first unconditional rule and drops
//    every conditional one). Otherwise the conditional rules are tried in
//    libseccomp's tree order and the first whose comparisons all hold
//    decides; none holding gives the default action.
//  - Tree order: a rule is a chain of steps, its comparisons in argument
//    order (arg0 first), each comparison two steps on 64-bit architectures
//    (high word, then low word). Rules enter the tree in profile order; at
//    each step a rule joins the first sibling that makes the same comparison,
//    else goes in front of the first sibling ranking below it (a lower
//    argument or word; then the class ==/!=/masked over </<= over >/>=; then
//    the smaller value, or the larger for </<=), else after the last. A rule
//    whose steps end at a node comes before the rules that go on below it.
//    Rules are tried in the tree's depth-first order.
//  - Where libseccomp's output does not mean what the rules say, the plan
//    follows the rules. Known cases (libseccomp 2.5.4; tests skip them when
//    comparing with libseccomp): (a) two rules comparing one argument with
//    != (or both with <, <=, >, >=) against values with the same high word,
//    on a 64-bit architecture, when they differ in action or go on to
//    compare more arguments: libseccomp merges their high-word comparisons,
//    decides the high-word branch by the first rule, and runs one rule's
//    remaining comparisons on the other's branch, so that
//    "arg0 > 0x100000007 && arg1 == 5" or "arg0 > 0x100000005 && arg1 == 3"
//    allows (0x100000006, 5); (b) a failed argument check that falls
//    through to a sibling check of the same word without reloading it, so
//    the sibling compares another argument; (c) linear filters for x86_64
//    with x32 whose syscall comparisons can run without loading nr.
//    libseccomp also refuses (EEXIST) some conflicting rules that the plan
//    accepts and orders as above.
#pragma once

#include <seccomp.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp::detail {

struct Cond {
  uint32_t arg = 0;
  scmp_compare op = SCMP_CMP_EQ;
  uint64_t value = 0;  // for SCMP_CMP_MASKED_EQ already masked
  uint64_t mask = ~0ull;
};

struct PlannedRule {
  int source = -1;   // index in linux.seccomp.syscalls[]
  std::string name;  // the name the rule gives (differs from the syscall's for a multiplexed copy)
  uint32_t action = 0;
  std::vector<Cond> conds;       // by argument, at most one each; none = unconditional
  bool via_multiplexer = false;  // the socketcall()/ipc() copy of a rule
};

struct SyscallPlan {
  std::string name;                // libseccomp's name for the number on the architecture
  std::vector<PlannedRule> rules;  // in the order they are tried
};

struct ArchPlan {
  std::string oci_name;  // "SCMP_ARCH_X86_64"
  uint32_t token = 0;    // libseccomp's
  uint32_t audit_arch = 0;
  bool is64 = false;  // compares all 64 bits of arguments
  std::map<uint32_t, SyscallPlan> syscalls;
  // The highest number any rule of the section names on this architecture
  // (rules with the default action included); x32 numbers include bit 30.
  std::optional<uint32_t> max_named;
};

constexpr uint32_t kX32SyscallBit = 0x40000000;

struct Plan {
  uint32_t default_action = 0;
  uint32_t bad_arch_action = 0;  // SECCOMP_RET_KILL_THREAD, libseccomp's default
  // Whether numbers above an architecture's max_named give ERRNO(ENOSYS):
  // when the default action is SCMP_ACT_ERRNO or a kill.
  bool enosys = false;
  std::vector<ArchPlan> arches;  // the native architecture first
  std::vector<std::string> unknown_names;
};

Result<Plan> build_plan(const oci::Seccomp& s);

// Whether `c` holds for argument value `v` on an architecture of that width.
bool cond_holds(const Cond& c, uint64_t v, bool is64);

struct Outcome {
  enum Kind { rule, default_action, enosys, bad_arch };
  Kind kind = default_action;
  uint32_t ret = 0;
  const ArchPlan* arch = nullptr;
  const SyscallPlan* syscall = nullptr;  // when the number has rules
  const PlannedRule* matched = nullptr;  // kind == rule
};

// The plan's answer for a syscall made under `audit_arch` (AUDIT_ARCH_*;
// x32 calls are AUDIT_ARCH_X86_64 with bit 30 in nr).
Outcome decide(const Plan& p, uint32_t audit_arch, uint32_t nr,
               const std::array<uint64_t, 6>& args);

// The number of syscall `name` on the architecture with libseccomp token
// `token`, or -1 when it has none. Socket and IPC calls on architectures that
// multiplex them give the direct syscall (socket -> 359 on x86).
int syscall_number(uint32_t token, const std::string& name);
// libseccomp's name for a number, or "" when it has none.
std::string syscall_name(uint32_t token, uint32_t nr);

// "arg0 & 0x7e020000 == 0", "arg2 != 9".
std::string cond_text(const Cond& c);

}  // namespace bw::seccomp::detail
