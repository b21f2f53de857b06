// bulwark-init: PID 1 of a Bulwark appliance, or (with --supervisor, or
// when it is not PID 1) a plain supervisor of the services in a directory.
// The sequence: arguments, PID 1's boot, the service definitions, the event
// loop with the supervisor and the control socket, and at the end either
// an exit status or PID 1's shutdown. Options and signals are documented in
// examples/services/README.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/strings.h"
#include "init/boot.h"
#include "init/cmdline.h"
#include "init/rd.h"
#include "init/control.h"
#include "init/loop.h"
#include "init/service.h"
#include "init/signals.h"
#include "init/supervisor.h"
#include "init/verdict.h"
#include "sandbox/exe_guard.h"

namespace bw::init {
namespace {

// Whether this process took on PID 1's duties (a pid-namespace PID 1 run
// with --supervisor did not).
bool g_pid1 = false;

constexpr const char kUsage[] =
    "usage: bulwark-init [--config-dir DIR] [--socket PATH] [--state-dir DIR] [--log-dir DIR]\n"
    "                    [--access-policy FILE] [--cgroup-parent PATH] [--supervisor]\n"
    "                    [--log-file-bytes N] [--log-files N] [--log-ring-bytes N]\n"
    "                    [--hook-timeout-ms N] [--boot-deadline SECONDS] [--debug]\n"
    "See examples/services/README.md.\n";

struct Args {
  std::optional<std::string> config_dir;
  std::string socket = kControlSocketPath;
  std::string state_dir = "/run/bulwark";
  std::string log_dir = "/var/log/bulwark";
  std::string access_policy = kAccessPolicyPath;
  std::optional<std::string> cgroup_parent;
  bool supervisor = false;
  bool debug = false;
  LogLimits limits;
  int hook_timeout_ms = 120000;
  std::optional<int> boot_deadline_s;
};

// As PID 1, words the kernel passes on from its command line (`single`,
// `emergency`, ...) land in argv: `ignored` collects them instead of failing.
Result<Args> parse_args(int argc, char** argv, std::vector<std::string>* ignored) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string opt = argv[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return make_error(0, "%s needs a value", opt.c_str());
      return std::string(argv[++i]);
    };
    auto number = [&](long long min, long long max) -> Result<long long> {
      BW_ASSIGN_OR_RETURN(std::string v, value());
      auto n = parse_int(v);
      if (!n || *n < min || *n > max)
        return make_error(0, "%s: '%s' is not a number from %lld to %lld", opt.c_str(), v.c_str(), min, max);
      return *n;
    };
    if (opt == "--config-dir") {
      BW_ASSIGN_OR_RETURN(a.config_dir, value());
    } else if (opt == "--socket") {
      BW_ASSIGN_OR_RETURN(a.socket, value());
    } else if (opt == "--state-dir") {
      BW_ASSIGN_OR_RETURN(a.state_dir, value());
    } else if (opt == "--log-dir") {
      BW_ASSIGN_OR_RETURN(a.log_dir, value());
    } else if (opt == "--access-policy") {
      BW_ASSIGN_OR_RETURN(a.access_policy, value());
    } else if (opt == "--cgroup-parent") {
      BW_ASSIGN_OR_RETURN(a.cgroup_parent, value());
    } else if (opt == "--supervisor") {
      a.supervisor = true;
    } else if (opt == "--debug") {
      a.debug = true;
    } else if (opt == "--log-file-bytes") {
      BW_ASSIGN_OR_RETURN(long long n, number(1024, 1LL << 40));
      a.limits.file_bytes = static_cast<size_t>(n);
    } else if (opt == "--log-files") {
      BW_ASSIGN_OR_RETURN(long long n, number(0, 100));
      a.limits.files = static_cast<int>(n);
    } else if (opt == "--log-ring-bytes") {
      BW_ASSIGN_OR_RETURN(long long n, number(1024, 1LL << 30));
      a.limits.ring_bytes = static_cast<size_t>(n);
    } else if (opt == "--hook-timeout-ms") {
      BW_ASSIGN_OR_RETURN(long long n, number(1, 3600000));
      a.hook_timeout_ms = static_cast<int>(n);
    } else if (opt == "--boot-deadline") {
      BW_ASSIGN_OR_RETURN(long long n, number(1, kMaxBootDeadlineS));
      a.boot_deadline_s = static_cast<int>(n);
    } else if ((opt == "--help" || opt == "-h") && !ignored) {
      fputs(kUsage, stdout);
      exit(0);
    } else if (ignored) {
      ignored->push_back(opt);
    } else {
      return make_error(0, "unknown option '%s'", opt.c_str());
    }
  }
  return a;
}

// fds 0-2 must be taken, or the first pipe or socket we open would become a
// service's stdout by accident. PID 1 can start without a console.
void ensure_stdio() {
  for (int fd = 0; fd < 3; ++fd)
    if (::fcntl(fd, F_GETFD) < 0) (void)::open("/dev/null", O_RDWR);  // takes the lowest free fd: this one
}

ShutdownKind kind_of(ShutdownAction a) {
  switch (a) {
    case ShutdownAction::reboot: return ShutdownKind::reboot;
    case ShutdownAction::halt: return ShutdownKind::halt;
    // PID 1 cannot just exit; nothing asks it to, but power off if something did.
    case ShutdownAction::poweroff:
    case ShutdownAction::exit: return ShutdownKind::poweroff;
  }
  return ShutdownKind::poweroff;
}

struct Pid1 {
  BootConfig boot;
  HardwareWatchdog watchdog;
};

// PID 1's part before the supervisor: API filesystems, cgroups, console,
// the hardware watchdog. Only what the system cannot run without is fatal.
// `p` is filled in place: the crash handlers keep a pointer to its watchdog.
void boot_pid1(Pid1& p, bool debug) {
  install_crash_handlers();
  auto boot = pid1_boot();
  if (!boot) pid1_fatal("boot: " + boot.error().text());
  p.boot = std::move(*boot);
  log::configure("bulwark-init", "", false, debug || p.boot.debug);
  if (p.boot.watchdog.enabled()) {
    auto wd = HardwareWatchdog::open(p.boot.watchdog.device, p.boot.watchdog.timeout_s);
    if (wd) {
      p.watchdog = std::move(*wd);
      crash_handlers_use_watchdog(&p.watchdog);
      log::info(strf("hardware watchdog %s armed, %d s", p.watchdog.path().c_str(), p.watchdog.timeout_s()));
    } else {
      log::error(wd.error().text() + ": running without a hardware watchdog, ignoring");
    }
  }
}

// Pings the hardware watchdog from the loop: if the loop hangs, the machine resets.
void schedule_watchdog_ping(EventLoop& loop, HardwareWatchdog& wd) {
  loop.add_timer(wd.interval_ms(), [&loop, &wd] {
    wd.ping();
    schedule_watchdog_ping(loop, wd);
  });
}

int run(int argc, char** argv) {
  ensure_stdio();
  // The initramfs stage of the same binary: it prepares the deployment and
  // execs the real init, so it returns only on failure.
  if (is_rd_invocation(argc, argv)) {
    auto r = rd_stage(argc, argv);
    std::string why = r ? std::string("returned without switching root") : r.error().text();
    if (::getpid() == 1) pid1_fatal("rd stage: " + why);
    fprintf(stderr, "bulwark-init rd: %s\n", why.c_str());
    return 1;
  }
  std::vector<std::string> ignored;
  auto args = parse_args(argc, argv, ::getpid() == 1 ? &ignored : nullptr);
  if (!args && ::getpid() == 1) {
    // PID 1 must not exit: a bad option is reported and the defaults used.
    fprintf(stderr, "bulwark-init: %s, using the defaults\n", args.error().text().c_str());
    args = Args{};
  }
  if (!args) {
    fprintf(stderr, "bulwark-init: %s\n%s", args.error().text().c_str(), kUsage);
    return 2;
  }
  for (const auto& word : ignored) fprintf(stderr, "bulwark-init: ignoring argument '%s'\n", word.c_str());
  const bool pid1 = ::getpid() == 1 && !args->supervisor;
  g_pid1 = pid1;
  log::configure("bulwark-init", "", false, args->debug);
  std::optional<Pid1> p1;
  if (pid1) boot_pid1(p1.emplace(), args->debug);
  // A fatal error: PID 1 reboots through pid1_fatal, a supervisor exits.
  auto fatal = [&](const std::string& why) -> int {
    if (pid1) pid1_fatal(why, p1->watchdog.is_open() ? &p1->watchdog : nullptr);
    log::error(why);
    return 1;
  };

  SupervisorOptions opts;
  if (args->config_dir) {
    struct stat st;
    if (::stat(args->config_dir->c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
      std::string why = strf("--config-dir: '%s' is not a directory", args->config_dir->c_str());
      if (!pid1) return fatal(why);
      log::error(why + ": starting no services");
      opts.config_error = why;
    }
    opts.service_dirs = {*args->config_dir};
    opts.shutdown_hook_dirs = {*args->config_dir + "/shutdown.d"};
    opts.boot_verdict_hook_dirs = {*args->config_dir + "/boot-verdict.d"};
  } else {
    opts.service_dirs = {"/usr/lib/bulwark/services", "/etc/bulwark/services"};
    opts.shutdown_hook_dirs = {"/usr/lib/bulwark/shutdown.d", "/etc/bulwark/shutdown.d"};
    opts.boot_verdict_hook_dirs = {"/usr/lib/bulwark/boot-verdict.d", "/etc/bulwark/boot-verdict.d"};
  }
  opts.state_dir = args->state_dir;
  opts.log_dir = args->log_dir;
  opts.log_limits = args->limits;
  opts.hook_timeout_ms = args->hook_timeout_ms;
  // --boot-deadline, else bulwark.boot_deadline= on the kernel command line, else the default.
  if (args->boot_deadline_s) {
    opts.boot_verdict_deadline_ms = *args->boot_deadline_s * 1000;
  } else if (pid1) {
    auto ms = boot_deadline_ms(p1->boot.cmdline, kMaxBootDeadlineS);
    if (!ms) {
      log::warning(strf("%s; using %d s, ignoring", ms.error().text().c_str(), opts.boot_verdict_deadline_ms / 1000));
    } else if (*ms) {
      opts.boot_verdict_deadline_ms = **ms;
    }
  }
  opts.pid1 = pid1;
  if (args->cgroup_parent) {
    opts.cgroup_parent = *args->cgroup_parent;
  } else if (pid1 && p1->boot.cgroups.available) {
    // CgroupLayout::service_path(): workloads/<service>.
    opts.cgroup_parent = "workloads";
  }

  auto services = load_services(opts.service_dirs);
  if (!services) {
    // PID 1 keeps running without services, so the control socket can still
    // tell an operator (and the updater's boot verdict) what is wrong.
    if (!pid1) return fatal(services.error().text());
    log::error(services.error().text() + ": starting no services");
    opts.config_error = services.error().text();
    services = std::vector<ServiceDef>{};
  }
  if (!pid1) {
    // A container that could reach our binary needs it sealed. Done now,
    // while re-executing loses nothing; PID 1 runs from a read-only /usr.
    for (const auto& s : *services) {
      if (s.kind != ServiceKind::container) continue;
      if (auto r = sandbox::ensure_protected_exe(argc, argv); !r) return fatal(r.error().text());
      break;
    }
    // Orphans of our services come to us, not to the host's init.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return fatal(strf("PR_SET_CHILD_SUBREAPER: %s", strerror(errno)));
  }

  auto signals = block_signals_to_signalfd();
  if (!signals) return fatal(signals.error().text());
  auto loop = EventLoop::create();
  if (!loop) return fatal(loop.error().text());
  auto sup = Supervisor::create(**loop, opts, std::move(*services));
  if (!sup) return fatal(sup.error().text());
  Supervisor& supervisor = **sup;

  std::optional<ShutdownAction> finished;
  supervisor.on_finished = [&](ShutdownAction a) {
    finished = a;
    (*loop)->stop();
  };
  int sfd = signals->get();
  auto sig_watch = (*loop)->watch(sfd, EPOLLIN, [&supervisor, sfd](uint32_t) {
    struct signalfd_siginfo si;
    while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si))
      supervisor.handle_signal(static_cast<int>(si.ssi_signo));
  });
  if (!sig_watch) return fatal(sig_watch.error().text());

  std::unique_ptr<ControlServer> control;
  if (!args->socket.empty()) {
    auto policy = load_access_policy(args->access_policy);
    if (!policy) {
      log::error(policy.error().text() + ": only root may use the control socket");
      policy = AccessPolicy{};
    }
    auto server = ControlServer::create(std::move(*policy), supervisor);
    Result<void> up = server ? (*server)->listen(args->socket) : Result<void>(Unexpected(server.error()));
    if (up) up = (*loop)->add(server->get());
    if (up) {
      control = std::move(*server);
    } else if (pid1) {
      log::error(up.error().text() + ": running without a control socket");
    } else {
      return fatal(up.error().text());
    }
  }
  if (pid1 && p1->watchdog.is_open()) schedule_watchdog_ping(**loop, p1->watchdog);

  log::info(strf("bulwark-init %s, notify socket %s", pid1 ? "running as PID 1" : "supervising",
                 supervisor.notify_socket_path().c_str()));
  run_guarded("starting services", [&] { supervisor.start_all(); });
  // Children that exited before the signalfd existed sent a SIGCHLD nobody saw.
  run_guarded("reaping", [&] { supervisor.reap(); });
  for (;;) {
    auto r = (*loop)->run();
    if (r || finished) break;
    // epoll_wait itself failed: nothing can be supervised without it.
    return fatal("event loop: " + r.error().text());
  }

  if (control) (*loop)->remove(control.get());
  control.reset();
  ShutdownAction action = finished.value_or(ShutdownAction::exit);
  sup->reset();
  if (pid1) pid1_shutdown(kind_of(action), p1->watchdog.is_open() ? &p1->watchdog : nullptr);
  log::info(strf("exiting with status %d (%s)", exit_code(action), action_name(action)));
  return exit_code(action);
}

}  // namespace

bool running_as_pid1() { return g_pid1; }

}  // namespace bw::init

int main(int argc, char** argv) {
  try {
    return bw::init::run(argc, argv);
  } catch (const std::exception& e) {
    std::string why = std::string("unexpected exception: ") + e.what();
    if (bw::init::running_as_pid1()) bw::init::pid1_fatal(why);
    fprintf(stderr, "bulwark-init: %s\n", why.c_str());
    return 1;
  } catch (...) {
    if (bw::init::running_as_pid1()) bw::init::pid1_fatal("unexpected exception");
    fputs("bulwark-init: unexpected exception\n", stderr);
    return 1;
  }
}
