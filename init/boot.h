// PID 1's own duties around the supervisor: bringing the machine up (API
// filesystems, console, hostname, kernel command line, cgroup layout, crash
// handlers, Ctrl-Alt-Del) and taking it down (kill what is left, sync,
// unmount, reboot). Layout and keys are documented in init/BOOT.md.
//
// Nothing here reboots a machine unless the caller is PID 1: reboot(2) and
// kill(-1) are only ever called when getpid() == 1 (in a child pid namespace
// reboot(2) just ends that namespace), and superblocks are only remounted
// read-only from PID 1 of the initial pid namespace.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "init/cmdline.h"
#include "init/watchdog.h"

namespace bw::init {

enum class ShutdownKind { reboot, poweroff, halt };

// The cgroup v2 layout PID 1 sets up:
//   /sys/fs/cgroup                  root: every available controller enabled
//   /sys/fs/cgroup/init             PID 1 itself (a cgroup with controllers
//                                   in subtree_control may hold no process)
//   /sys/fs/cgroup/workloads        every available controller enabled
//   /sys/fs/cgroup/workloads/<svc>  one per service, process or container;
//                                   a container's linux.cgroupsPath is
//                                   "workloads/<svc>"
struct CgroupLayout {
  bool available = false;                // false: cgroup2 could not be set up
  std::string root = "/sys/fs/cgroup";
  std::string init_dir;                  // root + "/init"
  std::string workloads_dir;             // root + "/workloads"
  std::vector<std::string> controllers;  // enabled for workloads: "cpu", "memory", ...
  // The cgroup of a service, relative to the cgroup2 mount ("workloads/web"):
  // what goes into linux.cgroupsPath.
  static std::string service_path(const std::string& service) { return "workloads/" + service; }
};

struct BootConfig {
  KernelCmdline cmdline;
  std::string hostname;
  CgroupLayout cgroups;
  WatchdogConfig watchdog;  // watchdog.enabled(): open it with HardwareWatchdog::open
  bool debug = false;       // bulwark.debug on the command line
};

// The boot sequence of PID 1. Refuses to run unless getpid() == 1. Errors
// are returned only for what the system cannot run without (/proc, /sys,
// /dev, /run); everything else is logged as a warning and skipped.
Result<BootConfig> pid1_boot();

// The end of an orderly shutdown, after the supervisor stopped the services
// and ran its shutdown hooks: SIGTERM (and SIGCONT) to every process, up to
// 5 s for them to exit, SIGKILL to the rest, sync, unmount everything but
// the API filesystems (innermost first; a busy one, and /, remounted
// read-only), sync, then reboot(2). The watchdog, when given, is pinged
// throughout, and disabled before a power-off or halt. Not PID 1: _exit(70).
[[noreturn]] void pid1_shutdown(ShutdownKind kind, HardwareWatchdog* watchdog = nullptr);

// A fatal error in PID 1: logs `why` to the console and the kernel log,
// stops pinging the watchdog, waits 5 s so that a person can read it, syncs
// and reboots. Not PID 1: exits with status 70.
[[noreturn]] void pid1_fatal(const std::string& why, HardwareWatchdog* watchdog = nullptr);

// SIGSEGV, SIGBUS, SIGABRT, SIGILL and SIGFPE handlers on an alternate
// stack: they write what happened to stderr and /dev/kmsg, then in PID 1
// sync and reboot (instead of the kernel panicking on "Attempted to kill
// init"); elsewhere they re-raise the signal so the process dies as usual.
// Idempotent.
void install_crash_handlers();
// The watchdog the crash handlers stop pinging before they reboot.
void crash_handlers_use_watchdog(HardwareWatchdog* watchdog);

// ---- pieces of the sequences (the rd stage uses them too), public for tests ----

// The kernel may start init without fds 0-2 (no /dev/console in the
// initramfs): fills the gaps (/dev/null, else "/") so that no later open()
// lands on them. Call first.
void ensure_std_fds();
// Makes the caller a session leader with no controlling terminal and the
// console (/dev/null without one) its stdin/out/err. Needs /dev mounted.
void seed_console();

// Mounts the API filesystems below `prefix` ("" for the real root): /proc,
// /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run and, with `with_cgroup2`,
// /sys/fs/cgroup. One that is already mounted with the right filesystem is
// left alone. Creates the /dev/fd, /dev/std{in,out,err} links.
Result<void> mount_api_filesystems(const std::string& prefix, bool with_cgroup2);

// Creates the layout above under the cgroup2 mount `root` and moves the
// calling process into <root>/init. Controllers that cannot be enabled are
// left out of `controllers`.
Result<CgroupLayout> setup_cgroups(const std::string& root);

// A valid hostname (1-64 of [A-Za-z0-9-.], not starting with '-' or '.').
Result<std::string> validate_hostname(std::string_view name, const std::string& source);
// bulwark.hostname=, else the first non-comment line of /etc/hostname
// (`etc_hostname` is its text, "" when missing), else "bulwark". An invalid
// candidate is skipped with a warning in `warnings`.
std::string choose_hostname(const KernelCmdline& cmdline, const std::string& etc_hostname,
                            std::vector<std::string>* warnings);

struct MountInfoEntry {
  int id = 0;
  int parent = 0;
  std::string mount_point;  // unescaped
  std::string fstype;
  std::string source;
};
// Parses /proc/self/mountinfo text; lines that do not parse are skipped.
std::vector<MountInfoEntry> parse_mountinfo(const std::string& text);
// The mount points to unmount at shutdown, innermost first: every mount but
// "/" and those at or below /proc, /sys and /dev, in reverse mount order.
std::vector<std::string> unmount_order(const std::vector<MountInfoEntry>& mounts);

}  // namespace bw::init
