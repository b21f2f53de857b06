// Loads compiled filters for real. Every case runs in a forked child (a filter
// cannot be removed again), which reports failures back through a pipe.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "base/file.h"
#include "seccomp/seccomp.h"

#ifndef BULWARK_SOURCE_DIR
#define BULWARK_SOURCE_DIR "."
#endif

namespace bw::seccomp {
namespace {

const std::string kDefaultProfile =
    std::string(BULWARK_SOURCE_DIR) + "/seccomp-profiles/default.json";

// Runs fn in a child; fn returns "" on success or what went wrong.
void run_in_child(const std::function<std::string()>& fn) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rd.reset();
    std::string failure = fn();
    if (!failure.empty()) (void)write_all(wr.get(), failure);
    _exit(failure.empty() ? 0 : 1);
  }
  wr.reset();
  auto msg = read_fd(rd.get());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(msg ? *msg : std::string("(pipe read failed)"), "");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

std::string expect_errno(const char* what, long rc, int want) {
  if (rc == -1 && errno == want) return "";
  return strf("%s: got rc=%ld errno=%d (%s), want errno %d (%s); ", what, rc, rc == -1 ? errno : 0,
              rc == -1 ? strerror(errno) : "-", want, strerror(want));
}

std::string install(const Filter& f) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return "PR_SET_NO_NEW_PRIVS failed";
  auto fd = load(f);
  if (!fd) return "load: " + fd.error().text();
  return "";
}

oci::SeccompSyscall rule(std::vector<std::string> names, const char* action,
                         std::optional<uint32_t> errno_ret = std::nullopt) {
  oci::SeccompSyscall sc;
  sc.names = std::move(names);
  sc.action = action;
  sc.errno_ret = errno_ret;
  return sc;
}

Filter must_compile(const oci::Seccomp& s, const std::string& cache_dir = "") {
  auto f = compile(s, cache_dir);
  EXPECT_TRUE(f) << f.error().text();
  return f ? *f : Filter{};
}

TEST(SeccompLoad, ErrnoRulesAndArgumentChecks) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(rule({"mkdir", "mkdirat"}, "SCMP_ACT_ERRNO"));  // EPERM by default
  oci::SeccompSyscall getpid_rule = rule({"getpid"}, "SCMP_ACT_ERRNO", EXDEV);
  oci::SeccompArg a;
  a.index = 0;
  a.value = 0xFF;  // mask
  a.value_two = 0x42;
  a.op = "SCMP_CMP_MASKED_EQ";
  getpid_rule.args.push_back(a);
  s.syscalls.push_back(getpid_rule);
  Filter f = must_compile(s);

  run_in_child([&]() -> std::string {
    std::string dir = strf("/tmp/bw-seccomp-load-%d", static_cast<int>(getpid()));
    if (std::string e = install(f); !e.empty()) return e;
    std::string out = expect_errno("mkdir", mkdir(dir.c_str(), 0700), EPERM);
    out += expect_errno("mkdirat", mkdirat(AT_FDCWD, dir.c_str(), 0700), EPERM);
    out += expect_errno("getpid(0x142)", syscall(SYS_getpid, 0x142), EXDEV);
    long pid = syscall(SYS_getpid, 0x43);
    if (pid != getpid()) out += "getpid(0x43) was not allowed; ";
    if (access("/", R_OK) != 0) out += "access() was not allowed; ";
    return out;
  });
}

// What the default profile promises (seccomp-profiles/README.md).
std::string check_default_profile(const Filter& f) {
  if (std::string e = install(f); !e.empty()) return e;
  std::string out;
  out += expect_errno("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), EPERM);
  out += expect_errno("setns", setns(0, CLONE_NEWNET), EPERM);
  struct io_uring_params params {};
  out += expect_errno("io_uring_setup", syscall(__NR_io_uring_setup, 1, &params), EPERM);
  out += expect_errno("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM);
  out += expect_errno("bpf", syscall(SYS_bpf, 0, nullptr, 0), EPERM);
  struct clone_args ca {};
  ca.exit_signal = SIGCHLD;
  // If the filter wrongly lets these through, the new process leaves at once
  // and this one reports the failure.
  long rc = syscall(__NR_clone3, &ca, sizeof ca);
  if (rc == 0) _exit(0);
  out += expect_errno("clone3", rc, ENOSYS);
  if (rc > 0) (void)waitpid(static_cast<pid_t>(rc), nullptr, 0);
  rc = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
  if (rc == 0) _exit(0);
  out += expect_errno("clone(CLONE_NEWNS)", rc, EPERM);
  if (rc > 0) (void)waitpid(static_cast<pid_t>(rc), nullptr, 0);

  // Plain clone is allowed: fork and threads (glibc tries clone3 first and
  // falls back to clone on ENOSYS).
  pid_t child = fork();
  if (child == 0) _exit(7);
  int status = 0;
  if (child < 0)
    out += strf("fork: %s; ", strerror(errno));
  else if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
    out += "forked child did not exit 7; ";
  pthread_t t;
  auto body = [](void*) -> void* { return reinterpret_cast<void*>(42); };
  void* ret = nullptr;
  if (int e = pthread_create(&t, nullptr, body, nullptr); e != 0)
    out += strf("pthread_create: %s; ", strerror(e));
  else if (pthread_join(t, &ret) != 0 || ret != reinterpret_cast<void*>(42))
    out += "thread did not run; ";
  return out;
}

oci::Seccomp default_section() {
  auto text = read_file(kDefaultProfile);
  EXPECT_TRUE(text) << text.error().text();
  auto s = from_docker_profile(text ? *text : "", {}, "");
  EXPECT_TRUE(s) << s.error().text();
  return s ? *s : oci::Seccomp{};
}

TEST(SeccompLoad, DefaultProfile) {
  Filter f = must_compile(default_section());
  run_in_child([&] { return check_default_profile(f); });
}

TEST(SeccompLoad, DefaultProfileFromCache) {
  char tmpl[] = "/tmp/bw-seccomp-cache.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  oci::Seccomp s = default_section();
  Filter cold = must_compile(s, dir);
  Filter warm = must_compile(s, dir);
  (void)remove_tree_at(AT_FDCWD, dir);
  EXPECT_FALSE(cold.from_cache);
  ASSERT_TRUE(warm.from_cache) << warm.cache_warning;
  run_in_child([&] { return check_default_profile(warm); });
}

TEST(SeccompLoad, NeedsNoNewPrivsWithoutCapSysAdmin) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(rule({"mkdir", "mkdirat"}, "SCMP_ACT_ERRNO"));
  Filter f = must_compile(s);
  run_in_child([&]() -> std::string {
    // Drop every capability by becoming nobody (a no-op when not root).
    if (geteuid() == 0 &&
        (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
      return "dropping to uid 65534 failed";
    auto no = load(f);
    if (no) return "load without no_new_privs or CAP_SYS_ADMIN succeeded";
    if (no.error().code != EACCES) return "unexpected error: " + no.error().text();
    return install(f);
  });
}

TEST(SeccompLoad, NotifyListener) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(rule({"mkdir", "mkdirat"}, "SCMP_ACT_NOTIFY"));
  Filter f = must_compile(s);
  ASSERT_TRUE(f.uses_notify);

  run_in_child([&]() -> std::string {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return "PR_SET_NO_NEW_PRIVS failed";
    auto listener = load(f);
    if (!listener) return "load: " + listener.error().text();
    if (!*listener) return "no listener fd";
    int fdflags = fcntl(listener->get(), F_GETFD);
    if (fdflags < 0 || !(fdflags & FD_CLOEXEC)) return "listener fd is not O_CLOEXEC";

    // The grandchild inherits the filter; its mkdir waits for our answer.
    pid_t child = fork();
    if (child == 0) {
      int rc = mkdir("/tmp/bw-seccomp-notify-never", 0700);
      _exit(rc == -1 && errno == EXDEV ? 0 : 1);
    }
    if (child < 0) return "fork failed";
    struct seccomp_notif req {};
    if (ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
      return strf("SECCOMP_IOCTL_NOTIF_RECV: %s", strerror(errno));
    std::string out;
    if (req.pid != static_cast<__u32>(child)) out += "notification from another pid; ";
    if (req.data.nr != __NR_mkdir && req.data.nr != __NR_mkdirat) out += "not a mkdir; ";
    struct seccomp_notif_resp resp {};
    resp.id = req.id;
    resp.error = -EXDEV;
    if (ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
      out += strf("SECCOMP_IOCTL_NOTIF_SEND: %s; ", strerror(errno));
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      out += "the notified mkdir did not fail with our EXDEV; ";
    return out;
  });
}

}  // namespace
}  // namespace bw::seccomp
