// The container's filesystem view, built inside its new mount namespace:
// propagation, the rootfs bind, the config's mounts, /dev, then (after the
// createContainer hooks) pivot_root, masked and read-only paths, and a
// read-only root.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"

namespace bw::sandbox {

struct RootfsPlan {
  const oci::Spec* spec = nullptr;
  std::string bundle;
  std::string rootfs;       // absolute host path of root.path
  bool in_user_ns = false;  // device nodes are bind-mounted then, since mknod is refused
};

// Before pivot_root: everything that needs the host's view.
Result<void> prepare_rootfs(const RootfsPlan& plan);
// pivot_root into the prepared rootfs and detach the old root.
Result<void> enter_rootfs(const RootfsPlan& plan);
// After pivot_root: masked paths, read-only paths, /dev/console, read-only root.
Result<void> finish_rootfs(const RootfsPlan& plan, const std::string& console_path);

// /dev: the minimal set of device nodes, symlinks, /dev/pts and /dev/shm.
Result<void> setup_dev(int rootfd, const oci::Spec& spec, bool in_user_ns);

}  // namespace bw::sandbox
