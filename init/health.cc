// What a running service tells us and what we check on it: readiness and
// the other sd_notify messages (and whom we believe), the watchdog, and the
// health-check command.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "init/runner.h"
#include "init/supervisor.h"
#include "sandbox/container.h"
#include "sys/syscalls.h"

namespace bw::init {

namespace {

// The parent of `pid` from /proc/<pid>/stat; 0 when it cannot be read.
pid_t parent_of(pid_t pid) {
  auto text = read_file(strf("/proc/%d/stat", static_cast<int>(pid)));
  if (!text) return 0;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return 0;
  auto fields = split(std::string_view(*text).substr(close + 1), ' ');
  // fields[0] is empty (the space after ')'), [1] the state, [2] the ppid.
  if (fields.size() < 3) return 0;
  auto ppid = parse_int(fields[2]);
  return ppid ? static_cast<pid_t>(*ppid) : 0;
}

// The cgroup v2 path of `pid` ("/workloads/web"), "" when unknown.
std::string cgroup_of(pid_t pid) {
  auto text = read_file(strf("/proc/%d/cgroup", static_cast<int>(pid)));
  if (!text) return "";
  for (const auto& line : split(*text, '\n'))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

}  // namespace

// ---- readiness and the watchdog ----

void Supervisor::became_ready(Service& s) {
  set_state(s, State::running);
  if (s.def.health) schedule_health(s, s.def.health->interval_ms);
}

void Supervisor::arm_watchdog(Service& s) {
  loop_.cancel_timer(s.watchdog_timer);
  s.watchdog_timer = 0;
  if (s.watchdog_ms <= 0 || (s.state != State::starting && s.state != State::running)) return;
  Service* sp = &s;
  s.watchdog_timer = loop_.add_timer(s.watchdog_ms, [this, sp] {
    sp->watchdog_timer = 0;
    fail_service(*sp, strf("watchdog timeout: no WATCHDOG=1 within %d ms", sp->watchdog_ms), SIGABRT);
  });
}

// Stops a service because of a failure it did not report by exiting; its
// exit then counts as a failure for the restart policy.
void Supervisor::fail_service(Service& s, const std::string& why, int sig) {
  if (s.state != State::starting && s.state != State::running) return;
  log::error(s.def.name + ": " + why);
  note(s, why);
  s.pending_failure = true;
  s.failure_reason = why;
  begin_stop(s, sig);
}

// ---- health checks ----

void Supervisor::schedule_health(Service& s, long long delay_ms) {
  loop_.cancel_timer(s.health_timer);
  Service* sp = &s;
  s.health_timer = loop_.add_timer(delay_ms, [this, sp] {
    sp->health_timer = 0;
    run_health(*sp);
  });
}

// The check runs like the service: a host process with the service's
// environment, user and cgroup; in a container, through exec with the
// container's own restrictions. The next one is scheduled interval_ms after
// this one ends, so checks never overlap.
void Supervisor::run_health(Service& s) {
  if (s.state != State::running || !s.def.health) return;
  const HealthCheck& h = *s.def.health;
  unsigned gen = ++s.health_gen;
  Result<ChildProcess> child;
  if (s.def.kind == ServiceKind::process) {
    ProcessLaunch l;
    l.argv = h.command;
    l.env = environment(s);
    l.cwd = s.def.working_directory;
    l.uid = s.def.user;
    l.gid = s.def.group;
    l.cgroup_fd = s.cgroup ? s.cgroup->fd() : -1;
    child = spawn_process(l);
  } else {
    child = exec_in_service_container(containers_root_, seccomp_cache_, s.def.name, h.command, -1);
    defer_reap();
  }
  if (!child) {
    log::warning(strf("%s: health check could not run: %s", s.def.name.c_str(), child.error().text().c_str()));
    on_health_exit(s, gen, ExitStatus{false, 127}, false);
    return;
  }
  pid_t pid = child->pid();
  s.health_pid = pid;
  Service* sp = &s;
  track(std::move(*child), true,
        [this, sp, gen](std::optional<ExitStatus> st) { on_health_exit(*sp, gen, st, false); });
  s.health_timer = loop_.add_timer(h.timeout_ms, [this, sp, gen, pid] {
    sp->health_timer = 0;
    if (gen != sp->health_gen) return;
    auto it = children_.find(pid);
    if (it != children_.end()) (void)it->second->proc.signal(SIGKILL);
    on_health_exit(*sp, gen, std::nullopt, true);
  });
}

void Supervisor::on_health_exit(Service& s, unsigned gen, std::optional<ExitStatus> st, bool timed_out) {
  if (gen != s.health_gen) return;  // disowned: the service stopped, or the check timed out
  ++s.health_gen;
  s.health_pid = 0;
  loop_.cancel_timer(s.health_timer);
  s.health_timer = 0;
  if (s.state != State::running || !s.def.health) return;
  const HealthCheck& h = *s.def.health;
  if (!timed_out && st && !st->signaled && st->code == 0) {
    if (s.health != "healthy") log::info(strf("%s: healthy", s.def.name.c_str()));
    s.health = "healthy";
    s.health_failures = 0;
    if (verdict_) verdict_->healthy(s.def.name, EventLoop::now_ms());
    schedule_health(s, h.interval_ms);
    return;
  }
  std::string why = timed_out ? strf("timed out after %d ms", h.timeout_ms) : describe_exit(st);
  ++s.health_failures;
  log::warning(strf("%s: health check failed (%s), %d of %d", s.def.name.c_str(), why.c_str(), s.health_failures,
                    h.retries));
  if (s.health_failures >= h.retries) {
    s.health = "unhealthy";
    std::string what = strf("unhealthy: %d health checks failed in a row (last: %s)", s.health_failures, why.c_str());
    if (verdict_) verdict_->unhealthy(s.def.name, what, EventLoop::now_ms());
    fail_service(s, what, s.def.stop_signal);
    return;
  }
  schedule_health(s, h.interval_ms);
}

void Supervisor::cancel_health(Service& s) {
  loop_.cancel_timer(s.health_timer);
  s.health_timer = 0;
  ++s.health_gen;
  if (s.health_pid > 0) {
    auto it = children_.find(s.health_pid);
    if (it != children_.end()) (void)it->second->proc.signal(SIGKILL);
  }
  s.health_pid = 0;
}

// ---- sd_notify ----

void Supervisor::on_notify_readable() {
  // Bounded; the socket stays readable and the loop comes back for the rest.
  for (int i = 0; i < 64; ++i) {
    auto m = notify_.receive();
    if (!m) {
      log::warning(m.error().text() + ", ignoring");
      break;
    }
    if (!*m) break;
    if ((*m)->pid <= 0) {
      log::debug("malformed notify message (truncated, too long or without credentials), ignoring");
      continue;
    }
    handle_notify(**m);
  }
  reconcile();
}

// A message counts for a service when its sender (the pid the kernel put in
// SCM_CREDENTIALS) is the service's main process, or is in the service's
// cgroup (a process service with a cgroup of its own, or a container), or
// descends from the main process. Anything else is logged and dropped.
Supervisor::Service* Supervisor::attribute(pid_t pid) {
  for (auto& [name, s] : services_)
    if (s->main_pid == pid) return s.get();
  for (auto& [name, s] : services_)
    if (s->main_pid > 0 && belongs_to(*s, pid)) return s.get();
  return nullptr;
}

bool Supervisor::belongs_to(Service& s, pid_t pid) {
  if (pid == s.main_pid) return true;
  if (s.def.kind == ServiceKind::process && s.cgroup) {
    std::string cg = cgroup_of(pid);
    std::string mine = "/" + s.cgroup_rel;
    if (cg == mine || cg.rfind(mine + "/", 0) == 0) return true;
  }
  if (s.def.kind == ServiceKind::container && s.container_created) {
    auto pids = sandbox::container_processes(containers_root_, s.def.name);
    if (pids && std::find(pids->begin(), pids->end(), pid) != pids->end()) return true;
  }
  pid_t self = ::getpid();
  pid_t p = pid;
  for (int depth = 0; depth < 64; ++depth) {
    p = parent_of(p);
    if (p <= 1 || p == self) break;
    if (p == s.main_pid) return true;
  }
  return false;
}

void Supervisor::handle_notify(const NotifyMessage& m) {
  Service* s = attribute(m.pid);
  if (!s) {
    log::warning(strf("notify message from pid %d, which belongs to no running service, ignoring",
                      static_cast<int>(m.pid)));
    return;
  }
  auto field = [&](const char* k) -> const std::string* {
    auto it = m.fields.find(k);
    return it == m.fields.end() ? nullptr : &it->second;
  };
  if (const auto* v = field("STATUS")) s->status = *v;
  if (const auto* v = field("MAINPID")) {
    auto pid = parse_int(*v);
    if (pid && *pid > 0 && *pid < (1LL << 22) && belongs_to(*s, static_cast<pid_t>(*pid))) {
      set_main_pid(*s, static_cast<pid_t>(*pid));
    } else {
      log::warning(strf("%s: MAINPID=%s is not a process of this service, ignoring", s->def.name.c_str(),
                        v->c_str()));
    }
  }
  if (const auto* v = field("READY"); v && *v == "1" && s->state == State::starting) {
    log::info(strf("%s: ready", s->def.name.c_str()));
    became_ready(*s);
  }
  if (const auto* v = field("WATCHDOG_USEC")) {
    auto usec = parse_int(*v);
    if (usec && *usec > 0 && *usec / 1000 <= 86400000) {
      s->watchdog_ms = static_cast<int>(std::max<long long>(1, *usec / 1000));
      arm_watchdog(*s);
    }
  }
  if (const auto* v = field("WATCHDOG")) {
    if (*v == "1") {
      arm_watchdog(*s);
    } else if (*v == "trigger") {
      fail_service(*s, "the service triggered its watchdog (WATCHDOG=trigger)", SIGABRT);
    }
  }
  if (const auto* v = field("STOPPING"); v && *v == "1") s->notified_stopping = true;
}

// MAINPID=: the service's main process is now `pid` (a daemon that forked).
// Its exit ends the service from now on; the old one's exit does not.
void Supervisor::set_main_pid(Service& s, pid_t pid) {
  if (pid == s.main_pid) return;
  if (children_.count(pid)) {
    log::warning(strf("%s: MAINPID=%d is already supervised, ignoring", s.def.name.c_str(), static_cast<int>(pid)));
    return;
  }
  int fd = sys::pidfd_open(pid, 0);
  if (fd < 0) {
    log::warning(strf("%s: MAINPID=%d: pidfd_open: %s, ignoring", s.def.name.c_str(), static_cast<int>(pid),
                      strerror(errno)));
    return;
  }
  bool ours = parent_of(pid) == ::getpid();
  log::info(strf("%s: main pid is now %d (was %d)", s.def.name.c_str(), static_cast<int>(pid),
                 static_cast<int>(s.main_pid)));
  s.main_pid = pid;
  Service* sp = &s;
  track(ChildProcess(pid, UniqueFd(fd)), ours,
        [this, sp, pid](std::optional<ExitStatus> st) { on_main_exit(*sp, pid, st); });
}

}  // namespace bw::init
