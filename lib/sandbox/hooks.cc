#include "sandbox/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/child.h"
#include "base/file.h"

namespace bw::sandbox {

// Hooks are not run with bw::run_command: a hook's args[0] need not be its
// path (args has execv's argv semantics), a hook that ignores its stdin must
// not stall the timeout, and on timeout the hook's whole process group is
// killed so that a script's children (`sleep`) go with it.

namespace {

int64_t now_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string describe_signal(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? strf("%d (SIG%s)", sig, abbrev) : std::to_string(sig);
}

// In the forked child: only async-signal-safe calls from here to execve.
[[noreturn]] void exec_hook(const char* path, char* const* argv, char* const* envp, int stdin_fd,
                            int err_fd) {
  // Ignored signals and the signal mask survive execve; a hook starts clean.
  sigset_t none;
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) (void)signal(sig, SIG_DFL);
  }
  // Its own process group, so that a timeout kills everything it started.
  (void)setpgid(0, 0);
  if (dup2(stdin_fd, 0) < 0) {
    int e = errno;
    (void)!write(err_fd, &e, sizeof e);
    _exit(127);
  }
  execve(path, argv, envp);
  int e = errno;
  (void)!write(err_fd, &e, sizeof e);
  _exit(127);
}

// Writes what the pipe takes without blocking. SIGPIPE is blocked in this
// thread while writing, so a hook that exits without reading gives EPIPE
// instead of killing us; a SIGPIPE raised here is consumed, one that was
// already pending is left alone.
enum class WriteState { more, done, reader_gone };
WriteState write_some(int fd, std::string_view& data) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  WriteState state = WriteState::more;
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) {  // EPIPE, or anything else: the hook gets what it got
      if (errno == EPIPE && !was_pending) {
        struct timespec zero {};
        (void)sigtimedwait(&pipe_set, nullptr, &zero);
      }
      state = WriteState::reader_gone;
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (state == WriteState::more && data.empty()) state = WriteState::done;
  return state;
}

// Runs one hook; errors do not yet name the hook.
Result<void> run_hook(const oci::Hook& hook, const std::string& input) {
  if (hook.timeout && *hook.timeout <= 0)
    return make_error(0, "timeout must be greater than zero, found %d", *hook.timeout);
  if (hook.path.empty()) return make_error(0, "path is empty");

  // Everything the child needs is built before fork.
  std::vector<std::string> args =
      hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : hook.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int in[2], err[2];
  if (::pipe2(in, O_CLOEXEC) < 0) return sys_error("pipe2");
  UniqueFd in_rd(in[0]), in_wr(in[1]);
  if (::pipe2(err, O_CLOEXEC) < 0) return sys_error("pipe2");
  UniqueFd err_rd(err[0]), err_wr(err[1]);

  BW_ASSIGN_OR_RETURN(ChildProcess child, fork_child());
  if (!child.valid())
    exec_hook(hook.path.c_str(), argv.data(), envp.data(), in_rd.get(), err_wr.get());
  // Set the group from this side too, so a timeout right after fork finds it.
  (void)::setpgid(child.pid(), child.pid());
  in_rd.reset();
  err_wr.reset();

  // The error pipe closes on a successful execve, or carries execve's errno.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_rd.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    (void)child.wait();
    errno = exec_errno;
    return sys_error("exec");
  }

  int64_t deadline = hook.timeout ? now_ms() + int64_t{*hook.timeout} * 1000 : -1;
  if (::fcntl(in_wr.get(), F_SETFL, O_NONBLOCK) < 0) return sys_error("fcntl(O_NONBLOCK)");
  std::string_view pending = input;
  if (pending.empty()) in_wr.reset();
  for (;;) {
    struct pollfd fds[2] = {{child.pidfd(), POLLIN, 0}, {in_wr.get(), POLLOUT, 0}};
    int nfds = in_wr ? 2 : 1;
    int wait_ms = -1;
    if (deadline >= 0) wait_ms = static_cast<int>(std::max<int64_t>(deadline - now_ms(), 0));
    int r = ::poll(fds, static_cast<nfds_t>(nfds), wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("poll");
    if (r == 0) {
      (void)::kill(-child.pid(), SIGKILL);
      (void)child.signal(SIGKILL);
      (void)child.wait();
      return make_error(0, "did not finish within %d s, killed", *hook.timeout);
    }
    if (fds[0].revents) break;  // exited
    if (in_wr && fds[1].revents) {
      if (write_some(in_wr.get(), pending) != WriteState::more) in_wr.reset();
    }
  }
  in_wr.reset();
  BW_ASSIGN_OR_RETURN(ExitStatus st, child.wait());
  if (st.signaled) return make_error(0, "killed by signal %s", describe_signal(st.code).c_str());
  if (st.code != 0) return make_error(0, "exited with status %d", st.code);
  return {};
}

}  // namespace

Result<void> run_hooks(const char* kind, const std::vector<oci::Hook>& hooks,
                       const std::string& state_json) {
  for (size_t i = 0; i < hooks.size(); ++i) {
    if (auto r = run_hook(hooks[i], state_json); !r)
      return Unexpected(
          r.error().prefix(strf("hooks.%s[%zu] '%s'", kind, i, hooks[i].path.c_str())));
  }
  return {};
}

}  // namespace bw::sandbox
