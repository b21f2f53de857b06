// run = create + start, then wait for the container's process, forwarding
// signals to it, and delete the container when it ends.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/log.h"
#include "run/args.h"
#include "sandbox/container.h"
#include "sys/syscalls.h"

namespace bw::run {

Result<sandbox::CreateOptions> create_options(const Globals& g, const Args& a);
const std::vector<OptionSpec>& create_option_specs();

namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

Result<ExitStatus> wait_forwarding_signals(ChildProcess& init) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwarded) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) return sys_error("sigprocmask");
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) return sys_error("signalfd");
  UniqueFd sig(sfd);
  for (;;) {
    struct pollfd fds[2] = {{init.pidfd(), POLLIN, 0}, {sig.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("poll");
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (::read(sig.get(), &si, sizeof si) == sizeof si) (void)init.signal(static_cast<int>(si.ssi_signo));
    }
    if (fds[0].revents & POLLIN) return init.wait();
  }
}

}  // namespace

int cmd_run(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, create_option_specs(), false);
  if (!a) return fail(a.error().prefix("run"));
  auto o = create_options(g, *a);
  if (!o) return fail(o.error().prefix("run"));
  auto c = sandbox::create_container(*o);
  if (!c) return fail(c.error());
  if (auto r = sandbox::start_container(g.root, o->id); !r) {
    c->init = ChildProcess();  // kills it
    (void)sandbox::delete_container(g.root, o->id, true);
    return fail(r.error());
  }
  if (a->has("detach")) {
    c->init.release();
    return 0;
  }
  auto st = wait_forwarding_signals(c->init);
  if (auto r = sandbox::delete_container(g.root, o->id, true); !r)
    log::warning(r.error().text() + ", ignoring");
  if (!st) return fail(st.error());
  return st->shell_code();
}

}  // namespace bw::run
