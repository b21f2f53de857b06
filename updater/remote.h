// Talking to the update server through libostree: the remote's
// configuration in the sysroot's repository, the summary, and pulls. Every
// network operation runs in a worker thread (with its own GLib main context)
// while the caller watches its progress: a transfer that moves less than
// low_speed_bytes per second for low_speed_seconds, while requests are
// outstanding, is cancelled. Objects fetched before that are kept, so the
// next pull resumes.
#pragma once

#include <ostree.h>

#include <functional>
#include <string>

#include "base/result.h"
#include "updater/config.h"
#include "updater/keys.h"

namespace bw::update {

struct PullProgress {
  uint64_t bytes = 0;
  unsigned fetched = 0;
  unsigned requested = 0;
  bool done = false;
};
using ProgressFn = std::function<void(const PullProgress&)>;

class Remote {
 public:
  // Adds the remote (named after the OS) to `repo`, or updates its URL.
  static Result<Remote> setup(OstreeRepo* repo, const Config& cfg);

  // The commit the remote's summary names for the configured ref. When the
  // summary is signed (summary.sig) the signature must verify with `keys`.
  Result<std::string> resolve_ref(const TrustedKeys& keys);
  // Only the commit object and its detached metadata (the signatures).
  Result<void> pull_commit_only(const std::string& checksum);
  // Everything the commit needs; `progress` is called about every 200 ms.
  Result<void> pull(const std::string& checksum, const ProgressFn& progress);

  const std::string& name() const { return name_; }

 private:
  Remote(OstreeRepo* repo, const Config& cfg) : repo_(repo), cfg_(&cfg), name_(cfg.os) {}
  Result<void> pull_impl(const std::string& checksum, bool commit_only, const ProgressFn& progress);

  OstreeRepo* repo_;
  const Config* cfg_;
  std::string name_;
};

}  // namespace bw::update
