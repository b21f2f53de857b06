// The publisher's side: committing an OS tree with Bulwark's metadata,
// signing it, and publishing the repository (summary, its signature, static
// deltas).
#pragma once

#include <ostree.h>

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "updater/glib.h"
#include "updater/keys.h"

namespace bw::update {

// Opens an existing repository.
Result<GPtr<OstreeRepo>> open_repo(const std::string& path);
// A ref or checksum (or a prefix of one) -> the full commit checksum.
Result<std::string> resolve_commit(OstreeRepo* repo, const std::string& rev);

struct CommitRequest {
  std::string repo;
  std::string branch;
  std::string tree;                 // a directory in ostree's layout
  std::string version;
  std::optional<uint64_t> sequence; // default: the parent's + 1
  std::string os;                   // default: ID from the tree's usr/lib/os-release
  std::string subject;
  std::vector<SecretKey> keys;      // each signs the commit
};
// Checks the tree (usr/ present, no top-level /etc, exactly one kernel in
// usr/lib/modules/*/vmlinuz), commits it, signs it, moves the branch.
// Returns the commit's checksum. Nothing is written when a check fails.
Result<std::string> commit_tree(const CommitRequest& req);

// Regenerates the summary (signed into summary.sig with `keys` when given)
// and, with `static_deltas`, generates a delta from each ref's parent.
Result<void> publish_repo(const std::string& repo_path, bool static_deltas, const std::vector<SecretKey>& keys);

}  // namespace bw::update
