// A container's lifecycle, as the OCI runtime spec defines it. bulwark-run's
// verbs and bulwark-init's supervisor call these same functions.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "base/child.h"
#include "base/result.h"
#include "oci/spec.h"
#include "oci/state.h"
#include "sandbox/store.h"

namespace bw::sandbox {

struct CreateOptions {
  std::string id;
  std::string bundle;          // directory holding config.json
  std::string state_root;      // --root
  std::string pid_file;        // written with the container init's pid
  std::string console_socket;  // where the pty master goes when process.terminal
  std::string seccomp_cache;   // compiled-BPF cache directory ("" = no cache)
  int preserve_fds = 0;
  // Called before anything enters the container when its processes could
  // reach the runtime's binary (see exe_guard.h); re-executes from a sealed
  // copy or fails. Empty: the caller guarantees a protected binary.
  std::function<Result<void>()> protect_exe;
};

struct Created {
  ChildProcess init;  // the container's first process, waiting for start
  Record record;
};

// Creates the container: namespaces, mounts, hooks up to createContainer; its
// process waits for start. On failure nothing is left behind: no process,
// mount, cgroup or state directory.
Result<Created> create_container(const CreateOptions& opts);
// Lets a created container's process exec; runs poststart hooks.
Result<void> start_container(const std::string& state_root, const std::string& id);
Result<oci::State> container_state(const std::string& state_root, const std::string& id);
Result<void> kill_container(const std::string& state_root, const std::string& id, int sig, bool all);
// Stops (with force) and removes: cgroup, poststop hooks, state directory.
Result<void> delete_container(const std::string& state_root, const std::string& id, bool force);
Result<void> pause_container(const std::string& state_root, const std::string& id, bool pause);
Result<std::vector<pid_t>> container_processes(const std::string& state_root, const std::string& id);

// Parses "KILL", "SIGKILL" or "9".
Result<int> parse_signal(const std::string& s);

}  // namespace bw::sandbox
