// The last steps in the container before exec, in the safe order:
// rlimits and oom score while privileged, bounding set, user switch with
// capabilities kept, the configured capability sets, cwd, no_new_privs,
// fds marked close-on-exec, seccomp, execve. Nothing runs between the seccomp
// filter and execve.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"
#include "seccomp/seccomp.h"

namespace bw::sandbox {

struct ExecPlan {
  const oci::Process* process = nullptr;
  const seccomp::Filter* filter = nullptr;  // null: no seccomp
  std::string listener_path;                // linux.seccomp.listenerPath
  std::string listener_state;               // JSON sent with the notify fd
  std::string exe;                          // resolved executable (inside the container)
  int preserve_fds = 0;                     // fds 3..3+n-1 stay open
  bool rlimits_applied = false;             // set when applied earlier (create does, to fail early)
  bool setgroups_allowed = true;            // false in a user namespace with setgroups denied
};

Result<void> apply_rlimits(const std::vector<oci::Rlimit>& rlimits);
// Resolves process.args[0] with the PATH of process.env, inside the current root.
Result<std::string> resolve_executable(const oci::Process& p);
// Runs the final sequence and execs; returns only on failure.
Error finalize_and_exec(const ExecPlan& plan);

}  // namespace bw::sandbox
