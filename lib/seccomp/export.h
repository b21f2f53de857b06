// libseccomp's own views of a profile, for people tuning profiles: its PFC
// ("pseudo filter code") text, the BPF a launcher on another architecture
// would load, and the syscall tables libseccomp resolves names with.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::seccomp {

// Builds the section the way compile()'s libseccomp engines hand it to
// libseccomp (same rules, same skipped rules; binary_tree as
// Engine::libseccomp_tree) and renders it.
// target_arch ("SCMP_ARCH_AARCH64"; "" = this machine's) takes the place of
// the native architecture, as on a machine of that architecture. The section
// should have passed compile() first: errors here are terse.
Result<std::string> export_pfc(const oci::Seccomp& s, const std::string& target_arch = "",
                               bool binary_tree = true);
Result<std::vector<struct sock_filter>> export_bpf(const oci::Seccomp& s,
                                                   const std::string& target_arch,
                                                   bool binary_tree = true);

// The SECCOMP_RET_* value (with its data) an OCI action stands for, as
// compile() translates it: errnoRet defaults to EPERM for SCMP_ACT_ERRNO and
// SCMP_ACT_TRACE. An unknown action is an error.
Result<uint32_t> action_ret(const std::string& action, std::optional<uint32_t> errno_ret);

// The OCI name of this machine's architecture ("SCMP_ARCH_X86_64").
std::string native_arch_name();
// "x86_64", "SCMP_ARCH_X86_64", "amd64", "arm64" -> "SCMP_ARCH_X86_64" /
// "SCMP_ARCH_AARCH64"; "" when libseccomp does not know the architecture.
std::string normalize_arch(const std::string& name);

// The number of syscall `name` on `arch` (OCI name), as the filters and
// evaluate() see it: -1 when the architecture has no such syscall (socket
// and IPC calls on architectures that multiplex them give the direct
// syscall: socket -> 359 on x86); an error when libseccomp does not know the
// name at all or the architecture is unknown.
Result<int> syscall_number(const std::string& arch, const std::string& name);
// The name of syscall `nr` on `arch`; "" when there is none.
std::string syscall_name(const std::string& arch, int nr);
// Every syscall name the installed libseccomp knows on any architecture,
// sorted.
const std::vector<std::string>& known_syscall_names();

}  // namespace bw::seccomp
