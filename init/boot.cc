// The boot half of PID 1's duties (boot.h); shutdown.cc holds the other half.
#include "init/boot.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace bw::init {

namespace {

struct ApiMount {
  const char* type;
  const char* target;
  unsigned long flags;
  const char* data;
  long magic;      // statfs f_type of a mount that is already there
  bool required;   // the system cannot run without it
};

// What systemd mounts (mount-setup.c), less what an appliance does not use.
// devtmpfs reports TMPFS_MAGIC; it is one filesystem for the whole machine,
// so it gets no options (they would reconfigure the instance everyone
// shares). cgroup2's options are retried without data when the kernel does
// not know them (memory_recursiveprot: 5.7+).
constexpr ApiMount kApiMounts[] = {
    {"proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, PROC_SUPER_MAGIC, true},
    {"sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, SYSFS_MAGIC, true},
    {"devtmpfs", "/dev", MS_NOSUID | MS_STRICTATIME, nullptr, TMPFS_MAGIC, true},
    {"devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666", DEVPTS_SUPER_MAGIC, false},
    {"tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=1777", TMPFS_MAGIC, false},
    {"tmpfs", "/run", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=0755,size=20%,nr_inodes=800k", TMPFS_MAGIC,
     true},
    {"cgroup2", "/sys/fs/cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME,
     "nsdelegate,memory_recursiveprot", CGROUP2_SUPER_MAGIC, false},
};

// True when `path` is the root of a mount of a filesystem with `magic`.
bool mounted_here(const std::string& path, long magic) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return false;
  if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    return false;
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == magic;
}

Result<void> mount_one(const std::string& prefix, const ApiMount& m) {
  std::string target = prefix + m.target;
  if (mounted_here(target, m.magic)) return {};
  if (::mkdir(target.c_str(), 0755) < 0 && errno != EEXIST) return sys_error("mkdir '%s'", target.c_str());
  if (::mount(m.type, target.c_str(), m.type, m.flags, m.data) == 0) return {};
  if (errno == EINVAL && std::string_view(m.type) == "cgroup2" &&
      ::mount(m.type, target.c_str(), m.type, m.flags, nullptr) == 0)
    return {};
  return sys_error("mount %s on '%s' (%s)", m.type, target.c_str(), m.data ? m.data : "");
}

// The /dev links that udev would otherwise make.
void make_dev_links(const std::string& prefix) {
  static const std::pair<const char*, const char*> links[] = {
      {"/proc/self/fd", "/dev/fd"},
      {"/proc/self/fd/0", "/dev/stdin"},
      {"/proc/self/fd/1", "/dev/stdout"},
      {"/proc/self/fd/2", "/dev/stderr"},
  };
  for (const auto& [target, link] : links)
    if (::symlink(target, (prefix + link).c_str()) < 0 && errno != EEXIST)
      log::warning(strf("symlink '%s' -> '%s': %s, ignoring", link, target, strerror(errno)));
}

Result<void> write_knob(const std::string& path, const std::string& value) {
  return with_context(write_existing(path, value), strf("writing '%s' to '%s'", value.c_str(), path.c_str()));
}

// Enables each controller in `dir`/cgroup.subtree_control, one write per
// controller so that one the kernel refuses does not block the others.
std::vector<std::string> enable_controllers(const std::string& dir, const std::vector<std::string>& wanted) {
  std::vector<std::string> enabled;
  for (const auto& c : wanted) {
    if (auto r = write_knob(dir + "/cgroup.subtree_control", "+" + c); !r)
      log::warning(r.error().text() + ", ignoring");
    else
      enabled.push_back(c);
  }
  return enabled;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  for (auto& w : split(text, ' ')) {
    std::string t(trim(w));
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

}  // namespace

// The kernel may start init without fds 0-2 (no /dev/console in the
// initramfs); fill the gaps so that no later open() lands on them.
void ensure_std_fds() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) continue;
    int n = ::open("/dev/null", O_RDWR);
    if (n < 0) n = ::open("/", O_RDONLY | O_DIRECTORY);
    if (n >= 0 && n != fd) {
      (void)::dup2(n, fd);
      ::close(n);
    }
  }
}

// PID 1 becomes a session leader with no controlling terminal and the
// console as stdin/out/err. Without a controlling terminal, Ctrl-C typed on
// the console does not send SIGINT to PID 1 (which means "reboot" to it).
void seed_console() {
  (void)::setsid();
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < 3; ++i) (void)::dup2(fd, i);
  if (fd > 2) ::close(fd);
}

Result<void> mount_api_filesystems(const std::string& prefix, bool with_cgroup2) {
  for (const auto& m : kApiMounts) {
    if (!with_cgroup2 && std::string_view(m.type) == "cgroup2") continue;
    auto r = mount_one(prefix, m);
    if (!r && m.required) return r;
    if (!r) log::warning(r.error().text() + ", ignoring");
  }
  make_dev_links(prefix);
  return {};
}

Result<CgroupLayout> setup_cgroups(const std::string& root) {
  CgroupLayout l;
  l.root = root;
  l.init_dir = root + "/init";
  l.workloads_dir = root + "/workloads";
  BW_ASSIGN_OR_RETURN(std::string available, read_file(root + "/cgroup.controllers"));
  for (const auto& dir : {l.init_dir, l.workloads_dir})
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) return sys_error("mkdir '%s'", dir.c_str());
  // First out of the root, which then may delegate controllers: the root
  // itself is exempt from the no-internal-processes rule, but keeping PID 1
  // in a leaf of its own makes its usage visible like any other group's.
  BW_RETURN_IF_ERROR(write_knob(l.init_dir + "/cgroup.procs", std::to_string(::getpid())));
  std::vector<std::string> at_root = enable_controllers(root, words(available));
  l.controllers = enable_controllers(l.workloads_dir, at_root);
  l.available = true;
  return l;
}

Result<std::string> validate_hostname(std::string_view name, const std::string& source) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '-' && name.front() != '.';
  for (char c : name)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
  if (!ok)
    return make_error(EINVAL, "%s: '%s' is not a valid hostname (1-64 letters, digits, '-' and '.')",
                      source.c_str(), std::string(name).c_str());
  return std::string(name);
}

std::string choose_hostname(const KernelCmdline& cmdline, const std::string& etc_hostname,
                            std::vector<std::string>* warnings) {
  auto warn = [&](const Error& e) {
    if (warnings) warnings->push_back(e.message + ", ignoring");
  };
  if (auto v = cmdline.get("bulwark.hostname")) {
    auto h = validate_hostname(*v, "bulwark.hostname");
    if (h) return *h;
    warn(h.error());
  }
  for (const auto& line : split(etc_hostname, '\n')) {
    std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    auto h = validate_hostname(t, "/etc/hostname");
    if (h) return *h;
    warn(h.error());
    break;
  }
  return "bulwark";
}

Result<BootConfig> pid1_boot() {
  if (::getpid() != 1) return make_error(EPERM, "the boot sequence runs only as PID 1");
  ensure_std_fds();
  install_crash_handlers();
  BW_RETURN_IF_ERROR(with_context(mount_api_filesystems("", true), "mounting API filesystems"));
  seed_console();

  BootConfig cfg;
  if (auto c = KernelCmdline::read()) cfg.cmdline = std::move(*c);
  else log::warning(c.error().text() + ", ignoring");
  cfg.debug = cfg.cmdline.has("bulwark.debug");

  std::vector<std::string> warnings;
  auto etc = read_file("/etc/hostname");
  cfg.hostname = choose_hostname(cfg.cmdline, etc ? *etc : "", &warnings);
  if (::sethostname(cfg.hostname.data(), cfg.hostname.size()) < 0)
    warnings.push_back(strf("sethostname('%s'): %s, ignoring", cfg.hostname.c_str(), strerror(errno)));

  if (auto l = setup_cgroups("/sys/fs/cgroup")) cfg.cgroups = std::move(*l);
  else warnings.push_back("setting up cgroups: " + l.error().text() + "; services run without cgroups");

  if (auto w = load_watchdog_config(cfg.cmdline)) cfg.watchdog = std::move(*w);
  else warnings.push_back("watchdog configuration: " + w.error().text() + "; running without a watchdog");

  // With Ctrl-Alt-Del disabled the kernel sends SIGINT to PID 1 instead of
  // rebooting on the spot; the supervisor turns that into an orderly reboot.
  if (::reboot(RB_DISABLE_CAD) < 0) warnings.push_back(strf("reboot(RB_DISABLE_CAD): %s, ignoring", strerror(errno)));

  if (!::getenv("PATH")) ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  for (const auto& w : warnings) log::warning(w);
  return cfg;
}

}  // namespace bw::init
