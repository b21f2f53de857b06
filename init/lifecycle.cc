// One service's life: launch (host process or container), the end of its
// main process, the restart decision (policy, exponential backoff, crash
// loop), stopping (stop signal, timeout, SIGKILL), and the children table
// that every exit goes through (reaping, pidfds, output pipes).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"
#include "base/strings.h"
#include "init/runner.h"
#include "init/supervisor.h"

namespace bw::init {

std::string describe_exit(const std::optional<ExitStatus>& st) {
  if (!st) return "exited (status unknown)";
  if (st->signaled) {
    const char* name = sigabbrev_np(st->code);
    return strf("killed by signal %d (SIG%s)", st->code, name ? name : "?");
  }
  return strf("exited with status %d", st->code);
}

// ---- launching ----

std::vector<std::string> Supervisor::environment(const Service& s) const {
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"NOTIFY_SOCKET", notify_.path()},
  };
  if (s.watchdog_ms > 0) env["WATCHDOG_USEC"] = std::to_string(static_cast<long long>(s.watchdog_ms) * 1000);
  for (const auto& [k, v] : s.def.environment) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// A process service's own cgroup, <cgroup_parent>/<name>: its processes can
// all be signalled and killed (even those that left the process group), and
// notify messages from any of them are attributed to it. A failure is
// logged once and the service runs without one.
void Supervisor::setup_cgroup(Service& s) {
  if (cgroup_mount_.empty() || s.cgroup) return;
  std::string rel = opts_.cgroup_parent + "/" + s.def.name;
  auto cg = sandbox::Cgroup::create(s.def.name, rel, std::nullopt);
  if (!cg && cg.error().code == EEXIST) {
    // Left behind by an earlier run: whatever is in it goes.
    if (auto old = sandbox::Cgroup::open(cgroup_mount_ + "/" + rel)) {
      (void)old->kill_all(SIGKILL);
      (void)old->remove();
    }
    cg = sandbox::Cgroup::create(s.def.name, rel, std::nullopt);
  }
  if (!cg) {
    if (!s.cgroup_warned)
      log::warning(strf("%s: no cgroup of its own: %s, ignoring", s.def.name.c_str(), cg.error().text().c_str()));
    s.cgroup_warned = true;
    return;
  }
  s.cgroup = std::move(*cg);
  s.cgroup_rel = rel;
}

Result<void> Supervisor::spawn_main(Service& s) {
  ChildProcess child;
  if (s.def.kind == ServiceKind::process) {
    setup_cgroup(s);
    ProcessLaunch l;
    l.argv = s.def.exec;
    l.env = environment(s);
    l.cwd = s.def.working_directory;
    l.uid = s.def.user;
    l.gid = s.def.group;
    l.out_fd = s.out_write.get();
    l.cgroup_fd = s.cgroup ? s.cgroup->fd() : -1;
    auto spawned = spawn_process(l);
    if (!spawned && s.cgroup && spawned.error().message.rfind("clone3", 0) == 0) {
      // The kernel would not start a process in that cgroup: run without it.
      log::warning(strf("%s: starting in cgroup '%s': %s; running it without one, ignoring", s.def.name.c_str(),
                        s.cgroup->dir().c_str(), spawned.error().text().c_str()));
      (void)s.cgroup->remove();
      s.cgroup.reset();
      l.cgroup_fd = -1;
      spawned = spawn_process(l);
    }
    if (!spawned) return Unexpected(spawned.error());
    child = std::move(*spawned);
  } else {
    ContainerLaunch l;
    l.id = s.def.name;
    l.bundle = s.def.bundle;
    l.state_root = containers_root_;
    l.seccomp_cache = seccomp_cache_;
    l.out_fd = s.out_write.get();
    auto launched = launch_container(l);
    defer_reap();
    if (!launched) return Unexpected(launched.error());
    child = std::move(*launched);
    s.container_created = true;
  }
  pid_t pid = child.pid();
  s.main_pid = pid;
  s.pgid = pid;  // the process leads its own session and group
  Service* sp = &s;
  track(std::move(child), true, [this, sp, pid](std::optional<ExitStatus> st) { on_main_exit(*sp, pid, st); });
  return {};
}

void Supervisor::launch(Service& s) {
  s.status.clear();
  s.notified_stopping = false;
  s.health.clear();
  s.health_failures = 0;
  s.pending_failure = false;
  s.failure_reason.clear();
  s.stop_stage = 0;
  s.watchdog_ms = s.def.watchdog_ms;
  set_state(s, State::starting);
  auto r = spawn_main(s);
  if (!r) {
    std::string why = "could not start: " + r.error().text();
    log::error(s.def.name + ": " + why);
    note(s, why);
    cleanup_after_main(s);
    after_exit(s, true, why);
    return;
  }
  s.started_ms = EventLoop::now_ms();
  log::info(strf("%s: started, pid %d", s.def.name.c_str(), static_cast<int>(s.main_pid)));
  arm_watchdog(s);
  if (s.def.ready == Readiness::started) became_ready(s);
}

// ---- the end of a main process ----

void Supervisor::on_main_exit(Service& s, pid_t pid, std::optional<ExitStatus> status) {
  if (pid != s.main_pid) {
    log::debug(strf("%s: former main pid %d %s", s.def.name.c_str(), static_cast<int>(pid),
                    describe_exit(status).c_str()));
    return;
  }
  s.main_pid = 0;
  loop_.cancel_timer(s.stop_timer);
  loop_.cancel_timer(s.watchdog_timer);
  s.stop_timer = s.watchdog_timer = 0;
  cancel_health(s);
  cleanup_after_main(s);
  std::string how = describe_exit(status);
  if (s.state == State::stopping && !s.pending_failure) {
    log::info(strf("%s: stopped (%s)", s.def.name.c_str(), how.c_str()));
    s.stop_stage = 0;
    set_state(s, State::inactive);
    reconcile();
    return;
  }
  bool failed = s.pending_failure || (status && (status->signaled || status->code != 0));
  std::string why = s.pending_failure ? s.failure_reason : how;
  if (!failed && s.state == State::starting && s.def.ready == Readiness::notify) {
    failed = true;
    why = how + " before it reported READY=1";
  }
  s.pending_failure = false;
  s.stop_stage = 0;
  if (failed) {
    log::warning(strf("%s: %s", s.def.name.c_str(), why.c_str()));
  } else {
    log::info(strf("%s: %s", s.def.name.c_str(), why.c_str()));
  }
  note(s, why);
  after_exit(s, failed, why);
  reconcile();
}

// What happens to a service whose main process ended (or never started):
// nothing more when it is not wanted; a restart by its policy, after a delay
// that doubles with each restart within crash_loop_window_ms; failed when
// that window holds crash_loop_restarts restarts already.
void Supervisor::after_exit(Service& s, bool failed, const std::string& why) {
  if (!s.wanted) {
    set_state(s, State::inactive);
    return;
  }
  bool again = s.def.restart == RestartPolicy::always || (s.def.restart == RestartPolicy::on_failure && failed);
  if (!again) {
    s.wanted = false;
    if (failed) {
      s.failure_reason = why;
      set_state(s, State::failed);
    } else {
      set_state(s, State::inactive);
      // Done for good, though not failed: a required service is not up.
      if (verdict_) verdict_->done(s.def.name, why + " and is not restarted", EventLoop::now_ms());
    }
    return;
  }
  long long now = EventLoop::now_ms();
  while (!s.restart_times.empty() && now - s.restart_times.front() >= s.def.crash_loop_window_ms)
    s.restart_times.pop_front();
  int recent = static_cast<int>(s.restart_times.size());
  if (s.def.crash_loop_restarts > 0 && recent >= s.def.crash_loop_restarts) {
    s.wanted = false;
    s.failure_reason = strf("crash loop: %d restarts within %d ms, not restarting again (last: %s)", recent,
                            s.def.crash_loop_window_ms, why.c_str());
    log::error(s.def.name + ": " + s.failure_reason);
    note(s, s.failure_reason);
    set_state(s, State::failed);
    return;
  }
  int delay = backoff_delay_ms(s.def, recent);
  s.restart_times.push_back(now);
  ++s.restarts;
  log::info(strf("%s: restarting in %d ms", s.def.name.c_str(), delay));
  set_state(s, State::backoff);
  Service* sp = &s;
  s.restart_timer = loop_.add_timer(delay, [this, sp] {
    sp->restart_timer = 0;
    if (sp->state != State::backoff) return;
    set_state(*sp, State::inactive);
    reconcile();
  });
}

// Whatever the main process left behind is killed: the rest of its cgroup
// (or process group), or the container with its cgroup and state.
void Supervisor::cleanup_after_main(Service& s) {
  if (s.def.kind == ServiceKind::process) {
    if (s.cgroup) {
      (void)s.cgroup->kill_all(SIGKILL);
      if (auto r = s.cgroup->remove(); !r)
        log::warning(strf("%s: %s, ignoring", s.def.name.c_str(), r.error().text().c_str()));
      s.cgroup.reset();
    } else if (s.pgid > 0) {
      (void)::kill(-s.pgid, SIGKILL);
    }
    s.pgid = 0;
  } else if (s.container_created) {
    s.container_created = false;
    if (auto r = remove_container(containers_root_, s.def.name); !r)
      log::warning(strf("%s: removing the container: %s, ignoring", s.def.name.c_str(), r.error().text().c_str()));
    defer_reap();
  }
}

// ---- stopping ----

void Supervisor::begin_stop(Service& s, int sig) {
  cancel_health(s);
  loop_.cancel_timer(s.watchdog_timer);
  s.watchdog_timer = 0;
  set_state(s, State::stopping);
  s.stop_stage = 1;
  const char* name = sigabbrev_np(sig);
  log::info(strf("%s: stopping (SIG%s, SIGKILL after %d ms)", s.def.name.c_str(), name ? name : "?",
                 s.def.stop_timeout_ms));
  signal_service(s, sig, true);
  // A stopped process would sit on the signal; systemd sends SIGCONT too.
  if (sig != SIGKILL && s.def.kind == ServiceKind::process) signal_service(s, SIGCONT, true);
  Service* sp = &s;
  loop_.cancel_timer(s.stop_timer);
  s.stop_timer = loop_.add_timer(s.def.stop_timeout_ms, [this, sp] {
    sp->stop_timer = 0;
    on_stop_timeout(*sp);
  });
}

// A process service's signal goes to every process in its cgroup (or its
// process group) and to its main process; a container's goes to its first
// process, or with SIGKILL to every process in its cgroup.
void Supervisor::signal_service(Service& s, int sig, bool all) {
  if (s.def.kind == ServiceKind::process) {
    bool reached_main = false;
    if (all && s.cgroup) {
      (void)s.cgroup->kill_all(sig);
      reached_main = true;
    } else if (all && s.pgid > 0) {
      (void)::kill(-s.pgid, sig);
      reached_main = s.main_pid == s.pgid;
    }
    // The main process once more only when the above may have missed it (a
    // MAINPID= elsewhere): a second SIGTERM would run its handler twice.
    auto it = children_.find(s.main_pid);
    if (!reached_main && s.main_pid > 0 && it != children_.end()) (void)it->second->proc.signal(sig);
    return;
  }
  if (auto r = signal_container(containers_root_, s.def.name, sig, all && sig == SIGKILL); !r)
    log::debug(strf("%s: %s", s.def.name.c_str(), r.error().text().c_str()));
}

void Supervisor::on_stop_timeout(Service& s) {
  if (s.main_pid == 0) return;
  if (s.stop_stage == 1) {
    log::warning(strf("%s: still running %d ms after its stop signal, sending SIGKILL", s.def.name.c_str(),
                      s.def.stop_timeout_ms));
    note(s, "stop timeout: SIGKILL");
    s.stop_stage = 2;
    signal_service(s, SIGKILL, true);
    Service* sp = &s;
    s.stop_timer = loop_.add_timer(s.def.stop_timeout_ms, [this, sp] {
      sp->stop_timer = 0;
      on_stop_timeout(*sp);
    });
    return;
  }
  // Not even SIGKILL ended it (uninterruptible sleep): stop waiting for it.
  // If it ever exits it is reaped like any orphan.
  pid_t pid = s.main_pid;
  log::error(strf("%s: pid %d survived SIGKILL for %d ms; no longer waiting for it", s.def.name.c_str(),
                  static_cast<int>(pid), s.def.stop_timeout_ms));
  forget(pid);
  on_main_exit(s, pid, std::nullopt);
}

// ---- children ----

void Supervisor::track(ChildProcess child, bool is_child, std::function<void(std::optional<ExitStatus>)> on_exit) {
  pid_t pid = child.pid();
  if (auto old = children_.find(pid); old != children_.end()) {
    // Only a foreign process (not ours to reap) can leave a stale entry: it
    // ended and its pid was reused before its pidfd event came.
    auto t = std::move(old->second);
    children_.erase(old);
    loop_.unwatch(t->watch);
    t->proc.release();
    run_guarded("exit handler", [&] { t->on_exit(std::nullopt); });
  }
  auto t = std::make_unique<Tracked>();
  t->proc = std::move(child);
  t->is_child = is_child;
  t->on_exit = std::move(on_exit);
  auto w = loop_.watch(t->proc.pidfd(), EPOLLIN, [this, pid](uint32_t) { on_pidfd(pid); });
  if (w) {
    t->watch = *w;
  } else {
    // SIGCHLD still reports a child; a foreign process would go unnoticed.
    log::warning(strf("watching pid %d: %s, ignoring", static_cast<int>(pid), w.error().text().c_str()));
  }
  children_[pid] = std::move(t);
}

void Supervisor::forget(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  loop_.unwatch(it->second->watch);
  it->second->proc.release();
  children_.erase(it);
}

void Supervisor::on_pidfd(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  if (it->second->is_child) {
    reap();
    it = children_.find(pid);
    if (it == children_.end()) return;
    // Readable but not reapable through P_ALL: ask the pidfd itself, so a
    // level-triggered pidfd cannot spin the loop.
    siginfo_t si{};
    int r = ::waitid(P_PIDFD, static_cast<id_t>(it->second->proc.pidfd()), &si, WEXITED | WNOHANG);
    if (r == 0 && si.si_pid == 0) return;
    std::optional<ExitStatus> st;
    if (r == 0) st = ExitStatus{si.si_code != CLD_EXITED, si.si_status};
    auto t = std::move(it->second);
    children_.erase(it);
    loop_.unwatch(t->watch);
    t->proc.release();
    t->on_exit(st);
    return;
  }
  // A foreign main process ended; its own parent reaps it.
  auto t = std::move(it->second);
  children_.erase(it);
  loop_.unwatch(t->watch);
  t->proc.release();
  t->on_exit(std::nullopt);
}

void Supervisor::reap() {
  for (;;) {
    siginfo_t si{};
    if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: no children at all
    }
    if (si.si_pid == 0) break;
    ExitStatus st{si.si_code != CLD_EXITED, si.si_status};
    auto it = children_.find(si.si_pid);
    if (it == children_.end()) {
      ++orphans_reaped_;
      // Thousands of orphans can arrive at once: format only when it is written.
      if (log::debug_enabled())
        log::debug(strf("reaped pid %d (%s), not a service's", static_cast<int>(si.si_pid), describe_exit(st).c_str()));
      continue;
    }
    auto t = std::move(it->second);
    children_.erase(it);
    loop_.unwatch(t->watch);
    t->proc.release();
    // One failing handler must not stop the reaping of the others.
    run_guarded("exit handler", [&] { t->on_exit(st); });
  }
}

// A library call that forked (a container's create, exec or delete) ran
// with SIGCHLD briefly unblocked, and one that came at the wrong moment may
// have been dropped: look for exited children once more, from the loop, so
// that no handler runs in the middle of the caller.
void Supervisor::defer_reap() {
  if (reap_timer_) return;
  reap_timer_ = loop_.add_timer(0, [this] {
    reap_timer_ = 0;
    reap();
  });
}

// ---- output ----

void Supervisor::read_output(Service& s) {
  char buf[65536];
  // Bounded, so one chatty service cannot starve the others; the pipe stays
  // readable and the loop comes back.
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::read(s.out_read.get(), buf, sizeof buf);
    if (n > 0) {
      s.log.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
}

// A line from the supervisor in the service's own log, so that `logs`
// shows why the output stopped or restarted.
void Supervisor::note(Service& s, const std::string& line) {
  // The service's own output that is still in the pipe comes first.
  read_output(s);
  s.log.flush();
  std::string text = "[bulwark-init] " + line + "\n";
  s.log.append(text.data(), text.size());
}

}  // namespace bw::init
