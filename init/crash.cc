// PID 1 must not die: when it does, the kernel panics ("Attempted to kill
// init") and the machine stays down until someone power-cycles it. A fault
// in PID 1 instead ends in a logged, synced reboot.
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <atomic>

#include "init/boot.h"

namespace bw::init {

namespace {

constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};

// The handlers run on their own stack so that a stack overflow is reported too.
alignas(16) char g_alt_stack[64 * 1024];
std::atomic<HardwareWatchdog*> g_watchdog{nullptr};
std::atomic<bool> g_installed{false};

// Async-signal-safe formatting: only these appends, no allocation, no stdio.
struct Line {
  char buf[256];
  size_t len = 0;
  void add(const char* s) {
    while (*s && len < sizeof buf - 1) buf[len++] = *s++;
  }
  void add_dec(long v) {
    char tmp[24];
    int n = 0;
    bool neg = v < 0;
    unsigned long u = neg ? 0UL - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
    do {
      tmp[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u && n < 23);
    if (neg) add("-");
    while (n) {
      char c[2] = {tmp[--n], 0};
      add(c);
    }
  }
  void add_hex(unsigned long v) {
    static const char digits[] = "0123456789abcdef";
    add("0x");
    bool started = false;
    for (int shift = 60; shift >= 0; shift -= 4) {
      unsigned d = (v >> shift) & 0xf;
      if (!d && !started && shift) continue;
      started = true;
      char c[2] = {digits[d], 0};
      add(c);
    }
  }
};

void crash_handler(int sig, siginfo_t* info, void*) {
  int saved_errno = errno;
  bool pid1 = ::getpid() == 1;
  Line l;
  l.add("<2>bulwark-init: pid ");
  l.add_dec(::getpid());
  l.add(" crashed: signal ");
  l.add_dec(sig);
  const char* abbrev = sigabbrev_np(sig);
  if (abbrev) {
    l.add(" (SIG");
    l.add(abbrev);
    l.add(")");
  }
  if (sig != SIGABRT && info) {
    l.add(" at address ");
    l.add_hex(reinterpret_cast<unsigned long>(info->si_addr));
  }
  l.add(pid1 ? "; syncing and rebooting\n" : "\n");
  // stderr without the "<2>" priority; the kernel log with it.
  (void)!::write(STDERR_FILENO, l.buf + 3, l.len - 3);
  int kmsg = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (kmsg >= 0) {
    (void)!::write(kmsg, l.buf, l.len);
    ::close(kmsg);
  }
  if (pid1) {
    // If sync or the reboot hangs, the watchdog (no longer pinged) resets the machine.
    if (HardwareWatchdog* w = g_watchdog.load()) w->disarm_on_fatal();
    ::sync();
    (void)::reboot(RB_AUTOBOOT);
    for (;;) ::pause();
  }
  // Any other process dies of the signal as it would have without us.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
  errno = saved_errno;
  ::raise(sig);  // delivered when the handler returns (the signal is blocked until then)
}

}  // namespace

void install_crash_handlers() {
  if (g_installed.exchange(true)) return;
  stack_t ss {};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof g_alt_stack;
  (void)::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = crash_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : kCrashSignals) {
    sigaddset(&sa.sa_mask, sig);
  }
  for (int sig : kCrashSignals) (void)::sigaction(sig, &sa, nullptr);
}

void crash_handlers_use_watchdog(HardwareWatchdog* watchdog) { g_watchdog.store(watchdog); }

}  // namespace bw::init
