// The last part of an orderly shutdown (boot.h): after the supervisor has
// stopped the services, PID 1 kills what is left, flushes and unmounts the
// filesystems and asks the kernel to reboot, power off or halt.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "init/boot.h"

namespace bw::init {

namespace {

constexpr int kTermTimeoutMs = 5000;
constexpr int kKillTimeoutMs = 2000;
constexpr int kFatalDelayS = 5;
// /proc/self/ns/pid's inode in the initial pid namespace (PROC_PID_INIT_INO).
constexpr ino_t kInitialPidNsInode = 0xEFFFFFFCU;

int64_t now_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  struct timespec ts {ms / 1000, (ms % 1000) * 1000000L};
  (void)::nanosleep(&ts, nullptr);
}

// PID 1 of the machine, as opposed to PID 1 of a container or a test's pid
// namespace: only it may change filesystems for everyone (superblock remounts).
bool machine_pid1() {
  struct stat st;
  return ::getpid() == 1 && ::stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == kInitialPidNsInode;
}

// Reaps children until none is left (true) or `timeout_ms` passes (false).
// Every process of the namespace descends from PID 1, so "no child left"
// means every process has exited.
bool reap_all(int timeout_ms, HardwareWatchdog* watchdog) {
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    pid_t p;
    while ((p = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (p < 0 && errno == ECHILD) return true;
    if (now_ms() >= deadline) return false;
    if (watchdog) watchdog->ping();
    sleep_ms(50);
  }
}

std::string unescape_mountinfo(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool at_or_below(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// Makes a mount read-only: the filesystem itself when this is the machine's
// PID 1 (that flushes it, e.g. ext4's journal), else only this mount.
bool remount_read_only(const std::string& mp, bool machine) {
  unsigned long flags = MS_REMOUNT | MS_RDONLY | (machine ? 0 : MS_BIND);
  return ::mount(nullptr, mp.c_str(), nullptr, flags, nullptr) == 0;
}

void unmount_all(bool machine, HardwareWatchdog* watchdog) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) {
    log::warning("reading mountinfo: " + text.error().text() + ", not unmounting");
    return;
  }
  std::vector<std::string> todo = unmount_order(parse_mountinfo(*text));
  // A mount can be busy only because one below it is still there: retry
  // while a pass makes progress.
  for (int pass = 0; pass < 4 && !todo.empty(); ++pass) {
    std::vector<std::string> busy;
    for (const auto& mp : todo) {
      if (watchdog) watchdog->ping();
      if (::umount2(mp.c_str(), UMOUNT_NOFOLLOW) == 0 || errno == EINVAL || errno == ENOENT) continue;
      busy.push_back(mp);
    }
    if (busy.size() == todo.size()) break;
    todo = std::move(busy);
  }
  for (const auto& mp : todo) {
    if (remount_read_only(mp, machine))
      log::info(strf("'%s' is busy: remounted read-only", mp.c_str()));
    else
      log::warning(strf("'%s' is busy and cannot be remounted read-only: %s, ignoring", mp.c_str(), strerror(errno)));
  }
  if (!remount_read_only("/", machine)) log::warning(strf("remounting / read-only: %s, ignoring", strerror(errno)));
}

int reboot_command(ShutdownKind kind) {
  switch (kind) {
    case ShutdownKind::reboot: return RB_AUTOBOOT;
    case ShutdownKind::poweroff: return RB_POWER_OFF;
    case ShutdownKind::halt: return RB_HALT_SYSTEM;
  }
  return RB_AUTOBOOT;
}

const char* kind_name(ShutdownKind kind) {
  switch (kind) {
    case ShutdownKind::reboot: return "reboot";
    case ShutdownKind::poweroff: return "power-off";
    case ShutdownKind::halt: return "halt";
  }
  return "reboot";
}

}  // namespace

std::vector<MountInfoEntry> parse_mountinfo(const std::string& text) {
  std::vector<MountInfoEntry> out;
  for (const auto& line : split(text, '\n')) {
    // id parent major:minor root mount_point options [optional...] - fstype source superopts
    auto f = split(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 7 || dash == f.end() || f.end() - dash < 3 || dash - f.begin() < 6) continue;
    auto id = parse_int(f[0]), parent = parse_int(f[1]);
    if (!id || !parent) continue;
    MountInfoEntry e;
    e.id = static_cast<int>(*id);
    e.parent = static_cast<int>(*parent);
    e.mount_point = unescape_mountinfo(f[4]);
    e.fstype = *(dash + 1);
    e.source = unescape_mountinfo(*(dash + 2));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> unmount_order(const std::vector<MountInfoEntry>& mounts) {
  std::vector<std::string> out;
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    const std::string& mp = it->mount_point;
    if (mp == "/" || at_or_below(mp, "/proc") || at_or_below(mp, "/sys") || at_or_below(mp, "/dev")) continue;
    if (std::find(out.begin(), out.end(), mp) == out.end()) out.push_back(mp);
  }
  return out;
}

void pid1_shutdown(ShutdownKind kind, HardwareWatchdog* watchdog) {
  if (::getpid() != 1) {
    log::error("pid1_shutdown: not PID 1, refusing to kill every process and reboot");
    ::_exit(70);
  }
  bool machine = machine_pid1();
  log::info(strf("%s: sending SIGTERM to all processes", kind_name(kind)));
  // kill(-1) reaches every process of the pid namespace but PID 1 itself.
  (void)::kill(-1, SIGTERM);
  (void)::kill(-1, SIGCONT);
  if (!reap_all(kTermTimeoutMs, watchdog)) {
    log::info(strf("%s: sending SIGKILL to the processes still running", kind_name(kind)));
    (void)::kill(-1, SIGKILL);
    if (!reap_all(kKillTimeoutMs, watchdog)) log::warning("some processes did not exit after SIGKILL, ignoring");
  }
  log::info(strf("%s: syncing and unmounting filesystems", kind_name(kind)));
  ::sync();
  unmount_all(machine, watchdog);
  ::sync();
  if (watchdog && kind != ShutdownKind::reboot) {
    if (auto r = watchdog->disable(); !r) log::warning(r.error().text() + ", ignoring");
  }
  log::info(strf("%s: now", kind_name(kind)));
  (void)::reboot(reboot_command(kind));
  log::error(strf("reboot(2) for %s failed: %s", kind_name(kind), strerror(errno)));
  for (;;) ::pause();
}

void pid1_fatal(const std::string& why, HardwareWatchdog* watchdog) {
  log::error(why);
  if (::getpid() != 1) ::_exit(70);
  if (watchdog) watchdog->disarm_on_fatal();
  int kmsg = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (kmsg >= 0) {
    (void)write_all(kmsg, "<2>bulwark-init: fatal: " + why + "; rebooting\n");
    ::close(kmsg);
  }
  log::error(strf("fatal error in PID 1: rebooting in %d s", kFatalDelayS));
  ::sleep(kFatalDelayS);
  ::sync();
  (void)::reboot(RB_AUTOBOOT);
  for (;;) ::pause();
}

}  // namespace bw::init
