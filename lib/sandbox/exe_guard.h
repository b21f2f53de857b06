// Protection against a container overwriting the runtime's own binary through
// /proc/<pid>/exe (CVE-2019-5736). Before entering any container namespace,
// the program makes sure it runs from an image the container cannot write:
// a binary on a read-only mount is left as it is; otherwise the binary is
// copied once into a sealed memfd (F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL)
// and the program re-executes itself from it (with an environment marker so it
// does not loop). Processes also mark themselves non-dumpable while they hold
// host resources inside the container's namespaces.
#pragma once

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"

namespace bw::sandbox {

// Returns on success when already protected; otherwise execs (and does not
// return) or returns an error. Callers decide when it is needed with
// exe_reachable_from_container().
Result<void> ensure_protected_exe(int argc, char** argv);

// Every process of the runtime is non-dumpable (PR_SET_DUMPABLE 0) before it
// touches a container, so /proc/<pid>/exe of it can be opened only with
// CAP_SYS_PTRACE in the runtime's user namespace. This says whether some
// process in the container could hold that: a container without a new user
// namespace whose bounding set (or that of `extra`, a process exec'd into
// it) has CAP_SYS_PTRACE, or one sharing a pid namespace it did not create.
// Only then is the sealed copy needed, which costs a copy and a re-exec.
bool exe_reachable_from_container(const oci::Spec& spec, const oci::Process* extra);
// Whether `p`, run in this container, may hold CAP_SYS_PTRACE in the
// runtime's user namespace (it has it in its bounding set and the container
// has no user namespace of its own).
bool process_may_ptrace(const oci::Spec& spec, const oci::Process& p);
// Whether this process runs from an image nobody can write (see is_protected_exe).
bool running_from_protected_exe();

// The environment marker a sealed re-exec carries; removed once the seal is verified.
inline constexpr const char* kExeSealedEnv = "BULWARK_EXE_SEALED";

// Whether nobody can write the file behind `fd`: it is on a read-only mount,
// or it is a memfd sealed against writing, shrinking and growing.
Result<bool> is_protected_exe(int fd);
// Copies the whole file behind `fd` into a new executable memfd
// ("bulwark-run", O_CLOEXEC) and seals it (F_SEAL_WRITE|F_SEAL_SHRINK|
// F_SEAL_GROW|F_SEAL_SEAL).
Result<UniqueFd> sealed_copy(int fd);

}  // namespace bw::sandbox
