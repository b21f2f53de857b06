// The supervisor behind `record` and `check`: the child installs a filter
// whose notifications come here, the parent answers each with CONTINUE.
//
// The child's order matters. After seccomp() every call the child makes waits
// for an answer, and nobody can answer before the parent holds the listener
// fd. So the fd is sent by a helper thread the child starts *before* loading
// the filter (a filter loaded without TSYNC applies to the loading thread
// only), while the loading thread waits for that without making a single
// call and then goes on to execve. That execve is the first call the parent
// sees; the kernel ends the helper thread as part of it. The filter needs no
// exceptions, so not one of the command's calls, from its execve on, is
// missed.
#include "seccomp/supervise.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "base/file.h"
#include "base/strings.h"
#include "base/unix_socket.h"
#include "sys/syscalls.h"

extern char** environ;

// Linux 6.6: wake the supervisor and the notifying task on the current CPU.
// Measured here, a notify-and-continue round trip drops from 8-11 us to 5.5.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace bw::seccomp {

namespace {

// Messages from the child on a SOCK_SEQPACKET pair.
constexpr char kMsgListener = 'F';  // SCM_RIGHTS carries the listener fd
constexpr char kMsgError = 'E';     // followed by an int errno and the failed step

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

Result<std::string> find_executable(const std::string& name) {
  auto usable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return make_error(EINVAL, "the command is empty");
  if (name.find('/') != std::string::npos) {
    if (!usable(name)) return make_error(ENOENT, "'%s' is not an executable file", name.c_str());
    return name;
  }
  const char* env = ::getenv("PATH");
  std::string path = env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const std::string& dir : split(path, ':')) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (usable(candidate)) return candidate;
  }
  return make_error(ENOENT, "'%s' not found in PATH (%s)", name.c_str(), path.c_str());
}

// What the child needs, prepared before fork so that it allocates nothing.
struct ChildPlan {
  std::string exe;
  std::vector<char*> argv;
  struct sock_fprog prog {};
  unsigned flags = 0;
  sigset_t mask{};  // the signal mask to restore
  pid_t parent = 0;
  int sock = -1;
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

struct HelperState {
  int sock = -1;
  std::atomic<int> listener{-1};
  std::atomic<bool> sent{false};
};

// Runs pre-filter and unfiltered; may block on nothing the parent waits for.
void send_error(int sock, int err, const char* step) {
  char buf[160];
  buf[0] = kMsgError;
  std::memcpy(buf + 1, &err, sizeof err);
  size_t n = 1 + sizeof err;
  size_t len = std::strlen(step);
  if (len > sizeof buf - n) len = sizeof buf - n;
  std::memcpy(buf + n, step, len);
  (void)::send(sock, buf, n + len, MSG_NOSIGNAL);
}

void* helper_main(void* arg) {
  auto* s = static_cast<HelperState*>(arg);
  int fd;
  // The loading thread stores the fd a few instructions after seccomp()
  // returns; it cannot wake this thread (a futex call would wait for the
  // supervisor), so this thread polls.
  while ((fd = s->listener.load(std::memory_order_acquire)) < 0) ::sched_yield();
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control{};
  char tag = kMsgListener;
  struct iovec iov {&tag, 1};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  (void)::sendmsg(s->sock, &msg, MSG_NOSIGNAL);
  s->sent.store(true, std::memory_order_release);
  // The execve the other thread is making ends this thread.
  for (;;) ::pause();
}

[[noreturn]] void run_child(ChildPlan& plan) {
  (void)::sigprocmask(SIG_SETMASK, &plan.mask, nullptr);
  // Without its supervisor a filtered task could not make a single call.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || ::getppid() != plan.parent) ::_exit(126);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    send_error(plan.sock, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
    ::_exit(126);
  }
  HelperState helper;  // run_child never returns, so this outlives the thread
  helper.sock = plan.sock;
  pthread_t thread;
  if (int rc = ::pthread_create(&thread, nullptr, helper_main, &helper); rc != 0) {
    send_error(plan.sock, rc, "starting the thread that hands over the listener");
    ::_exit(126);
  }
  unsigned flags = plan.flags | SECCOMP_FILTER_FLAG_NEW_LISTENER |
                   SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  int fd = sys::seccomp(SECCOMP_SET_MODE_FILTER, flags, &plan.prog);
  if (fd < 0 && errno == EINVAL) {
    // Before Linux 5.19 there is no WAIT_KILLABLE_RECV; a signal then
    // restarts a waiting call, which only repeats a notification.
    flags &= ~static_cast<unsigned>(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    fd = sys::seccomp(SECCOMP_SET_MODE_FILTER, flags, &plan.prog);
  }
  if (fd < 0) {
    int err = errno;
    send_error(plan.sock, err,
               err == EBUSY ? "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): this process "
                              "already runs under a filter that has a listener"
                            : "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER)");
    ::_exit(126);
  }
  // From here on every call is the command's: the next one is its execve.
  // That execve must wait until the fd has left, because it ends the helper
  // thread and closes the fd, and under a `check` filter nothing makes it
  // wait for the supervisor. The wait spins: any call would be filtered.
  helper.listener.store(fd, std::memory_order_release);
  while (!helper.sent.load(std::memory_order_acquire)) cpu_relax();
  ::execve(plan.exe.c_str(), plan.argv.data(), environ);
  send_error(plan.sock, errno, "execve");
  ::_exit(127);
}

ExitStatus status_of(const siginfo_t& si) {
  ExitStatus st;
  st.signaled = si.si_code != CLD_EXITED;
  st.code = si.si_status;
  return st;
}

// An error the child reports: kMsgError, an int errno, then the failed step.
std::optional<Error> child_error(std::string_view m) {
  if (m.size() <= sizeof(int) || m[0] != kMsgError) return std::nullopt;
  int err = 0;
  std::memcpy(&err, m.data() + 1, sizeof err);
  return Error{err, "in the child: " + std::string(m.substr(1 + sizeof err))};
}

// Reads the child's first message: the listener fd, or why it failed.
Result<UniqueFd> receive_listener(int sock) {
  BW_ASSIGN_OR_RETURN(FdMessage m, with_context(recv_fd_message(sock), "receiving the seccomp listener from the child"));
  if (m.closed) return make_error(0, "the child ended before loading its seccomp filter");
  if (auto e = child_error(m.data)) return Unexpected(std::move(*e));
  if (m.data.empty() || m.data[0] != kMsgListener || !m.fd)
    return make_error(EPROTO, "unexpected message from the child");
  return std::move(m.fd);
}

// An execve that failed after the filter was loaded reports here.
std::optional<Error> late_child_error(int sock) {
  char buf[160] = {};
  ssize_t n = ::recv(sock, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) return std::nullopt;
  return child_error(std::string_view(buf, static_cast<size_t>(n)));
}

// Puts back what supervise() changed in this process.
class ProcessStateGuard {
 public:
  ProcessStateGuard() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    for (int s : kForwardedSignals) sigaddset(&block, s);
    (void)::sigprocmask(SIG_BLOCK, &block, &old_mask_);
    (void)::prctl(PR_GET_CHILD_SUBREAPER, &old_subreaper_, 0, 0, 0);
    (void)::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  ~ProcessStateGuard() {
    (void)::prctl(PR_SET_CHILD_SUBREAPER, old_subreaper_, 0, 0, 0);
    (void)::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  ProcessStateGuard(const ProcessStateGuard&) = delete;
  ProcessStateGuard& operator=(const ProcessStateGuard&) = delete;
  const sigset_t& old_mask() const { return old_mask_; }

 private:
  sigset_t old_mask_{};
  int old_subreaper_ = 0;
};

class Loop {
 public:
  Loop(UniqueFd listener, int sigfd, ChildProcess& child, const Observer& observe)
      : listener_(std::move(listener)), sigfd_(sigfd), child_(child), observe_(observe) {}

  Result<void> init() {
    struct seccomp_notif_sizes sizes {};
    if (sys::seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
      return sys_error("seccomp(SECCOMP_GET_NOTIF_SIZES)");
    req_.assign(std::max<size_t>(sizes.seccomp_notif, sizeof(struct seccomp_notif)), 0);
    resp_.assign(std::max<size_t>(sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp)),
                 0);
    result_.sync_wake_up = ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                                   SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
    return {};
  }

  Result<SuperviseResult> run() {
    main_pid_ = child_.pid();
    bool listener_open = true;
    while (listener_open || main_pid_ > 0) {
      struct pollfd fds[2] = {{listener_open ? listener_.get() : -1, POLLIN, 0},
                              {sigfd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return sys_error("poll on the seccomp listener");
      }
      if (fds[0].revents & POLLIN) BW_RETURN_IF_ERROR(handle_notification());
      // POLLHUP: no task uses the filter any more, so none will notify.
      else if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) listener_open = false;
      if (fds[1].revents & POLLIN) BW_RETURN_IF_ERROR(handle_signal());
    }
    result_.tasks = tasks_.size();
    return result_;
  }

 private:
  Result<void> handle_notification() {
    std::fill(req_.begin(), req_.end(), 0);
    auto* req = reinterpret_cast<struct seccomp_notif*>(req_.data());
    if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
      // ENOENT: the caller was killed or interrupted by a signal before we
      // got to it (the call will be notified again when it restarts).
      if (errno == EINTR || errno == ENOENT) return {};
      return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_RECV)");
    }
    Notification n;
    n.id = req->id;
    n.pid = static_cast<pid_t>(req->pid);
    n.data.nr = req->data.nr;
    n.data.arch = req->data.arch;
    n.data.instruction_pointer = req->data.instruction_pointer;
    for (size_t i = 0; i < n.data.args.size(); ++i) n.data.args[i] = req->data.args[i];
    n.listener = listener_.get();
    ++result_.notifications;
    tasks_.insert(n.pid);
    int error = observe_(n);

    std::fill(resp_.begin(), resp_.end(), 0);
    auto* resp = reinterpret_cast<struct seccomp_notif_resp*>(resp_.data());
    resp->id = req->id;
    if (error > 0)
      resp->error = -error;
    else
      resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
      return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_SEND) for call %d (arch %#x) of pid %d",
                       n.data.nr, n.data.arch, n.pid);
    return {};
  }

  Result<void> handle_signal() {
    struct signalfd_siginfo si {};
    ssize_t n = ::read(sigfd_, &si, sizeof si);
    if (n != static_cast<ssize_t>(sizeof si)) return {};
    if (si.ssi_signo != SIGCHLD) {
      if (main_pid_ > 0) (void)child_.signal(static_cast<int>(si.ssi_signo));
      return {};
    }
    // Several exits can share one SIGCHLD: reap until none is left.
    for (;;) {
      siginfo_t info{};
      if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0) break;
      if (info.si_pid == main_pid_) {
        result_.status = status_of(info);
        child_.release();  // reaped here, not by the handle
        main_pid_ = 0;
      }
    }
    return {};
  }

  UniqueFd listener_;
  int sigfd_;
  ChildProcess& child_;
  const Observer& observe_;
  pid_t main_pid_ = 0;
  std::vector<char> req_, resp_;
  std::unordered_set<pid_t> tasks_;
  SuperviseResult result_;
};

}  // namespace

std::vector<struct sock_filter> notify_all_program() {
  return {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF)};
}

std::vector<struct sock_filter> report_denials_program(std::vector<struct sock_filter> prog) {
  for (struct sock_filter& insn : prog) {
    if (insn.code != (BPF_RET | BPF_K)) continue;
    switch (insn.k & SECCOMP_RET_ACTION_FULL) {
      case SECCOMP_RET_KILL_PROCESS:
      case SECCOMP_RET_KILL_THREAD:
      case SECCOMP_RET_TRAP:
      case SECCOMP_RET_ERRNO:
      case SECCOMP_RET_TRACE:
        insn.k = SECCOMP_RET_USER_NOTIF;
        break;
      default:
        break;
    }
  }
  return prog;
}

std::optional<std::string> task_name(const Notification& n) {
  auto text = read_file(strf("/proc/%d/comm", n.pid));
  uint64_t id = n.id;
  if (!text || ::ioctl(n.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return std::nullopt;
  return std::string(trim(*text));
}

Result<SuperviseResult> supervise(const SuperviseOptions& opts, const Observer& observe) {
  if (opts.argv.empty()) return make_error(EINVAL, "no command given");
  ChildPlan plan;
  BW_ASSIGN_OR_RETURN(plan.exe, find_executable(opts.argv[0]));
  for (const std::string& a : opts.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  std::vector<struct sock_filter> program =
      opts.program.empty() ? notify_all_program() : opts.program;
  if (program.size() > BPF_MAXINSNS)
    return make_error(E2BIG, "the filter has %zu instructions (the kernel allows %d)",
                      program.size(), BPF_MAXINSNS);
  plan.prog.len = static_cast<unsigned short>(program.size());
  plan.prog.filter = program.data();
  // TSYNC would put the filter on the helper thread too, which then could
  // not hand the listener over.
  plan.flags = opts.filter_flags & ~static_cast<unsigned>(SECCOMP_FILTER_FLAG_TSYNC |
                                                          SECCOMP_FILTER_FLAG_TSYNC_ESRCH |
                                                          SECCOMP_FILTER_FLAG_NEW_LISTENER);
  plan.parent = ::getpid();

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
    return sys_error("socketpair(AF_UNIX, SOCK_SEQPACKET)");
  UniqueFd sock(pair[0]), child_sock(pair[1]);
  plan.sock = child_sock.get();

  ProcessStateGuard guard;
  plan.mask = guard.old_mask();
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  for (int s : kForwardedSignals) sigaddset(&handled, s);
  int raw = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (raw < 0) return sys_error("signalfd");
  UniqueFd sigfd(raw);

  pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) run_child(plan);
  raw = sys::pidfd_open(pid, 0);
  // The pid cannot be reused before we reap it, so the pidfd is the child's.
  ChildProcess child(pid, UniqueFd(raw));
  if (raw < 0) {
    (void)::kill(pid, SIGKILL);
    (void)::waitpid(pid, nullptr, 0);
    child.release();
    return sys_error("pidfd_open(%d)", pid);
  }
  child_sock.reset();

  auto listener = receive_listener(sock.get());
  if (!listener) {
    Error err = std::move(listener).error();
    auto st = child.wait();
    if (err.code == 0 && st)
      err.message += strf(" (it %s %d)", st->signaled ? "was killed by signal" : "exited with status",
                          st->code);
    return Unexpected(err.prefix(strf("starting '%s'", opts.argv[0].c_str())));
  }
  Loop loop(std::move(*listener), sigfd.get(), child, observe);
  BW_RETURN_IF_ERROR(loop.init());
  BW_ASSIGN_OR_RETURN(SuperviseResult result, loop.run());
  if (auto late = late_child_error(sock.get())) {
    late->prefix(strf("starting '%s'", opts.argv[0].c_str()));
    return Unexpected(std::move(*late));
  }
  return result;
}

}  // namespace bw::seccomp
