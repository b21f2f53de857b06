// The sandbox's small facility modules against the real kernel: cgroup2
// placement, freezing and killing; OCI hooks; the console pty and fd passing;
// the exe guard's sealed re-exec. Needs root; every case skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "base/child.h"
#include "base/file.h"
#include "base/strings.h"
#include "sandbox/cgroup2.h"
#include "sandbox/console.h"
#include "sandbox/exe_guard.h"
#include "sandbox/hooks.h"
#include "sys/syscalls.h"

namespace bw::sandbox {
namespace {

#define REQUIRE_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroup2 directories, mount namespaces)"

int64_t now_us() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string unique_name(const char* what) {
  static int counter = 0;
  return strf("bwtest-%s-%d-%d", what, getpid(), ++counter);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bw-sandbox-units-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (!made) ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    path_ = made ? made : "/nonexistent-tempdir";
  }
  ~TempDir() { (void)remove_tree_at(AT_FDCWD, path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------- cgroup2

// The cgroup2 mount, or "" when none is mounted.
std::string cgroup_mount_or_empty() {
  auto m = Cgroup::find_mount();
  return m ? *m : std::string();
}

#define REQUIRE_CGROUP2(mount)                 \
  REQUIRE_ROOT();                              \
  std::string mount = cgroup_mount_or_empty(); \
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 filesystem is mounted"

// Removes a test cgroup and its parents on the way out, whatever happened.
struct CgroupCleanup {
  std::vector<std::string> dirs;  // deepest last
  ~CgroupCleanup() {
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      if (exists(*it + "/cgroup.kill")) (void)write_existing(*it + "/cgroup.kill", "1");
      for (int i = 0; i < 200 && ::rmdir(it->c_str()) < 0 && errno == EBUSY; ++i) ::usleep(5000);
    }
  }
};

// A child that counts in shared memory until killed.
struct Counter {
  std::atomic<uint64_t>* value = nullptr;
  ChildProcess child;
};

Counter start_counter() {
  Counter c;
  void* mem = ::mmap(nullptr, sizeof(std::atomic<uint64_t>), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return c;
  c.value = new (mem) std::atomic<uint64_t>(0);
  auto child = fork_child();
  if (!child) return c;
  if (!child->valid()) {
    for (;;) {
      c.value->fetch_add(1);
      ::usleep(500);
    }
  }
  c.child = std::move(*child);
  return c;
}

bool advances(const std::atomic<uint64_t>* v) {
  uint64_t before = v->load();
  ::usleep(50000);
  return v->load() != before;
}

TEST(Cgroup, PlaceFreezeKillRemove) {
  REQUIRE_CGROUP2(mount);
  std::string id = unique_name("cg");
  bool had_bulwark_dir = exists(mount + "/bulwark");
  CgroupCleanup cleanup{{mount + "/bulwark", mount + "/bulwark/" + id}};
  if (had_bulwark_dir) cleanup.dirs.erase(cleanup.dirs.begin());

  auto cg = Cgroup::create(id, "", std::nullopt);
  ASSERT_TRUE(cg) << cg.error().text();
  EXPECT_EQ(cg->dir(), mount + "/bulwark/" + id);
  EXPECT_TRUE(exists(cg->dir() + "/cgroup.procs"));

  Counter counter = start_counter();
  ASSERT_TRUE(counter.child.valid());
  ASSERT_TRUE(cg->add_process(counter.child.pid()));
  auto procs = cg->processes();
  ASSERT_TRUE(procs) << procs.error().text();
  EXPECT_EQ(*procs, std::vector<pid_t>{counter.child.pid()});
  std::string own = read_file(strf("/proc/%d/cgroup", counter.child.pid())).value();
  EXPECT_NE(own.find("0::/bulwark/" + id), std::string::npos) << own;

  EXPECT_TRUE(advances(counter.value));
  int64_t t0 = now_us();
  auto fr = cg->freeze(true);
  ASSERT_TRUE(fr) << fr.error().text();
  printf("freeze took %lld us\n", static_cast<long long>(now_us() - t0));
  EXPECT_TRUE(cg->frozen().value());
  EXPECT_FALSE(advances(counter.value)) << "the frozen child kept counting";
  ASSERT_TRUE(cg->freeze(false));
  EXPECT_FALSE(cg->frozen().value());
  EXPECT_TRUE(advances(counter.value)) << "the thawed child does not count";

  ASSERT_TRUE(cg->kill_all(SIGKILL));
  ExitStatus st;
  auto done = counter.child.wait_for(2000, &st);
  ASSERT_TRUE(done && *done) << "child not killed within 2 s";
  EXPECT_TRUE(st.signaled);
  EXPECT_EQ(st.code, SIGKILL);

  auto rm = cg->remove();
  ASSERT_TRUE(rm) << rm.error().text();
  EXPECT_FALSE(exists(mount + "/bulwark/" + id));
  if (!had_bulwark_dir) {
    EXPECT_FALSE(exists(mount + "/bulwark")) << "created parent left behind";
  }
}

TEST(Cgroup, KillAllWithOtherSignalsReachesSubCgroups) {
  REQUIRE_CGROUP2(mount);
  std::string top = unique_name("cgsig");
  CgroupCleanup cleanup{
      {mount + "/" + top, mount + "/" + top + "/c", mount + "/" + top + "/c/sub"}};
  auto cg = Cgroup::create("unused", "/" + top + "/c", std::nullopt);
  ASSERT_TRUE(cg) << cg.error().text();
  // A sub-cgroup as a container with its own cgroup namespace would make.
  ASSERT_EQ(::mkdir((cg->dir() + "/sub").c_str(), 0755), 0);
  auto sub = Cgroup::open(cg->dir() + "/sub");
  ASSERT_TRUE(sub) << sub.error().text();
  Counter a = start_counter(), b = start_counter();
  ASSERT_TRUE(a.child.valid() && b.child.valid());
  ASSERT_TRUE(cg->add_process(a.child.pid()));
  ASSERT_TRUE(sub->add_process(b.child.pid()));

  ASSERT_TRUE(cg->kill_all(SIGTERM));
  for (ChildProcess* c : {&a.child, &b.child}) {
    ExitStatus st;
    auto done = c->wait_for(2000, &st);
    ASSERT_TRUE(done && *done);
    EXPECT_TRUE(st.signaled);
    EXPECT_EQ(st.code, SIGTERM);
  }
  auto rm = cg->remove();
  ASSERT_TRUE(rm) << rm.error().text();
  EXPECT_FALSE(exists(mount + "/" + top)) << "created parents left behind";
}

TEST(Cgroup, FdWorksWithCloneIntoCgroup) {
  REQUIRE_CGROUP2(mount);
  std::string top = unique_name("cgclone");
  CgroupCleanup cleanup{{mount + "/" + top}};
  auto cg = Cgroup::create("unused", "/" + top, std::nullopt);
  ASSERT_TRUE(cg) << cg.error().text();
  int pidfd = -1;
  struct clone_args args {};
  args.flags = CLONE_PIDFD | CLONE_INTO_CGROUP;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cg->fd());
  pid_t pid = sys::clone3(&args);
  ASSERT_GE(pid, 0) << strerror(errno);
  if (pid == 0) {
    ::pause();
    _exit(0);
  }
  ChildProcess child(pid, UniqueFd(pidfd));
  EXPECT_EQ(cg->processes().value(), std::vector<pid_t>{pid});
  ASSERT_TRUE(cg->kill_all(SIGKILL));
  (void)child.wait();
  ASSERT_TRUE(cg->remove());
  EXPECT_FALSE(exists(mount + "/" + top));
}

TEST(Cgroup, ExistingCgroupIsRefusedAndKept) {
  REQUIRE_CGROUP2(mount);
  std::string top = unique_name("cgdup");
  CgroupCleanup cleanup{{mount + "/" + top}};
  auto first = Cgroup::create("a", "/" + top, std::nullopt);
  ASSERT_TRUE(first) << first.error().text();
  auto second = Cgroup::create("b", "/" + top, std::nullopt);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, EEXIST) << second.error().text();
  EXPECT_TRUE(exists(mount + "/" + top));
  ASSERT_TRUE(first->remove());
}

TEST(Cgroup, OpenRefusesNonCgroupDirectories) {
  REQUIRE_CGROUP2(mount);
  auto cg = Cgroup::open("/tmp");
  ASSERT_FALSE(cg);
  EXPECT_EQ(cg.error().code, EINVAL);
  EXPECT_FALSE(Cgroup::open(mount + "/" + unique_name("missing")));
}

std::string root_controllers(const std::string& mount) {
  return read_file(mount + "/cgroup.controllers").value_or("");
}

TEST(Cgroup, MissingControllerIsAClearErrorAndLeavesNothing) {
  REQUIRE_CGROUP2(mount);
  if (root_controllers(mount).find("memory") != std::string::npos)
    GTEST_SKIP() << "the memory controller is available in " << mount << " (pure cgroup v2 host)";
  std::string top = unique_name("cgmem");
  CgroupCleanup cleanup{{mount + "/" + top, mount + "/" + top + "/c"}};
  oci::Resources r;
  r.memory_limit = 64 << 20;
  auto cg = Cgroup::create("unused", "/" + top + "/c", r);
  ASSERT_FALSE(cg);
  std::string msg = cg.error().message;
  printf("error: %s\n", cg.error().text().c_str());
  EXPECT_EQ(msg.rfind("linux.resources.memory.limit: the memory controller is not available in "
                      "cgroup2 at " +
                          mount,
                      0),
            0u)
      << msg;
  EXPECT_FALSE(exists(mount + "/" + top)) << "a directory was left behind";
}

TEST(Cgroup, DefaultLimitsNeedNoController) {
  REQUIRE_CGROUP2(mount);
  std::string ctl = root_controllers(mount);
  if (ctl.find("memory") != std::string::npos || ctl.find("pids") != std::string::npos)
    GTEST_SKIP() << "memory or pids is available in " << mount;
  std::string top = unique_name("cgdef");
  CgroupCleanup cleanup{{mount + "/" + top}};
  oci::Resources r;
  r.memory_limit = -1;  // "no limit", as docker and podman write it
  r.pids_limit = 0;
  r.unified = {{"cgroup.max.descendants", "3"}};  // a core file: no controller needed
  auto cg = Cgroup::create("unused", "/" + top, r);
  ASSERT_TRUE(cg) << cg.error().text();
  EXPECT_EQ(read_file(cg->dir() + "/cgroup.max.descendants").value(), "3\n");
  ASSERT_TRUE(cg->remove());
}

TEST(Cgroup, EnablesControllersInTheParentsItCreates) {
  REQUIRE_CGROUP2(mount);
  if (root_controllers(mount).find("hugetlb") == std::string::npos)
    GTEST_SKIP() << "the hugetlb controller is not available in " << mount;
  if (!exists("/sys/kernel/mm/hugepages/hugepages-2048kB"))
    GTEST_SKIP() << "no 2 MB huge pages on this kernel";
  std::string root_subtree = read_file(mount + "/cgroup.subtree_control").value_or("");
  bool restore_root = root_subtree.find("hugetlb") == std::string::npos;
  std::string top = unique_name("cghuge");
  CgroupCleanup cleanup{{mount + "/" + top, mount + "/" + top + "/a", mount + "/" + top + "/a/c"}};
  oci::Resources r;
  r.hugepage_limits = {{"2MB", 4 << 20}};
  auto cg = Cgroup::create("unused", "/" + top + "/a/c", r);
  if (cg) {
    EXPECT_EQ(read_file(cg->dir() + "/hugetlb.2MB.max").value_or(""), "4194304\n");
    EXPECT_NE(
        read_file(mount + "/" + top + "/a/cgroup.subtree_control").value_or("").find("hugetlb"),
        std::string::npos);
    EXPECT_TRUE(cg->remove());
    EXPECT_FALSE(exists(mount + "/" + top));
  }
  if (restore_root) (void)write_existing(mount + "/cgroup.subtree_control", "-hugetlb");
  ASSERT_TRUE(cg) << cg.error().text();
}

// ---------------------------------------------------------------- hooks

const std::string kState =
    R"({"ociVersion":"1.2.0","id":"hooktest","status":"created","pid":4242,"bundle":"/tmp/b"})";

oci::Hook sh_hook(const std::string& script, std::optional<int> timeout = std::nullopt) {
  oci::Hook h;
  h.path = "/bin/sh";
  h.args = {"sh", "-c", script};
  h.env = {"PATH=/usr/bin:/bin"};
  h.timeout = timeout;
  return h;
}

TEST(Hooks, StateArrivesOnStdin) {
  TempDir dir;
  std::string script = dir / "hook.sh";
  ASSERT_TRUE(write_file_atomic(script, "#!/bin/sh\ncat > \"$1\"\n", 0755));
  oci::Hook h;
  h.path = script;
  h.args = {script, dir / "state.json"};
  auto r = run_hooks("createRuntime", {h}, kState);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(read_file(dir / "state.json").value_or(""), kState);
}

TEST(Hooks, ArgsAreArgvAndEnvIsExactlyTheHooks) {
  TempDir dir;
  std::string out = dir / "out";
  oci::Hook h = sh_hook("echo \"$0 [$FOO] [$HOME]\" > " + out);
  h.args[0] = "my-hook";
  h.env = {"FOO=bar"};
  ASSERT_TRUE(run_hooks("prestart", {h}, kState));
  EXPECT_EQ(read_file(out).value_or(""), "my-hook [bar] []\n");
}

TEST(Hooks, FailureNamesKindIndexAndPathAndStops) {
  TempDir dir;
  std::string marker = dir / "third-ran";
  auto r = run_hooks("prestart", {sh_hook("exit 0"), sh_hook("exit 3"), sh_hook("touch " + marker)},
                     kState);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), "hooks.prestart[1] '/bin/sh': exited with status 3");
  EXPECT_FALSE(exists(marker)) << "a hook after the failing one ran";

  auto sig = run_hooks("poststop", {sh_hook("kill -TERM $$")}, kState);
  ASSERT_FALSE(sig);
  EXPECT_EQ(sig.error().text(), "hooks.poststop[0] '/bin/sh': killed by signal 15 (SIGTERM)");
}

TEST(Hooks, ExecFailureIsReported) {
  oci::Hook h;
  h.path = "/nonexistent/hook";
  auto r = run_hooks("createContainer", {h}, kState);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().message, "hooks.createContainer[0] '/nonexistent/hook': exec");
}

TEST(Hooks, TimeoutKillsTheHookAndItsChildren) {
  oci::Hook sleeper;
  sleeper.path = "/bin/sleep";
  sleeper.args = {"sleep", "100"};
  sleeper.timeout = 1;
  int64_t t0 = now_us();
  auto r = run_hooks("startContainer", {sleeper}, kState);
  int64_t took_ms = (now_us() - t0) / 1000;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(),
            "hooks.startContainer[0] '/bin/sleep': did not finish within 1 s, killed");
  EXPECT_GE(took_ms, 900);
  EXPECT_LT(took_ms, 1500);

  // A script's background child is in the hook's process group and dies too.
  TempDir dir;
  std::string pidfile = dir / "pid";
  auto s =
      run_hooks("prestart", {sh_hook("sleep 100 & echo $! > " + pidfile + "; wait", 1)}, kState);
  ASSERT_FALSE(s);
  auto pid = parse_int(trim(read_file(pidfile).value_or("")));
  ASSERT_TRUE(pid);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::string stat = read_file(strf("/proc/%lld/stat", *pid)).value_or("");
    gone = stat.empty() || stat.find(") Z") != std::string::npos;
    if (!gone) ::usleep(5000);
  }
  EXPECT_TRUE(gone) << "the hook's child " << *pid << " survived the timeout";
  if (!gone) (void)::kill(static_cast<pid_t>(*pid), SIGKILL);
}

TEST(Hooks, HookThatIgnoresALargeStdinDoesNotHang) {
  std::string big(4 << 20, 'x');
  int64_t t0 = now_us();
  auto r = run_hooks("poststart", {sh_hook("exit 0", 5)}, big);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_LT((now_us() - t0) / 1000, 2000);
}

// ---------------------------------------------------------------- console

TEST(Console, PtyMasterTravelsOverASocket) {
  auto pty = open_pty(oci::ConsoleSize{24, 80});
  ASSERT_TRUE(pty) << pty.error().text();
  struct winsize ws {};
  ASSERT_EQ(::ioctl(pty->slave.get(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 24);
  EXPECT_EQ(ws.ws_col, 80);
  char link[256] = {};
  ASSERT_GT(::readlink(strf("/proc/self/fd/%d", pty->slave.get()).c_str(), link, sizeof link - 1),
            0);
  EXPECT_EQ(std::string(link), pty->slave_path);
  EXPECT_TRUE(::fcntl(pty->slave.get(), F_GETFD) & FD_CLOEXEC);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(send_fd(a.get(), pty->master.get(), pty->slave_path));
  auto master = recv_fd(b.get());
  ASSERT_TRUE(master) << master.error().text();
  EXPECT_TRUE(::fcntl(master->get(), F_GETFD) & FD_CLOEXEC);
  pty->master.reset();  // only the received copy is left

  ASSERT_TRUE(write_all(master->get(), "hello\n"));
  char buf[64] = {};
  ssize_t n = ::read(pty->slave.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "hello\n");

  a.reset();
  auto closed = recv_fd(b.get());
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, ECONNRESET);
}

TEST(Console, ChildGetsThePtyAsControllingTerminalAndStdio) {
  auto pty = open_pty(std::nullopt);
  ASSERT_TRUE(pty) << pty.error().text();
  auto child = fork_child();
  ASSERT_TRUE(child);
  if (!child->valid()) {
    if (!attach_stdio_to_pty(pty->slave.get())) _exit(2);
    int ctty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);  // only works with a controlling terminal
    const char* msg = (ctty >= 0 && isatty(0) && isatty(1) && isatty(2) && tcgetsid(0) == getsid(0))
                          ? "attached\n"
                          : "not attached\n";
    (void)!::write(1, msg, strlen(msg));
    _exit(0);
  }
  pty->slave.reset();
  auto st = child->wait();
  ASSERT_TRUE(st && !st->signaled && st->code == 0);
  char buf[64] = {};
  ssize_t n = ::read(pty->master.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "attached\r\n");
}

TEST(Console, ConnectsToSocketPathsLongerThanSunPath) {
  TempDir dir;
  std::string deep = dir.path();
  while (deep.size() < 150) {
    deep += "/dddddddddddddddddddd";
    ASSERT_EQ(::mkdir(deep.c_str(), 0700), 0);
  }
  std::string short_path = dir / "s", long_path = deep + "/console.sock";
  int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(l, 0);
  UniqueFd listener(l);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, short_path.c_str());
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(l, 1), 0);
  ASSERT_EQ(::rename(short_path.c_str(), long_path.c_str()), 0);

  auto conn = connect_unix(long_path);
  ASSERT_TRUE(conn) << conn.error().text();
  UniqueFd peer(::accept4(l, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(send_fd(conn->get(), 0, ""));
  auto fd = recv_fd(peer.get());
  ASSERT_TRUE(fd) << fd.error().text();
}

// ---------------------------------------------------------------- exe guard

TEST(ExeGuard, OrdinaryWritableFileIsNotProtected) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir / "bin", "binary"));
  auto fd = open_at(AT_FDCWD, dir / "bin", O_RDONLY);
  ASSERT_TRUE(fd);
  EXPECT_FALSE(is_protected_exe(fd->get()).value());
  UniqueFd unsealed(::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(unsealed);
  EXPECT_FALSE(is_protected_exe(unsealed.get()).value());
}

TEST(ExeGuard, SealedCopyIsProtectedIdenticalAndUnwritable) {
  auto exe = open_at(AT_FDCWD, "/proc/self/exe", O_RDONLY);
  ASSERT_TRUE(exe);
  int64_t t0 = now_us();
  auto copy = sealed_copy(exe->get());
  int64_t took = now_us() - t0;
  ASSERT_TRUE(copy) << copy.error().text();
  EXPECT_TRUE(is_protected_exe(copy->get()).value());
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(exe->get(), &a), 0);
  ASSERT_EQ(::fstat(copy->get(), &b), 0);
  EXPECT_EQ(a.st_size, b.st_size);
  ASSERT_EQ(::lseek(copy->get(), 0, SEEK_SET), 0);
  EXPECT_TRUE(read_fd(exe->get()).value() == read_fd(copy->get()).value()) << "contents differ";
  printf("sealed copy of %lld bytes took %lld us\n", static_cast<long long>(a.st_size),
         static_cast<long long>(took));
  // Not through this fd, and not through a new one as /proc/<pid>/exe would give.
  EXPECT_LT(::pwrite(copy->get(), "x", 1, 0), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_LT(::ftruncate(copy->get(), 0), 0);
  UniqueFd reopened(::open(strf("/proc/self/fd/%d", copy->get()).c_str(), O_WRONLY | O_CLOEXEC));
  if (reopened) {
    EXPECT_LT(::write(reopened.get(), "x", 1), 0);
  }
}

TEST(ExeGuard, BinaryOnAReadOnlyMountIsProtected) {
  REQUIRE_ROOT();
  TempDir dir;
  std::string bin = dir / "bin";
  ASSERT_TRUE(write_file_atomic(bin, "binary"));
  auto child = fork_child();
  ASSERT_TRUE(child);
  if (!child->valid()) {
    if (::unshare(CLONE_NEWNS) < 0) _exit(10);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) _exit(11);
    if (::mount(bin.c_str(), bin.c_str(), nullptr, MS_BIND, nullptr) < 0) _exit(12);
    if (::mount(nullptr, bin.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) < 0)
      _exit(13);
    int fd = ::open(bin.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) _exit(14);
    auto p = is_protected_exe(fd);
    _exit(p && *p ? 0 : 1);
  }
  auto st = child->wait();
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->signaled);
  EXPECT_EQ(st->code, 0) << "1: not seen as protected; 10-14: setting up the mount failed";
}

// The re-exec test runs this binary again, filtered to ExeGuardReexec.Child,
// with these variables set. The child calls ensure_protected_exe: the first
// image re-executes from a sealed memfd, the second finds itself protected
// and reports.
constexpr const char* kReexecOut = "BULWARK_TEST_REEXEC_OUT";
constexpr const char* kReexecStart = "BULWARK_TEST_REEXEC_START_US";
constexpr const char* kReexecBaseline = "BULWARK_TEST_REEXEC_BASELINE";

std::vector<std::string> own_cmdline() {
  std::string raw = read_file("/proc/self/cmdline").value_or("");
  auto parts = split(raw, '\0');
  if (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts;
}

TEST(ExeGuardReexec, Child) {
  const char* out = getenv(kReexecOut);
  if (!out) GTEST_SKIP() << "runs only as the child of ExeGuard.ReexecsFromASealedCopy";
  std::string report;
  if (getenv(kReexecBaseline)) {
    report = strf("baseline elapsed_us=%lld\n",
                  static_cast<long long>(now_us() - atoll(getenv(kReexecStart))));
  } else {
    if (!getenv(kExeSealedEnv)) setenv(kReexecStart, std::to_string(now_us()).c_str(), 1);
    auto args = own_cmdline();
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto r = ensure_protected_exe(static_cast<int>(args.size()), argv.data());
    if (!r) {
      report = "error " + r.error().text() + "\n";
    } else {
      auto exe = open_at(AT_FDCWD, "/proc/self/exe", O_RDONLY);
      char link[256] = {};
      (void)!::readlink("/proc/self/exe", link, sizeof link - 1);
      report = strf("protected=%d marker=%d exe=%s elapsed_us=%lld\n",
                    exe && is_protected_exe(exe->get()).value_or(false) ? 1 : 0,
                    getenv(kExeSealedEnv) ? 1 : 0, link,
                    static_cast<long long>(now_us() - atoll(getenv(kReexecStart))));
    }
  }
  ASSERT_TRUE(write_file_atomic(out, report));
}

// Runs the child test in a fresh process; returns its report.
std::string run_reexec_child(const std::string& out, bool baseline) {
  (void)::unlink(out.c_str());
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.push_back(*e);
  env_strings.push_back(std::string(kReexecOut) + "=" + out);
  if (baseline) env_strings.push_back(std::string(kReexecBaseline) + "=1");
  std::vector<std::string> args = {own_cmdline().at(0), "--gtest_filter=ExeGuardReexec.Child"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto child = fork_child();
  if (!child) return "fork failed";
  if (!child->valid()) {
    int devnull = ::open("/dev/null", O_WRONLY);
    (void)::dup2(devnull, 1);
    env_strings.push_back(std::string(kReexecStart) + "=" + std::to_string(now_us()));
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve("/proc/self/exe", argv.data(), envp.data());
    _exit(127);
  }
  auto st = child->wait();
  if (!st || st->signaled || st->code != 0) return "child failed";
  return read_file(out).value_or("no report");
}

TEST(ExeGuard, ReexecsFromASealedCopy) {
  auto exe = open_at(AT_FDCWD, "/proc/self/exe", O_RDONLY);
  ASSERT_TRUE(exe);
  if (is_protected_exe(exe->get()).value_or(false))
    GTEST_SKIP() << "this test binary is already protected (read-only mount): no re-exec to test";
  struct stat st {};
  ASSERT_EQ(::fstat(exe->get(), &st), 0);
  TempDir dir;
  // A few rounds, for a steadier figure; the first also checks the outcome.
  long long best_reexec = -1, best_baseline = -1;
  for (int round = 0; round < 5; ++round) {
    std::string report = run_reexec_child(dir / "report", false);
    ASSERT_EQ(report.rfind("protected=1 marker=0 exe=/memfd:bulwark-run", 0), 0u) << report;
    long long us = atoll(report.substr(report.find("elapsed_us=") + 11).c_str());
    std::string base = run_reexec_child(dir / "report", true);
    ASSERT_EQ(base.rfind("baseline", 0), 0u) << base;
    long long base_us = atoll(base.substr(base.find("elapsed_us=") + 11).c_str());
    if (best_reexec < 0 || us < best_reexec) best_reexec = us;
    if (best_baseline < 0 || base_us < best_baseline) best_baseline = base_us;
  }
  printf(
      "exe guard: binary %lld bytes; exec -> test body: %lld us plain; ensure_protected_exe "
      "(copy + seal + re-exec) -> test body again: %lld us (best of 5)\n",
      static_cast<long long>(st.st_size), best_baseline, best_reexec);
}

TEST(ExeGuard, RefusesToLoopWhenTheMarkerLies) {
  auto exe = open_at(AT_FDCWD, "/proc/self/exe", O_RDONLY);
  ASSERT_TRUE(exe);
  if (is_protected_exe(exe->get()).value_or(false))
    GTEST_SKIP() << "this test binary is already protected (read-only mount)";
  setenv(kExeSealedEnv, "1", 1);
  char arg0[] = "x";
  char* argv[] = {arg0, nullptr};
  auto r = ensure_protected_exe(1, argv);
  unsetenv(kExeSealedEnv);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(kExeSealedEnv), std::string::npos);
}

}  // namespace
}  // namespace bw::sandbox
