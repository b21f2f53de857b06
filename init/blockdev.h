// Finding the root block device without blkid or udev: the root= spec is
// matched against every device in /sys/class/block by reading the ext2/3/4
// superblock (label and UUID) straight from the device node that devtmpfs
// created for it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace bw::init {

struct RootSpec {
  enum class Kind { path, label, uuid };
  Kind kind = Kind::path;
  std::string value;  // "/dev/vda2", a label, or a lower-case UUID
  std::string text;   // as written, for messages
};

// Parses root=: "/dev/vda2", "LABEL=x", "UUID=x" (any case), and the udev
// spellings /dev/disk/by-label/X and /dev/disk/by-uuid/X, which have no udev
// to create them here and so are read as LABEL= and UUID=. PARTUUID= and
// major:minor numbers are refused with a message that says what works.
Result<RootSpec> parse_root_spec(std::string_view text);

struct Ext4Superblock {
  std::string label;  // s_volume_name, up to 16 bytes, NUL-trimmed
  std::string uuid;   // s_uuid as lower-case 8-4-4-4-12
};

// The superblock starts 1024 bytes into the device; `bytes` must hold at
// least the first 2048 bytes of it. ENOENT when there is no ext2/3/4 magic.
Result<Ext4Superblock> parse_ext4_superblock(std::string_view device_start);
// Reads the first 2048 bytes of `path` and parses them.
Result<Ext4Superblock> read_ext4_superblock(const std::string& path);

// One pass over `sys_block` (/sys/class/block) for a device matching `spec`;
// device nodes are looked up in `dev_dir` (/dev). Returns the node's path, or
// ENOENT when none matches yet.
Result<std::string> find_block_device(const RootSpec& spec, const std::string& sys_block = "/sys/class/block",
                                      const std::string& dev_dir = "/dev");

// Polls find_block_device every 50 ms until it succeeds or `timeout_ms`
// passes (the device appears once its driver probed it); -1 waits forever.
// The timeout error says what was looked for and which devices were seen.
Result<std::string> wait_for_block_device(const RootSpec& spec, int timeout_ms,
                                          const std::string& sys_block = "/sys/class/block",
                                          const std::string& dev_dir = "/dev");

}  // namespace bw::init
