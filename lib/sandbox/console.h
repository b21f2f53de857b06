// The container's terminal, done as runc does it: the container side opens a
// pty from its own devpts instance, makes the slave its controlling terminal
// and stdio, and sends the master over the --console-socket (SCM_RIGHTS).
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "oci/spec.h"

namespace bw::sandbox {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string slave_path;  // e.g. "/dev/pts/0" (inside the container)
};

// Opens a new pty from "/dev/ptmx" of the current mount namespace (call after pivot_root).
Result<Pty> open_pty(const std::optional<oci::ConsoleSize>& size);
// Makes `slave` the controlling terminal (setsid + TIOCSCTTY) and stdin/out/err.
Result<void> attach_stdio_to_pty(int slave);

}  // namespace bw::sandbox
