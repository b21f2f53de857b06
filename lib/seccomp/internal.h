// Shared between the files of lib/seccomp; not part of the module's API.
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp::detail {

// --- libseccomp ---
struct ScmpCtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
// A libseccomp filter context, released once.
using ScmpCtx = std::unique_ptr<void, ScmpCtxDeleter>;
// libseccomp's result codes are negated errnos.
inline Unexpected scmp_error(int rc, const std::string& what) { return make_error(-rc, "%s", what.c_str()); }


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

// A section checked and translated into libseccomp's terms, the same for
// every engine, so that a bad rule fails the same way whichever compiles it.
struct TranslatedRule {
  uint32_t action = 0;  // SCMP_ACT_* with the errno
  // Each inner vector is one libseccomp rule per syscall name; several mean
  // "any of these" (a rule that compares one argument twice is split, as
  // runc does, because libseccomp refuses it).
  std::vector<std::vector<scmp_arg_cmp>> cond_sets;
};
struct TranslatedSection {
  uint32_t default_action = 0;
  std::vector<uint32_t> arch_tokens;  // `architectures`, as libseccomp tokens, in order
  std::vector<TranslatedRule> rules;  // one per syscalls[] entry
};
Result<TranslatedSection> translate_section(const oci::Seccomp& s);

// Runs the engine: fills program and unknown_names.
Result<void> compile_program(const oci::Seccomp& s, Engine engine, Filter& out);
// Bulwark's generator (codegen.cc).
Result<void> generate_program(const oci::Seccomp& s, Filter& out);

// --- Cache (cache.cc) ---
std::string cache_key(const oci::Seccomp& s, Engine engine);
// Opens (creating it 0700 if missing) and checks the cache directory. An
// invalid fd plus a reason when the directory must not be used.
UniqueFd open_cache_dir(const std::string& path, std::string& why_not);
// Reads <key>.bpf; false when missing or damaged (why says which).
bool read_cached(int dirfd, const std::string& key, Filter& out, std::string& why);
Result<void> write_cached(int dirfd, const Filter& f);

}  // namespace bw::seccomp::detail
