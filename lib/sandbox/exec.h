// exec: a new process inside a running container, under the same
// restrictions as its first process: every namespace of the container, its
// cgroup, its seccomp filter, and the capabilities, user and no_new_privs of
// the process description.
#pragma once

#include <functional>
#include <string>

#include "base/child.h"
#include "base/result.h"
#include "oci/spec.h"

namespace bw::sandbox {

struct ExecOptions {
  std::string state_root;
  std::string id;
  std::string pid_file;
  std::string console_socket;
  std::string seccomp_cache;
  int preserve_fds = 0;
  std::function<Result<void>()> protect_exe;  // as CreateOptions::protect_exe
};

// The container's own process description, as a base for `exec ID CMD...`.
Result<oci::Process> container_process(const std::string& state_root, const std::string& id);
// Starts `process` in the container; returns once it has exec'd (or failed to).
Result<ChildProcess> exec_in_container(const ExecOptions& opts, const oci::Process& process);

}  // namespace bw::sandbox
