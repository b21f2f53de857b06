// The supervisor's core: setting up, the reconcile step that moves services
// towards their wanted state in dependency order, the control operations,
// signals, the end of a shutdown, the delivery of the boot verdict (its
// decision is verdict.cc) and the hooks both run. Starting and stopping a
// single service is in lifecycle.cc; readiness, watchdog and health in health.cc.
#include "init/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "init/runner.h"

namespace bw::init {

const char* action_name(ShutdownAction a) {
  switch (a) {
    case ShutdownAction::exit: return "exit";
    case ShutdownAction::poweroff: return "poweroff";
    case ShutdownAction::reboot: return "reboot";
    case ShutdownAction::halt: return "halt";
  }
  return "exit";
}

int exit_code(ShutdownAction a) { return a == ShutdownAction::reboot ? 133 : 0; }

const char* Supervisor::state_name(State s) {
  switch (s) {
    case State::inactive: return "inactive";
    case State::waiting: return "waiting";
    case State::starting: return "starting";
    case State::running: return "running";
    case State::stopping: return "stopping";
    case State::backoff: return "backoff";
    case State::failed: return "failed";
  }
  return "inactive";
}

namespace {
// mkdir -p. Directories it creates get `mode` whatever the umask; an
// existing one is left as it is.
Result<void> make_dirs(const std::string& path, mode_t mode) {
  std::string cur;
  for (const auto& part : split(path, '/')) {
    if (part.empty()) {
      if (cur.empty()) cur = "/";
      continue;
    }
    cur += (cur.empty() || cur == "/" ? "" : "/") + part;
    if (::mkdir(cur.c_str(), mode) == 0) {
      (void)::chmod(cur.c_str(), mode);
    } else if (errno != EEXIST) {
      return sys_error("mkdir '%s'", cur.c_str());
    }
  }
  return {};
}
}  // namespace

Supervisor::Supervisor(EventLoop& loop, SupervisorOptions opts, NotifySocket notify)
    : loop_(loop), opts_(std::move(opts)), notify_(std::move(notify)) {}

Result<std::unique_ptr<Supervisor>> Supervisor::create(EventLoop& loop, SupervisorOptions opts,
                                                        std::vector<ServiceDef> services) {
  BW_ASSIGN_OR_RETURN(std::vector<std::string> order, start_order(services));
  // 0755: services running as any user must reach the notify socket.
  BW_RETURN_IF_ERROR(with_context(make_dirs(opts.state_dir, 0755), "--state-dir"));
  if (!opts.log_dir.empty()) BW_RETURN_IF_ERROR(with_context(make_dirs(opts.log_dir, 0755), "--log-dir"));
  BW_ASSIGN_OR_RETURN(NotifySocket notify, NotifySocket::bind(opts.state_dir + "/notify.sock"));
  std::unique_ptr<Supervisor> sup(new Supervisor(loop, std::move(opts), std::move(notify)));
  Supervisor& self = *sup;
  self.order_ = std::move(order);
  self.containers_root_ = self.opts_.state_dir + "/containers";
  self.seccomp_cache_ = self.opts_.state_dir + "/seccomp-cache";
  if (!self.opts_.cgroup_parent.empty()) {
    auto mount = sandbox::Cgroup::find_mount();
    if (mount) {
      self.cgroup_mount_ = *mount;
    } else {
      log::warning(mount.error().text() + ": process services get no cgroups, ignoring");
    }
  }
  BW_ASSIGN_OR_RETURN(self.notify_watch_,
                      loop.watch(self.notify_.fd(), EPOLLIN, [&self](uint32_t) { self.on_notify_readable(); }));
  for (auto& def : services) {
    std::string name = def.name;
    ServiceLog log(name, self.opts_.log_dir, self.opts_.log_limits);
    auto s = std::make_unique<Service>(std::move(def), std::move(log));
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return sys_error("pipe2 for the output of '%s'", name.c_str());
    s->out_read = UniqueFd(p[0]);
    s->out_write = UniqueFd(p[1]);
    // Only our end is non-blocking; the service's end stays a normal pipe.
    (void)::fcntl(p[0], F_SETFL, O_NONBLOCK);
    s->since_ms = EventLoop::now_ms();
    s->watchdog_ms = s->def.watchdog_ms;
    Service* sp = s.get();
    BW_ASSIGN_OR_RETURN(s->out_watch, loop.watch(p[0], EPOLLIN, [&self, sp](uint32_t) { self.read_output(*sp); }));
    self.services_.emplace(name, std::move(s));
  }
  return sup;
}

Supervisor::~Supervisor() {
  for (auto& [name, s] : services_) {
    loop_.unwatch(s->out_watch);
    for (auto t : {s->restart_timer, s->stop_timer, s->watchdog_timer, s->health_timer}) loop_.cancel_timer(t);
  }
  loop_.unwatch(notify_watch_);
  loop_.cancel_timer(hook_timer_);
  loop_.cancel_timer(reap_timer_);
  loop_.cancel_timer(verdict_timer_);
  for (auto& [pid, t] : children_) {
    loop_.unwatch(t->watch);
    // Not ours to kill or reap; a child of ours is killed and reaped as the handle drops.
    if (!t->is_child) t->proc.release();
  }
}

Supervisor::Service* Supervisor::find(const std::string& name) {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.get();
}

// Every state change goes through here, and so does what the boot verdict
// learns from them: ready (running), no longer running, failed for good.
void Supervisor::set_state(Service& s, State st) {
  if (s.state == st) return;
  log::debug(strf("%s: %s -> %s", s.def.name.c_str(), state_name(s.state), state_name(st)));
  State old = s.state;
  s.state = st;
  s.since_ms = EventLoop::now_ms();
  if (st != State::waiting) s.waiting_for.clear();
  if (!verdict_) return;
  if (st == State::running) {
    verdict_->ready(s.def.name, s.since_ms);
  } else if (old == State::running) {
    verdict_->down(s.def.name);
  }
  if (st == State::failed) verdict_->done(s.def.name, "failed: " + s.failure_reason, s.since_ms);
}

void Supervisor::start_all() {
  log::info(strf("starting %zu services", services_.size()));
  if (!verdict_) {
    std::vector<BootVerdict::Entry> entries;
    for (const auto& name : order_) {
      const ServiceDef& d = services_.at(name)->def;
      entries.push_back({name, d.required_for_boot, d.health.has_value()});
    }
    // A verdict left by an earlier run must not be taken for this one's.
    std::string file = opts_.state_dir + "/boot-verdict";
    if (::unlink(file.c_str()) < 0 && errno != ENOENT)
      log::warning(strf("removing '%s': %s, ignoring", file.c_str(), strerror(errno)));
    verdict_.emplace(std::move(entries), opts_.boot_verdict_deadline_ms, EventLoop::now_ms());
    verdict_->on_decided = [this](const BootDecision& d) { deliver_verdict(d); };
    verdict_timer_ = loop_.add_timer(opts_.boot_verdict_deadline_ms, [this] {
      verdict_timer_ = 0;
      verdict_->deadline_passed(EventLoop::now_ms());
    });
    if (!opts_.config_error.empty())
      verdict_->fail("service definitions could not be loaded: " + opts_.config_error, EventLoop::now_ms());
  }
  for (auto& [name, s] : services_) s->wanted = true;
  reconcile();
  verdict_->check(EventLoop::now_ms());
}

// ---- reconcile ----

// Why a wanted service cannot start yet ("" when it can).
std::string Supervisor::blocked_start(const Service& s) const {
  for (const auto& dep : s.def.requires_) {
    const Service& d = *services_.at(dep);
    if (d.state != State::running)
      return strf("waiting for '%s' (%s)", dep.c_str(), state_name(d.state));
  }
  for (const auto& dep : s.def.after) {
    const Service& d = *services_.at(dep);
    if (d.wanted && (d.state == State::inactive || d.state == State::waiting || d.state == State::starting))
      return strf("waiting for '%s' (%s)", dep.c_str(), state_name(d.state));
  }
  return "";
}

// Whether an unwanted service must wait for dependents that also go down.
bool Supervisor::blocked_stop(const Service& s) const {
  for (const auto& [name, d] : services_) {
    if (d->wanted) continue;
    bool depends = std::count(d->def.requires_.begin(), d->def.requires_.end(), s.def.name) ||
                   std::count(d->def.after.begin(), d->def.after.end(), s.def.name);
    if (depends && (d->state == State::starting || d->state == State::running || d->state == State::stopping))
      return true;
  }
  return false;
}

// One step for one service; true when something changed.
bool Supervisor::reconcile_one(Service& s) {
  if (s.restart_pending && (s.state == State::inactive || s.state == State::failed) && !shutting_down_) {
    s.restart_pending = false;
    s.wanted = true;
    set_state(s, State::inactive);
    return true;
  }
  if (s.wanted) {
    if (s.state != State::inactive && s.state != State::waiting) return false;
    std::string why = blocked_start(s);
    if (!why.empty()) {
      bool changed = s.state != State::waiting || s.waiting_for != why;
      set_state(s, State::waiting);
      s.waiting_for = why;
      return changed;
    }
    launch(s);
    return true;
  }
  switch (s.state) {
    case State::waiting:
    case State::backoff:
      loop_.cancel_timer(s.restart_timer);
      s.restart_timer = 0;
      set_state(s, State::inactive);
      return true;
    case State::starting:
    case State::running:
      if (blocked_stop(s)) return false;
      begin_stop(s, s.def.stop_signal);
      return true;
    default:
      return false;
  }
}

void Supervisor::reconcile() {
  // A launch or a stop can finish synchronously and call back in here.
  if (in_reconcile_) {
    reconcile_again_ = true;
    return;
  }
  in_reconcile_ = true;
  for (int pass = 0; pass < 1000; ++pass) {
    reconcile_again_ = false;
    bool changed = false;
    for (const auto& name : order_) changed |= reconcile_one(*services_.at(name));
    if (!changed && !reconcile_again_) break;
  }
  in_reconcile_ = false;
  maybe_finish_shutdown();
}

// The service and everything it needs (dependencies: its requires,
// transitively), or everything that needs it (its requires-dependents).
std::vector<Supervisor::Service*> Supervisor::closure(Service& s, bool dependencies) {
  std::vector<Service*> out{&s};
  std::set<std::string> seen{s.def.name};
  for (size_t i = 0; i < out.size(); ++i) {
    Service& cur = *out[i];
    if (dependencies) {
      for (const auto& dep : cur.def.requires_)
        if (seen.insert(dep).second) out.push_back(services_.at(dep).get());
    } else {
      for (auto& [name, d] : services_)
        if (std::count(d->def.requires_.begin(), d->def.requires_.end(), cur.def.name) && seen.insert(name).second)
          out.push_back(d.get());
    }
  }
  return out;
}

// ---- control ----

std::vector<ServiceView> Supervisor::status() {
  std::vector<ServiceView> out;
  long long now = EventLoop::now_ms();
  for (const auto& name : order_) {
    const Service& s = *services_.at(name);
    ServiceView v;
    v.name = name;
    v.state = s.notified_stopping && s.state == State::running ? "stopping" : state_name(s.state);
    v.kind = s.def.kind == ServiceKind::container ? "container" : "process";
    v.pid = s.main_pid;
    v.restarts = s.restarts;
    v.status = s.status;
    if (v.status.empty() && s.state == State::waiting) v.status = s.waiting_for;
    if (v.status.empty() && s.state == State::failed) v.status = s.failure_reason;
    v.health = s.health;
    v.since_ms = now - s.since_ms;
    out.push_back(std::move(v));
  }
  return out;
}

Result<void> Supervisor::start(const std::string& name) {
  Service* s = find(name);
  if (!s) return make_error(ENOENT, "no service '%s'", name.c_str());
  if (shutting_down_) return make_error(EBUSY, "shutting down");
  for (Service* d : closure(*s, true)) {
    if (d->state == State::failed) {
      // An operator's start clears a failure and its crash-loop history.
      set_state(*d, State::inactive);
      d->restart_times.clear();
      d->failure_reason.clear();
    }
    d->wanted = true;
  }
  reconcile();
  return {};
}

Result<void> Supervisor::stop(const std::string& name) {
  Service* s = find(name);
  if (!s) return make_error(ENOENT, "no service '%s'", name.c_str());
  for (Service* d : closure(*s, false)) {
    d->wanted = false;
    d->restart_pending = false;
  }
  reconcile();
  return {};
}

Result<void> Supervisor::restart(const std::string& name) {
  Service* s = find(name);
  if (!s) return make_error(ENOENT, "no service '%s'", name.c_str());
  if (shutting_down_) return make_error(EBUSY, "shutting down");
  // The service and whatever requires it (and is up or on its way) go down
  // and come back up, dependencies first.
  for (Service* d : closure(*s, false)) {
    if (d != s && !d->wanted) continue;
    d->wanted = false;
    d->restart_pending = true;
    if (d->state == State::failed) {
      d->restart_times.clear();
      d->failure_reason.clear();
    }
  }
  for (Service* d : closure(*s, true))
    if (d != s) d->wanted = true;
  reconcile();
  return {};
}

Result<void> Supervisor::reboot() {
  shutdown(ShutdownAction::reboot);
  return {};
}

Result<void> Supervisor::poweroff() {
  shutdown(ShutdownAction::poweroff);
  return {};
}

std::optional<ServiceLog> Supervisor::log(const std::string& name) {
  Service* s = find(name);
  if (!s) return std::nullopt;
  return s->log;
}

// ---- signals ----

void Supervisor::handle_signal(int sig) {
  if (sig == SIGCHLD) {
    reap();
  } else if (sig == SIGTERM) {
    if (opts_.pid1) {
      log::info("SIGTERM: PID 1 does not stop on SIGTERM (use bulwarkctl poweroff or SIGRTMIN+4), ignoring");
    } else {
      log::info("SIGTERM: stopping every service, then exiting");
      shutdown(ShutdownAction::exit);
    }
  } else if (sig == SIGINT) {
    // Ctrl-Alt-Del reaches PID 1 as SIGINT once the kernel's CAD is disabled.
    log::info(opts_.pid1 ? "SIGINT (Ctrl-Alt-Del): rebooting" : "SIGINT: stopping every service, then exiting");
    shutdown(opts_.pid1 ? ShutdownAction::reboot : ShutdownAction::exit);
  } else if (sig == SIGRTMIN + 3) {
    log::info("SIGRTMIN+3: halting");
    shutdown(opts_.pid1 ? ShutdownAction::halt : ShutdownAction::exit);
  } else if (sig == SIGRTMIN + 4) {
    log::info("SIGRTMIN+4: powering off");
    shutdown(opts_.pid1 ? ShutdownAction::poweroff : ShutdownAction::exit);
  } else if (sig == SIGRTMIN + 5) {
    log::info("SIGRTMIN+5: rebooting");
    shutdown(opts_.pid1 ? ShutdownAction::reboot : ShutdownAction::exit);
  } else if (sig == SIGUSR2) {
    dump_state();
  } else if (sig == SIGUSR1) {
    log::info("SIGUSR1: there is no bus to reconnect to, ignoring");
  } else if (sig == SIGHUP) {
    log::info("SIGHUP: configuration is read at start only, ignoring");
  } else if (sig == SIGPIPE) {
    // A write to a closed socket or pipe; the write itself reported EPIPE.
  } else {
    log::info(strf("signal %d (%s), ignoring", sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?"));
  }
}

void Supervisor::dump_state() {
  log::info(strf("state: %zu services, %zu tracked children, %llu orphans reaped, %zu timers pending%s",
                 services_.size(), children_.size(), orphans_reaped_, loop_.pending_timers(),
                 shutting_down_ ? strf(", shutting down (%s)", action_name(action_)).c_str() : ""));
  for (const auto& v : status()) {
    log::info(strf("  %-20s %-9s %-9s pid=%d restarts=%d health=%s since=%lldms status=%s", v.name.c_str(),
                   v.state.c_str(), v.kind.c_str(), static_cast<int>(v.pid), v.restarts,
                   v.health.empty() ? "-" : v.health.c_str(), v.since_ms, v.status.c_str()));
  }
}

// ---- shutdown ----

void Supervisor::shutdown(ShutdownAction action) {
  if (shutting_down_) {
    log::info(strf("%s requested while already shutting down (%s), ignoring", action_name(action),
                   action_name(action_)));
    return;
  }
  shutting_down_ = true;
  action_ = action;
  log::info(strf("shutting down (%s): stopping services in reverse dependency order", action_name(action)));
  if (verdict_ && !verdict_->decided() && !verdict_->abandoned()) {
    log::info(strf("shutting down before the boot verdict (%s): no verdict is given",
                   verdict_->pending_reason().c_str()));
    verdict_->abandon();
    loop_.cancel_timer(verdict_timer_);
    verdict_timer_ = 0;
  }
  for (auto& [name, s] : services_) {
    s->wanted = false;
    s->restart_pending = false;
  }
  reconcile();
}

namespace {
constexpr const char kHookPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Executable regular files in `dirs`, a later directory's file replacing an
// earlier one of the same name, in name order.
std::vector<std::string> find_hooks(const std::vector<std::string>& dirs, const char* kind) {
  std::map<std::string, std::string> found;
  for (const auto& dir : dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.empty() || n[0] == '.') continue;
      std::string path = dir + "/" + n;
      struct stat st;
      if (::stat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) continue;
      if (::access(path.c_str(), X_OK) < 0) {
        log::warning(strf("%s '%s' is not executable, ignoring", kind, path.c_str()));
        continue;
      }
      found[n] = path;
    }
    ::closedir(d);
  }
  std::vector<std::string> out;
  for (auto& [n, p] : found) out.push_back(p);
  return out;
}
}  // namespace

void Supervisor::maybe_finish_shutdown() {
  if (!shutting_down_ || hooks_started_) return;
  for (const auto& [name, s] : services_)
    if (s->state != State::inactive && s->state != State::failed) return;
  hooks_started_ = true;
  // Shutdown hooks run as `HOOK ACTION` (exit, poweroff, reboot, halt) with
  // BULWARK_SHUTDOWN_ACTION set likewise.
  std::vector<Hook> hooks;
  for (auto& path : find_hooks(opts_.shutdown_hook_dirs, "shutdown hook"))
    hooks.push_back(Hook{"shutdown hook", {path, action_name(action_)},
                         {kHookPath, std::string("BULWARK_SHUTDOWN_ACTION=") + action_name(action_)}, nullptr});
  log::info(strf("every service is stopped; %zu shutdown hook(s) to run", hooks.size()));
  run_hooks(std::move(hooks), [this] {
    if (finished_) return;
    finished_ = true;
    log::info(strf("shutdown complete (%s)", action_name(action_)));
    if (on_finished) on_finished(action_);
  });
}

// ---- the boot verdict ----

// The verdict goes to the log, to <state_dir>/boot-verdict and to the
// boot-verdict hooks, as `HOOK VERDICT REASON` with BULWARK_BOOT_VERDICT=VERDICT.
void Supervisor::deliver_verdict(const BootDecision& d) {
  loop_.cancel_timer(verdict_timer_);
  verdict_timer_ = 0;
  const char* verdict = verdict_name(d.verdict);
  log::info(strf("boot verdict: %s: %s (after %lld ms)", verdict, d.reason.c_str(), d.elapsed_ms));
  // /run lives as long as the boot: no need to survive a power cut.
  std::string file = opts_.state_dir + "/boot-verdict";
  if (auto r = write_file_atomic(file, boot_decision_json(d), 0644, Durability::volatile_); !r)
    log::warning(strf("writing the boot verdict to '%s': %s, ignoring", file.c_str(), r.error().text().c_str()));
  std::vector<Hook> hooks;
  for (auto& path : find_hooks(opts_.boot_verdict_hook_dirs, "boot-verdict hook"))
    hooks.push_back(Hook{"boot-verdict hook", {path, verdict, d.reason},
                         {kHookPath, std::string("BULWARK_BOOT_VERDICT=") + verdict}, nullptr});
  if (!hooks.empty()) log::info(strf("%zu boot-verdict hook(s) to run", hooks.size()));
  run_hooks(std::move(hooks), nullptr);
}

std::optional<BootVerdictView> Supervisor::boot_verdict() {
  if (!verdict_) return std::nullopt;
  BootVerdictView v;
  if (const auto& d = verdict_->decision()) {
    v.verdict = verdict_name(d->verdict);
    v.reason = d->reason;
    v.elapsed_ms = d->elapsed_ms;
  } else {
    v.verdict = verdict_->abandoned() ? "none" : "pending";
    v.reason = verdict_->abandoned() ? "shutdown began before the verdict" : verdict_->pending_reason();
    v.elapsed_ms = EventLoop::now_ms() - verdict_->start_ms();
  }
  return v;
}

// ---- hooks ----

// Hooks (shutdown and boot-verdict alike) run one at a time, in the order
// queued, never concurrently: a shutdown that begins while boot-verdict hooks
// run waits for them. Each one's output goes to our stderr, and it has
// hook_timeout_ms to finish before SIGKILL; a failing hook is logged and the
// next one runs. `then`, when set, is called once the queue reaches it.
void Supervisor::run_hooks(std::vector<Hook> hooks, std::function<void()> then) {
  for (auto& h : hooks) hook_queue_.push_back(std::move(h));
  if (then) hook_queue_.push_back(Hook{"", {}, {}, std::move(then)});
  run_next_hook();
}

void Supervisor::run_next_hook() {
  while (!hook_running_ && !hook_queue_.empty()) {
    Hook h = std::move(hook_queue_.front());
    hook_queue_.pop_front();
    if (h.then) {
      h.then();
      continue;
    }
    std::string path = h.argv[0];
    std::string kind = h.kind;
    ProcessLaunch l;
    l.argv = std::move(h.argv);
    l.env = std::move(h.env);
    l.out_fd = STDERR_FILENO;
    auto child = spawn_process(l);
    if (!child) {
      log::warning(strf("%s '%s': %s, ignoring", kind.c_str(), path.c_str(), child.error().text().c_str()));
      continue;
    }
    pid_t pid = child->pid();
    log::info(strf("running %s '%s' (pid %d)", kind.c_str(), path.c_str(), static_cast<int>(pid)));
    hook_running_ = true;
    track(std::move(*child), true, [this, path, kind](std::optional<ExitStatus> st) {
      loop_.cancel_timer(hook_timer_);
      hook_timer_ = 0;
      hook_running_ = false;
      if (st && !st->signaled && st->code == 0) {
        log::info(strf("%s '%s' done", kind.c_str(), path.c_str()));
      } else {
        log::warning(strf("%s '%s' failed (%s), ignoring", kind.c_str(), path.c_str(), describe_exit(st).c_str()));
      }
      run_next_hook();
    });
    hook_timer_ = loop_.add_timer(opts_.hook_timeout_ms, [this, pid, path, kind] {
      hook_timer_ = 0;
      log::warning(strf("%s '%s' did not finish within %d ms, sending SIGKILL", kind.c_str(), path.c_str(),
                        opts_.hook_timeout_ms));
      auto it = children_.find(pid);
      if (it != children_.end()) (void)it->second->proc.signal(SIGKILL);
    });
  }
}

}  // namespace bw::init
