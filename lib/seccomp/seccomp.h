// Seccomp for containers: compiles an OCI `linux.seccomp` section into a BPF
// program, with Bulwark's own generator or libseccomp (with an on-disk cache
// of compiled programs, because
// compiling Docker's three-architecture profile costs milliseconds on every
// container start), installs it, hands a user-notification fd to an OCI
// listener, and converts Docker/moby-format profiles into OCI sections.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"

namespace bw::seccomp {

// Who turns the section into BPF. All three give a program with the same
// meaning (see model.h and codegen.h for the exceptions), at different cost
// per syscall.
enum class Engine {
  // Bulwark's generator (codegen.h): a binary search over syscall-number
  // ranges, merged argument checks, and ERRNO(ENOSYS) for numbers newer than
  // the profile. The default.
  bulwark,
  // libseccomp's default output: one comparison per syscall, in a row.
  libseccomp_linear,
  // libseccomp with SCMP_FLTATR_CTL_OPTIMIZE=2: a binary tree of syscalls.
  libseccomp_tree,
};

// "bulwark", "libseccomp-linear", "libseccomp-tree".
const char* engine_name(Engine e);

struct Filter {
  // BPF for the native architecture, plus the compat architectures of the
  // section in the same program.
  std::vector<struct sock_filter> program;
  Engine engine = Engine::bulwark;
  unsigned flags = 0;        // SECCOMP_FILTER_FLAG_* from the section's `flags`
  bool uses_notify = false;  // some rule is SCMP_ACT_NOTIFY
  std::string key;           // cache key: hex sha256, see compile()
  bool from_cache = false;
  // Syscall names libseccomp does not know (newer than this libseccomp, or
  // misspelt). They are left out of the program; the caller may warn.
  std::vector<std::string> unknown_names;
  // Why the cache was not used or not updated (insecure directory, write
  // failure, ...), for the caller to log with ", ignoring". Empty when the
  // cache worked or no cache directory was given.
  std::string cache_warning;
};

// Compiles an OCI linux.seccomp section. An empty cache_dir means no cache.
// With a cache directory (created 0700 if missing; used only when it is owned
// by root or the effective uid and not group/world writable) the program is
// stored as <key>.bpf and later calls with the same key read it back without
// compiling. A damaged cache file is ignored and replaced.
// Key = sha256 over a canonical serialisation of the section (without
// listenerPath/listenerMetadata, which do not change the program), the
// engine, the native architecture, the kernel release and the libseccomp
// version (which also resolves names for Bulwark's generator).
Result<Filter> compile(const oci::Seccomp& s, const std::string& cache_dir,
                       Engine engine = Engine::bulwark);

// Installs the filter on the calling thread (seccomp(SECCOMP_SET_MODE_FILTER)).
// Returns the user-notification listener fd (O_CLOEXEC) when f.uses_notify,
// else an invalid UniqueFd. Needs no_new_privs or CAP_SYS_ADMIN.
Result<UniqueFd> load(const Filter& f);

// Sends a notification fd to an OCI listenerPath (a unix stream socket) with
// SCM_RIGHTS; state_json (the containerProcessState) is the payload.
Result<void> send_listener_fd(const std::string& listener_path, int fd,
                              const std::string& state_json);

// Converts a Docker/moby-format profile (JSON text) into an OCI section, the
// way moby's setupSeccomp does for a container with bounding set `caps`
// ("CAP_SYS_ADMIN", ...): archMap keeps the native architecture and its
// subArchitectures; a rule is kept when all of its `includes` hold and none
// of its `excludes` does (includes.caps needs every listed cap, excludes.caps
// drops the rule if any listed cap is present, as in moby); minKernel compares
// against kernel_release (empty: the running kernel's). Also accepts
// containers/common's `defaultErrno` and per-rule `errno` given by name
// ("ENOSYS"; must agree with errnoRet when both are given), and plain OCI
// sections (no includes, no archMap), such as seccomp-profiles/default.json.
// native_arch ("SCMP_ARCH_X86_64", ...) defaults to this machine's.
Result<oci::Seccomp> from_docker_profile(const std::string& json_text,
                                         const std::vector<std::string>& caps,
                                         const std::string& kernel_release,
                                         const std::string& native_arch = "");

}  // namespace bw::seccomp
