// Mounting inside a rootfs without ever touching a path outside it.
// Paths are resolved one component at a time with O_PATH|O_NOFOLLOW opens
// relative to the previous component's fd, so a symlink swapped in by the
// container cannot redirect a mount (no TOCTOU). Mounts use the new mount API
// (open_tree/fsopen/fsmount/move_mount), which attaches to an fd, not a path.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"

namespace bw::sandbox {

enum class Create { none, dir, file };

// Opens `path` (absolute, as seen inside the container) beneath `rootfd`.
// Absolute symlinks are resolved as if `rootfd` were "/" (as runc does); a
// ".." that would climb above the root is refused with EXDEV. Missing
// components are created as directories, the last one as `create` says.
// Returns an O_PATH fd of the result.
Result<UniqueFd> open_in_root(int rootfd, const std::string& path, Create create);

// The parsed form of OCI mount options.
struct MountOptions {
  unsigned attr_set = 0;      // MOUNT_ATTR_* to set
  unsigned attr_clear = 0;    // MOUNT_ATTR_* to clear
  bool bind = false;
  bool recursive = false;     // rbind / r* propagation
  unsigned long propagation = 0;  // MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE
  std::vector<std::string> data;  // filesystem options passed to fsconfig
};
Result<MountOptions> parse_mount_options(const std::vector<std::string>& options);

// Performs one mount of the config onto its destination beneath rootfd.
// `field` names it in errors ("mounts[3]"); relative bind sources are
// resolved against `bundle`.
Result<void> mount_entry(int rootfd, const oci::Mount& m, const std::string& bundle,
                         const std::string& field);

// Mounts a fresh filesystem of `type` with `data` options at `target_fd`.
Result<void> mount_fs_at(int target_fd, const std::string& type, const std::string& source,
                         const MountOptions& opts);
// Bind-mounts `source_fd` (an O_PATH fd or path tree) at `target_fd`.
Result<void> bind_at(int source_fd, int target_fd, bool recursive, unsigned attr_set,
                     unsigned attr_clear);

}  // namespace bw::sandbox
