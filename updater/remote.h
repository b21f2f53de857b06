// Talking to the update server through libostree: the remote's
// configuration in the sysroot's repository, the summary, and pulls.
//
// Every network operation runs in a worker process (this program
// re-executed as `bulwark-update fetch-worker ...`) that reports its
// progress on a pipe. A transfer that moves less than low_speed_bytes per
// second for low_speed_seconds, while requests are outstanding, is stopped
// with SIGKILL: libostree 2022.7 does not abandon requests already sent when
// its operation is cancelled, so a server that stops answering would hold a
// thread forever. Killing a pull is what a power cut does, which the
// repository survives; the objects fetched before it are kept, so the next
// pull resumes.
#pragma once

#include <ostree.h>

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "updater/config.h"
#include "updater/keys.h"

namespace bw::update {

struct PullProgress {
  uint64_t bytes = 0;
  unsigned fetched = 0;
  unsigned requested = 0;
  unsigned outstanding = 0;
};
using ProgressFn = std::function<void(const PullProgress&)>;

class Remote {
 public:
  // Adds the remote (named after the OS) to the repository at `repo_path`
  // (opened as `repo`), or updates its URL.
  static Result<Remote> setup(OstreeRepo* repo, const std::string& repo_path, const Config& cfg);

  // The commit the remote's summary names for the configured ref. When the
  // summary is signed (summary.sig) the signature must verify with `keys`.
  Result<std::string> resolve_ref(const TrustedKeys& keys);
  // Only the commit object and its detached metadata (the signatures).
  Result<void> pull_commit_only(const std::string& checksum);
  // Everything the commit needs; `progress` is called as it advances.
  Result<void> pull(const std::string& checksum, const ProgressFn& progress);

  const std::string& name() const { return name_; }

 private:
  Remote(const std::string& repo_path, const Config& cfg) : repo_path_(repo_path), cfg_(&cfg), name_(cfg.os) {}
  Result<void> run_worker(const std::vector<std::string>& args, const ProgressFn& progress);

  std::string repo_path_;
  const Config* cfg_;
  std::string name_;
};

// The worker's side: `fetch-worker --repo PATH --remote NAME` then
// `--summary DIR` (writes DIR/summary and DIR/summary.sig when there is one),
// `--commit-only CHECKSUM` or `--pull CHECKSUM`. Progress lines
// "bytes fetched requested outstanding" go to fd 3; errors to stderr.
int fetch_worker_main(const std::vector<std::string>& args);

}  // namespace bw::update
