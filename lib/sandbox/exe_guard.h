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

namespace bw::sandbox {

// Call first thing in main() for verbs that enter containers. Returns on
// success when already protected; otherwise execs (and does not return) or
// returns an error.
Result<void> ensure_protected_exe(int argc, char** argv);

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
