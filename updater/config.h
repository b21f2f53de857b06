// bulwark-update's configuration: /etc/bulwark/update.toml (schema and
// defaults documented in examples/update/update.toml). Unknown sections or
// keys and bad values are errors naming file, line and field.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace bw::update {

struct Config {
  std::string file;  // where it was read from, for messages
  // [remote]
  std::string url;
  std::string ref;
  std::string os = "bulwark";
  int low_speed_bytes = 1000;
  int low_speed_seconds = 30;
  // [trust]
  std::vector<std::string> key_dirs = {"/usr/lib/bulwark/update/trusted.d", "/etc/bulwark/update/trusted.d"};
  // [policy]
  bool auto_reboot = false;
  bool auto_upgrade = true;
  int check_interval_s = 3600;
  int jitter_s = 600;
  int boot_attempts = 3;
  // [boot]
  std::string grubenv = "/boot/grub/grubenv";
  // [status]
  std::string metrics_textfile;
};

Result<Config> parse_config(const std::string& file, const std::string& text);
Result<Config> load_config(const std::string& file);

}  // namespace bw::update
