// PID 1's boot and shutdown pieces that need no privileges: hostname
// choice, mountinfo parsing and unmount order, the watchdog configuration,
// and the crash handlers in a process that is not PID 1 (which must die of
// the signal as usual, after saying so).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "init/boot.h"
#include "init/watchdog.h"

namespace bw::init {
namespace {

TEST(Hostname, CommandLineThenFileThenDefault) {
  std::vector<std::string> warnings;
  EXPECT_EQ(choose_hostname(KernelCmdline::parse("bulwark.hostname=edge-7"), "box\n", &warnings), "edge-7");
  EXPECT_EQ(choose_hostname(KernelCmdline{}, "# comment\n\n  box.example \n", &warnings), "box.example");
  EXPECT_EQ(choose_hostname(KernelCmdline{}, "", &warnings), "bulwark");
  EXPECT_TRUE(warnings.empty());
}

TEST(Hostname, InvalidCandidatesAreSkippedWithAWarning) {
  std::vector<std::string> warnings;
  EXPECT_EQ(choose_hostname(KernelCmdline::parse("bulwark.hostname=\"bad name\""), "box\n", &warnings), "box");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("bulwark.hostname: 'bad name' is not a valid hostname"), std::string::npos);
  EXPECT_NE(warnings[0].find(", ignoring"), std::string::npos);
  warnings.clear();
  EXPECT_EQ(choose_hostname(KernelCmdline{}, "-dash\n", &warnings), "bulwark");
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_FALSE(validate_hostname(std::string(65, 'a'), "x"));
  EXPECT_TRUE(validate_hostname(std::string(64, 'a'), "x"));
  EXPECT_FALSE(validate_hostname("", "x"));
  EXPECT_FALSE(validate_hostname("a/b", "x"));
}

TEST(CgroupLayout, ServicePath) { EXPECT_EQ(CgroupLayout::service_path("web"), "workloads/web"); }

constexpr const char* kMountinfo =
    "22 1 259:2 /ostree/deploy/bulwark/deploy/abc.0 / rw,relatime shared:1 - ext4 /dev/vda2 rw\n"
    "23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,mode=755\n"
    "24 23 0:20 / /dev/pts rw - devpts devpts rw\n"
    "25 22 0:21 / /proc rw - proc proc rw\n"
    "26 22 0:22 / /sys rw - sysfs sysfs rw\n"
    "27 26 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    "28 22 259:2 / /sysroot rw - ext4 /dev/vda2 rw\n"
    "29 22 259:2 /ostree/deploy/bulwark/var /var rw - ext4 /dev/vda2 rw\n"
    "30 22 259:2 /ostree/deploy/bulwark/deploy/abc.0/usr /usr ro - ext4 /dev/vda2 rw\n"
    "31 22 0:24 / /run rw - tmpfs tmpfs rw\n"
    "32 29 0:25 / /var/lib/with\\040space rw - tmpfs my\\040data rw\n"
    "33 22 0:26 / /devices rw - tmpfs tmpfs rw\n"
    "garbage line\n"
    "34 22 0:27 / /var/lib/with\\040space rw - tmpfs tmpfs rw\n";

TEST(Mountinfo, ParsesAndUnescapes) {
  auto m = parse_mountinfo(kMountinfo);
  ASSERT_EQ(m.size(), 13u);
  EXPECT_EQ(m[0].id, 22);
  EXPECT_EQ(m[0].parent, 1);
  EXPECT_EQ(m[0].mount_point, "/");
  EXPECT_EQ(m[0].fstype, "ext4");
  EXPECT_EQ(m[0].source, "/dev/vda2");
  EXPECT_EQ(m[10].mount_point, "/var/lib/with space");
  EXPECT_EQ(m[10].source, "my data");
}

TEST(Mountinfo, UnmountOrderIsInnermostFirstWithoutApiFilesystems) {
  auto order = unmount_order(parse_mountinfo(kMountinfo));
  // Reverse mount order; "/" (remounted read-only instead), /proc, /sys and
  // /dev with what is below them are left; /devices is not below /dev.
  EXPECT_EQ(order, (std::vector<std::string>{"/var/lib/with space", "/devices", "/run", "/usr", "/var", "/sysroot"}));
}

TEST(WatchdogConfig, FilesThenCommandLine) {
  WatchdogConfig cfg;
  ASSERT_TRUE(parse_watchdog_toml("w.toml", "timeout_s = 30\ndevice = \"/dev/watchdog1\"\n", cfg));
  EXPECT_EQ(cfg.timeout_s, 30);
  EXPECT_EQ(cfg.device, "/dev/watchdog1");
  EXPECT_TRUE(cfg.enabled());

  char dir[] = "/tmp/bw-wd-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string vendor = std::string(dir) + "/vendor.toml", local = std::string(dir) + "/local.toml";
  ASSERT_TRUE(write_file_atomic(vendor, "timeout_s = 20\ndevice = \"/dev/watchdog1\"\n"));
  ASSERT_TRUE(write_file_atomic(local, "timeout_s = 0\n"));
  auto off = load_watchdog_config(KernelCmdline{}, {vendor, local, std::string(dir) + "/missing.toml"});
  ASSERT_TRUE(off) << off.error().text();
  EXPECT_FALSE(off->enabled());
  EXPECT_EQ(off->device, "/dev/watchdog1");
  auto on = load_watchdog_config(KernelCmdline::parse("bulwark.watchdog=15 bulwark.watchdog_device=/dev/watchdog0"),
                                 {vendor, local});
  ASSERT_TRUE(on) << on.error().text();
  EXPECT_EQ(on->timeout_s, 15);
  EXPECT_EQ(on->device, "/dev/watchdog0");
  (void)remove_tree_at(AT_FDCWD, dir);

  auto defaults = load_watchdog_config(KernelCmdline{}, {});
  ASSERT_TRUE(defaults);
  EXPECT_FALSE(defaults->enabled());
  EXPECT_EQ(defaults->device, "/dev/watchdog0");
}

TEST(WatchdogConfig, TheExampleParses) {
  std::string path = BULWARK_SOURCE_DIR "/examples/watchdog.toml";
  auto text = read_file(path);
  ASSERT_TRUE(text) << text.error().text();
  WatchdogConfig cfg;
  auto r = parse_watchdog_toml(path, *text, cfg);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(cfg.timeout_s, 30);
  EXPECT_EQ(cfg.device, "/dev/watchdog0");
}

TEST(WatchdogConfig, ErrorsNameFileLineAndKey) {
  WatchdogConfig cfg;
  auto unknown = parse_watchdog_toml("w.toml", "timeout_s = 10\ntimeout = 5\n", cfg);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "w.toml:2: timeout: unknown key (expected timeout_s or device)");
  EXPECT_EQ(cfg.timeout_s, 0);  // nothing half-applied
  EXPECT_NE(parse_watchdog_toml("w.toml", "timeout_s = \"30\"", cfg).error().message.find("w.toml:1: timeout_s"),
            std::string::npos);
  EXPECT_FALSE(parse_watchdog_toml("w.toml", "timeout_s = 99999", cfg));
  EXPECT_FALSE(parse_watchdog_toml("w.toml", "device = \"/etc/passwd\"", cfg));
  EXPECT_FALSE(parse_watchdog_toml("w.toml", "timeout_s = ", cfg));
  EXPECT_FALSE(load_watchdog_config(KernelCmdline::parse("bulwark.watchdog=ten"), {}));
  EXPECT_FALSE(load_watchdog_config(KernelCmdline::parse("bulwark.watchdog_device=watchdog0"), {}));
}

TEST(HardwareWatchdog, OpenErrors) {
  // Never a real device here: opening one arms it, and this host would reset.
  auto too_short = HardwareWatchdog::open("/nonexistent/watchdog", 1);
  ASSERT_FALSE(too_short);
  EXPECT_EQ(too_short.error().code, EINVAL);  // refused before any open
  auto missing = HardwareWatchdog::open("/nonexistent/watchdog", 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  HardwareWatchdog none;
  none.ping();  // not open: nothing happens
  EXPECT_TRUE(none.disable());
}

// Forks; the child installs the handlers and runs `crash`. Returns the wait
// status and what the child wrote to stderr.
std::pair<int, std::string> crash_in_child(void (*crash)()) {
  int p[2];
  EXPECT_EQ(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 2);
    close(p[0]);
    struct rlimit no_core {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // the crash is expected: leave no core file
    install_crash_handlers();
    install_crash_handlers();  // idempotent
    crash();
    _exit(0);
  }
  close(p[1]);
  auto text = read_fd(p[0]);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return {st, text ? *text : ""};
}

TEST(CrashHandlers, OutsidePid1TheProcessStillDiesOfTheSignal) {
  auto [st, err] = crash_in_child([] {
    volatile int* p = nullptr;
    *p = 1;
  });
  ASSERT_TRUE(WIFSIGNALED(st)) << "status " << st;
  EXPECT_EQ(WTERMSIG(st), SIGSEGV);
  EXPECT_NE(err.find("crashed: signal 11 (SIGSEGV) at address 0x0"), std::string::npos) << err;
  EXPECT_EQ(err.find("rebooting"), std::string::npos) << err;

  auto [st2, err2] = crash_in_child([] { abort(); });
  ASSERT_TRUE(WIFSIGNALED(st2));
  EXPECT_EQ(WTERMSIG(st2), SIGABRT);
  EXPECT_NE(err2.find("(SIGABRT)"), std::string::npos) << err2;
}

TEST(CrashHandlers, StackOverflowIsReportedFromTheAlternateStack) {
  auto [st, err] = crash_in_child([] {
    struct Recurse {
      static int down(int n) {
        static volatile int limit = 1 << 30;  // far past any stack; hides the recursion from -Winfinite-recursion
        volatile char pad[4096];
        pad[0] = static_cast<char>(n);
        if (n > limit) return 0;
        return down(n + 1) + pad[0];
      }
    };
    (void)Recurse::down(0);
  });
  ASSERT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(WTERMSIG(st), SIGSEGV);
  EXPECT_NE(err.find("(SIGSEGV)"), std::string::npos) << err;
}

TEST(Pid1Only, BootAndShutdownRefuseOutsidePid1) {
  auto boot = pid1_boot();
  ASSERT_FALSE(boot);
  EXPECT_EQ(boot.error().code, EPERM);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    pid1_shutdown(ShutdownKind::reboot);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 70);
}

}  // namespace
}  // namespace bw::init
