// Service definitions: what bulwark-init supervises. One TOML file per
// service, <name>.toml, read from /usr/lib/bulwark/services then
// /etc/bulwark/services (a later file of the same name replaces the earlier
// one), or from --config-dir. The schema is documented in
// examples/services/README.md. Unknown keys and bad values are load errors
// naming file, line and field.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace bw::init {

enum class ServiceKind { process, container };
enum class RestartPolicy { no, on_failure, always };
enum class Readiness { started, notify };  // notify: READY=1 over NOTIFY_SOCKET

struct HealthCheck {
  std::vector<std::string> command;  // run in the service's context (in the container for containers)
  int interval_ms = 10000;
  int timeout_ms = 5000;
  int retries = 3;  // consecutive failures before the service counts as unhealthy and is restarted
};

struct ServiceDef {
  std::string name;    // file name without .toml: [a-zA-Z0-9_.-]+
  std::string file;    // where it was read from, for messages
  std::string description;
  ServiceKind kind = ServiceKind::process;
  // process
  std::vector<std::string> exec;  // argv; exec[0] absolute
  std::map<std::string, std::string> environment;
  std::string working_directory = "/";
  std::optional<uid_t> user;
  std::optional<gid_t> group;
  // container
  std::string bundle;  // OCI bundle directory
  // ordering and dependencies
  std::vector<std::string> requires_;  // start after these are ready; stop before them
  std::vector<std::string> after;      // ordering only, when both are started
  // lifecycle
  RestartPolicy restart = RestartPolicy::on_failure;
  int restart_delay_ms = 100;        // first backoff
  int restart_max_delay_ms = 30000;  // backoff cap (the delay doubles each time)
  int crash_loop_restarts = 5;       // this many restarts within...
  int crash_loop_window_ms = 60000;  // ...this window: the service is marked failed, not restarted
  Readiness ready = Readiness::started;
  int watchdog_ms = 0;  // with notify: WATCHDOG=1 expected at least this often (0 = off)
  int stop_signal = SIGTERM;
  int stop_timeout_ms = 10000;  // then SIGKILL
  std::optional<HealthCheck> health;
  bool required_for_boot = false;  // counts for the boot health verdict (updater)
};

// Parses one service file's text (`file` names it in errors: "x.toml:12: restart: ...").
Result<ServiceDef> parse_service(const std::string& name, const std::string& file, const std::string& text);
// Reads every *.toml in `dirs`, in order, later files replacing earlier ones
// of the same name; checks that every dependency names a known service and
// that there is no dependency cycle.
Result<std::vector<ServiceDef>> load_services(const std::vector<std::string>& dirs);
// Start order: dependencies (requires + after) before dependents. Stop order
// is its reverse. A cycle is an error naming the services in it.
Result<std::vector<std::string>> start_order(const std::vector<ServiceDef>& services);

// Restart backoff: the delay before restart number `attempt` (0-based).
int backoff_delay_ms(const ServiceDef& s, int attempt);

}  // namespace bw::init
