// PID 1's privileged pieces against the real kernel, each in a forked child
// with its own mount namespace (and, where PID 1 matters, its own pid
// namespace), so nothing reaches the host:
//  - the rd stage's ostree deployment preparation and switch root, on a
//    handmade sysroot with ostree's layout and on one made by the ostree CLI,
//    ending in the deployment's "init" (bw-probe) reporting what it sees;
//  - the API filesystem mounts;
//  - the cgroup layout (in a scratch subtree of the host's cgroup2);
//  - the crash handler and the shutdown as PID 1 of a pid namespace, where
//    reboot(2) ends the namespace with SIGHUP (restart) or SIGINT (power-off)
//    instead of touching the machine.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include "base/file.h"
#include "base/strings.h"
#include "bundle.h"
#include "init/boot.h"
#include "init/rd.h"
#include "sandbox/cgroup2.h"

namespace bw::init {
namespace {

#define REQUIRE_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root (mount and pid namespaces)"

// /proc/self/ns/pid's inode in the initial pid namespace.
constexpr ino_t kInitialPidNsInode = 0xEFFFFFFCU;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bw-init-priv-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "/nonexistent";
  }
  ~TempDir() {
    // ostree marks deployment roots immutable; clear that so they can be removed.
    struct stat st;
    if (::stat((path_ + "/sysroot/ostree/deploy").c_str(), &st) == 0)
      (void)test::run_command({"/usr/bin/chattr", "-R", "-i", path_ + "/sysroot/ostree/deploy"});
    (void)remove_tree_at(AT_FDCWD, path_);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void mkdirs(const std::string& path) {
  std::string cur;
  for (const auto& part : split(path, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    (void)::mkdir(cur.c_str(), 0755);
  }
}

void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
  mkdirs(path.substr(0, path.rfind('/')));
  auto r = write_file_atomic(path, data, mode, Durability::volatile_);
  ASSERT_TRUE(r) << r.error().text();
}

void symlink_to(const std::string& target, const std::string& link) {
  mkdirs(link.substr(0, link.rfind('/')));
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << link;
}

struct Outcome {
  bool exited = false;
  int code = -1;    // exit code when exited
  int signal = 0;   // the signal that ended it (the pid namespace's init, with new_pid_ns)
  std::string out;  // stdout and stderr
  bool timed_out = false;
};

// Runs `fn` in a forked child in a new, private mount namespace, its stdout
// and stderr captured. With `new_pid_ns` the child is PID 1 of a new pid
// namespace; a middle process reports how it ended.
Outcome in_child(const std::function<int()>& fn, bool new_pid_ns, int timeout_s = 60) {
  int p[2];
  EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    if (::unshare(CLONE_NEWNS | (new_pid_ns ? CLONE_NEWPID : 0)) != 0) {
      dprintf(2, "unshare: %s\n", strerror(errno));
      ::_exit(120);
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(121);
    if (!new_pid_ns) ::_exit(fn());
    pid_t init = ::fork();
    if (init == 0) {
      if (::getpid() != 1) ::_exit(122);
      ::_exit(fn());
    }
    int st = 0;
    while (::waitpid(init, &st, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFSIGNALED(st) ? 200 + WTERMSIG(st) : WEXITSTATUS(st));
  }
  ::close(p[1]);
  Outcome o;
  struct timespec start {};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct pollfd pfd {p[0], POLLIN, 0};
    int r = ::poll(&pfd, 1, 500);
    if (r > 0) {
      char buf[4096];
      ssize_t n = ::read(p[0], buf, sizeof buf);
      if (n <= 0) break;
      o.out.append(buf, static_cast<size_t>(n));
    }
    struct timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > timeout_s) {
      o.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
  }
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  o.exited = WIFEXITED(st);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (new_pid_ns && o.exited && o.code > 200) o.signal = o.code - 200;
  if (!new_pid_ns && WIFSIGNALED(st)) o.signal = WTERMSIG(st);
  return o;
}

// ---------------------------------------------------------------- deployment + switch root

// What the deployment's "init" (bw-probe) is asked to report.
const std::vector<std::string> kProbeArgs = {
    "mounts", "--", "read", "/var/lib/marker", "--", "ls", "/sysroot/ostree/deploy", "--",
    "read", "/etc/hostname", "--", "write", "/usr/probe-write", "--", "write", "/var/probe-write", "from-init"};

// In the child: prepares the deployment and switches root into it, running bw-probe.
int prepare_and_switch(const std::string& sysroot, const std::string& ostree_arg) {
  auto d = prepare_deployment(sysroot, ostree_arg);
  if (!d) {
    dprintf(1, "prepare-error: %s\n", d.error().text().c_str());
    return 10;
  }
  dprintf(1, "deployment=%s os=%s\n", d->path.c_str(), d->os.c_str());
  SwitchRootOptions opts;
  opts.move_mounts = {"/proc"};
  opts.init_candidates = {"/sbin/no-such-init", "/usr/lib/bulwark/bulwark-init"};
  opts.init_args = kProbeArgs;
  auto r = switch_root(d->path, opts);
  dprintf(1, "switch-error: %s\n", r ? "returned" : r.error().text().c_str());
  return 11;
}

// Checks what bw-probe reported from inside the new root, and the host side.
void expect_booted_deployment(const Outcome& o, const std::string& stateroot_var) {
  ASSERT_FALSE(o.timed_out) << o.out;
  EXPECT_EQ(o.out.find("-error:"), std::string::npos) << o.out;
  auto mounts = test::parse_probe_mounts(o.out);
  ASSERT_TRUE(mounts.count("/")) << o.out;
  ASSERT_TRUE(mounts.count("/sysroot")) << o.out;
  ASSERT_TRUE(mounts.count("/var")) << o.out;
  ASSERT_TRUE(mounts.count("/usr")) << o.out;
  ASSERT_TRUE(mounts.count("/proc")) << o.out;  // moved along
  EXPECT_TRUE(mounts["/usr"].starts_with("ro")) << mounts["/usr"];
  EXPECT_TRUE(mounts["/"].starts_with("rw")) << mounts["/"];
  EXPECT_TRUE(mounts["/var"].starts_with("rw")) << mounts["/var"];
  // Nothing from outside the new root is visible.
  for (const auto& [mp, opts] : mounts)
    EXPECT_TRUE(mp == "/" || mp == "/sysroot" || mp == "/var" || mp == "/usr" || mp.starts_with("/proc"))
        << "unexpected mount " << mp;
  EXPECT_NE(o.out.find("ok bytes=10\nstate-data\n"), std::string::npos) << o.out;  // /var is the stateroot's
  EXPECT_NE(o.out.find("entries=bulwark\n"), std::string::npos) << o.out;          // /sysroot is the physical root
  EXPECT_NE(o.out.find("ok bytes=8\nbw-test\n"), std::string::npos) << o.out;      // the deployment's /etc
  EXPECT_NE(o.out.find("denied errno=EROFS\n"), std::string::npos) << o.out;       // /usr is read-only
  // The first non-zero status of the chain: the refused write to /usr.
  EXPECT_TRUE(o.exited && o.code == 1) << "exit " << o.code << "\n" << o.out;
  // The write to /var landed in the stateroot's var on the "disk".
  auto written = read_file(stateroot_var + "/probe-write");
  ASSERT_TRUE(written) << written.error().text();
  EXPECT_EQ(*written, "from-init");
}

void expect_nothing_mounted_under(const std::string& dir) {
  auto left = test::mounts_under(dir);
  EXPECT_TRUE(left.empty()) << "mounts leaked into the test's namespace: " << left.size();
}

// A deployment tree: the probe as the init, /etc, empty /sysroot, /var, /proc.
void fill_os_tree(const std::string& root, const std::string& etc) {
  auto probe = read_file(test::probe_path());
  ASSERT_TRUE(probe) << "bw-probe: " << probe.error().text();
  put(root + "/usr/lib/bulwark/bulwark-init", *probe, 0755);
  put(root + "/usr/lib/os-release", "ID=bulwark\nNAME=Bulwark\n");
  put(root + "/" + etc + "/hostname", "bw-test\n");
  for (const char* d : {"sysroot", "var", "proc", "sbin"}) mkdirs(root + "/" + d);
}

TEST(Deployment, HandmadeOstreeLayoutBootsItsInit) {
  REQUIRE_ROOT();
  TempDir t;
  std::string sysroot = t / "sysroot";
  std::string dep = sysroot + "/ostree/deploy/bulwark/deploy/3a4b5c.0";
  fill_os_tree(dep, "etc");
  put(sysroot + "/ostree/deploy/bulwark/var/lib/marker", "state-data");
  // ostree's boot symlink chain: boot.1 -> boot.1.1, .../0 -> the deployment.
  symlink_to("boot.1.1", sysroot + "/ostree/boot.1");
  symlink_to("../../../deploy/bulwark/deploy/3a4b5c.0", sysroot + "/ostree/boot.1.1/bulwark/bootcsum/0");

  auto o = in_child([&] { return prepare_and_switch(sysroot, "/ostree/boot.1/bulwark/bootcsum/0"); }, false);
  EXPECT_NE(o.out.find("deployment=" + dep + " os=bulwark\n"), std::string::npos) << o.out;
  expect_booted_deployment(o, sysroot + "/ostree/deploy/bulwark/var");
  expect_nothing_mounted_under(t.path());
}

TEST(Deployment, RealOstreeDeploymentBootsItsInit) {
  REQUIRE_ROOT();
  if (test::run_command({"/bin/sh", "-c", "command -v ostree"}).status != 0)
    GTEST_SKIP() << "the ostree CLI is not installed (Debian package 'ostree')";
  TempDir t;
  std::string tree = t / "tree", sysroot = t / "sysroot", repo = sysroot + "/ostree/repo";
  fill_os_tree(tree, "usr/etc");
  put(tree + "/usr/lib/modules/6.1.0-test/vmlinuz", "kernel");
  mkdirs(sysroot);
  std::vector<std::vector<std::string>> steps = {
      {"ostree", "admin", "init-fs", "--modern", sysroot},
      {"ostree", "admin", "os-init", "--sysroot=" + sysroot, "bulwark"},
      {"ostree", "--repo=" + repo, "config", "set", "sysroot.bootloader", "none"},
      {"ostree", "--repo=" + repo, "commit", "--branch=bulwark/test", "--tree=dir=" + tree, "-s", "test"},
      {"ostree", "admin", "deploy", "--sysroot=" + sysroot, "--os=bulwark", "--karg=root=LABEL=bw-root",
       "bulwark/test"},
  };
  for (auto& s : steps) {
    s[0] = "/usr/bin/ostree";
    auto r = test::run_command(s);
    ASSERT_TRUE(r.ok()) << join(s, " ") << ": " << r.describe();
  }
  put(sysroot + "/ostree/deploy/bulwark/var/lib/marker", "state-data");
  // The BLS entry ostree wrote carries the ostree= argument the bootloader passes.
  auto entry = read_file(sysroot + "/boot/loader/entries/ostree-1-bulwark.conf");
  ASSERT_TRUE(entry) << entry.error().text();
  std::string ostree_arg;
  for (const auto& line : test::split_lines(*entry))
    if (line.starts_with("options "))
      ostree_arg = KernelCmdline::parse(line.substr(8)).get("ostree").value_or("");
  ASSERT_TRUE(ostree_arg.starts_with("/ostree/boot.1/bulwark/")) << *entry;

  auto o = in_child([&] { return prepare_and_switch(sysroot, ostree_arg); }, false);
  EXPECT_NE(o.out.find("deployment=" + sysroot + "/ostree/deploy/bulwark/deploy/"), std::string::npos) << o.out;
  expect_booted_deployment(o, sysroot + "/ostree/deploy/bulwark/var");
  expect_nothing_mounted_under(t.path());
}

TEST(Deployment, RefusesWhatIsNotADeployment) {
  REQUIRE_ROOT();
  TempDir t;
  std::string sysroot = t / "sysroot";
  std::string dep = sysroot + "/ostree/deploy/bulwark/deploy/3a4b5c.0";
  mkdirs(dep + "/usr");
  mkdirs(dep + "/var");  // but no /sysroot
  mkdirs(sysroot + "/ostree/deploy/bulwark/var");
  symlink_to("/../../../../etc", sysroot + "/ostree/boot.1/bulwark/x/escape");
  auto try_arg = [&](const std::string& arg) {
    return in_child([&] {
      auto d = prepare_deployment(sysroot, arg);
      dprintf(1, "%s\n", d ? "prepared" : d.error().text().c_str());
      return d ? 0 : 1;
    }, false);
  };
  auto not_dep = try_arg("/ostree/deploy/bulwark/var");
  EXPECT_NE(not_dep.out.find("which is not a deployment"), std::string::npos) << not_dep.out;
  auto missing = try_arg("/ostree/boot.1/bulwark/x/0");
  EXPECT_NE(missing.out.find("preparing ostree=/ostree/boot.1/bulwark/x/0"), std::string::npos) << missing.out;
  // An absolute symlink resolves inside the sysroot: "/../../etc" is its own /etc, not the host's.
  auto escape = try_arg("/ostree/boot.1/bulwark/x/escape");
  EXPECT_NE(escape.out.find("escapes"), std::string::npos) << escape.out;
  auto no_sysroot = try_arg("/ostree/deploy/bulwark/deploy/3a4b5c.0");
  EXPECT_NE(no_sysroot.out.find("the deployment has no /sysroot directory"), std::string::npos) << no_sysroot.out;
  expect_nothing_mounted_under(t.path());
}

TEST(SwitchRoot, ReportsWhenNoInitCanRun) {
  REQUIRE_ROOT();
  TempDir t;
  mkdirs(t / "root/sbin");
  auto o = in_child([&] {
    std::string root = t / "root";
    if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND, nullptr) != 0) return 4;
    SwitchRootOptions opts;
    opts.move_mounts = {};
    opts.init_candidates = {"/sbin/init", "/usr/lib/bulwark/bulwark-init"};
    auto r = switch_root(root, opts);
    dprintf(1, "%s\n", r ? "returned ok" : r.error().text().c_str());
    return 0;
  }, false);
  EXPECT_NE(o.out.find("no init to execute in the new root: tried '/sbin/init'"), std::string::npos) << o.out;
  expect_nothing_mounted_under(t.path());
}

// ---------------------------------------------------------------- API filesystems

TEST(ApiFilesystems, MountedOnceWithTheirTypes) {
  REQUIRE_ROOT();
  TempDir t;
  auto o = in_child([&] {
    for (int round = 0; round < 2; ++round) {  // the second round finds everything mounted
      auto r = mount_api_filesystems(t.path(), false);
      if (!r) {
        dprintf(1, "error: %s\n", r.error().text().c_str());
        return 1;
      }
    }
    auto mi = read_file("/proc/self/mountinfo");
    if (!mi) return 2;
    for (const auto& m : parse_mountinfo(*mi))
      if (m.mount_point.starts_with(t.path() + "/")) dprintf(1, "%s %s\n", m.mount_point.substr(t.path().size()).c_str(), m.fstype.c_str());
    char link[64] = {};
    if (::readlink((t / "dev/fd").c_str(), link, sizeof link - 1) > 0) dprintf(1, "dev/fd -> %s\n", link);
    return 0;
  }, false);
  ASSERT_TRUE(o.exited && o.code == 0) << o.out;
  for (const char* line : {"/proc proc\n", "/sys sysfs\n", "/dev devtmpfs\n", "/dev/pts devpts\n",
                           "/dev/shm tmpfs\n", "/run tmpfs\n", "dev/fd -> /proc/self/fd\n"})
    EXPECT_NE(o.out.find(line), std::string::npos) << line << " in:\n" << o.out;
  // Mounted once: the second round changed nothing.
  EXPECT_EQ(o.out.find("/proc proc\n"), o.out.rfind("/proc proc\n")) << o.out;
  EXPECT_EQ(o.out.find("/run tmpfs\n"), o.out.rfind("/run tmpfs\n")) << o.out;
  expect_nothing_mounted_under(t.path());
}

// ---------------------------------------------------------------- cgroups

TEST(Cgroups, InitLeavesTheRootAndWorkloadsGetAGroup) {
  REQUIRE_ROOT();
  auto mount = sandbox::Cgroup::find_mount();
  if (!mount) GTEST_SKIP() << "no cgroup2 mount";
  std::string root = *mount + strf("/bwtest-init-%d", getpid());
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0) << root;
  auto o = in_child([&] {
    auto l = setup_cgroups(root);
    if (!l) {
      dprintf(1, "error: %s\n", l.error().text().c_str());
      return 1;
    }
    auto self = read_file("/proc/self/cgroup");
    dprintf(1, "controllers=%s\n%s", join(l->controllers, ",").c_str(), self ? self->c_str() : "");
    return 0;
  }, false);
  EXPECT_TRUE(o.exited && o.code == 0) << o.out;
  std::string rel = root.substr(mount->size());
  EXPECT_NE(o.out.find("0::" + rel + "/init\n"), std::string::npos) << o.out;
  struct stat st;
  EXPECT_EQ(::stat((root + "/workloads").c_str(), &st), 0);
  auto available = read_file(root + "/cgroup.controllers");
  if (available && !trim(*available).empty()) {
    // On a pure cgroup v2 host every controller the parent delegates reaches workloads/.
    auto enabled = read_file(root + "/workloads/cgroup.subtree_control");
    EXPECT_EQ(trim(enabled ? *enabled : ""), trim(*available));
  }
  for (const auto& d : {root + "/workloads", root + "/init", root}) (void)::rmdir(d.c_str());
}

// ---------------------------------------------------------------- PID 1 of a pid namespace

// In the namespace's PID 1: hide /dev/kmsg (the crash handler writes to it)
// and make sure this is not the initial pid namespace.
bool contained_pid1() {
  struct stat st;
  if (::getpid() != 1 || ::stat("/proc/self/ns/pid", &st) != 0 || st.st_ino == kInitialPidNsInode) return false;
  return ::mount("/dev/null", "/dev/kmsg", nullptr, MS_BIND, nullptr) == 0;
}

TEST(Pid1, CrashRebootsInsteadOfDying) {
  REQUIRE_ROOT();
  auto o = in_child([] {
    if (!contained_pid1()) return 99;
    install_crash_handlers();
    volatile int* p = nullptr;
    *p = 1;
    return 98;
  }, true);
  // reboot(RB_AUTOBOOT) in a child pid namespace ends it with SIGHUP.
  EXPECT_EQ(o.signal, SIGHUP) << "exit " << o.code << "\n" << o.out;
  EXPECT_NE(o.out.find("pid 1 crashed: signal 11 (SIGSEGV) at address 0x0; syncing and rebooting"),
            std::string::npos) << o.out;
}

TEST(Pid1, ShutdownKillsEverythingAndPowersOff) {
  REQUIRE_ROOT();
  struct timespec start {}, end {};
  clock_gettime(CLOCK_MONOTONIC, &start);
  auto o = in_child([] {
    if (!contained_pid1()) return 99;
    for (int stubborn = 0; stubborn < 2; ++stubborn) {
      pid_t c = ::fork();
      if (c == 0) {
        if (stubborn) ::signal(SIGTERM, SIG_IGN);
        // A grandchild too, re-parented to PID 1 when its parent dies.
        if (::fork() == 0) {
          if (stubborn) ::signal(SIGTERM, SIG_IGN);
          for (;;) ::pause();
        }
        for (;;) ::pause();
      }
    }
    ::usleep(100 * 1000);
    pid1_shutdown(ShutdownKind::poweroff);
  }, true, 60);
  clock_gettime(CLOCK_MONOTONIC, &end);
  // reboot(RB_POWER_OFF) in a child pid namespace ends it with SIGINT.
  EXPECT_EQ(o.signal, SIGINT) << "exit " << o.code << "\n" << o.out;
  EXPECT_NE(o.out.find("power-off: sending SIGTERM to all processes"), std::string::npos) << o.out;
  // Two processes ignore SIGTERM: after the 5 s grace period they get SIGKILL.
  EXPECT_NE(o.out.find("power-off: sending SIGKILL to the processes still running"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("power-off: syncing and unmounting filesystems"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("did not exit after SIGKILL"), std::string::npos) << o.out;
  EXPECT_FALSE(o.timed_out);
  long secs = end.tv_sec - start.tv_sec;
  EXPECT_GE(secs, 4);
  EXPECT_LE(secs, 30);
}

TEST(Pid1, ShutdownWithoutStragglersIsQuick) {
  REQUIRE_ROOT();
  struct timespec start {}, end {};
  clock_gettime(CLOCK_MONOTONIC, &start);
  auto o = in_child([] {
    if (!contained_pid1()) return 99;
    if (::fork() == 0) {
      for (;;) ::pause();  // ends on SIGTERM
    }
    pid1_shutdown(ShutdownKind::reboot);
  }, true, 60);
  clock_gettime(CLOCK_MONOTONIC, &end);
  EXPECT_EQ(o.signal, SIGHUP) << "exit " << o.code << "\n" << o.out;
  EXPECT_EQ(o.out.find("SIGKILL"), std::string::npos) << o.out;
  EXPECT_LE(end.tv_sec - start.tv_sec, 4);
}

}  // namespace
}  // namespace bw::init
