// bw-bench-orphans: helpers for tests/bench/init_bench.sh, the benchmark of
// bulwark-init against tini and s6-svscan. Not a test.
//
//   bw-bench-orphans stamp FILE [CMD [ARG...]]
//       Appends "<CLOCK_MONOTONIC ns>\n" to FILE, then execs CMD (execvp) if
//       given: a timestamp taken immediately before a program starts, or (as
//       a service of its own) the moment a supervisor started it.
//
//   bw-bench-orphans orphans N RESULT [REAPER]
//       Leaves N zombies to the reaper and times how long it takes to reap
//       them. REAPER is the pid (in this process's /proc) of the process the
//       orphans go to: by default 1, the init of this pid namespace. Run it
//       as a child of the reaper (a service) and it goes like this:
//        1. counts REAPER's children (every /proc/REAPER/task/*/children);
//        2. forks a middle process, which forks N children that _exit(0) at
//           once, and waits until every one of them is a zombie (state Z in
//           /proc/PID/stat): N zombies whose parent is still alive;
//        3. the middle reads the clock (t0), hands t0 over a pipe and exits:
//           the kernel re-parents the N zombies to REAPER and sends it one
//           SIGCHLD for each (exit_notify) - they are orphaned;
//        4. this process polls REAPER's children every 200 us until there
//           are no more than in step 1 (the N zombies are gone: reaped) and
//           reads the clock again (t1).
//       Writes "N <t1 - t0 in ns> <REAPER's CPU time in between, ns>" to
//       RESULT (created, or replaced by a rename) and then sleeps until it is
//       killed, so that the supervisor has nothing else to do meanwhile. The
//       CPU time comes from /proc/REAPER/schedstat (-1 when there is none),
//       counted from step 2 (the reaper has nothing to do while the middle
//       process forks).
//       Exits 1 on failure, with a message on stderr.
//
// Static, libc only (plus libstdc++'s headers): a small process forks fast.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

long long now_ns() {
  struct timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bw-bench-orphans: %s: %s\n", what, std::strerror(errno));
  ::_exit(1);
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int usage() {
  std::fputs(
      "usage: bw-bench-orphans stamp FILE [CMD [ARG...]]\n"
      "       bw-bench-orphans orphans N RESULT [REAPER]\n",
      stderr);
  return 2;
}

int cmd_stamp(int argc, char** argv) {
  if (argc < 3) return usage();
  char line[32];
  int n = std::snprintf(line, sizeof line, "%lld\n", now_ns());
  int fd = ::open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 || !write_all(fd, line, static_cast<size_t>(n))) die(argv[2]);
  ::close(fd);
  if (argc == 3) return 0;
  ::execvp(argv[3], argv + 3);
  die(argv[3]);
}

// Number of pids in every /proc/PID/task/*/children, -1 when PID is gone.
long count_children(const std::string& pid) {
  static char buf[1 << 16];
  std::string dir = "/proc/" + pid + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  long count = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = ::open((dir + "/" + e->d_name + "/children").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // a thread that just ended
    // "pid pid ... pid " - one blank after every pid.
    for (;;) {
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      for (ssize_t i = 0; i < r; ++i) count += buf[i] == ' ';
    }
    ::close(fd);
  }
  ::closedir(d);
  return count;
}

// The first field of /proc/PID/schedstat: time spent on a CPU, ns; -1 if none.
long long cpu_ns(const std::string& pid) {
  int fd = ::open(("/proc/" + pid + "/schedstat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  ssize_t r = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (r <= 0) return -1;
  buf[r] = '\0';
  return std::atoll(buf);
}

// The state letter of /proc/PID/stat ('?' when it cannot be read).
char state_of(pid_t pid) {
  char path[64], buf[512];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  ssize_t r = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (r <= 0) return '?';
  buf[r] = '\0';
  const char* paren = std::strrchr(buf, ')');  // the name may hold anything
  return paren && paren[1] == ' ' ? paren[2] : '?';
}

// The middle process: N children that exit at once, t0 down `out`, exit.
[[noreturn]] void middle(long n, int out) {
  std::vector<pid_t> kids;
  kids.reserve(static_cast<size_t>(n));
  for (long i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) ::_exit(0);
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    for (;;) {
      char s = state_of(pid);
      if (s == 'Z') break;
      if (s == '?') {
        errno = ESRCH;
        die("a child vanished before it was orphaned (is /proc this pid namespace's?)");
      }
      ::sched_yield();
    }
  }
  long long t0 = now_ns();
  if (!write_all(out, reinterpret_cast<const char*>(&t0), sizeof t0)) die("pipe");
  ::_exit(0);
}

int cmd_orphans(int argc, char** argv) {
  if (argc < 4 || argc > 5) return usage();
  char* end = nullptr;
  long n = std::strtol(argv[2], &end, 10);
  if (*end || n < 1 || n > 1000000) return usage();
  std::string result = argv[3];
  std::string reaper = argc == 5 ? argv[4] : "1";

  long baseline = count_children(reaper);
  if (baseline < 0) {
    errno = ESRCH;
    die(("no process " + reaper + " in /proc").c_str());
  }
  // The reaper is idle while the middle process forks: its CPU time from
  // here on is what the reaping costs it.
  long long cpu0 = cpu_ns(reaper);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) die("pipe2");
  pid_t mid = ::fork();
  if (mid < 0) die("fork");
  if (mid == 0) {
    ::close(p[0]);
    middle(n, p[1]);
  }
  ::close(p[1]);
  long long t0 = 0;
  ssize_t r;
  while ((r = ::read(p[0], &t0, sizeof t0)) < 0 && errno == EINTR) {
  }
  if (r != static_cast<ssize_t>(sizeof t0)) {
    std::fputs("bw-bench-orphans: the middle process failed\n", stderr);
    return 1;
  }
  // When the middle process is reaped, it has re-parented its children.
  while (::waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
  }
  long count;
  while ((count = count_children(reaper)) > baseline) {
    struct timespec tick = {0, 200 * 1000};
    ::nanosleep(&tick, nullptr);
  }
  long long t1 = now_ns();
  long long cpu1 = cpu_ns(reaper);
  if (count < 0) {
    std::fprintf(stderr, "bw-bench-orphans: the reaper %s is gone\n", reaper.c_str());
    return 1;
  }
  char line[96];
  int len = std::snprintf(line, sizeof line, "%ld %lld %lld\n", n, t1 - t0,
                          cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1LL);
  std::string tmp = result + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || !write_all(fd, line, static_cast<size_t>(len)) || ::close(fd) < 0 ||
      ::rename(tmp.c_str(), result.c_str()) < 0)
    die(result.c_str());
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "stamp") == 0) return cmd_stamp(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "orphans") == 0) return cmd_orphans(argc, argv);
  return usage();
}
