// The lifecycle verbs after create: start, state, kill, delete, pause, ps.
#include "sandbox/container.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "sandbox/cgroup2.h"
#include "sandbox/hooks.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

struct Opened {
  Store store;
  UniqueFd dir;  // locked while this lives
  Record record;
};

Result<Opened> open_container(const std::string& state_root, const std::string& id) {
  BW_ASSIGN_OR_RETURN(Store store, Store::open(state_root));
  BW_ASSIGN_OR_RETURN(UniqueFd dir, store.lock(id));
  BW_ASSIGN_OR_RETURN(Record rec, store.load(dir.get(), id));
  return Opened{std::move(store), std::move(dir), std::move(rec)};
}

std::string status_of(const Record& r) {
  if (!process_alive(r.pid, r.start_time)) return "stopped";
  if (!r.started) return "created";
  if (!r.cgroup_dir.empty()) {
    auto cg = Cgroup::open(r.cgroup_dir);
    if (cg) {
      auto frozen = cg->frozen();
      if (frozen && *frozen) return "paused";
    }
  }
  return "running";
}

oci::State to_state(const Record& r, const std::string& status) {
  oci::State s;
  s.id = r.id;
  s.status = status;
  s.pid = status == "stopped" ? 0 : r.pid;
  s.bundle = r.bundle;
  s.annotations = r.annotations;
  return s;
}

// A pidfd for the recorded process, refusing a recycled pid.
Result<UniqueFd> open_pidfd(const Record& r) {
  int fd = sys::pidfd_open(r.pid, 0);
  if (fd < 0) return sys_error("pidfd_open(%d)", r.pid);
  UniqueFd pidfd(fd);
  // Checked after opening: from now on the pidfd cannot refer to another process.
  if (!process_alive(r.pid, r.start_time))
    return make_error(ESRCH, "container '%s' is not running", r.id.c_str());
  return pidfd;
}

Result<oci::Spec> saved_spec(int dirfd) {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(dirfd, "config.json", O_RDONLY | O_NOFOLLOW));
  BW_ASSIGN_OR_RETURN(std::string text, read_fd(fd.get()));
  return oci::parse_spec(text);
}

// Waits until the process is gone (pidfd readable) or timeout_ms passes.
bool wait_gone(int pidfd, int timeout_ms) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

}  // namespace

Result<int> parse_signal(const std::string& s) {
  if (auto n = parse_int(s)) {
    if (*n <= 0 || *n > SIGRTMAX) return make_error(EINVAL, "invalid signal %s", s.c_str());
    return static_cast<int>(*n);
  }
  std::string name = s;
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && name == abbrev) return sig;
  }
  if (name.rfind("RTMIN+", 0) == 0)
    if (auto n = parse_int(name.substr(6)); n && SIGRTMIN + *n <= SIGRTMAX) return static_cast<int>(SIGRTMIN + *n);
  return make_error(EINVAL, "unknown signal '%s'", s.c_str());
}

Result<void> start_container(const std::string& state_root, const std::string& id) {
  BW_ASSIGN_OR_RETURN(Opened c, open_container(state_root, id));
  std::string status = status_of(c.record);
  if (status != "created")
    return make_error(EINVAL, "container '%s' is %s; only a created container can be started", id.c_str(),
                      status.c_str());
  BW_ASSIGN_OR_RETURN(UniqueFd pidfd, open_pidfd(c.record));
  // Opening the read side releases the init, blocked opening the write side.
  BW_ASSIGN_OR_RETURN(UniqueFd fifo, open_at(c.dir.get(), "exec.fifo", O_RDONLY | O_NONBLOCK));
  struct pollfd fds[2] = {{fifo.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, 10000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("waiting for container '%s' to start", id.c_str());
    if (n == 0) return make_error(ETIMEDOUT, "container '%s' did not take the start signal", id.c_str());
    if (fds[0].revents & POLLIN) break;
    if (fds[1].revents) return make_error(ESRCH, "container '%s' exited before it was started", id.c_str());
  }
  char byte;
  if (::read(fifo.get(), &byte, 1) != 1) return sys_error("reading exec.fifo");
  (void)::unlinkat(c.dir.get(), "exec.fifo", 0);
  c.record.started = true;
  BW_RETURN_IF_ERROR(c.store.save(c.dir.get(), c.record));
  // The init holds the fifo open until it execs the program (close-on-exec);
  // anything else it writes says why it could not (a startContainer hook, exec).
  std::string failure;
  for (;;) {
    struct pollfd pfd = {fifo.get(), POLLIN, 0};
    int n = ::poll(&pfd, 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("waiting for container '%s' to run its program", id.c_str());
    char buf[4096];
    ssize_t got = ::read(fifo.get(), buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return sys_error("reading exec.fifo");
    if (got == 0) break;
    failure.append(buf, static_cast<size_t>(got));
  }
  if (!failure.empty())
    return make_error(EIO, "container '%s' did not start: %s", id.c_str(), failure.c_str());
  auto spec = saved_spec(c.dir.get());
  if (spec && spec->hooks && !spec->hooks->poststart.empty()) {
    std::string state = oci::state_to_json(to_state(c.record, "running"));
    if (auto r = run_hooks("poststart", spec->hooks->poststart, state); !r)
      log::warning(r.error().text() + ", ignoring");
  }
  return {};
}

Result<oci::State> container_state(const std::string& state_root, const std::string& id) {
  BW_ASSIGN_OR_RETURN(Opened c, open_container(state_root, id));
  return to_state(c.record, status_of(c.record));
}

Result<void> kill_container(const std::string& state_root, const std::string& id, int sig, bool all) {
  BW_ASSIGN_OR_RETURN(Opened c, open_container(state_root, id));
  if (all && !c.record.cgroup_dir.empty()) {
    BW_ASSIGN_OR_RETURN(Cgroup cg, Cgroup::open(c.record.cgroup_dir));
    return cg.kill_all(sig);
  }
  BW_ASSIGN_OR_RETURN(UniqueFd pidfd, open_pidfd(c.record));
  if (sys::pidfd_send_signal(pidfd.get(), sig, nullptr, 0) < 0)
    return sys_error("signal %d to container '%s'", sig, id.c_str());
  return {};
}

Result<void> delete_container(const std::string& state_root, const std::string& id, bool force) {
  BW_ASSIGN_OR_RETURN(Opened c, open_container(state_root, id));
  std::string status = status_of(c.record);
  if ((status == "running" || status == "paused") && !force)
    return make_error(EBUSY, "container '%s' is %s; stop it first or use --force", id.c_str(), status.c_str());
  std::optional<Cgroup> cg;
  if (!c.record.cgroup_dir.empty()) {
    auto opened = Cgroup::open(c.record.cgroup_dir);
    if (opened) cg = std::move(*opened);
  }
  if (status != "stopped") {
    BW_ASSIGN_OR_RETURN(UniqueFd pidfd, open_pidfd(c.record));
    if (cg) (void)cg->freeze(false);
    (void)sys::pidfd_send_signal(pidfd.get(), SIGKILL, nullptr, 0);
    if (!wait_gone(pidfd.get(), 10000))
      return make_error(ETIMEDOUT, "container '%s' did not exit after SIGKILL", id.c_str());
  }
  if (cg) {
    // Processes outside the init's pid namespace (or none) may still be in the cgroup.
    (void)cg->kill_all(SIGKILL);
    BW_RETURN_IF_ERROR(with_context(cg->remove(), strf("removing cgroup of '%s'", id.c_str())));
  }
  auto spec = saved_spec(c.dir.get());
  if (spec && spec->hooks && !spec->hooks->poststop.empty()) {
    std::string state = oci::state_to_json(to_state(c.record, "stopped"));
    if (auto r = run_hooks("poststop", spec->hooks->poststop, state); !r)
      log::warning(r.error().text() + ", ignoring");
  }
  return c.store.remove(id);
}

Result<void> pause_container(const std::string& state_root, const std::string& id, bool pause) {
  BW_ASSIGN_OR_RETURN(Opened c, open_container(state_root, id));
  std::string status = status_of(c.record);
  if (pause && status != "running")
    return make_error(EINVAL, "container '%s' is %s; only a running container can be paused", id.c_str(),
                      status.c_str());
  if (!pause && status != "paused")
    return make_error(EINVAL, "container '%s' is %s, not paused", id.c_str(), status.c_str());
  if (c.record.cgroup_dir.empty())
    return make_error(ENOTSUP, "container '%s' has no cgroup; pausing needs cgroup v2", id.c_str());
  BW_ASSIGN_OR_RETURN(Cgroup cg, Cgroup::open(c.record.cgroup_dir));
  return cg.freeze(pause);
}

Result<std::vector<pid_t>> container_processes(const std::string& state_root, const std::string& id) {
  BW_ASSIGN_OR_RETURN(Opened c, open_container(state_root, id));
  if (c.record.cgroup_dir.empty()) {
    if (process_alive(c.record.pid, c.record.start_time)) return std::vector<pid_t>{c.record.pid};
    return std::vector<pid_t>{};
  }
  BW_ASSIGN_OR_RETURN(Cgroup cg, Cgroup::open(c.record.cgroup_dir));
  return cg.processes();
}

}  // namespace bw::sandbox
