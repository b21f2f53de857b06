// The supervisor: starts the services in dependency order, watches them
// (exit, readiness, watchdog, health), restarts them by their policy with
// exponential backoff until a crash loop marks them failed, captures their
// output, reaps every child (it is PID 1 or a child subreaper, so orphans
// come to it too), and shuts everything down in reverse order. All of it
// happens in callbacks of one EventLoop; nothing blocks for long and nothing
// polls. It serves the control socket through ControlHandler.
//
// Supervision is declarative: each service has a wanted state (up or down)
// and reconcile() moves the actual states towards it, one step at a time, as
// events arrive:
//   - a wanted service starts once every `requires` dependency is running
//     (ready), and every `after` dependency that is also wanted has finished
//     starting;
//   - an unwanted service stops once every service that depends on it
//     (requires or after) and is also going down has stopped.
// A service that exits while wanted is restarted or not by its policy; one
// that is done (exited without a restart, or failed) stops being wanted.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/child.h"
#include "init/control.h"
#include "init/logbuf.h"
#include "init/loop.h"
#include "init/notify.h"
#include "init/service.h"
#include "init/verdict.h"
#include "sandbox/cgroup2.h"

namespace bw::init {

// How the supervisor ends. In supervisor mode the process exits with
// exit_code(); as PID 1 the action goes to pid1_shutdown().
enum class ShutdownAction { exit, poweroff, reboot, halt };
const char* action_name(ShutdownAction a);  // "exit", "poweroff", "reboot", "halt"
// 0 for exit, poweroff and halt; 133 for reboot (systemd-nspawn's convention
// for "the container asked to be rebooted").
int exit_code(ShutdownAction a);

// "exited with status 1", "killed by signal 9 (SIGKILL)", "exited (status unknown)".
std::string describe_exit(const std::optional<ExitStatus>& st);

struct SupervisorOptions {
  std::vector<std::string> service_dirs;        // read in order, later files replacing earlier ones
  std::vector<std::string> shutdown_hook_dirs;  // likewise, for the shutdown hooks
  std::vector<std::string> boot_verdict_hook_dirs;  // likewise, for the boot-verdict hooks
  std::string state_dir = "/run/bulwark";       // notify.sock, containers/, seccomp-cache/
  std::string log_dir = "/var/log/bulwark";     // <service>.log
  // Where process services get a cgroup of their own (<parent>/<service>,
  // relative to the cgroup2 mount); "" for none (process groups only).
  std::string cgroup_parent;
  LogLimits log_limits;
  int hook_timeout_ms = 120000;  // per hook (shutdown or boot-verdict), then SIGKILL
  // The boot verdict is bad when the required_for_boot services are not all
  // up this long after start_all().
  int boot_verdict_deadline_ms = kDefaultBootDeadlineMs;
  // Why the service definitions could not be loaded ("" when they were):
  // PID 1 then runs without services, and the boot verdict is bad.
  std::string config_error;
  bool pid1 = false;             // SIGINT reboots (Ctrl-Alt-Del), SIGTERM is ignored
};

class Supervisor : public ControlHandler {
 public:
  // Sets up the notify socket, the output pipes and the logs; starts nothing.
  static Result<std::unique_ptr<Supervisor>> create(EventLoop& loop, SupervisorOptions opts,
                                                    std::vector<ServiceDef> services);
  ~Supervisor() override;
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Wants every service up (dependencies first) and starts the clock of the
  // boot verdict (once per run: see init/BOOT.md).
  void start_all();
  // Orderly shutdown: every service down in reverse dependency order (each
  // with its stop signal and timeout, then SIGKILL), then the shutdown hooks
  // in name order, then on_finished(action). A second request while one is
  // under way is logged and ignored.
  void shutdown(ShutdownAction action);
  bool shutting_down() const { return shutting_down_; }
  // Called once, from the loop, when shutdown() has completed.
  std::function<void(ShutdownAction)> on_finished;

  // One line per service and the supervisor's own counters, at info level.
  void dump_state();
  // The signalfd's signals: SIGCHLD reaps; the others as documented in
  // examples/services/README.md.
  void handle_signal(int sig);
  // Reaps every exited child (waitid P_ALL, WNOHANG) and dispatches those
  // it knows; orphans re-parented to us are reaped and forgotten.
  void reap();

  const std::string& notify_socket_path() const { return notify_.path(); }
  size_t tracked_children() const { return children_.size(); }

  // ControlHandler
  std::vector<ServiceView> status() override;
  Result<void> start(const std::string& name) override;
  Result<void> stop(const std::string& name) override;
  Result<void> restart(const std::string& name) override;
  Result<void> reboot() override;
  Result<void> poweroff() override;
  std::optional<ServiceLog> log(const std::string& name) override;
  std::optional<BootVerdictView> boot_verdict() override;

 private:
  enum class State { inactive, waiting, starting, running, stopping, backoff, failed };
  struct Service;
  struct Tracked;
  struct Hook;

  Supervisor(EventLoop& loop, SupervisorOptions opts, NotifySocket notify);
  static const char* state_name(State s);
  Service* find(const std::string& name);
  void set_state(Service& s, State st);
  void reconcile();
  bool reconcile_one(Service& s);
  std::string blocked_start(const Service& s) const;
  bool blocked_stop(const Service& s) const;
  std::vector<Service*> closure(Service& s, bool dependencies);

  // lifecycle.cc
  void launch(Service& s);
  Result<void> spawn_main(Service& s);
  std::vector<std::string> environment(const Service& s) const;
  void setup_cgroup(Service& s);
  void on_main_exit(Service& s, pid_t pid, std::optional<ExitStatus> status);
  void after_exit(Service& s, bool failed, const std::string& why);
  void begin_stop(Service& s, int sig);
  void signal_service(Service& s, int sig, bool all);
  void on_stop_timeout(Service& s);
  void cleanup_after_main(Service& s);
  void track(ChildProcess child, bool is_child, std::function<void(std::optional<ExitStatus>)> on_exit);
  void forget(pid_t pid);
  void defer_reap();
  void on_pidfd(pid_t pid);
  void read_output(Service& s);
  void note(Service& s, const std::string& line);

  // health.cc
  void became_ready(Service& s);
  void schedule_health(Service& s, long long delay_ms);
  void run_health(Service& s);
  void on_health_exit(Service& s, unsigned gen, std::optional<ExitStatus> st, bool timed_out);
  void cancel_health(Service& s);
  void arm_watchdog(Service& s);
  void fail_service(Service& s, const std::string& why, int sig);
  void on_notify_readable();
  void handle_notify(const NotifyMessage& m);
  Service* attribute(pid_t pid);
  bool belongs_to(Service& s, pid_t pid);
  void set_main_pid(Service& s, pid_t pid);

  // supervisor.cc: shutdown, the boot verdict, hooks
  void maybe_finish_shutdown();
  void deliver_verdict(const BootDecision& d);
  void run_hooks(std::vector<Hook> hooks, std::function<void()> then);
  void run_next_hook();

  EventLoop& loop_;
  SupervisorOptions opts_;
  NotifySocket notify_;
  EventLoop::WatchId notify_watch_ = 0;
  std::string containers_root_;
  std::string seccomp_cache_;
  std::string cgroup_mount_;  // "" when process services get no cgroups
  std::vector<std::string> order_;  // start order
  std::map<std::string, std::unique_ptr<Service>> services_;
  std::map<pid_t, std::unique_ptr<Tracked>> children_;
  bool shutting_down_ = false;
  ShutdownAction action_ = ShutdownAction::exit;
  bool hooks_started_ = false;
  bool finished_ = false;
  std::deque<Hook> hook_queue_;
  bool hook_running_ = false;
  EventLoop::TimerId hook_timer_ = 0;
  std::optional<BootVerdict> verdict_;  // from start_all()
  EventLoop::TimerId verdict_timer_ = 0;
  unsigned long long orphans_reaped_ = 0;
  EventLoop::TimerId reap_timer_ = 0;
  bool in_reconcile_ = false;
  bool reconcile_again_ = false;
};

// The internals, declared here so that the supervisor's .cc files share them.
struct Supervisor::Service {
  Service(ServiceDef d, ServiceLog l) : def(std::move(d)), log(std::move(l)) {}
  ServiceDef def;
  ServiceLog log;
  UniqueFd out_read, out_write;  // the output pipe, kept across restarts
  EventLoop::WatchId out_watch = 0;

  bool wanted = false;
  bool restart_pending = false;  // restart(): back up once it is down
  State state = State::inactive;
  long long since_ms = 0;
  std::string waiting_for;  // why a wanted service has not started yet

  pid_t main_pid = 0;
  pid_t pgid = 0;  // a process service's process group (its first pid)
  long long started_ms = 0;
  std::optional<sandbox::Cgroup> cgroup;  // a process service's own cgroup
  std::string cgroup_rel;                 // its path below the cgroup2 mount
  bool cgroup_warned = false;
  bool container_created = false;

  std::string status;           // STATUS=
  bool notified_stopping = false;  // STOPPING=1
  std::string health;           // "", "healthy", "unhealthy"
  int health_failures = 0;
  unsigned health_gen = 0;      // bumped to disown a running check
  pid_t health_pid = 0;
  EventLoop::TimerId health_timer = 0;  // the next check, or the running one's timeout

  EventLoop::TimerId restart_timer = 0;
  EventLoop::TimerId stop_timer = 0;
  EventLoop::TimerId watchdog_timer = 0;
  int watchdog_ms = 0;   // def.watchdog_ms, or WATCHDOG_USEC= from the service
  int stop_stage = 0;    // 1: stop signal sent, 2: SIGKILL sent
  bool pending_failure = false;  // stopped by us because of a failure (watchdog, health)
  std::string failure_reason;
  std::deque<long long> restart_times;  // restarts within crash_loop_window_ms
  int restarts = 0;                     // since the supervisor started
};

// One hook to run (shutdown or boot-verdict), or, with `then` set, a step
// taken when the queue reaches it.
struct Supervisor::Hook {
  std::string kind;               // "shutdown hook", "boot-verdict hook": names it in the log
  std::vector<std::string> argv;  // argv[0]: the hook's path
  std::vector<std::string> env;
  std::function<void()> then;
};

struct Supervisor::Tracked {
  ChildProcess proc;
  bool is_child = true;  // false: a MAINPID= process that is not ours to reap
  EventLoop::WatchId watch = 0;
  std::function<void(std::optional<ExitStatus>)> on_exit;  // nullopt: status unknown
};

}  // namespace bw::init
