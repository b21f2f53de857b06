// The hardware watchdog: when one is configured, PID 1 opens it and pings it
// from its event loop, so a hung PID 1 (or a hung kernel) resets the machine.
// On a fatal error PID 1 stops pinging and the watchdog fires even if the
// reboot itself hangs.
//
// Configuration, later sources overriding earlier ones:
//   /usr/lib/bulwark/watchdog.toml, /etc/bulwark/watchdog.toml:
//       timeout_s = 30                 # 0 = no watchdog
//       device = "/dev/watchdog0"      # optional
//   kernel command line: bulwark.watchdog=SEC, bulwark.watchdog_device=PATH
// See examples/watchdog.toml.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "init/cmdline.h"

namespace bw::init {

struct WatchdogConfig {
  std::string device = "/dev/watchdog0";
  int timeout_s = 0;  // 0: no watchdog
  bool enabled() const { return timeout_s > 0; }
};

// Parses one watchdog.toml into `cfg` (keys it lacks leave cfg as it was).
// Unknown keys and bad values are errors naming file, line and key.
Result<void> parse_watchdog_toml(const std::string& file, const std::string& text, WatchdogConfig& cfg);
// Reads the files that exist (a missing file is not an error), then applies
// the command line.
Result<WatchdogConfig> load_watchdog_config(const KernelCmdline& cmdline,
                                            const std::vector<std::string>& files = {
                                                "/usr/lib/bulwark/watchdog.toml", "/etc/bulwark/watchdog.toml"});

class HardwareWatchdog {
 public:
  HardwareWatchdog() = default;
  HardwareWatchdog(HardwareWatchdog&&) noexcept = default;
  HardwareWatchdog& operator=(HardwareWatchdog&&) noexcept = default;
  // Closing without the magic 'V' leaves the watchdog running (the driver
  // says "watchdog did not stop!"): if PID 1 exits, the machine resets.
  ~HardwareWatchdog() = default;

  // Opens the device, sets the timeout (WDIOC_SETTIMEOUT; a driver may round
  // it, the accepted value is read back) and pings once. Opening arms it.
  static Result<HardwareWatchdog> open(const std::string& path, int timeout_s);

  // How often the event loop should call ping(): half the accepted timeout.
  int interval_ms() const { return timeout_s_ * 1000 / 2; }
  int timeout_s() const { return timeout_s_; }
  const std::string& path() const { return path_; }
  bool is_open() const { return fd_.valid(); }

  // WDIOC_KEEPALIVE; a no-op after disarm_on_fatal(). Async-signal-safe.
  void ping();
  // Stops pinging for good, so the watchdog resets the machine if nothing
  // else does first. Async-signal-safe.
  void disarm_on_fatal();
  // Disables the watchdog (WDIOS_DISABLECARD and the magic close): for an
  // orderly power-off or halt, where a later reset would be wrong.
  Result<void> disable();

 private:
  UniqueFd fd_;
  std::string path_;
  int timeout_s_ = 0;
  bool fatal_ = false;
};

}  // namespace bw::init
