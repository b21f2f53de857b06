// Waiting for a container process while forwarding the signals a user sends
// to the runtime (run and exec in the foreground).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "run/args.h"

namespace bw::run {

namespace {
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
}  // namespace

Result<ExitStatus> wait_forwarding_signals(ChildProcess& child) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwarded) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) return sys_error("sigprocmask");
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) return sys_error("signalfd");
  UniqueFd sig(sfd);
  for (;;) {
    struct pollfd fds[2] = {{child.pidfd(), POLLIN, 0}, {sig.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("poll");
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (::read(sig.get(), &si, sizeof si) == sizeof si) (void)child.signal(static_cast<int>(si.ssi_signo));
    }
    if (fds[0].revents & POLLIN) return child.wait();
  }
}

}  // namespace bw::run
