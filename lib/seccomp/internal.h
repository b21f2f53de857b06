// Shared between the files of lib/seccomp; not part of the module's API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp::detail {

// --- Architectures (arch.cc) ---
// libseccomp's token for an OCI name ("SCMP_ARCH_X86_64"); 0 when unknown.
uint32_t arch_token(std::string_view oci_name);
// The OCI name of the architecture this library was built for ("SCMP_ARCH_X86_64").
const std::string& native_arch();
// The name Docker profiles use in includes/excludes.arches ("amd64" for
// SCMP_ARCH_X86_64, "arm64" for SCMP_ARCH_AARCH64, else libseccomp's name).
std::string docker_arch_name(std::string_view oci_name);
// uname's release, read once.
const std::string& kernel_release();
// "2.5.4", from the libseccomp loaded at run time.
const std::string& libseccomp_version();

// --- Pieces of compile() (compile.cc) ---
// SECCOMP_FILTER_FLAG_* bits for the OCI flag names.
Result<unsigned> parse_flags(const std::vector<std::string>& names);
bool uses_notify(const oci::Seccomp& s);
// Runs libseccomp: fills program and unknown_names.
Result<void> compile_program(const oci::Seccomp& s, Filter& out);

// --- Cache (cache.cc) ---
std::string cache_key(const oci::Seccomp& s);
// Opens (creating it 0700 if missing) and checks the cache directory. An
// invalid fd plus a reason when the directory must not be used.
UniqueFd open_cache_dir(const std::string& path, std::string& why_not);
// Reads <key>.bpf; false when missing or damaged (why says which).
bool read_cached(int dirfd, const std::string& key, Filter& out, std::string& why);
Result<void> write_cached(int dirfd, const Filter& f);

}  // namespace bw::seccomp::detail
