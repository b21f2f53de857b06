#include "base/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "sys/syscalls.h"

namespace bw {

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { kill_and_reap(); }

void ChildProcess::kill_and_reap() {
  if (pid_ <= 0) return;
  if (pidfd_) {
    (void)sys::pidfd_send_signal(pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t si{};
    (void)::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &si, WEXITED);
  } else {
    (void)::kill(pid_, SIGKILL);
    (void)::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  pidfd_.reset();
}

void ChildProcess::release() {
  pid_ = -1;
  pidfd_.reset();
}

Result<void> ChildProcess::signal(int sig) const {
  if (sys::pidfd_send_signal(pidfd_.get(), sig, nullptr, 0) < 0)
    return sys_error("pidfd_send_signal(%d, %d)", pid_, sig);
  return {};
}

static ExitStatus from_siginfo(const siginfo_t& si) {
  ExitStatus st;
  if (si.si_code == CLD_EXITED) {
    st.code = si.si_status;
  } else {
    st.signaled = true;
    st.code = si.si_status;
  }
  return st;
}

Result<ExitStatus> ChildProcess::wait() {
  ExitStatus st;
  BW_ASSIGN_OR_RETURN(bool done, wait_for(-1, &st));
  if (!done) return make_error(ETIMEDOUT, "waiting for pid %d", pid_);
  return st;
}

Result<bool> ChildProcess::wait_for(int timeout_ms, ExitStatus* status) {
  if (timeout_ms >= 0) {
    struct pollfd p = {pidfd_.get(), POLLIN, 0};
    int n;
    do {
      n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return sys_error("poll pidfd of %d", pid_);
    if (n == 0) return false;
  }
  siginfo_t si{};
  int r;
  do {
    r = ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &si, WEXITED);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return sys_error("waitid(pid %d)", pid_);
  *status = from_siginfo(si);
  pid_ = -1;
  pidfd_.reset();
  return true;
}

Result<ChildProcess> fork_child(int cgroup_fd) {
  int pidfd = -1;
  struct clone_args args {};
  args.flags = CLONE_PIDFD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  pid_t pid = sys::clone3(&args);
  if (pid < 0) return sys_error("clone3");
  if (pid == 0) return ChildProcess();
  // clone3 returns the pidfd with O_CLOEXEC set.
  return ChildProcess(pid, UniqueFd(pidfd));
}

}  // namespace bw
