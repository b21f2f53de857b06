// bw-syscall-mix: a static test program for `bulwark-seccomp record` and
// `check`. Each part makes a system call no other part (nor the C library's
// start-up) makes, an exact number of times, from a different kind of task,
// so a test can tell from the recorded counts that no task and no call was
// missed:
//
//   threads   kThreads threads x kPerThread sysinfo()
//   fork      a forked child:  kForkCalls times()
//   exec      the forked child re-executes this program as `exec-child`:
//             one thread there makes kExecCalls sched_getscheduler(0)
//   compat    (when the kernel runs them) one i386 getppid via int $0x80 and
//             one x32 getppid; printed as compat_i386=yes/no
//   sockets   socket(AF_UNIX) and socket(AF_INET), each once
//
//   bw-syscall-mix all         everything above, prints the counts, exits 0
//   bw-syscall-mix loop N      N getppid() calls and nothing else (for timing)
//   bw-syscall-mix exec-child  (internal)
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kThreads = 8;
constexpr int kPerThread = 1000;
constexpr int kForkCalls = 500;
constexpr int kExecCalls = 300;

// Each part checks its calls, so that a profile that denies one fails the
// program (status 1) rather than going unnoticed.
void* sysinfo_thread(void*) {
  struct sysinfo info;
  for (int i = 0; i < kPerThread; ++i)
    if (syscall(SYS_sysinfo, &info) != 0) return reinterpret_cast<void*>(1);
  return nullptr;
}

void* scheduler_thread(void*) {
  for (int i = 0; i < kExecCalls; ++i)
    if (syscall(SYS_sched_getscheduler, 0) < 0) return reinterpret_cast<void*>(1);
  return nullptr;
}

bool run_threads(void* (*fn)(void*), int n) {
  pthread_t t[kThreads];
  for (int i = 0; i < n; ++i)
    if (pthread_create(&t[i], nullptr, fn, nullptr) != 0) return false;
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    void* failed = nullptr;
    pthread_join(t[i], &failed);
    ok = ok && failed == nullptr;
  }
  return ok;
}

bool wait_ok(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// An i386 system call from this 64-bit process. The kernel may have IA-32
// emulation switched off (then int $0x80 faults), so it is tried in a child.
bool compat_i386_getppid() {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    long ret = 64;  // __NR_getppid on i386
    asm volatile("int $0x80" : "+a"(ret) : : "memory");
    _exit(ret > 0 ? 0 : 1);
  }
  return wait_ok(pid);
}

int cmd_all(const char* self) {
  if (!run_threads(sysinfo_thread, kThreads)) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    struct tms t;
    for (int i = 0; i < kForkCalls; ++i)
      if (syscall(SYS_times, &t) == -1) _exit(1);
    execl(self, self, "exec-child", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (!wait_ok(pid)) return 1;
  bool i386 = compat_i386_getppid();
  // x32's getppid: ENOSYS unless the kernel runs x32, but the filter sees it.
  (void)syscall(0x40000000 | 110);
  int u = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int in = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (u < 0 || in < 0) return 1;
  close(u);
  close(in);
  std::printf("sysinfo=%d\ntimes=%d\nsched_getscheduler=%d\ncompat_i386=%s\nok\n",
              kThreads * kPerThread, kForkCalls, kExecCalls, i386 ? "yes" : "no");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "all") == 0) return cmd_all(argv[0]);
  if (argc >= 2 && std::strcmp(argv[1], "exec-child") == 0)
    return run_threads(scheduler_thread, 1) ? 0 : 1;
  if (argc >= 3 && std::strcmp(argv[1], "loop") == 0) {
    long n = std::strtol(argv[2], nullptr, 10);
    for (long i = 0; i < n; ++i) (void)syscall(SYS_getppid);
    return 0;
  }
  std::fprintf(stderr, "usage: bw-syscall-mix all | loop N\n");
  return 2;
}
