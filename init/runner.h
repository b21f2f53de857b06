// Starting the programs the supervisor runs: a service's host process, its
// container (through lib/sandbox, in-process), a health-check command, a
// shutdown hook. Each returns a pidfd-owned child once the program runs, or
// the reason it could not be started.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/child.h"
#include "base/result.h"

namespace bw::init {

struct ProcessLaunch {
  std::vector<std::string> argv;  // argv[0] absolute
  std::vector<std::string> env;   // NAME=value, the whole environment
  std::string cwd = "/";
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;  // with uid: the only group (supplementary groups are dropped)
  int out_fd = -1;           // stdout and stderr; -1: /dev/null. stdin is always /dev/null.
  int cgroup_fd = -1;        // start in this cgroup (CLONE_INTO_CGROUP); -1: ours
};

// Forks and execs; the child leads a new session (so its process group can
// be signalled as a whole), has an empty signal mask and default signal
// dispositions. Returns once execve succeeded; a failure before it (chdir,
// setuid, execve) comes back as an error naming the step.
Result<ChildProcess> spawn_process(const ProcessLaunch& launch);

struct ContainerLaunch {
  std::string id;
  std::string bundle;
  std::string state_root;
  std::string seccomp_cache;
  int out_fd = -1;  // the container process's stdout and stderr; stdin is /dev/null
};

// create_container + start_container. A container of the same id left
// behind (by an earlier run that did not clean up) is deleted first.
// Returns the container's first process once it runs its program.
Result<ChildProcess> launch_container(const ContainerLaunch& launch);
// Runs `command` in the running container (its namespaces, cgroup, seccomp
// filter, user and capabilities), output to out_fd (-1: /dev/null).
Result<ChildProcess> exec_in_service_container(const std::string& state_root, const std::string& seccomp_cache,
                                               const std::string& id, const std::vector<std::string>& command,
                                               int out_fd);
// Signals the container's first process (all: every process in its cgroup).
Result<void> signal_container(const std::string& state_root, const std::string& id, int sig, bool all);
// delete_container(force): kills what is left, removes its cgroup and state.
Result<void> remove_container(const std::string& state_root, const std::string& id);

}  // namespace bw::init
