// create: the runtime (parent), a first child that sets up namespaces, and
// the container init it forks. The sequence reads top to bottom in
// create_container(), run_first_child() and run_container_init().
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/file.h"
#include "base/strings.h"
#include "sandbox/cgroup2.h"
#include "sandbox/console.h"
#include "sandbox/container.h"
#include "sandbox/exe_guard.h"
#include "sandbox/hooks.h"
#include "sandbox/namespaces.h"
#include "sandbox/process.h"
#include "sandbox/rootfs.h"
#include "sandbox/sync.h"
#include "sandbox/sysctl.h"
#include "seccomp/seccomp.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

// Everything the children need, prepared by the runtime before forking.
struct Plan {
  oci::Spec spec;
  std::string id;
  std::string bundle;
  std::string rootfs;
  NamespacePlan ns;
  std::optional<seccomp::Filter> filter;
  UniqueFd state_dir;       // O_PATH of <root>/<id>, holds exec.fifo
  UniqueFd console_socket;  // connected --console-socket, or invalid
  int preserve_fds = 0;
  int lock_fd = -1;  // the state directory's flock: never held by the children
};

bool has_hooks(const std::optional<oci::Hooks>& h, std::vector<oci::Hook> oci::Hooks::*kind) {
  return h && !((*h).*kind).empty();
}

[[noreturn]] void die(int sync_fd, Error e, bool to_stderr) {
  send_error(sync_fd, e);
  if (to_stderr) {
    std::string line = "bulwark: " + e.text() + "\n";
    (void)write_all(STDERR_FILENO, line);
  }
  _exit(1);
}

// ---- the container init (pid 1 of the container when it has a pid namespace) ----

// The state for hooks run in the container's namespaces: the pid "as seen by the container".
std::string in_container_state(const Plan& p, const char* status) {
  oci::State s;
  s.id = p.id;
  s.status = status;
  s.pid = ::getpid();
  s.bundle = p.bundle;
  s.annotations = p.spec.annotations;
  return oci::state_to_json(s);
}

Result<void> setup_environment(const Plan& p, int sync_fd, std::string* state_json) {
  const oci::Spec& spec = p.spec;
  BW_ASSIGN_OR_RETURN(Packet placed, expect_packet(sync_fd, Msg::placed));
  *state_json = placed.text;
  // Unshared only now, so the namespace's root is the cgroup we were just placed in.
  if (p.ns.new_cgroup && ::unshare(CLONE_NEWCGROUP) < 0) return sys_error("unshare(CLONE_NEWCGROUP)");
  RootfsPlan rp{&spec, p.bundle, p.rootfs, p.ns.new_user};
  BW_RETURN_IF_ERROR(prepare_rootfs(rp));
  if (spec.linux) BW_RETURN_IF_ERROR(apply_sysctls(spec.linux->sysctl));
  if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
    return sys_error("hostname: sethostname('%s')", spec.hostname.c_str());
  if (!spec.domainname.empty() && ::setdomainname(spec.domainname.data(), spec.domainname.size()) < 0)
    return sys_error("domainname: setdomainname('%s')", spec.domainname.c_str());
  if (spec.process->oom_score_adj)
    BW_RETURN_IF_ERROR(with_context(write_existing("/proc/self/oom_score_adj",
                                                   std::to_string(*spec.process->oom_score_adj)),
                                    "process.oomScoreAdj"));
  if (p.ns.new_net) BW_RETURN_IF_ERROR(with_context(loopback_up(), "network namespace"));
  if (has_hooks(spec.hooks, &oci::Hooks::prestart) || has_hooks(spec.hooks, &oci::Hooks::create_runtime)) {
    BW_RETURN_IF_ERROR(send_packet(sync_fd, Msg::run_hooks));
    BW_RETURN_IF_ERROR(expect_packet(sync_fd, Msg::hooks_done));
  }
  if (spec.hooks)
    BW_RETURN_IF_ERROR(run_hooks("createContainer", spec.hooks->create_container,
                                 in_container_state(p, "creating")));
  BW_RETURN_IF_ERROR(enter_rootfs(rp));
  return {};
}

[[noreturn]] void run_container_init(const Plan& p, int sync_fd) {
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // Until exec, /proc/<pid> of this process (and its exe link to the runtime
  // binary) must not be reachable from the container.
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const oci::Process& proc = *p.spec.process;
  std::string state_json;
  if (auto r = setup_environment(p, sync_fd, &state_json); !r) die(sync_fd, r.error(), false);

  std::string console_path;
  if (proc.terminal) {
    auto pty = open_pty(proc.console_size);
    if (!pty) die(sync_fd, pty.error().prefix("process.terminal"), false);
    if (auto r = send_fd(p.console_socket.get(), pty->master.get(), pty->slave_path); !r)
      die(sync_fd, r.error().prefix("--console-socket"), false);
    if (auto r = attach_stdio_to_pty(pty->slave.get()); !r) die(sync_fd, r.error().prefix("process.terminal"), false);
    console_path = pty->slave_path;
  }
  RootfsPlan rp{&p.spec, p.bundle, p.rootfs, p.ns.new_user};
  if (auto r = finish_rootfs(rp, console_path); !r) die(sync_fd, r.error(), false);
  auto exe = resolve_executable(proc);
  if (!exe) die(sync_fd, exe.error(), false);
  // Limits the host refuses fail `create`, not the start.
  if (auto r = apply_rlimits(proc.rlimits); !r) die(sync_fd, r.error(), false);

  // The runtime may exit once it hears "created": stop tying our life to it.
  (void)::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  if (auto r = send_packet(sync_fd, Msg::created); !r) _exit(1);

  // Blocks until `start` opens the other end.
  int fifo = ::openat(p.state_dir.get(), "exec.fifo", O_WRONLY | O_CLOEXEC);
  if (fifo < 0) die(sync_fd, sys_error("opening exec.fifo").value() , true);
  if (::write(fifo, "0", 1) != 1) die(sync_fd, Error{errno, "writing exec.fifo"}, true);
  // The fifo stays open until execve closes it (O_CLOEXEC): that is how
  // `start` knows the program runs. A failure from here on goes to `start`.
  auto start_failed = [&](Error e) {
    (void)write_all(fifo, e.text());
    die(sync_fd, std::move(e), true);
  };

  if (p.spec.hooks)
    if (auto r = run_hooks("startContainer", p.spec.hooks->start_container,
                           in_container_state(p, "created"));
        !r)
      start_failed(r.error());
  ExecPlan plan;
  plan.process = &proc;
  plan.filter = p.filter ? &*p.filter : nullptr;
  if (p.spec.linux && p.spec.linux->seccomp) plan.listener_path = p.spec.linux->seccomp->listener_path;
  plan.listener_state = state_json;
  plan.exe = *exe;
  plan.preserve_fds = p.preserve_fds;
  plan.rlimits_applied = true;
  start_failed(finalize_and_exec(plan));
  _exit(1);
}

// ---- the first child: namespaces ----

Result<void> enter_namespaces(const Plan& p, int sync_fd) {
  BW_RETURN_IF_ERROR(join_namespaces(p.ns));
  if (p.ns.new_user) {
    if (::unshare(CLONE_NEWUSER) < 0) return sys_error("unshare(CLONE_NEWUSER)");
    BW_RETURN_IF_ERROR(send_packet(sync_fd, Msg::need_idmap));
    BW_RETURN_IF_ERROR(expect_packet(sync_fd, Msg::idmap_done));
    // Become the namespace's root when it is mapped; capabilities in the new
    // namespace are held either way until exec.
    (void)::setresgid(0, 0, 0);
    (void)::setresuid(0, 0, 0);
  }
  if (p.ns.unshare_flags && ::unshare(p.ns.unshare_flags) < 0)
    return sys_error("unshare(0x%x)", p.ns.unshare_flags);
  if (p.ns.new_time && p.spec.linux) BW_RETURN_IF_ERROR(write_time_offsets(p.spec.linux->time_offsets));
  return {};
}

[[noreturn]] void run_first_child(const Plan& p, int sync_fd) {
  // A flock belongs to the open file: a child sharing it would keep the
  // container locked for as long as it lives.
  ::close(p.lock_fd);
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (auto r = enter_namespaces(p, sync_fd); !r) die(sync_fd, r.error(), false);
  // The init becomes a child of the runtime (CLONE_PARENT), in the new pid
  // and time namespaces that only children enter.
  struct clone_args args {};
  args.flags = CLONE_PARENT;
  pid_t pid = sys::clone3(&args);
  if (pid < 0) die(sync_fd, sys_error("clone3 of the container init").value(), false);
  if (pid == 0) run_container_init(p, sync_fd);
  (void)send_packet(sync_fd, Msg::child_pid, pid);
  _exit(0);
}

// ---- the runtime ----

Result<std::string> absolute(const std::string& path) {
  char* r = ::realpath(path.c_str(), nullptr);
  if (!r) return sys_error("'%s'", path.c_str());
  std::string out = r;
  free(r);
  return out;
}

Result<void> check_spec_for_launch(const oci::Spec& spec) {
  if (!spec.linux || !spec.find_namespace(oci::NamespaceType::mount))
    return make_error(EINVAL, "linux.namespaces: a mount namespace is required (the rootfs is set up in it)");
  return {};
}

Result<Plan> prepare_plan(const CreateOptions& opts) {
  Plan p;
  p.id = opts.id;
  BW_RETURN_IF_ERROR(validate_id(opts.id));
  BW_ASSIGN_OR_RETURN(p.bundle, with_context(absolute(opts.bundle.empty() ? "." : opts.bundle), "--bundle"));
  BW_ASSIGN_OR_RETURN(p.spec, oci::load_spec(p.bundle));
  std::string config = p.bundle + "/config.json";
  BW_RETURN_IF_ERROR(with_context(check_spec_for_launch(p.spec), config));
  std::string root = p.spec.root->path;
  if (root[0] != '/') root = p.bundle + "/" + root;
  struct stat st;
  if (::stat(root.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    return make_error(ENOENT, "%s: root.path: '%s' does not exist or is not a directory", config.c_str(),
                      root.c_str());
  BW_ASSIGN_OR_RETURN(p.rootfs, absolute(root));
  // Before anything can reach the container: from here on this process and
  // its children keep /proc/<pid> out of the container's reach.
  if (opts.protect_exe && exe_reachable_from_container(p.spec, nullptr)) BW_RETURN_IF_ERROR(opts.protect_exe());
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  BW_ASSIGN_OR_RETURN(p.ns, with_context(plan_namespaces(p.spec), config));
  if (p.spec.linux->seccomp) {
    BW_ASSIGN_OR_RETURN(auto f, with_context(seccomp::compile(*p.spec.linux->seccomp, opts.seccomp_cache),
                                             config + ": linux.seccomp"));
    p.filter = std::move(f);
  }
  if (p.spec.process->terminal) {
    if (opts.console_socket.empty())
      return make_error(EINVAL, "%s: process.terminal is true but no --console-socket was given", config.c_str());
    BW_ASSIGN_OR_RETURN(p.console_socket, with_context(connect_unix(opts.console_socket), "--console-socket"));
  }
  p.preserve_fds = opts.preserve_fds;
  return p;
}

// Creates <root>/<id>/exec.fifo, writable by the container's root user.
Result<void> make_exec_fifo(int dirfd, const oci::Spec& spec) {
  if (::mkfifoat(dirfd, "exec.fifo", 0622) < 0) return sys_error("mkfifo exec.fifo");
  uid_t uid = 0;
  gid_t gid = 0;
  if (spec.linux) {
    for (const auto& m : spec.linux->uid_mappings)
      if (m.container_id == 0) uid = m.host_id;
    for (const auto& m : spec.linux->gid_mappings)
      if (m.container_id == 0) gid = m.host_id;
  }
  if ((uid || gid) && ::fchownat(dirfd, "exec.fifo", uid, gid, 0) < 0) return sys_error("chown exec.fifo");
  // The container's root must be able to reach the fifo through this directory.
  if (::fchmod(dirfd, 0711) < 0) return sys_error("chmod state directory");
  return {};
}

oci::State creating_state(const Plan& p, pid_t pid) {
  oci::State s;
  s.id = p.id;
  s.status = "creating";
  s.pid = pid;
  s.bundle = p.bundle;
  s.annotations = p.spec.annotations;
  return s;
}

// Talks the children through set-up until the init reports "created".
Result<ChildProcess> drive_children(Plan& p, ChildProcess& first, int sync_fd) {
  ChildProcess init;
  for (;;) {
    BW_ASSIGN_OR_RETURN(Packet pkt, recv_packet(sync_fd));
    switch (pkt.type) {
      case Msg::need_idmap:
        BW_RETURN_IF_ERROR(write_id_maps(first.pid(), *p.spec.linux));
        BW_RETURN_IF_ERROR(send_packet(sync_fd, Msg::idmap_done));
        break;
      case Msg::child_pid: {
        pid_t pid = static_cast<pid_t>(pkt.value);
        int pidfd = sys::pidfd_open(pid, 0);
        if (pidfd < 0) return sys_error("pidfd_open(%d)", pid);
        init = ChildProcess(pid, UniqueFd(pidfd));
        BW_RETURN_IF_ERROR(with_context(first.wait(), "first child"));
        std::string state = oci::state_to_json(creating_state(p, pid));
        BW_RETURN_IF_ERROR(send_packet(sync_fd, Msg::placed, pid, state));
        break;
      }
      case Msg::run_hooks: {
        std::string state = oci::state_to_json(creating_state(p, init.pid()));
        BW_RETURN_IF_ERROR(run_hooks("prestart", p.spec.hooks->prestart, state));
        BW_RETURN_IF_ERROR(run_hooks("createRuntime", p.spec.hooks->create_runtime, state));
        BW_RETURN_IF_ERROR(send_packet(sync_fd, Msg::hooks_done));
        break;
      }
      case Msg::created:
        if (!init.valid()) return make_error(EPROTO, "container init reported before its pid");
        return init;
      case Msg::error:
        return Unexpected(Error{static_cast<int>(pkt.value), pkt.text});
      default:
        return make_error(EPROTO, "unexpected message %u during create", static_cast<unsigned>(pkt.type));
    }
  }
}

}  // namespace

Result<Created> create_container(const CreateOptions& opts) {
  BW_ASSIGN_OR_RETURN(Store store, Store::open(opts.state_root));
  BW_ASSIGN_OR_RETURN(Plan p, prepare_plan(opts));
  BW_ASSIGN_OR_RETURN(UniqueFd dir, store.create_dir(opts.id));
  // From here on, a failure must undo everything: the children are killed
  // (dropping their handles kills and reaps them), then the cgroup and the
  // state directory are removed.
  std::optional<Cgroup> cgroup;
  ChildProcess first, init;
  auto fail = [&](Error e) -> Result<Created> {
    init = ChildProcess();
    first = ChildProcess();
    if (cgroup) (void)cgroup->remove();
    (void)store.remove(opts.id);
    return Unexpected(std::move(e));
  };
  if (auto r = make_exec_fifo(dir.get(), p.spec); !r) return fail(r.error());
  int sfd = ::openat(dir.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (sfd < 0) return fail(sys_error("open state directory").value());
  p.state_dir = UniqueFd(sfd);
  p.lock_fd = dir.get();

  auto cg = Cgroup::create(opts.id, p.spec.linux->cgroups_path, p.spec.linux->resources);
  if (cg) {
    cgroup = std::move(*cg);
  } else if (cg.error().code != ENOENT || p.spec.linux->resources) {
    // No cgroup2 at all is tolerable only when nothing needs one.
    return fail(cg.error().prefix(p.bundle + "/config.json"));
  }

  auto sync = make_sync_pair();
  if (!sync) return fail(sync.error());
  // The first child starts in the container's cgroup and the init inherits
  // it: cheaper than migrating a process, and allowed even when the init
  // lives in a user namespace that could not write cgroup.procs.
  auto forked = fork_child(cgroup ? cgroup->fd() : -1);
  if (!forked) return fail(forked.error());
  if (!forked->valid()) {
    sync->parent.reset();
    run_first_child(p, sync->child.get());
  }
  first = std::move(*forked);
  sync->child.reset();
  auto created = drive_children(p, first, sync->parent.get());
  if (!created) return fail(created.error().prefix(strf("creating container '%s'", opts.id.c_str())));
  init = std::move(*created);

  Created c;
  c.record.id = opts.id;
  c.record.bundle = p.bundle;
  c.record.pid = init.pid();
  c.record.start_time = process_start_time(init.pid());
  c.record.cgroup_dir = cgroup ? cgroup->dir() : "";
  c.record.created = now_rfc3339();
  c.record.annotations = p.spec.annotations;
  c.record.exe_sealed = running_from_protected_exe();
  if (auto r = write_file_atomic(dir.get(), "config.json", oci::spec_to_json(p.spec), 0600,
                                  Durability::volatile_); !r)
    return fail(r.error());
  if (auto r = store.save(dir.get(), c.record); !r) return fail(r.error());
  if (!opts.pid_file.empty())
    if (auto r = write_file_atomic(opts.pid_file, std::to_string(init.pid()), 0644, Durability::volatile_); !r)
      return fail(r.error().prefix("--pid-file"));
  c.init = std::move(init);
  return c;
}

}  // namespace bw::sandbox
