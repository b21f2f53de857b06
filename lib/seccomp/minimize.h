// From observed system calls to the smallest OCI linux.seccomp section that
// allows them: what `bulwark-seccomp record` writes, and the tally `check`
// reports.
//
// The profile allows exactly the calls seen, by name, on the architectures
// seen, and denies everything else with EPERM. A few calls whose first
// argument selects between harmless and dangerous behaviour get argument
// rules, when the values seen allow a tight one:
//   clone        flags without any CLONE_NEW* bit (Docker's mask 0x7E020000),
//                unless the command did create namespaces;
//   socket       the address families seen, when there are at most 4;
//   personality  the personas seen, when there are at most 4;
//   prctl        the options seen, when there are at most 4.
// clone3 passes its flags in memory a filter cannot read: it is answered
// with ENOSYS, which makes the C library fall back to clone, and clone is
// then allowed (with the flag rule) even if it was not seen.
// Nothing else (ioctl requests, open flags, ...) is narrowed: their values
// depend on the terminal, the files and the libc build, so a rule recorded in
// one run would break the next.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp {

// What was seen of one system call on one architecture.
struct SyscallUse {
  uint32_t audit_arch = 0;  // seccomp_data.arch
  std::string arch;  // OCI name: "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", ...
  int nr = 0;        // as the filter sees it (x32 numbers include __X32_SYSCALL_BIT)
  std::string name;  // libseccomp's name; empty when this libseccomp does not know it
  uint64_t count = 0;
  pid_t first_pid = 0;
  std::array<uint64_t, 6> first_args{};
  // For the calls that get argument rules: the distinct values of the checked
  // argument (at most kMaxRuleValues + 1 are kept; more only sets overflow).
  int rule_index = -1;
  std::set<uint64_t> values;
  bool values_overflow = false;
};

// A running tally, one entry per (architecture, number).
class Recording {
 public:
  // One call, as in seccomp_data: arch is the AUDIT_ARCH_* value.
  void add(uint32_t audit_arch, int nr, const std::array<uint64_t, 6>& args, pid_t pid = 0);

  // Sorted by name (unknown numbers last), then architecture.
  std::vector<const SyscallUse*> sorted() const;
  // OCI names of the architectures seen, native first.
  std::vector<std::string> architectures() const;
  uint64_t calls() const { return calls_; }
  bool empty() const { return uses_.empty(); }

 private:
  std::unordered_map<uint64_t, SyscallUse> uses_;  // key: audit arch << 32 | nr
  uint64_t calls_ = 0;
};

// socket, personality and prctl get one EQ rule per value up to this many.
constexpr size_t kMaxRuleValues = 4;
// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET, Docker's mask.
// (CLONE_NEWTIME shares its bit with the exit signal in clone(); only
// unshare and clone3 take it.)
constexpr uint64_t kCloneNamespaceMask = 0x7E020000;

struct ProfileOptions {
  // Settings to start from: defaultAction, defaultErrnoRet, architectures,
  // flags and listener fields are taken from it, and so are its rules that
  // do not allow (ERRNO, KILL, TRAP, TRACE, LOG, NOTIFY), minus the names the
  // command was seen to use (a recorded call is always allowed). Its ALLOW
  // rules are dropped: the recording decides what is allowed.
  std::optional<oci::Seccomp> base;
  std::string native_arch;  // OCI name; "" = this machine's
};

struct MinimalProfile {
  oci::Seccomp profile;
  // Decisions a person should know about, one sentence each: calls that
  // could not be named, argument rules not made, base rules dropped.
  std::vector<std::string> notes;
  size_t allowed_names = 0;  // distinct syscall names allowed
};

Result<MinimalProfile> minimal_profile(const Recording& r, const ProfileOptions& opts = {});

// The section as JSON text in the OCI form (what goes under linux.seccomp;
// from_docker_profile reads it back): keys in the spec's order, 2-space
// indentation, a final newline.
std::string profile_to_json(const oci::Seccomp& s);

// "SCMP_ARCH_X86_64" for AUDIT_ARCH_X86_64 and so on; x32 is told apart by
// the syscall number. "" when libseccomp does not know the architecture.
std::string oci_arch_name(uint32_t audit_arch, int nr);

}  // namespace bw::seccomp
