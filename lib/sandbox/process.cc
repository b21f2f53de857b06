#include "sandbox/process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "base/strings.h"
#include "sandbox/caps.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

const std::map<std::string, int>& rlimit_names() {
  static const std::map<std::string, int> m = {
      {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
  };
  return m;
}

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env)
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      return e.substr(name.size() + 1);
  return "";
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

Result<void> apply_rlimits(const std::vector<oci::Rlimit>& rlimits) {
  for (size_t i = 0; i < rlimits.size(); ++i) {
    auto it = rlimit_names().find(rlimits[i].type);
    if (it == rlimit_names().end())
      return make_error(EINVAL, "process.rlimits[%zu].type: unknown '%s'", i, rlimits[i].type.c_str());
    struct rlimit rl = {rlimits[i].soft, rlimits[i].hard};
    if (::setrlimit(it->second, &rl) < 0)
      return sys_error("process.rlimits[%zu]: setrlimit(%s, %llu, %llu)", i, rlimits[i].type.c_str(),
                       static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(rl.rlim_max));
  }
  return {};
}

Result<std::string> resolve_executable(const oci::Process& p) {
  const std::string& arg0 = p.args.at(0);
  if (arg0.find('/') != std::string::npos) {
    std::string path = arg0[0] == '/' ? arg0 : (p.cwd + "/" + arg0);
    if (!is_executable_file(path))
      return make_error(ENOENT, "process.args[0]: '%s' is not an executable file in the container", arg0.c_str());
    return path;
  }
  std::string path_var = env_value(p.env, "PATH");
  if (path_var.empty()) path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& dir : split(path_var, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + arg0;
    if (is_executable_file(candidate)) return candidate;
  }
  return make_error(ENOENT, "process.args[0]: '%s' not found in the container's PATH (%s)", arg0.c_str(),
                    path_var.c_str());
}

namespace {

Result<void> switch_user(const ExecPlan& plan) {
  const oci::User& u = plan.process->user;
  std::vector<gid_t> groups(u.additional_gids.begin(), u.additional_gids.end());
  if (plan.setgroups_allowed && ::setgroups(groups.size(), groups.data()) < 0)
    return sys_error("process.user.additionalGids: setgroups");
  if (::setresgid(u.gid, u.gid, u.gid) < 0) return sys_error("process.user.gid: setresgid(%u)", u.gid);
  if (::setresuid(u.uid, u.uid, u.uid) < 0) return sys_error("process.user.uid: setresuid(%u)", u.uid);
  return {};
}

Result<void> load_seccomp(const ExecPlan& plan) {
  BW_ASSIGN_OR_RETURN(UniqueFd listener, seccomp::load(*plan.filter));
  if (listener) {
    BW_RETURN_IF_ERROR(with_context(
        seccomp::send_listener_fd(plan.listener_path, listener.get(), plan.listener_state),
        "linux.seccomp.listenerPath"));
  }
  return {};
}

// The program starts with no signal blocked or ignored, whatever the
// runtime's caller (a supervisor with a signalfd, a shell ignoring SIGPIPE)
// had set: execve keeps both.
void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    (void)::signal(sig, SIG_DFL);
  }
}

Result<void> prepare(const ExecPlan& plan) {
  const oci::Process& p = *plan.process;
  reset_signals();
  oci::Capabilities caps = p.capabilities.value_or(oci::Capabilities{});
  if (!plan.rlimits_applied) BW_RETURN_IF_ERROR(apply_rlimits(p.rlimits));
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: when the
  // final capability set lacks it, install while still fully privileged (the
  // profile must then allow the few calls that follow, as Docker's does).
  bool seccomp_early = plan.filter && !p.no_new_privileges && !has_capability(caps, "CAP_SYS_ADMIN");
  if (seccomp_early) BW_RETURN_IF_ERROR(with_context(load_seccomp(plan), "linux.seccomp"));
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return sys_error("PR_SET_KEEPCAPS");
  BW_RETURN_IF_ERROR(drop_bounding_set(caps));
  BW_RETURN_IF_ERROR(switch_user(plan));
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return sys_error("PR_SET_KEEPCAPS");
  BW_RETURN_IF_ERROR(apply_capabilities(caps));
  if (p.user.umask) ::umask(static_cast<mode_t>(*p.user.umask));
  if (::chdir(p.cwd.c_str()) < 0) return sys_error("process.cwd: chdir('%s')", p.cwd.c_str());
  if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return sys_error("process.noNewPrivileges");
  // Everything not explicitly preserved disappears at exec.
  unsigned first = 3 + static_cast<unsigned>(plan.preserve_fds);
  if (sys::close_range(first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = static_cast<int>(first); fd < 65536; ++fd) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (int fd = 3; fd < static_cast<int>(first); ++fd) (void)::fcntl(fd, F_SETFD, 0);
  if (plan.filter && !seccomp_early) BW_RETURN_IF_ERROR(with_context(load_seccomp(plan), "linux.seccomp"));
  return {};
}

}  // namespace

Error finalize_and_exec(const ExecPlan& plan) {
  if (auto r = prepare(plan); !r) return r.error();
  std::vector<char*> argv, envp;
  for (const auto& a : plan.process->args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : plan.process->env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ::execve(plan.exe.c_str(), argv.data(), envp.data());
  return Error{errno, strf("exec '%s'", plan.exe.c_str())};
}

}  // namespace bw::sandbox
