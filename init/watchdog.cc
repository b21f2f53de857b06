#include "init/watchdog.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <toml++/toml.h>

#include "base/file.h"

namespace bw::init {

namespace {
// Longest timeout accepted anywhere: the watchdog core's own limit is per
// driver; an hour is past any sensible setting and catches typos.
constexpr int kMaxTimeoutS = 3600;
}  // namespace

Result<void> parse_watchdog_toml(const std::string& file, const std::string& text, WatchdogConfig& cfg) {
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return make_error(EINVAL, "%s:%u: %s", file.c_str(), e.source().begin.line, std::string(e.description()).c_str());
  }
  WatchdogConfig out = cfg;
  for (auto&& [key, node] : doc) {
    unsigned line = key.source().begin.line;
    std::string name(key.str());
    if (name == "timeout_s") {
      auto v = node.value<int64_t>();
      if (!node.is_integer() || !v || *v < 0 || *v > kMaxTimeoutS)
        return make_error(EINVAL, "%s:%u: timeout_s: expected an integer from 0 (off) to %d", file.c_str(), line,
                          kMaxTimeoutS);
      out.timeout_s = static_cast<int>(*v);
    } else if (name == "device") {
      auto v = node.value<std::string>();
      if (!node.is_string() || !v || !v->starts_with("/dev/"))
        return make_error(EINVAL, "%s:%u: device: expected a path under /dev, such as \"/dev/watchdog0\"",
                          file.c_str(), line);
      out.device = *v;
    } else {
      return make_error(EINVAL, "%s:%u: %s: unknown key (expected timeout_s or device)", file.c_str(), line,
                        name.c_str());
    }
  }
  cfg = out;
  return {};
}

Result<WatchdogConfig> load_watchdog_config(const KernelCmdline& cmdline, const std::vector<std::string>& files) {
  WatchdogConfig cfg;
  for (const auto& f : files) {
    auto text = read_file(f);
    if (!text) {
      if (text.error().code == ENOENT) continue;
      return Unexpected(text.error());
    }
    BW_RETURN_IF_ERROR(parse_watchdog_toml(f, *text, cfg));
  }
  if (auto v = cmdline.get("bulwark.watchdog")) {
    BW_ASSIGN_OR_RETURN(cfg.timeout_s, parse_seconds("bulwark.watchdog", *v, kMaxTimeoutS));
  }
  if (auto v = cmdline.get("bulwark.watchdog_device")) {
    if (!v->starts_with("/dev/"))
      return make_error(EINVAL, "bulwark.watchdog_device: expected a path under /dev, found '%s'", v->c_str());
    cfg.device = *v;
  }
  return cfg;
}

Result<HardwareWatchdog> HardwareWatchdog::open(const std::string& path, int timeout_s) {
  if (timeout_s < 2)
    return make_error(EINVAL, "watchdog '%s': timeout %d s is too short (at least 2 s)", path.c_str(), timeout_s);
  HardwareWatchdog w;
  BW_ASSIGN_OR_RETURN(w.fd_, open_at(AT_FDCWD, path, O_WRONLY));
  w.path_ = path;
  int t = timeout_s;
  if (::ioctl(w.fd_.get(), WDIOC_SETTIMEOUT, &t) < 0) {
    // Some drivers have a fixed timeout; use what they report.
    if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
      return sys_error("watchdog '%s': WDIOC_SETTIMEOUT %d", path.c_str(), timeout_s);
  }
  if (::ioctl(w.fd_.get(), WDIOC_GETTIMEOUT, &t) < 0 || t <= 0) t = timeout_s;
  w.timeout_s_ = t;
  w.ping();
  return w;
}

void HardwareWatchdog::ping() {
  if (fatal_ || !fd_.valid()) return;
  int dummy = 0;
  if (::ioctl(fd_.get(), WDIOC_KEEPALIVE, &dummy) < 0) {
    // Drivers without the ioctl take any write as a ping.
    (void)!::write(fd_.get(), "\0", 1);
  }
}

void HardwareWatchdog::disarm_on_fatal() { fatal_ = true; }

Result<void> HardwareWatchdog::disable() {
  if (!fd_.valid()) return {};
  int flags = WDIOS_DISABLECARD;
  (void)::ioctl(fd_.get(), WDIOC_SETOPTIONS, &flags);
  // The magic close: a 'V' right before close() lets the driver stop.
  if (::write(fd_.get(), "V", 1) != 1) return sys_error("watchdog '%s': magic close", path_.c_str());
  fd_.reset();
  return {};
}

}  // namespace bw::init
