// Seccomp BPF programs as data: an interpreter that runs a program on a
// seccomp_data exactly as the kernel's seccomp filter would (for testing
// compilers against each other and for `explain`), and a disassembler.
#pragma once

#include <linux/filter.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace bw::seccomp {

struct SeccompData {
  int nr = 0;
  uint32_t arch = 0;  // AUDIT_ARCH_*
  uint64_t instruction_pointer = 0;
  std::array<uint64_t, 6> args{};
};

struct RunResult {
  uint32_t ret = 0;         // SECCOMP_RET_* | data
  size_t instructions = 0;  // instructions executed, a proxy for cost
};

// Runs `prog` as the kernel would. Invalid programs (a jump out of range, a
// load outside seccomp_data, no return) are an error, as the kernel would
// refuse to load them.
Result<RunResult> run_filter(const std::vector<struct sock_filter>& prog, const SeccompData& d);

// The kernel's load-time checks alone (seccomp_check_filter and
// bpf_check_classic): what run_filter() refuses.
Result<void> check_filter(const std::vector<struct sock_filter>& prog);
// run_filter() for a program that passed check_filter(), without checking it
// again (tests run one program on millions of inputs).
RunResult run_checked_filter(const std::vector<struct sock_filter>& prog, const SeccompData& d);

// One instruction per line: "0004: jeq #0xc000003e, 0005, 0012" in the style
// of bpf_dbg/seccomp-tools, with the seccomp_data field named on loads
// ("ld [arch]", "ld [args[1] hi]") and returns described ("ret ALLOW",
// "ret ERRNO(1)").
std::string disassemble(const std::vector<struct sock_filter>& prog);

// "allow", "errno 1 (EPERM)", "kill process", "kill thread", "trap", "trace 5",
// "log", "notify", "user-notif"...
std::string describe_action(uint32_t ret);

// AUDIT_ARCH_* for an OCI arch name ("SCMP_ARCH_X86_64"); 0 when unknown.
uint32_t audit_arch(const std::string& oci_arch);

}  // namespace bw::seccomp
