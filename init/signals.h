// The signals bulwark-init handles. They are blocked for the whole life of
// the process and read from a signalfd in the event loop; children must not
// inherit the blocked mask, so every program the supervisor starts resets it
// (reset_signals_for_exec) and library calls that fork and exec on our
// behalf run inside an UnblockedSignals window.
#pragma once

#include <signal.h>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::init {

// SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGPWR and
// SIGRTMIN+3/+4/+5 (systemd's halt, poweroff and reboot requests).
const sigset_t& handled_signals();

// Blocks handled_signals() and returns a non-blocking signalfd for them.
Result<UniqueFd> block_signals_to_signalfd();

// In a forked child before execve: an empty signal mask and default
// dispositions. Async-signal-safe.
void reset_signals_for_exec();

// For a library call that forks children which exec programs (a container's
// create and start, exec into a container): while it lives, the handled
// signals are unblocked, so the children start with an empty mask, and
// caught by a handler that only records them. On destruction the signals are
// blocked again and the recorded ones raised, so the signalfd reports them.
class UnblockedSignals {
 public:
  UnblockedSignals();
  ~UnblockedSignals();
  UnblockedSignals(const UnblockedSignals&) = delete;
  UnblockedSignals& operator=(const UnblockedSignals&) = delete;

 private:
  struct sigaction saved_[65];
};

}  // namespace bw::init
