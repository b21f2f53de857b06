// bw-probe: a small static helper that tests run inside containers to check,
// from the inside, what the runtime set up (crun's tests/init.c plays the same
// role). It depends on libc only, so it runs from any rootfs.
//
// Output contract, which the tests parse:
//  - Report commands print facts as `key=value` lines on stdout and exit 0
//    (exit 3, with `error errno=NAME`, when the fact cannot be read).
//  - Try commands attempt one operation and print exactly `ok` (exit 0) or
//    `denied errno=NAME` (exit 1). Details for people go to stderr.
//  - A usage error exits 2.
//  - Commands can be chained with `--`: `bw-probe pid -- pids -- exit 3`. All
//    run in order; the exit status is the first non-zero one (or what `exit`
//    asks for).
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

constexpr int kOk = 0;
constexpr int kDenied = 1;
constexpr int kUsage = 2;
constexpr int kError = 3;

using Args = std::vector<std::string>;

const char* errno_name(int e) {
  const char* name = strerrorname_np(e);
  return name ? name : "EUNKNOWN";
}

// The result line of a try command.
int try_result(bool ok, int err, const std::string& what) {
  if (ok) {
    printf("ok\n");
    return kOk;
  }
  printf("denied errno=%s\n", errno_name(err));
  fprintf(stderr, "bw-probe: %s: %s\n", what.c_str(), strerror(err));
  return kDenied;
}

// A report command that could not read its fact.
int report_error(int err, const std::string& what) {
  printf("error errno=%s\n", errno_name(err));
  fprintf(stderr, "bw-probe: %s: %s\n", what.c_str(), strerror(err));
  return kError;
}

int usage(const std::string& msg) {
  fprintf(stderr, "bw-probe: %s (try `bw-probe help`)\n", msg.c_str());
  return kUsage;
}

bool parse_long(const std::string& s, long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long v = strtol(s.c_str(), &end, 0);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

// Reads a whole file (procfs files report size 0, so read until EOF).
bool read_all(const std::string& path, std::string* out, int* err, size_t limit = 1 << 20) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  out->clear();
  char buf[8192];
  while (out->size() < limit) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = errno;
      close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

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

// Collapses runs of blanks (procfs uses tabs) into one space and trims.
std::string squash_blanks(const std::string& s) {
  std::string out;
  bool blank = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n') {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out += ' ';
    blank = false;
    out += c;
  }
  return out;
}

// Prints the listed `Key:` lines of /proc/self/status as `Key=value`.
int print_status_fields(const std::vector<std::string>& keys) {
  std::string status;
  int err = 0;
  if (!read_all("/proc/self/status", &status, &err))
    return report_error(err, "read /proc/self/status");
  for (const auto& key : keys) {
    bool found = false;
    for (const auto& line : split_lines(status)) {
      if (line.compare(0, key.size() + 1, key + ":") == 0) {
        printf("%s=%s\n", key.c_str(), squash_blanks(line.substr(key.size() + 1)).c_str());
        found = true;
      }
    }
    // Older kernels lack some fields (Seccomp_filters); say so instead of guessing.
    if (!found) printf("%s=absent\n", key.c_str());
  }
  return kOk;
}

std::string join_longs(const std::vector<long>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

// ---- report commands ----

int cmd_id(const Args&) {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  printf("uid=%u\neuid=%u\nsuid=%u\ngid=%u\negid=%u\nsgid=%u\n", ruid, euid, suid, rgid, egid,
         sgid);
  int n = getgroups(0, nullptr);
  std::vector<gid_t> groups(n > 0 ? static_cast<size_t>(n) : 0);
  if (n > 0) n = getgroups(n, groups.data());
  std::vector<long> g;
  for (int i = 0; i < n; ++i) g.push_back(groups[static_cast<size_t>(i)]);
  std::sort(g.begin(), g.end());
  printf("groups=%s\n", join_longs(g).c_str());
  return kOk;
}

int cmd_caps(const Args&) {
  return print_status_fields({"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"});
}

int cmd_seccomp(const Args&) {
  return print_status_fields({"Seccomp", "Seccomp_filters", "NoNewPrivs"});
}

struct RlimitName {
  const char* name;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"AS", RLIMIT_AS},           {"CORE", RLIMIT_CORE},         {"CPU", RLIMIT_CPU},
    {"DATA", RLIMIT_DATA},       {"FSIZE", RLIMIT_FSIZE},       {"LOCKS", RLIMIT_LOCKS},
    {"MEMLOCK", RLIMIT_MEMLOCK}, {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
    {"NOFILE", RLIMIT_NOFILE},   {"NPROC", RLIMIT_NPROC},       {"RSS", RLIMIT_RSS},
    {"RTPRIO", RLIMIT_RTPRIO},   {"RTTIME", RLIMIT_RTTIME},     {"SIGPENDING", RLIMIT_SIGPENDING},
    {"STACK", RLIMIT_STACK},
};

std::string rlim_text(rlim_t v) {
  return v == RLIM_INFINITY ? "unlimited" : std::to_string(static_cast<unsigned long long>(v));
}

int cmd_rlimit(const Args& a) {
  if (a.size() != 1) return usage("rlimit NAME (e.g. NOFILE or RLIMIT_NOFILE)");
  std::string name = a[0];
  if (name.rfind("RLIMIT_", 0) == 0) name = name.substr(7);
  for (const auto& r : kRlimits) {
    if (name != r.name) continue;
    struct rlimit lim {};
    if (getrlimit(r.resource, &lim) != 0) return report_error(errno, "getrlimit " + name);
    printf("soft=%s\nhard=%s\n", rlim_text(lim.rlim_cur).c_str(), rlim_text(lim.rlim_max).c_str());
    return kOk;
  }
  return usage("unknown rlimit '" + a[0] + "'");
}

int cmd_hostname(const Args&) {
  struct utsname u {};
  if (uname(&u) != 0) return report_error(errno, "uname");
  printf("hostname=%s\ndomainname=%s\n", u.nodename, u.domainname);
  return kOk;
}

int cmd_pid(const Args&) {
  printf("pid=%d\nppid=%d\n", getpid(), getppid());
  return kOk;
}

int cmd_pids(const Args&) {
  DIR* d = opendir("/proc");
  if (!d) return report_error(errno, "opendir /proc");
  std::vector<long> pids;
  while (struct dirent* e = readdir(d)) {
    long pid;
    if (parse_long(e->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  closedir(d);
  std::sort(pids.begin(), pids.end());
  printf("count=%zu\npids=%s\n", pids.size(), join_longs(pids).c_str());
  return kOk;
}

int cmd_sysctl(const Args& a) {
  if (a.size() != 1) return usage("sysctl NAME (e.g. kernel.shmmax)");
  std::string path = "/proc/sys/" + a[0];
  std::replace(path.begin() + 10, path.end(), '.', '/');
  std::string value;
  int err = 0;
  if (!read_all(path, &value, &err)) return report_error(err, "read " + path);
  printf("%s=%s\n", a[0].c_str(), squash_blanks(value).c_str());
  return kOk;
}

int cmd_umask(const Args&) {
  mode_t m = umask(0);
  umask(m);
  printf("umask=%04o\n", static_cast<unsigned>(m));
  return kOk;
}

int cmd_cwd(const Args&) {
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) return report_error(errno, "getcwd");
  printf("cwd=%s\n", buf);
  return kOk;
}

int cmd_env(const Args& a) {
  if (a.empty()) {
    for (char** e = environ; *e; ++e) printf("%s\n", *e);
    return kOk;
  }
  if (a.size() != 1) return usage("env [NAME]");
  const char* v = getenv(a[0].c_str());
  if (!v) {
    printf("unset=%s\n", a[0].c_str());
    return kDenied;
  }
  printf("%s=%s\n", a[0].c_str(), v);
  return kOk;
}

int cmd_isatty(const Args&) {
  printf("stdin=%d\nstdout=%d\nstderr=%d\n", isatty(0), isatty(1), isatty(2));
  return kOk;
}

int cmd_cgroup(const Args&) {
  std::string s;
  int err = 0;
  if (!read_all("/proc/self/cgroup", &s, &err)) return report_error(err, "read /proc/self/cgroup");
  for (const auto& line : split_lines(s)) printf("cgroup=%s\n", line.c_str());
  return kOk;
}

// Undoes mountinfo's octal escapes (\040 for a space, ...).
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

int cmd_mounts(const Args&) {
  std::string s;
  int err = 0;
  if (!read_all("/proc/self/mountinfo", &s, &err))
    return report_error(err, "read /proc/self/mountinfo");
  for (const auto& line : split_lines(s)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    std::vector<std::string> f;
    size_t start = 0;
    while (start <= line.size()) {
      size_t sp = line.find(' ', start);
      if (sp == std::string::npos) sp = line.size();
      f.push_back(line.substr(start, sp - start));
      start = sp + 1;
    }
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || f.end() - dash < 4) continue;
    const std::string& fstype = *(dash + 1);
    const std::string& super = *(dash + 3);
    printf("mount=%s fstype=%s options=%s super=%s\n", unescape_mountinfo(f[4]).c_str(),
           fstype.c_str(), f[5].c_str(), super.c_str());
  }
  return kOk;
}

int cmd_fds(const Args&) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return report_error(errno, "opendir /proc/self/fd");
  std::vector<long> fds;
  while (struct dirent* e = readdir(d)) {
    long fd;
    if (parse_long(e->d_name, &fd) && fd != dirfd(d)) fds.push_back(fd);
  }
  closedir(d);
  std::sort(fds.begin(), fds.end());
  printf("fds=%s\n", join_longs(fds).c_str());
  return kOk;
}

// Whole seconds of CLOCK_MONOTONIC and CLOCK_BOOTTIME (both offset in a time namespace).
int cmd_clocks(const Args&) {
  struct timespec mono {}, boot {};
  if (clock_gettime(CLOCK_MONOTONIC, &mono) != 0) return report_error(errno, "CLOCK_MONOTONIC");
  if (clock_gettime(CLOCK_BOOTTIME, &boot) != 0) return report_error(errno, "CLOCK_BOOTTIME");
  printf("monotonic=%lld\nboottime=%lld\n", static_cast<long long>(mono.tv_sec),
         static_cast<long long>(boot.tv_sec));
  return kOk;
}

// ---- try commands ----

int cmd_ls(const Args& a) {
  if (a.size() != 1) return usage("ls DIR");
  DIR* d = opendir(a[0].c_str());
  if (!d) {
    int e = errno;
    printf("denied errno=%s\n", errno_name(e));
    fprintf(stderr, "bw-probe: opendir %s: %s\n", a[0].c_str(), strerror(e));
    return kDenied;
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::string joined;
  for (size_t i = 0; i < names.size(); ++i) joined += (i ? "," : "") + names[i];
  printf("count=%zu\nentries=%s\n", names.size(), joined.c_str());
  return kOk;
}

int cmd_stat(const Args& a) {
  if (a.size() != 1) return usage("stat PATH");
  struct stat st {};
  if (lstat(a[0].c_str(), &st) != 0) {
    int e = errno;
    printf("denied errno=%s\n", errno_name(e));
    return kDenied;
  }
  const char* type = S_ISREG(st.st_mode)    ? "reg"
                     : S_ISDIR(st.st_mode)  ? "dir"
                     : S_ISCHR(st.st_mode)  ? "chr"
                     : S_ISBLK(st.st_mode)  ? "blk"
                     : S_ISLNK(st.st_mode)  ? "lnk"
                     : S_ISFIFO(st.st_mode) ? "fifo"
                                            : "sock";
  printf("type=%s\nmode=%04o\nuid=%u\ngid=%u\nsize=%lld\nrdev=%u:%u\n", type,
         static_cast<unsigned>(st.st_mode & 07777), st.st_uid, st.st_gid,
         static_cast<long long>(st.st_size), major(st.st_rdev), minor(st.st_rdev));
  return kOk;
}

// Prints `ok bytes=N` and then the content, so a masked file reads as `ok bytes=0`.
int cmd_read(const Args& a) {
  if (a.size() != 1) return usage("read FILE");
  std::string data;
  int err = 0;
  if (!read_all(a[0], &data, &err)) return try_result(false, err, "read " + a[0]);
  printf("ok bytes=%zu\n", data.size());
  fwrite(data.data(), 1, data.size(), stdout);
  if (!data.empty() && data.back() != '\n') putchar('\n');
  return kOk;
}

// Never point this at /proc/sysrq-trigger: the kernel acts on the bytes.
int cmd_write(const Args& a) {
  if (a.empty() || a.size() > 2) return usage("write FILE [DATA]");
  std::string data = a.size() == 2 ? a[1] : "bw-probe\n";
  int fd = open(a[0].c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return try_result(false, errno, "open " + a[0] + " for writing");
  ssize_t n = write(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  if (n < 0) return try_result(false, e, "write " + a[0]);
  return try_result(true, 0, "");
}

int cmd_write_fd(const Args& a) {
  long fd;
  if (a.size() != 2 || !parse_long(a[0], &fd) || fd < 0) return usage("write-fd FD DATA");
  ssize_t n = write(static_cast<int>(fd), a[1].data(), a[1].size());
  return try_result(n == static_cast<ssize_t>(a[1].size()), errno, "write to fd " + a[0]);
}

int cmd_mkdir(const Args& a) {
  if (a.size() != 1) return usage("mkdir PATH");
  bool ok = mkdir(a[0].c_str(), 0755) == 0;
  return try_result(ok, errno, "mkdir " + a[0]);
}

int cmd_mount_tmpfs(const Args& a) {
  if (a.size() != 1) return usage("mount-tmpfs DIR");
  if (mount("tmpfs", a[0].c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0)
    return try_result(false, errno, "mount tmpfs on " + a[0]);
  (void)umount2(a[0].c_str(), MNT_DETACH);
  return try_result(true, 0, "");
}

// Both module syscalls get an image that is not a module: with CAP_SYS_MODULE
// the kernel parses it and answers ENOEXEC (or ENOSYS without module support);
// only a missing capability (or a seccomp rule) gives EPERM.
int cmd_load_module(const Args&) {
  static const char kBogus[] = "bw-probe: this is not an ELF kernel module, refuse me";
  int status = kOk;
  errno = 0;
  long r = syscall(SYS_init_module, kBogus, sizeof kBogus, "");
  if (r == 0) {
    printf("init_module: ok\n");
  } else {
    printf("init_module: denied errno=%s\n", errno_name(errno));
    status = kDenied;
  }
  int fd = memfd_create("bw-probe-module", MFD_CLOEXEC);
  if (fd < 0) return report_error(errno, "memfd_create");
  if (write(fd, kBogus, sizeof kBogus) != static_cast<ssize_t>(sizeof kBogus))
    return report_error(errno, "write memfd");
  r = syscall(SYS_finit_module, fd, "", 0);
  if (r == 0) {
    printf("finit_module: ok\n");
  } else {
    printf("finit_module: denied errno=%s\n", errno_name(errno));
    status = kDenied;
  }
  close(fd);
  return status;
}

int cmd_connect(const Args& a) {
  long port;
  if (a.size() != 2 || !parse_long(a[1], &port) || port <= 0 || port > 65535)
    return usage("connect IP PORT");
  struct sockaddr_storage ss {};
  socklen_t len;
  int family;
  auto* in4 = reinterpret_cast<struct sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, a[0].c_str(), &in4->sin_addr) == 1) {
    family = in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *in4;
  } else if (inet_pton(AF_INET6, a[0].c_str(), &in6->sin6_addr) == 1) {
    family = in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *in6;
  } else {
    return usage("connect: '" + a[0] + "' is not an IP address");
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return try_result(false, errno, "socket");
  int err = 0;
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&ss), len) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int n = poll(&p, 1, 1000);
      if (n == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t elen = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      }
    }
  }
  close(fd);
  return try_result(err == 0, err, "connect " + a[0] + ":" + a[1]);
}

int cmd_setuid(const Args& a) {
  long id;
  if (a.size() != 1 || !parse_long(a[0], &id)) return usage("setuid UID");
  bool ok = setuid(static_cast<uid_t>(id)) == 0;
  return try_result(ok, errno, "setuid " + a[0]);
}

int cmd_setgid(const Args& a) {
  long id;
  if (a.size() != 1 || !parse_long(a[0], &id)) return usage("setgid GID");
  bool ok = setgid(static_cast<gid_t>(id)) == 0;
  return try_result(ok, errno, "setgid " + a[0]);
}

// Adds one capability to the permitted and effective sets.
int cmd_raise_cap(const Args& a) {
  long cap;
  if (a.size() != 1 || !parse_long(a[0], &cap) || cap < 0 || cap >= 64)
    return usage("raise-cap CAPNUM (0..63, e.g. 21 for CAP_SYS_ADMIN)");
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return report_error(errno, "capget");
  unsigned idx = static_cast<unsigned>(cap) / 32;
  uint32_t bit = 1u << (static_cast<unsigned>(cap) % 32);
  data[idx].permitted |= bit;
  data[idx].effective |= bit;
  bool ok = syscall(SYS_capset, &hdr, data) == 0;
  return try_result(ok, errno, "capset adding capability " + a[0]);
}

int cmd_unshare_user(const Args&) {
  bool ok = unshare(CLONE_NEWUSER) == 0;
  return try_result(ok, errno, "unshare(CLONE_NEWUSER)");
}

// ---- process control ----

void sleep_seconds(double secs) {
  if (secs < 0) {
    for (;;) pause();
  }
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(secs);
  ts.tv_nsec = static_cast<long>((secs - static_cast<double>(ts.tv_sec)) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

bool parse_secs(const std::string& s, double* out) {
  if (s == "inf") {
    *out = -1;
    return true;
  }
  char* end = nullptr;
  double v = strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

int cmd_sleep(const Args& a) {
  double secs;
  if (a.size() != 1 || !parse_secs(a[0], &secs)) return usage("sleep SECS|inf");
  sleep_seconds(secs);
  printf("slept=%s\n", a[0].c_str());
  return kOk;
}

// Writes a counter (fixed width, rewritten in place) to FILE every 10 ms,
// forever: a frozen process shows as a counter that stops.
int cmd_tick(const Args& a) {
  if (a.size() != 1) return usage("tick FILE");
  int fd = open(a[0].c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return report_error(errno, "open " + a[0]);
  printf("ticking=1\n");
  fflush(stdout);
  for (unsigned long long n = 1;; ++n) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%020llu\n", n);
    if (pwrite(fd, buf, static_cast<size_t>(len), 0) != len) return report_error(errno, "write " + a[0]);
    struct timespec tick = {0, 10 * 1000 * 1000};
    nanosleep(&tick, nullptr);
  }
}

// CVE-2019-5736: tries to write the executable of process PID (the runtime,
// while it runs in the container) through /proc/PID/exe: by opening it for
// writing, and by re-opening a read-only fd for writing through
// /proc/self/fd. With WAIT_SECS it does what the exploit does: it opens the
// file read-only, waits (up to WAIT_SECS) until PID has exec'd something else,
// then re-opens it for writing, retrying while the file is busy (ETXTBSY: some
// process still runs it). A write puts back the byte already there, so even a
// runtime that fails this keeps its binary's content (not its mtime).
// Prints `exe=`, one `STEP=ok` or `STEP=denied errno=NAME` line per step and
// `overwritten=0|1`; exits 1 if a write went through.
int cmd_try_overwrite_exe(const Args& a) {
  long pid;
  double wait_secs = 0;
  if (a.empty() || a.size() > 2 || !parse_long(a[0], &pid) || pid <= 0 ||
      (a.size() == 2 && (!parse_secs(a[1], &wait_secs) || wait_secs < 0)))
    return usage("try-overwrite-exe PID [WAIT_SECS]");
  const bool waiting = a.size() == 2;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  auto expired = [&]() {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec - start.tv_sec) +
               static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9 >=
           wait_secs;
  };
  auto nap = []() {
    struct timespec t = {0, 10 * 1000 * 1000};
    nanosleep(&t, nullptr);
  };
  auto step = [](const char* name, bool ok, int err) {
    if (ok) {
      printf("%s=ok\n", name);
    } else {
      printf("%s=denied errno=%s\n", name, errno_name(err));
    }
  };
  auto link_of = [](const std::string& path, int* err) -> std::string {
    char buf[4096];
    ssize_t len = readlink(path.c_str(), buf, sizeof buf - 1);
    if (len < 0) {
      *err = errno;
      return "";
    }
    return std::string(buf, static_cast<size_t>(len));
  };
  std::string path = "/proc/" + a[0] + "/exe";
  int err = 0;
  std::string exe = link_of(path, &err);
  if (exe.empty()) {
    printf("exe=denied errno=%s\n", errno_name(err));
  } else {
    printf("exe=%s\n", exe.c_str());
  }
  bool overwritten = false;
  int wfd = -1;
  if (!waiting) {
    wfd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    step("open_write", wfd >= 0, errno);
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  step("open", fd >= 0, errno);
  fflush(stdout);
  unsigned char byte = 0;
  bool have_byte = false;
  if (fd >= 0) {
    std::string self = "/proc/self/fd/" + std::to_string(fd);
    printf("target=%s\n", link_of(self, &err).c_str());
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0) {
      printf("seals=0x%x\n", static_cast<unsigned>(seals));
    } else {
      printf("seals=none\n");
    }
    have_byte = pread(fd, &byte, 1, 0) == 1;
    step("read", have_byte, errno);
    if (waiting) {
      bool changed = false;
      while (!(changed = link_of(path, &err) != exe) && !expired()) nap();
      printf("exe_changed=%d\n", changed ? 1 : 0);
    }
    int rfd;
    while ((rfd = open(self.c_str(), O_WRONLY | O_CLOEXEC)) < 0 && errno == ETXTBSY && waiting &&
           !expired())
      nap();
    step("reopen_write", rfd >= 0, errno);
    if (rfd >= 0 && have_byte) {
      bool ok = pwrite(rfd, &byte, 1, 0) == 1;
      step("reopen_pwrite", ok, errno);
      overwritten = overwritten || ok;
    }
    if (rfd >= 0) close(rfd);
  }
  if (wfd >= 0) {
    if (have_byte) {
      bool ok = pwrite(wfd, &byte, 1, 0) == 1;
      step("pwrite", ok, errno);
      overwritten = overwritten || ok;
    }
    close(wfd);
  }
  if (fd >= 0) close(fd);
  printf("overwritten=%d\n", overwritten ? 1 : 0);
  return overwritten ? kDenied : kOk;
}

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

// As PID 1 the probe would ignore every signal it has no handler for; this
// installs handlers so a test can see which signal `kill` delivered.
int cmd_wait_signal(const Args& a) {
  double secs;
  if (a.size() != 1 || !parse_secs(a[0], &secs)) return usage("wait-signal SECS|inf");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT}) sigaction(sig, &sa, nullptr);
  printf("waiting=1\n");
  fflush(stdout);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!g_signal) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double waited = static_cast<double>(now.tv_sec - start.tv_sec) +
                    static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
    if (secs >= 0 && waited >= secs) break;
    struct timespec tick = {0, 20 * 1000 * 1000};
    nanosleep(&tick, nullptr);
  }
  printf("signal=%d\n", static_cast<int>(g_signal));
  return g_signal ? kOk : kDenied;
}

// Leaves N processes behind whose parent has exited (so they are re-parented
// to the namespace's init), each sleeping forever. A runtime must not let them
// outlive the container.
int cmd_fork_orphans(const Args& a) {
  long n;
  if (a.size() != 1 || !parse_long(a[0], &n) || n < 0 || n > 100) return usage("fork-orphans N");
  std::vector<long> pids;
  for (long i = 0; i < n; ++i) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return report_error(errno, "pipe2");
    fflush(stdout);
    pid_t mid = fork();
    if (mid < 0) return report_error(errno, "fork");
    if (mid == 0) {
      pid_t orphan = fork();
      if (orphan == 0) {
        close(fds[0]);
        close(fds[1]);
        setsid();
        for (;;) pause();
      }
      (void)!write(fds[1], &orphan, sizeof orphan);
      _exit(0);
    }
    close(fds[1]);
    pid_t orphan = -1;
    (void)!read(fds[0], &orphan, sizeof orphan);
    close(fds[0]);
    waitpid(mid, nullptr, 0);
    pids.push_back(orphan);
  }
  printf("orphans=%s\n", join_longs(pids).c_str());
  return kOk;
}

// sd_notify: sends one datagram to $NOTIFY_SOCKET (a path, or '@' for an
// abstract name) holding the arguments joined by newlines, as
// `systemd-notify READY=1 STATUS=up` would. Prints `notified=1`.
int cmd_notify(const Args& a) {
  if (a.empty()) return usage("notify VAR=VALUE...");
  const char* path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return report_error(ENOENT, "NOTIFY_SOCKET is not set");
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof addr.sun_path) return report_error(ENAMETOOLONG, "NOTIFY_SOCKET");
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  std::string msg;
  for (size_t i = 0; i < a.size(); ++i) msg += (i ? "\n" : "") + a[i];
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return report_error(errno, "socket");
  ssize_t n = sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<struct sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + len));
  int err = errno;
  close(fd);
  if (n < 0) return report_error(err, std::string("sendto ") + path);
  printf("notified=1\n");
  return kOk;
}

struct Command {
  const char* name;
  int (*fn)(const Args&);
  const char* help;
};

int cmd_help(const Args&);

constexpr Command kCommands[] = {
    {"id", cmd_id, "uid/euid/suid/gid/egid/sgid and sorted supplementary groups"},
    {"caps", cmd_caps, "CapInh/CapPrm/CapEff/CapBnd/CapAmb in hex from /proc/self/status"},
    {"seccomp", cmd_seccomp, "Seccomp mode, Seccomp_filters and NoNewPrivs"},
    {"rlimit", cmd_rlimit, "NAME: soft and hard limit"},
    {"hostname", cmd_hostname, "hostname and domainname"},
    {"pid", cmd_pid, "own pid and ppid"},
    {"pids", cmd_pids, "numeric entries of /proc"},
    {"sysctl", cmd_sysctl, "NAME: value of /proc/sys/NAME, blanks squashed"},
    {"umask", cmd_umask, "the umask in octal"},
    {"cwd", cmd_cwd, "the working directory"},
    {"env", cmd_env, "[NAME]: one variable (exit 1 if unset), or all"},
    {"isatty", cmd_isatty, "whether fds 0-2 are terminals"},
    {"cgroup", cmd_cgroup, "lines of /proc/self/cgroup"},
    {"mounts", cmd_mounts, "mount points with fstype and options"},
    {"fds", cmd_fds, "open file descriptors"},
    {"clocks", cmd_clocks, "CLOCK_MONOTONIC and CLOCK_BOOTTIME in whole seconds"},
    {"try-overwrite-exe", cmd_try_overwrite_exe,
     "PID [WAIT_SECS]: try to write /proc/PID/exe (CVE-2019-5736), step by step"},
    {"ls", cmd_ls, "DIR: entry count and sorted names"},
    {"stat", cmd_stat, "PATH: type, mode, owner, size, rdev (lstat)"},
    {"read", cmd_read, "FILE: `ok bytes=N` then the content"},
    {"write", cmd_write, "FILE [DATA]: open (creating) for write and write"},
    {"write-fd", cmd_write_fd, "FD DATA: try writing DATA to an inherited fd"},
    {"mkdir", cmd_mkdir, "PATH: try mkdir"},
    {"mount-tmpfs", cmd_mount_tmpfs, "DIR: try to mount a tmpfs"},
    {"load-module", cmd_load_module, "try init_module and finit_module with a bogus image"},
    {"connect", cmd_connect, "IP PORT: try a TCP connect (1 s timeout)"},
    {"setuid", cmd_setuid, "UID: try setuid"},
    {"setgid", cmd_setgid, "GID: try setgid"},
    {"raise-cap", cmd_raise_cap, "CAPNUM: try adding it to the permitted+effective sets"},
    {"unshare-user", cmd_unshare_user, "try unshare(CLONE_NEWUSER)"},
    {"sleep", cmd_sleep, "SECS|inf"},
    {"tick", cmd_tick, "FILE: rewrite a counter in FILE every 10 ms, forever"},
    {"wait-signal", cmd_wait_signal, "SECS|inf: wait for a catchable signal, print it"},
    {"fork-orphans", cmd_fork_orphans, "N: leave N re-parented sleepers behind"},
    {"notify", cmd_notify, "VAR=VALUE...: one sd_notify message to $NOTIFY_SOCKET"},
    {"exit", nullptr, "N: exit with status N now"},
    {"help", cmd_help, "this list"},
};

int cmd_help(const Args&) {
  printf("usage: bw-probe COMMAND [ARGS] [-- COMMAND [ARGS]]...\n");
  for (const auto& c : kCommands) printf("  %-17s %s\n", c.name, c.help);
  return kOk;
}

int run_one(const std::string& name, const Args& args) {
  if (name == "exit") {
    long code;
    if (args.size() != 1 || !parse_long(args[0], &code)) return usage("exit N");
    fflush(stdout);
    exit(static_cast<int>(code));
  }
  for (const auto& c : kCommands) {
    if (name == c.name) return c.fn(args);
  }
  return usage("unknown command '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("no command");
  int status = kOk;
  Args cmd;
  auto flush = [&]() {
    if (cmd.empty()) return;
    int r = run_one(cmd[0], Args(cmd.begin() + 1, cmd.end()));
    fflush(stdout);
    if (status == kOk) status = r;
    cmd.clear();
  };
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      flush();
    } else {
      cmd.push_back(argv[i]);
    }
  }
  flush();
  return status;
}
