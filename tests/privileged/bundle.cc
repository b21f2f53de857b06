#include "bundle.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bw::test {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + strerror(errno));
}

void close_fd(int& fd) {
  if (fd >= 0) (void)::close(fd);
  fd = -1;
}

std::string read_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string s;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) s.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return s;
}

void write_text(const std::string& path, const std::string& text, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) fail("open " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) fail("chmod " + path);
  ::close(fd);
}

void copy_file(const std::string& from, const std::string& to, mode_t mode) {
  std::string data = read_text(from);
  if (data.empty()) {
    errno = ENOENT;
    fail("read " + from + " (is it built?)");
  }
  write_text(to, data, mode);
}

void make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) fail("mkdir " + path);
  if (::chmod(path.c_str(), mode) != 0) fail("chmod " + path);  // umask-proof
}

// Removes name (under dirfd) and everything below it. Never follows a
// symlink and never crosses into another filesystem (a mount the caller
// failed to see must not have its contents deleted).
void remove_tree_at(int dirfd, const char* name, dev_t dev) {
  struct stat st {};
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    (void)::unlinkat(dirfd, name, 0);
    return;
  }
  if (st.st_dev != dev) return;
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  for (const auto& n : names) remove_tree_at(fd, n.c_str(), dev);
  ::closedir(d);
  (void)::unlinkat(dirfd, name, AT_REMOVEDIR);
}

std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && isdigit(s[i + 1]) && isdigit(s[i + 2]) &&
        isdigit(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool under(const std::string& path, const std::string& dir) {
  return path == dir || path.rfind(dir + "/", 0) == 0;
}

void find_dirs_named(const std::string& dir, const std::string& needle, int depth,
                     std::vector<std::string>* found) {
  if (depth > 16) return;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    std::string child = dir + "/" + e->d_name;
    if (strstr(e->d_name, needle.c_str())) found->push_back(child);
    find_dirs_named(child, needle, depth + 1, found);
  }
  ::closedir(d);
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (struct dirent* e = ::readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  ::closedir(d);
  return names;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// Reads whatever the pipe holds now; closes it at EOF.
void drain(int& fd, std::string* into) {
  char buf[16384];
  while (fd >= 0) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into->append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      close_fd(fd);
    } else if (errno != EINTR) {
      if (errno != EAGAIN) close_fd(fd);
      return;
    }
  }
}

constexpr const char* kCapNames[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

}  // namespace

// ---- commands ----

std::string RunResult::describe() const {
  std::string s = "exit status " + std::to_string(status);
  if (signaled) s += " (killed by signal " + std::to_string(status - 128) + ")";
  if (timed_out) s += " (TIMED OUT, killed)";
  return s + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
}

RunningCommand start_command(const std::vector<std::string>& argv, const std::string& input,
                             const std::vector<int>& pass_fds) {
  if (argv.empty()) throw std::invalid_argument("start_command: empty argv");
  if (pass_fds.size() > 64) throw std::invalid_argument("start_command: too many fds to pass");
  for (int fd : pass_fds) {
    if (fd < 3) throw std::invalid_argument("start_command: pass_fds must not hold stdio");
  }
  int out[2], err[2], in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) fail("pipe2");
  if (!input.empty() && ::pipe2(in, O_CLOEXEC) != 0) fail("pipe2");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    // Out of the way first: the fds to pass may sit where they are to go.
    int moved[64];
    size_t npass = std::min(pass_fds.size(), std::size(moved));
    for (size_t i = 0; i < npass; ++i) moved[i] = ::fcntl(pass_fds[i], F_DUPFD_CLOEXEC, 100);
    int devnull = input.empty() ? ::open("/dev/null", O_RDONLY) : -1;
    ::dup2(input.empty() ? devnull : in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (size_t i = 0; i < npass; ++i) ::dup2(moved[i], static_cast<int>(3 + i));  // not CLOEXEC
    // Nothing else of the test process (listening sockets, pipes of other
    // commands) may reach the runtime: it would blur what it leaks itself.
    ::syscall(SYS_close_range, static_cast<unsigned>(3 + npass), ~0U, 0U);
    ::execv(cargv[0], cargv.data());
    dprintf(2, "exec %s: %s\n", cargv[0], strerror(errno));
    ::_exit(127);
  }
  RunningCommand c;
  c.pid_ = pid;
  c.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (c.pidfd_ < 0) fail("pidfd_open");
  ::close(out[1]);
  ::close(err[1]);
  c.out_ = out[0];
  c.err_ = err[0];
  if (in[0] >= 0) {
    ::close(in[0]);
    c.in_ = in[1];
    c.input_ = input;
  }
  for (int fd : {c.out_, c.err_, c.in_}) {
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return c;
}

RunningCommand::RunningCommand(RunningCommand&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      out_(std::exchange(o.out_, -1)),
      err_(std::exchange(o.err_, -1)),
      in_(std::exchange(o.in_, -1)),
      input_(std::move(o.input_)) {}

RunningCommand::~RunningCommand() {
  if (pid_ > 0) {
    (void)::kill(pid_, SIGKILL);
    siginfo_t info{};
    (void)::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
  }
  close_fd(pidfd_);
  close_fd(out_);
  close_fd(err_);
  close_fd(in_);
}

RunResult RunningCommand::wait(int timeout_s) {
  RunResult r;
  if (pid_ <= 0) throw std::logic_error("RunningCommand::wait: nothing to wait for");
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  size_t written = 0;
  bool exited = false;
  while (!exited) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      (void)::kill(pid_, SIGKILL);
      r.timed_out = true;
      break;
    }
    struct pollfd p[4] = {
        {pidfd_, POLLIN, 0}, {out_, POLLIN, 0}, {err_, POLLIN, 0}, {in_, POLLOUT, 0}};
    int n = ::poll(p, 4, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) fail("poll");
    if (p[1].revents) drain(out_, &r.out);
    if (p[2].revents) drain(err_, &r.err);
    if (in_ >= 0 && p[3].revents) {
      ssize_t w = ::write(in_, input_.data() + written, input_.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input_.size()) close_fd(in_);
    }
    if (p[0].revents) exited = true;
  }
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) != 0 && errno == EINTR) {
  }
  // The command is gone, but processes it left running (a detached container)
  // may still hold the pipes: take what is there and do not wait for EOF.
  drain(out_, &r.out);
  drain(err_, &r.err);
  if (info.si_code == CLD_EXITED) {
    r.status = info.si_status;
  } else {
    r.signaled = true;
    r.status = 128 + info.si_status;
  }
  pid_ = -1;
  close_fd(pidfd_);
  close_fd(out_);
  close_fd(err_);
  close_fd(in_);
  return r;
}

std::string host_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string host_link(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

bool wait_until(const std::function<bool()>& cond, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

RunResult run_command(const std::vector<std::string>& argv, const std::string& input,
                      int timeout_s) {
  return start_command(argv, input).wait(timeout_s);
}

std::string runtime_path() {
  const char* env = getenv("BW_TEST_RUNTIME");
  return env && *env ? env : BULWARK_BUILD_DIR "/tools/bulwark-run";
}

std::string probe_path() {
  const char* env = getenv("BW_TEST_PROBE");
  return env && *env ? env : BULWARK_BUILD_DIR "/tests/helper/bw-probe";
}

// ---- parsing ----

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::map<std::string, std::string> parse_kv(const std::string& out) {
  std::map<std::string, std::string> kv;
  for (const auto& line : split_lines(out)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos && eq > 0) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

int cap_number(const std::string& name) {
  for (size_t i = 0; i < std::size(kCapNames); ++i) {
    if (name == kCapNames[i]) return static_cast<int>(i);
  }
  throw std::invalid_argument("unknown capability " + name);
}

std::string cap_mask_hex(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const auto& n : names) mask |= uint64_t{1} << cap_number(n);
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(mask));
  return buf;
}

// ---- host inspection ----

std::vector<MountEntry> host_mounts() {
  std::vector<MountEntry> mounts;
  for (const auto& line : split_lines(read_text("/proc/self/mountinfo"))) {
    std::vector<std::string> f;
    size_t start = 0;
    while (start <= line.size()) {
      size_t sp = line.find(' ', start);
      if (sp == std::string::npos) sp = line.size();
      f.push_back(line.substr(start, sp - start));
      start = sp + 1;
    }
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || f.end() - dash < 2) continue;
    mounts.push_back({atoi(f[0].c_str()), unescape_mountinfo(f[4]), *(dash + 1)});
  }
  return mounts;
}

std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& m : host_mounts()) {
    if (under(m.mountpoint, dir)) found.push_back(m.mountpoint);
  }
  return found;
}

std::vector<std::string> cgroup_dirs_named(const std::string& id) {
  std::vector<std::string> found;
  for (const auto& m : host_mounts()) {
    if (m.fstype == "cgroup" || m.fstype == "cgroup2") find_dirs_named(m.mountpoint, id, 0, &found);
  }
  return found;
}

std::vector<pid_t> processes_rooted_at(const std::string& dir) {
  std::vector<pid_t> pids;
  struct stat want {};
  if (::stat(dir.c_str(), &want) != 0) return pids;
  for (const auto& name : list_dir("/proc")) {
    char* end = nullptr;
    long pid = strtol(name.c_str(), &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    struct stat st {};
    if (::stat(("/proc/" + name + "/root").c_str(), &st) == 0 && st.st_dev == want.st_dev &&
        st.st_ino == want.st_ino) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  return pids;
}

bool process_exists(pid_t pid) {
  return pid > 0 && ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0;
}

bool zombie_of_init(pid_t pid) {
  // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parens.
  std::string st = read_text("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = st.rfind(')');
  if (paren == std::string::npos) return false;
  char state = 0;
  int ppid = -1;
  if (sscanf(st.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return false;
  return state == 'Z' && ppid == 1;
}

// ---- the bundle ----

void RuntimeTest::SetUp() {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root (namespaces, mounts, cgroups); euid is " << ::geteuid();
  if (::access(runtime_path().c_str(), X_OK) != 0)
    FAIL() << "runtime under test not found at " << runtime_path() << " (build bulwark-run)";
  if (::access(probe_path().c_str(), X_OK) != 0)
    FAIL() << "bw-probe not found at " << probe_path() << " (build bw-probe)";
}

std::map<std::string, std::string> parse_probe_mounts(const std::string& out) {
  std::map<std::string, std::string> m;
  for (const auto& line : split_lines(out)) {
    if (line.rfind("mount=", 0) != 0) continue;
    size_t sp = line.find(" fstype=");
    size_t opt = line.find(" options=");
    if (sp == std::string::npos || opt == std::string::npos) continue;
    size_t opt_end = line.find(' ', opt + 9);
    m[line.substr(6, sp - 6)] =
        line.substr(opt + 9, opt_end == std::string::npos ? std::string::npos : opt_end - opt - 9);
  }
  return m;
}

nlohmann::json default_config() {
  // `runc spec` (runc 1.1.5) with: terminal off, the bw-probe as the process,
  // our hostname, and a cgroup namespace (newer runc specs add it too).
  return nlohmann::json::parse(R"({
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/bw-probe", "id"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bulwark-test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [
      {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
      {"type": "mount"}, {"type": "cgroup"}
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
})");
}

TestBundle::TestBundle() {
  const char* tmp = getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/bwt-XXXXXX";
  if (!::mkdtemp(templ.data())) fail("mkdtemp " + templ);
  base_ = templ;
  // World-searchable, so a container whose root maps to an unprivileged host
  // uid (user namespaces) can still reach its rootfs.
  if (::chmod(base_.c_str(), 0755) != 0) fail("chmod " + base_);
  bundle_ = base_ + "/bundle";
  state_ = base_ + "/state";
  make_dir(bundle_, 0755);
  make_dir(state_, 0700);
  build_rootfs();
  config_ = default_config();
  write();
}

void TestBundle::build_rootfs() {
  const std::string r = rootfs();
  make_dir(r, 0755);
  for (const char* d : {"bin", "proc", "sys", "dev", "tmp", "etc"}) make_dir(r + "/" + d, 0755);
  copy_file("/bin/busybox", r + "/bin/busybox", 0755);
  for (const char* applet :
       {"sh", "true", "echo", "cat", "ls", "sleep", "id", "mount", "hostname"}) {
    if (::symlink("busybox", (r + "/bin/" + applet).c_str()) != 0) fail("symlink " + r);
  }
  copy_file(probe_path(), r + "/bin/bw-probe", 0755);
}

TestBundle::~TestBundle() { cleanup(); }

void TestBundle::cleanup() {
  // Containers a failed test left behind: ask the runtime first, then make sure.
  for (const auto& entry : list_dir(state_)) {
    (void)run_command({runtime_path(), "--root", state_, "delete", "--force", entry}, "", 30);
  }
  auto deadline = Clock::now() + std::chrono::seconds(5);
  for (auto pids = processes_rooted_at(rootfs()); !pids.empty() && Clock::now() < deadline;
       pids = processes_rooted_at(rootfs())) {
    for (pid_t pid : pids) (void)::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  auto leaked = mounts_under(base_);
  if (!leaked.empty()) {
    ADD_FAILURE() << "mounts leaked into the host mount namespace under " << base_ << ": "
                  << join(leaked) << " (unmounting them now)";
    std::sort(leaked.begin(), leaked.end(), [](const auto& a, const auto& b) { return a > b; });
    for (const auto& m : leaked) (void)::umount2(m.c_str(), MNT_DETACH);
    leaked = mounts_under(base_);
  }
  if (!leaked.empty()) {
    ADD_FAILURE() << "still mounted, so " << base_ << " is left in place: " << join(leaked);
    return;
  }
  struct stat st {};
  if (::lstat(base_.c_str(), &st) != 0) return;
  remove_tree_at(AT_FDCWD, base_.c_str(), st.st_dev);
}

void TestBundle::write() { write_raw(config_.dump(2) + "\n"); }

void TestBundle::write_raw(const std::string& text) { write_text(bundle_ + "/config.json", text); }

std::string TestBundle::new_id() {
  // The mkdtemp suffix makes ids unique across bundles and processes; the
  // fixed-width counter keeps one id from being a prefix of another.
  char buf[64];
  snprintf(buf, sizeof buf, "bwt-%s-%03d", base_.substr(base_.size() - 6).c_str(), next_id_++);
  return buf;
}

void TestBundle::set_probe_args(const std::vector<std::string>& args) {
  nlohmann::json a = nlohmann::json::array({"/bin/bw-probe"});
  for (const auto& s : args) a.push_back(s);
  config_["process"]["args"] = a;
}

RunResult TestBundle::run_runtime(std::vector<std::string> args, const std::string& stdin_data) {
  return start_runtime(std::move(args), stdin_data).wait(60);
}

RunningCommand TestBundle::start_runtime(std::vector<std::string> args,
                                         const std::string& stdin_data) {
  std::vector<std::string> argv = {runtime_path(), "--root", state_};
  argv.insert(argv.end(), args.begin(), args.end());
  return start_command(argv, stdin_data);
}

RunningCommand TestBundle::start_runtime_with_fds(std::vector<std::string> args,
                                                  const std::vector<int>& pass_fds) {
  std::vector<std::string> argv = {runtime_path(), "--root", state_};
  argv.insert(argv.end(), args.begin(), args.end());
  return start_command(argv, "", pass_fds);
}

RunResult TestBundle::run_probe(const std::vector<std::string>& probe_args, std::string* id_out) {
  set_probe_args(probe_args);
  write();
  std::string id = new_id();
  if (id_out) *id_out = id;
  return run_runtime({"run", "--bundle", bundle_, id});
}

nlohmann::json TestBundle::wait_for_status(const std::string& id, const std::string& status,
                                           int timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  nlohmann::json state;
  for (;;) {
    RunResult r = run_runtime({"state", id});
    state = r.ok() ? nlohmann::json::parse(r.out, nullptr, false) : nlohmann::json();
    if (state.is_discarded()) state = nlohmann::json();
    if (state.is_object() && state.value("status", "") == status) return state;
    if (Clock::now() >= deadline) return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

::testing::AssertionResult TestBundle::nothing_left_behind(const std::string& id, pid_t pid) const {
  auto deadline = Clock::now() + std::chrono::seconds(5);
  std::vector<std::string> problems;
  for (;;) {
    problems.clear();
    std::vector<std::string> state_entries;
    find_dirs_named(state_, id, 0, &state_entries);
    for (const auto& e : list_dir(state_)) {
      if (e.find(id) != std::string::npos) state_entries.push_back(state_ + "/" + e);
    }
    std::sort(state_entries.begin(), state_entries.end());
    state_entries.erase(std::unique(state_entries.begin(), state_entries.end()),
                        state_entries.end());
    if (!state_entries.empty()) problems.push_back("state left: " + join(state_entries));
    if (process_exists(pid) && !zombie_of_init(pid)) {
      std::string st = read_text("/proc/" + std::to_string(pid) + "/stat");
      problems.push_back("container process " + std::to_string(pid) + " still exists: " + st);
    }
    auto rooted = processes_rooted_at(rootfs());
    if (!rooted.empty()) {
      std::vector<std::string> s;
      for (pid_t p : rooted) s.push_back(std::to_string(p));
      problems.push_back("processes still rooted in the rootfs: " + join(s));
    }
    auto mounts = mounts_under(bundle_);
    auto state_mounts = mounts_under(state_);
    mounts.insert(mounts.end(), state_mounts.begin(), state_mounts.end());
    if (!mounts.empty()) problems.push_back("mounts left on the host: " + join(mounts));
    auto cgroups = cgroup_dirs_named(id);
    if (!cgroups.empty()) problems.push_back("cgroups left: " + join(cgroups));
    if (problems.empty()) return ::testing::AssertionSuccess();
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ::testing::AssertionFailure()
         << "container '" << id << "' left behind: " << join(problems, "; ");
}

std::string proc_file(pid_t pid, const std::string& name) {
  return host_file("/proc/" + std::to_string(pid) + "/" + name);
}

bool wait_for_probe(pid_t pid) {
  return wait_until([&] { return proc_file(pid, "comm") == "bw-probe\n"; });
}

nlohmann::json state_of(TestBundle& b, const std::string& id, RunResult* raw) {
  RunResult r = b.run_runtime({"state", id});
  if (raw) *raw = r;
  if (!r.ok()) return nlohmann::json();
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

pid_t pid_of(const nlohmann::json& state) {
  return state.is_object() && state.contains("pid") && state["pid"].is_number_integer()
             ? state["pid"].get<pid_t>()
             : 0;
}

pid_t run_detached(TestBundle& b, const std::string& id, const std::vector<std::string>& probe_args,
                   const std::vector<std::string>& options) {
  b.set_probe_args(probe_args);
  b.write();
  std::vector<std::string> args = {"run", "--detach", "--bundle", b.path()};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back(id);
  RunResult r = b.run_runtime(args);
  EXPECT_EQ(r.status, 0) << r.describe();
  nlohmann::json st = b.wait_for_status(id, "running");
  EXPECT_EQ(st.value("status", ""), "running") << st.dump();
  pid_t pid = pid_of(st);
  EXPECT_TRUE(pid > 0 && wait_for_probe(pid)) << st.dump();
  return pid;
}

void remove_container(TestBundle& b, const std::string& id, pid_t pid) {
  RunResult r = b.run_runtime({"delete", "--force", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

}  // namespace bw::test
