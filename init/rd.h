// The rd stage: bulwark-init as the initramfs's /init. It loads the block
// driver modules, finds and mounts the root filesystem at /sysroot, prepares
// the ostree deployment named by ostree= as the new root and switches to it,
// executing the deployment's init. No shell, no udev, no blkid.
//
// The same binary runs both stages. It is the rd stage when invoked as
// `bulwark-init rd [ARGS...]`, or when it is PID 1 and /etc/initrd-release
// exists (the initramfs's /init, a copy of or link to bulwark-init; the
// deployment has no /etc/initrd-release). The sequence and keys are
// documented in init/BOOT.md.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "init/blockdev.h"
#include "init/cmdline.h"

namespace bw::init {

// True when main() should call rd_stage (see above).
bool is_rd_invocation(int argc, char** argv);

// The whole stage. Refuses unless PID 1. Never returns on success: it ends
// by executing the real init. On failure the caller logs the error and calls
// pid1_fatal (a reboot lets the bootloader's boot counter fall back).
Result<void> rd_stage(int argc, char** argv);

// ---- pieces, public for tests ----

struct RdConfig {
  RootSpec root;                     // root=
  std::string fstype = "ext4";       // rootfstype=
  std::string flags;                 // rootflags= (filesystem data)
  bool read_only = false;            // "ro" (the last of ro/rw wins); default read-write
  std::string ostree;                // ostree= ("" boots /sysroot itself)
  std::vector<std::string> modules;  // /etc/bulwark/rd-modules, then bulwark.modules=
  int root_timeout_ms = 30000;       // bulwark.rootwait=SEC; "rootwait" alone: forever (-1)
  std::string init;                  // init= ("" tries the default paths)
};
// `modules_file` names the module list file in errors, `modules_text` is its
// text ("" when it does not exist).
Result<RdConfig> parse_rd_config(const KernelCmdline& cmdline, const std::string& modules_file,
                                 const std::string& modules_text);

// Where the real init is looked for when init= is not given, in order.
std::vector<std::string> default_init_paths();

struct Deployment {
  std::string path;  // the deployment directory, now a mount point: the new root
  std::string os;    // the stateroot ("bulwark" in ostree/deploy/bulwark/...)
};
// Resolves `ostree_arg` (ostree=/ostree/boot.N/OS/BOOTCSUM/I, a symlink
// chain) inside `sysroot` without leaving it, checks that it is a deployment
// (ostree/deploy/OS/deploy/CSUM.I), and mounts, as ostree-prepare-root does:
// the deployment on itself, `sysroot` at <deployment>/sysroot,
// ostree/deploy/OS/var at <deployment>/var, and <deployment>/usr read-only
// on itself. The deployment must contain empty /sysroot and /var
// directories (its root is immutable, so they cannot be made here).
Result<Deployment> prepare_deployment(const std::string& sysroot, const std::string& ostree_arg);

struct SwitchRootOptions {
  // API mounts moved into the new root (unmounted when it lacks the directory).
  std::vector<std::string> move_mounts = {"/dev", "/proc", "/sys", "/run"};
  // Delete the initramfs's files after the switch to give its memory back.
  // Only ever done when the old root is a ramfs/tmpfs and the caller is PID 1.
  bool free_initramfs = false;
  std::vector<std::string> init_candidates = default_init_paths();  // the first executable one runs
  std::vector<std::string> init_args;  // argv[1..] of the real init
};
// Moves `new_root` onto /, chroots into it and executes the real init.
// Returns only on failure (with the mounts already switched when the failure
// is that no init could be executed).
Result<void> switch_root(const std::string& new_root, const SwitchRootOptions& options);

}  // namespace bw::init
