// The kernel command line (/proc/cmdline), split the way the kernel splits
// it (kernel/params.c next_arg): words separated by blanks, double quotes
// group blanks into one word and are removed ("key=\"a b\"" and
// "\"key=a b\"" both give key -> "a b"), the first '=' separates key from
// value, and "--" ends the kernel's part (what follows goes to init as argv).
//
// The keys bulwark-init reads (documented in init/BOOT.md):
//   root=, rootfstype=, rootflags=, ro, rw, ostree=, init=      (rd stage)
//   bulwark.modules=a,b  bulwark.rootwait=SEC                    (rd stage)
//   bulwark.hostname=NAME  bulwark.watchdog=SEC  bulwark.watchdog_device=PATH
//   bulwark.boot_deadline=SEC  bulwark.debug
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bw::init {

struct CmdlineParam {
  std::string key;
  std::optional<std::string> value;  // nullopt for a bare flag ("ro"); "" for "key="
};

class KernelCmdline {
 public:
  KernelCmdline() = default;
  static KernelCmdline parse(std::string_view text);
  // Reads /proc/cmdline (or `path`).
  static Result<KernelCmdline> read(const std::string& path = "/proc/cmdline");

  // The value of the last occurrence of `key` (the kernel's rule too), or
  // nullopt when it is absent or a bare flag.
  std::optional<std::string> get(std::string_view key) const;
  // True when `key` appears at all, with or without a value.
  bool has(std::string_view key) const;
  // Every occurrence of `key`, each value split at `sep`, empty items dropped,
  // in order, duplicates removed: "m=a,b m=c,a" -> {a, b, c}.
  std::vector<std::string> list(std::string_view key, char sep = ',') const;
  // Parameters whose key starts with `prefix` (e.g. "virtio_blk."), in order.
  std::vector<CmdlineParam> with_prefix(std::string_view prefix) const;

  const std::vector<CmdlineParam>& params() const { return params_; }
  // Words after "--": arguments the kernel passes to init.
  const std::vector<std::string>& init_args() const { return init_args_; }

 private:
  std::vector<CmdlineParam> params_;
  std::vector<std::string> init_args_;
};

// Parses a whole number of seconds for a cmdline or config value ("30");
// `what` names it in the error ("bulwark.watchdog").
Result<int> parse_seconds(const std::string& what, const std::string& value, int max);
// The same with a lower bound other than 0.
Result<int> parse_seconds(const std::string& what, const std::string& value, int min, int max);

// bulwark.boot_deadline=SEC (1 to max_s): the boot verdict's deadline in
// milliseconds; nullopt when the key is absent.
Result<std::optional<int>> boot_deadline_ms(const KernelCmdline& cmdline, int max_s);

}  // namespace bw::init
