#include "init/runner.h"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <cstring>

#include "init/signals.h"
#include "sandbox/container.h"
#include "sandbox/exe_guard.h"
#include "sandbox/exec.h"

namespace bw::init {

namespace {

// What the child reports through its close-on-exec pipe when it cannot exec.
struct ExecFailure {
  int err;
  char step[32];
};

[[noreturn]] void child_fail(int report_fd, const char* step) {
  ExecFailure f{};
  f.err = errno;
  strncpy(f.step, step, sizeof f.step - 1);
  (void)!::write(report_fd, &f, sizeof f);
  _exit(127);
}

// Moves the given fds onto 0, 1 and 2 for the length of a library call that
// forks the container's processes (they inherit our stdio), and puts ours
// back afterwards. The supervisor is single-threaded, so nothing else writes
// to our stderr meanwhile.
class StdioSwap {
 public:
  StdioSwap(int in, int out, int err) {
    const int fds[3] = {in, out, err};
    for (int i = 0; i < 3; ++i) {
      saved_[i] = ::fcntl(i, F_DUPFD_CLOEXEC, 3);
      if (fds[i] >= 0) (void)::dup2(fds[i], i);
    }
  }
  ~StdioSwap() {
    for (int i = 0; i < 3; ++i) {
      if (saved_[i] < 0) continue;
      (void)::dup2(saved_[i], i);
      (void)::close(saved_[i]);
    }
  }
  StdioSwap(const StdioSwap&) = delete;
  StdioSwap& operator=(const StdioSwap&) = delete;

 private:
  int saved_[3] = {-1, -1, -1};
};

Result<UniqueFd> open_null(int flags) {
  int fd = ::open("/dev/null", flags | O_CLOEXEC);
  if (fd < 0) return sys_error("open /dev/null");
  return UniqueFd(fd);
}

// bulwark-init is not re-executed from a sealed copy while it runs (that
// would drop every service): main() does it at start when needed. This
// only checks that it happened before a container could reach the binary.
Result<void> require_protected_exe() {
  if (sandbox::running_from_protected_exe()) return {};
  return make_error(EPERM,
                    "this container could reach bulwark-init's binary (CAP_SYS_PTRACE without a user namespace), "
                    "which is writable and was not re-executed from a sealed copy");
}

}  // namespace

Result<ChildProcess> spawn_process(const ProcessLaunch& l) {
  if (l.argv.empty()) return make_error(EINVAL, "no program to run");
  // Everything the child needs is prepared before fork.
  std::vector<char*> argv, envp;
  for (const auto& a : l.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : l.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  BW_ASSIGN_OR_RETURN(UniqueFd null_in, open_null(O_RDONLY));
  UniqueFd null_out;
  if (l.out_fd < 0) {
    BW_ASSIGN_OR_RETURN(null_out, open_null(O_WRONLY));
  }
  int out = l.out_fd >= 0 ? l.out_fd : null_out.get();
  int report[2];
  if (::pipe2(report, O_CLOEXEC) < 0) return sys_error("pipe2");
  UniqueFd report_read(report[0]), report_write(report[1]);

  BW_ASSIGN_OR_RETURN(ChildProcess child, fork_child(l.cgroup_fd));
  if (!child.valid()) {
    int rfd = report_write.get();
    reset_signals_for_exec();
    if (::setsid() < 0) child_fail(rfd, "setsid");
    if (::dup2(null_in.get(), 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) child_fail(rfd, "dup2");
    if (::chdir(l.cwd.c_str()) < 0) child_fail(rfd, "chdir");
    if (l.gid) {
      gid_t g = *l.gid;
      if (::setgroups(1, &g) < 0) child_fail(rfd, "setgroups");
      if (::setresgid(g, g, g) < 0) child_fail(rfd, "setresgid");
    }
    if (l.uid && ::setresuid(*l.uid, *l.uid, *l.uid) < 0) child_fail(rfd, "setresuid");
    ::execve(argv[0], argv.data(), envp.data());
    child_fail(rfd, "execve");
  }
  report_write.reset();
  ExecFailure f{};
  ssize_t n;
  do {
    n = ::read(report_read.get(), &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof f)) {
    // The child exits at once; the supervisor reaps it with everything else.
    f.step[sizeof f.step - 1] = '\0';
    errno = f.err;
    if (strcmp(f.step, "chdir") == 0) return sys_error("chdir('%s')", l.cwd.c_str());
    if (strcmp(f.step, "execve") == 0) return sys_error("execve('%s')", l.argv[0].c_str());
    return sys_error("%s", f.step);
  }
  return child;
}

Result<ChildProcess> launch_container(const ContainerLaunch& l) {
  // A container of this id from an earlier run would make create fail.
  if (sandbox::container_state(l.state_root, l.id)) (void)sandbox::delete_container(l.state_root, l.id, true);
  sandbox::CreateOptions opts;
  opts.id = l.id;
  opts.bundle = l.bundle;
  opts.state_root = l.state_root;
  opts.seccomp_cache = l.seccomp_cache;
  opts.protect_exe = require_protected_exe;
  BW_ASSIGN_OR_RETURN(UniqueFd null_in, open_null(O_RDONLY));
  UniqueFd null_out;
  if (l.out_fd < 0) {
    BW_ASSIGN_OR_RETURN(null_out, open_null(O_WRONLY));
  }
  int out = l.out_fd >= 0 ? l.out_fd : null_out.get();
  StdioSwap stdio(null_in.get(), out, out);
  UnblockedSignals signals;
  BW_ASSIGN_OR_RETURN(sandbox::Created created, sandbox::create_container(opts));
  if (auto r = sandbox::start_container(l.state_root, l.id); !r) {
    (void)sandbox::delete_container(l.state_root, l.id, true);
    return Unexpected(r.error());
  }
  return std::move(created.init);
}

Result<ChildProcess> exec_in_service_container(const std::string& state_root, const std::string& seccomp_cache,
                                               const std::string& id, const std::vector<std::string>& command,
                                               int out_fd) {
  BW_ASSIGN_OR_RETURN(oci::Process proc, sandbox::container_process(state_root, id));
  proc.args = command;
  proc.terminal = false;
  sandbox::ExecOptions opts;
  opts.state_root = state_root;
  opts.id = id;
  opts.seccomp_cache = seccomp_cache;
  opts.protect_exe = require_protected_exe;
  BW_ASSIGN_OR_RETURN(UniqueFd null_in, open_null(O_RDONLY));
  UniqueFd null_out;
  if (out_fd < 0) {
    BW_ASSIGN_OR_RETURN(null_out, open_null(O_WRONLY));
  }
  int out = out_fd >= 0 ? out_fd : null_out.get();
  StdioSwap stdio(null_in.get(), out, out);
  UnblockedSignals signals;
  return sandbox::exec_in_container(opts, proc);
}

Result<void> signal_container(const std::string& state_root, const std::string& id, int sig, bool all) {
  return sandbox::kill_container(state_root, id, sig, all);
}

Result<void> remove_container(const std::string& state_root, const std::string& id) {
  UnblockedSignals signals;  // poststop hooks are programs too
  return sandbox::delete_container(state_root, id, true);
}

}  // namespace bw::init
