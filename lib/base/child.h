// A child process owned through a pidfd. Dropping a ChildProcess that was not
// waited for kills it with SIGKILL and reaps it, so an error path can never
// leave a half-set-up child running.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw {

// How a child ended, as waitid() reports it.
struct ExitStatus {
  bool signaled = false;
  int code = 0;  // exit code, or the signal number when signaled
  // Shell convention: the exit code, or 128 + signal.
  int shell_code() const { return signaled ? 128 + code : code; }
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  ChildProcess(ChildProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)) {}
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  bool valid() const { return pid_ > 0; }

  Result<void> signal(int sig) const;
  // Waits for the child to end and reaps it.
  Result<ExitStatus> wait();
  // Waits at most timeout_ms (-1 = forever); returns false on timeout.
  Result<bool> wait_for(int timeout_ms, ExitStatus* status);
  // Gives up ownership without killing (the process lives on).
  void release();

 private:
  void kill_and_reap();
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// fork() that returns a pidfd-owned child. In the child, returns an invalid handle.
// With cgroup_fd >= 0 the child starts in that cgroup v2 directory
// (CLONE_INTO_CGROUP), which avoids the cost of migrating it afterwards.
Result<ChildProcess> fork_child(int cgroup_fd = -1);


}  // namespace bw
