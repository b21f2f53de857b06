// Running a command under a seccomp filter whose SECCOMP_RET_USER_NOTIF
// returns come to this process, for `bulwark-seccomp record` (every system
// call notifies) and `check` (the calls a profile would deny notify).
//
// Every notification is shown to an observer and then, unless the observer
// fails it, continued with SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the command
// runs as it would with no filter at all. The filter is installed in the child after fork and before
// its execve, and the kernel copies it into every thread and process the
// command creates and keeps it across execve: nothing the command or its
// descendants do escapes it, and every call is seen (no sampling).
//
// Why user notification and not ptrace: one round trip to the supervisor per
// call instead of two stops (entry and exit) each needing PTRACE_GETREGS; no
// ptrace options to follow forks, clones and execs, no signal-delivery or
// group stops to re-inject, and the command may itself use ptrace (a
// debugger, strace) because it is not being traced. The kernel hands over
// exactly what a seccomp filter sees (number, AUDIT_ARCH, arguments), so the
// recorded profile speaks the filter's own terms, compat architectures
// included.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/child.h"
#include "base/result.h"
#include "seccomp/bpf.h"

namespace bw::seccomp {

// One system call the filter sent to the supervisor, before it runs.
struct Notification {
  uint64_t id = 0;  // the kernel's cookie; valid until the call is continued
  pid_t pid = 0;    // the calling thread's id, in the supervisor's pid namespace
  SeccompData data;
  int listener = -1;  // the notification fd, for task_name()
};

// Called for every notification, in order of arrival, before the call goes
// on. Returns 0 to let the call run as if unfiltered, or an errno to fail it
// with, without running it. It runs on the supervisor's only thread: while it
// runs, the calling thread waits.
using Observer = std::function<int(const Notification&)>;

struct SuperviseOptions {
  // argv[0] is looked up in PATH (as execvp does) when it has no '/'.
  std::vector<std::string> argv;
  // The filter for the child. Empty: notify_all_program().
  std::vector<struct sock_filter> program;
  // SECCOMP_FILTER_FLAG_LOG / _SPEC_ALLOW; NEW_LISTENER and WAIT_KILLABLE_RECV
  // are added, TSYNC is dropped (the child has one thread that matters).
  unsigned filter_flags = 0;
};

struct SuperviseResult {
  ExitStatus status;             // the command's own (not its descendants')
  uint64_t notifications = 0;    // calls seen
  uint64_t tasks = 0;            // distinct thread ids that made them
  bool sync_wake_up = false;     // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP was on
};

// Starts argv under the filter and supervises until the command and every
// process it left behind have exited (a command that daemonises is followed
// until the daemon ends, as `strace -f` does). Orphans are reparented to this
// process (PR_SET_CHILD_SUBREAPER) and reaped. SIGINT, SIGTERM, SIGHUP and
// SIGQUIT received meanwhile are passed to the command instead.
//
// Errors: the command could not be started (not found, not executable: the
// error names it) or supervision failed (no seccomp user notification in this
// kernel, or this process already runs under a notifying filter).
Result<SuperviseResult> supervise(const SuperviseOptions& opts, const Observer& observe);

// A one-instruction program: SECCOMP_RET_USER_NOTIF for every call of every
// architecture.
std::vector<struct sock_filter> notify_all_program();

// `prog` with every return that denies a call (SECCOMP_RET_KILL_PROCESS,
// KILL_THREAD, TRAP, ERRNO and TRACE, which fails with ENOSYS when no tracer
// is attached) turned into SECCOMP_RET_USER_NOTIF. ALLOW and LOG returns are
// kept, so allowed calls cost what they cost under the real filter.
std::vector<struct sock_filter> report_denials_program(std::vector<struct sock_filter> prog);

// The calling task's command name (/proc/PID/comm), or nullopt when the task
// is gone. Checked with SECCOMP_IOCTL_NOTIF_ID_VALID after reading, so that a
// recycled pid cannot put another task's name on the call.
std::optional<std::string> task_name(const Notification& n);

}  // namespace bw::seccomp
