// bw-bench-time: times one command for tests/bench/start_latency.sh.
//
//   bw-bench-time RESULTS CMD [ARG...]
//
// Runs CMD (fork + execvp, stdio inherited), waits for it with wait4 and
// appends "<wall ns> <peak RSS KiB>" to the file RESULTS. The wall time runs
// from just before fork to wait4's return, on CLOCK_MONOTONIC. The peak RSS
// is wait4's ru_maxrss: the largest resident set of CMD's process and of the
// descendants it waited for (a runtime's own helpers and the container
// process it reaps), not their sum. Exits with CMD's status (128+signal when
// killed); nothing is appended then.
//
// Linked statically against libc only, and does nothing before fork: a forked
// child's resident set counts towards its ru_maxrss at exec, so the timer's
// own footprint must be small next to the runtimes it measures.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fputs("usage: bw-bench-time RESULTS CMD [ARG...]\n", stderr);
    return 2;
  }
  int out = ::open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    std::fprintf(stderr, "bw-bench-time: %s: %s\n", argv[1], std::strerror(errno));
    return 2;
  }
  struct timespec t0, t1;
  ::clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "bw-bench-time: fork: %s\n", std::strerror(errno));
    return 2;
  }
  if (pid == 0) {
    ::execvp(argv[2], argv + 2);
    std::fprintf(stderr, "bw-bench-time: %s: %s\n", argv[2], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  struct rusage ru;
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      std::fprintf(stderr, "bw-bench-time: wait4: %s\n", std::strerror(errno));
      return 2;
    }
  }
  ::clock_gettime(CLOCK_MONOTONIC, &t1);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  if (WEXITSTATUS(status) != 0) return WEXITSTATUS(status);
  long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  char line[64];
  int n = std::snprintf(line, sizeof line, "%lld %ld\n", ns, ru.ru_maxrss);
  if (::write(out, line, static_cast<size_t>(n)) != n) {
    std::fprintf(stderr, "bw-bench-time: writing %s: %s\n", argv[1], std::strerror(errno));
    return 2;
  }
  return 0;
}
