#include "sandbox/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/file.h"
#include "sandbox/cgroup2.h"
#include "sandbox/console.h"
#include "sandbox/exe_guard.h"
#include "sandbox/process.h"
#include "sandbox/store.h"
#include "sandbox/sync.h"
#include "seccomp/seccomp.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

struct Target {
  Store store;
  UniqueFd dir;  // locked: execs into one container are set up one at a time
  Record record;
  oci::Spec spec;
  UniqueFd pidfd;
  int ns_flags = 0;
};

Result<Target> open_target(const std::string& state_root, const std::string& id) {
  Target t;
  BW_ASSIGN_OR_RETURN(t.store, Store::open(state_root));
  BW_ASSIGN_OR_RETURN(t.dir, t.store.lock(id));
  BW_ASSIGN_OR_RETURN(t.record, t.store.load(t.dir.get(), id));
  BW_ASSIGN_OR_RETURN(UniqueFd cfg, open_at(t.dir.get(), "config.json", O_RDONLY | O_NOFOLLOW));
  BW_ASSIGN_OR_RETURN(std::string text, read_fd(cfg.get()));
  BW_ASSIGN_OR_RETURN(t.spec, oci::parse_spec(text));
  int fd = sys::pidfd_open(t.record.pid, 0);
  if (fd < 0 || !process_alive(t.record.pid, t.record.start_time)) {
    if (fd >= 0) ::close(fd);
    return make_error(ESRCH, "container '%s' is not running", id.c_str());
  }
  t.pidfd = UniqueFd(fd);
  if (t.spec.linux)
    for (const auto& ns : t.spec.linux->namespaces) t.ns_flags |= oci::namespace_clone_flag(ns.type);
  return t;
}

// CVE-2019-5736: a process of the container that holds CAP_SYS_PTRACE in
// the runtime's user namespace could open /proc/<pid>/exe of a runtime
// process in the container (a created init, an exec's child before it
// execs) and write the binary once it is no longer running. Which processes
// may hold it is known only as they are exec'd, so the container's record
// remembers it, and every later exec runs from a sealed copy. The lock held
// for the whole set-up keeps a concurrent exec from slipping between.
Result<void> guard_runtime_exe(Target& t, const oci::Process& process, const ExecOptions& opts) {
  bool grants_ptrace = process_may_ptrace(t.spec, process);
  if (grants_ptrace && !t.record.started && !t.record.exe_sealed)
    return make_error(EPERM,
                      "exec: this process may hold CAP_SYS_PTRACE, and container '%s' has not started: its "
                      "init still runs the runtime's unsealed binary; start the container first",
                      t.record.id.c_str());
  if (opts.protect_exe && (t.record.ptrace_granted || exe_reachable_from_container(t.spec, &process)))
    BW_RETURN_IF_ERROR(opts.protect_exe());
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (grants_ptrace && !t.record.ptrace_granted) {
    t.record.ptrace_granted = true;
    BW_RETURN_IF_ERROR(t.store.save(t.dir.get(), t.record));
  }
  return {};
}

[[noreturn]] void die(int sync_fd, const Error& e) {
  send_error(sync_fd, e);
  _exit(1);
}

[[noreturn]] void run_exec_child(const oci::Process& process, const seccomp::Filter* filter,
                                 const ExecOptions& opts, int console_fd, int sync_fd) {
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  auto placed = expect_packet(sync_fd, Msg::placed);
  if (!placed) _exit(1);
  if (process.terminal) {
    auto pty = open_pty(process.console_size);
    if (!pty) die(sync_fd, pty.error().prefix("process.terminal"));
    if (auto r = send_fd(console_fd, pty->master.get(), pty->slave_path); !r)
      die(sync_fd, r.error().prefix("--console-socket"));
    if (auto r = attach_stdio_to_pty(pty->slave.get()); !r) die(sync_fd, r.error());
  }
  auto exe = resolve_executable(process);
  if (!exe) die(sync_fd, exe.error());
  ExecPlan plan;
  plan.process = &process;
  plan.filter = filter;
  plan.exe = *exe;
  plan.preserve_fds = opts.preserve_fds;
  // The parent-death signal survives execve: left set, the process would be
  // killed as soon as a detached `exec` (conmon's, podman's) returns. From
  // here on the process no longer needs the runtime.
  (void)::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  die(sync_fd, finalize_and_exec(plan));
}

}  // namespace

Result<oci::Process> container_process(const std::string& state_root, const std::string& id) {
  BW_ASSIGN_OR_RETURN(Target t, open_target(state_root, id));
  return *t.spec.process;
}

Result<ChildProcess> exec_in_container(const ExecOptions& opts, const oci::Process& process) {
  BW_ASSIGN_OR_RETURN(Target t, open_target(opts.state_root, opts.id));
  if (process.args.empty()) return make_error(EINVAL, "process.args: a command is required");
  BW_RETURN_IF_ERROR(guard_runtime_exe(t, process, opts));
  std::optional<seccomp::Filter> filter;
  if (t.spec.linux && t.spec.linux->seccomp) {
    BW_ASSIGN_OR_RETURN(auto f, with_context(seccomp::compile(*t.spec.linux->seccomp, opts.seccomp_cache),
                                             "linux.seccomp"));
    filter = std::move(f);
  }
  std::optional<Cgroup> cgroup;
  if (!t.record.cgroup_dir.empty()) {
    BW_ASSIGN_OR_RETURN(Cgroup cg, Cgroup::open(t.record.cgroup_dir));
    // A process started into a frozen cgroup freezes before it can exec.
    if (auto frozen = cg.frozen(); frozen && *frozen)
      return make_error(EBUSY, "container '%s' is paused; resume it first", opts.id.c_str());
    cgroup = std::move(cg);
  }
  UniqueFd console;
  if (process.terminal) {
    if (opts.console_socket.empty()) return make_error(EINVAL, "--tty needs --console-socket");
    BW_ASSIGN_OR_RETURN(console, with_context(connect_unix(opts.console_socket), "--console-socket"));
  }
  BW_ASSIGN_OR_RETURN(SyncPair sync, make_sync_pair());
  BW_ASSIGN_OR_RETURN(ChildProcess first, fork_child(cgroup ? cgroup->fd() : -1));
  if (!first.valid()) {
    sync.parent.reset();
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // One call enters all of the container's namespaces at once.
    if (::setns(t.pidfd.get(), t.ns_flags) < 0)
      die(sync.child.get(), sys_error("setns into container '%s'", opts.id.c_str()).value());
    struct clone_args args {};
    args.flags = CLONE_PARENT;
    pid_t pid = sys::clone3(&args);
    if (pid < 0) die(sync.child.get(), sys_error("clone3").value());
    if (pid == 0)
      run_exec_child(process, filter ? &*filter : nullptr, opts, console.get(), sync.child.get());
    (void)send_packet(sync.child.get(), Msg::child_pid, pid);
    _exit(0);
  }
  sync.child.reset();
  BW_ASSIGN_OR_RETURN(Packet pkt, expect_packet(sync.parent.get(), Msg::child_pid));
  pid_t pid = static_cast<pid_t>(pkt.value);
  int pidfd = sys::pidfd_open(pid, 0);
  if (pidfd < 0) return sys_error("pidfd_open(%d)", pid);
  ChildProcess proc(pid, UniqueFd(pidfd));
  BW_RETURN_IF_ERROR(with_context(first.wait(), "exec: first child"));
  BW_RETURN_IF_ERROR(send_packet(sync.parent.get(), Msg::placed, pid));
  // The child closes its end by exec'ing (close-on-exec): EOF means success.
  auto reply = recv_packet(sync.parent.get());
  if (reply) {
    if (reply->type == Msg::error) return Unexpected(Error{static_cast<int>(reply->value), reply->text});
    return make_error(EPROTO, "exec: unexpected message");
  }
  if (reply.error().code != EPIPE) return Unexpected(reply.error());
  if (!opts.pid_file.empty())
    BW_RETURN_IF_ERROR(with_context(
        write_file_atomic(opts.pid_file, std::to_string(pid), 0644, Durability::volatile_), "--pid-file"));
  return proc;
}

}  // namespace bw::sandbox
