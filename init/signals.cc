#include "init/signals.h"

#include <sys/signalfd.h>

#include <atomic>

namespace bw::init {

namespace {

sigset_t make_set() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGPWR})
    sigaddset(&s, sig);
  for (int rt : {3, 4, 5}) sigaddset(&s, SIGRTMIN + rt);
  return s;
}

// Signals caught while unblocked; one bit per signal number (1..64).
std::atomic<unsigned long long> g_caught{0};

void record(int sig) {
  if (sig > 0 && sig <= 64) g_caught.fetch_or(1ULL << (sig - 1));
}

}  // namespace

const sigset_t& handled_signals() {
  static const sigset_t s = make_set();
  return s;
}

Result<UniqueFd> block_signals_to_signalfd() {
  if (::sigprocmask(SIG_BLOCK, &handled_signals(), nullptr) < 0) return sys_error("sigprocmask(SIG_BLOCK)");
  int fd = ::signalfd(-1, &handled_signals(), SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return sys_error("signalfd");
  return UniqueFd(fd);
}

void reset_signals_for_exec() {
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) (void)::sigaction(sig, &dfl, nullptr);
}

UnblockedSignals::UnblockedSignals() {
  struct sigaction sa {};
  sa.sa_handler = record;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG && sig < 65; ++sig)
    if (sigismember(&handled_signals(), sig)) (void)::sigaction(sig, &sa, &saved_[sig]);
  (void)::sigprocmask(SIG_UNBLOCK, &handled_signals(), nullptr);
}

UnblockedSignals::~UnblockedSignals() {
  (void)::sigprocmask(SIG_BLOCK, &handled_signals(), nullptr);
  for (int sig = 1; sig < NSIG && sig < 65; ++sig)
    if (sigismember(&handled_signals(), sig)) (void)::sigaction(sig, &saved_[sig], nullptr);
  // Blocked now: raised signals stay pending for the signalfd. (A SIGCHLD
  // that arrived between the block and the restored default disposition may
  // be discarded; the caller reaps after every window anyway.)
  unsigned long long caught = g_caught.exchange(0);
  for (int sig = 1; sig <= 64; ++sig)
    if (caught & (1ULL << (sig - 1))) (void)::raise(sig);
}

}  // namespace bw::init
