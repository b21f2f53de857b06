#include "init/blockdev.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "base/file.h"
#include "base/strings.h"

namespace bw::init {

namespace {

// Offsets inside the ext2/3/4 superblock (struct ext4_super_block), which
// itself starts at byte 1024 of the device.
constexpr size_t kSuperblockOffset = 1024;
constexpr size_t kMagicOffset = 0x38;  // __le16 s_magic
constexpr size_t kUuidOffset = 0x68;   // __u8 s_uuid[16]
constexpr size_t kLabelOffset = 0x78;  // char s_volume_name[16]
constexpr uint16_t kExt4Magic = 0xEF53;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == lower(prefix);
}

std::string format_uuid(const unsigned char* u) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[u[i] >> 4];
    out += hex[u[i] & 0xf];
  }
  return out;
}

int64_t now_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Names of the entries in /sys/class/block, sorted so that matches are stable.
std::vector<std::string> block_devices(const std::string& sys_block) {
  std::vector<std::string> out;
  DIR* d = ::opendir(sys_block.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<RootSpec> parse_root_spec(std::string_view text) {
  RootSpec spec;
  spec.text = std::string(text);
  auto bad = [&](const char* why) {
    return make_error(EINVAL, "root=%s: %s; expected /dev/NAME, LABEL=..., or UUID=...", spec.text.c_str(), why);
  };
  if (text.empty()) return bad("empty");
  if (starts_with_ci(text, "LABEL=")) {
    spec.kind = RootSpec::Kind::label;
    spec.value = std::string(text.substr(6));
  } else if (starts_with_ci(text, "UUID=")) {
    spec.kind = RootSpec::Kind::uuid;
    spec.value = lower(text.substr(5));
  } else if (text.starts_with("/dev/disk/by-label/")) {
    spec.kind = RootSpec::Kind::label;
    spec.value = std::string(text.substr(19));
  } else if (text.starts_with("/dev/disk/by-uuid/")) {
    spec.kind = RootSpec::Kind::uuid;
    spec.value = lower(text.substr(18));
  } else if (starts_with_ci(text, "PARTUUID=") || starts_with_ci(text, "PARTLABEL=")) {
    return bad("partition table identifiers are not supported (no GPT reader in the initramfs)");
  } else if (text.starts_with("/dev/")) {
    if (text.find("/../") != std::string_view::npos || text.ends_with("/.."))
      return bad("'..' in a device path");
    spec.value = std::string(text);
  } else {
    return bad("not a device path or a filesystem label/UUID");
  }
  if (spec.value.empty()) return bad("nothing after the '='");
  if (spec.kind == RootSpec::Kind::label && spec.value.size() > 16)
    return bad("an ext4 label has at most 16 bytes");
  return spec;
}

Result<Ext4Superblock> parse_ext4_superblock(std::string_view dev) {
  if (dev.size() < kSuperblockOffset + kLabelOffset + 16)
    return make_error(ENOENT, "too short for an ext2/3/4 superblock (%zu bytes)", dev.size());
  auto sb = reinterpret_cast<const unsigned char*>(dev.data()) + kSuperblockOffset;
  uint16_t magic = static_cast<uint16_t>(sb[kMagicOffset] | (sb[kMagicOffset + 1] << 8));
  if (magic != kExt4Magic) return make_error(ENOENT, "no ext2/3/4 superblock (magic 0x%04x)", magic);
  Ext4Superblock out;
  const char* label = reinterpret_cast<const char*>(sb + kLabelOffset);
  out.label.assign(label, strnlen(label, 16));
  out.uuid = format_uuid(sb + kUuidOffset);
  return out;
}

Result<Ext4Superblock> read_ext4_superblock(const std::string& path) {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(AT_FDCWD, path, O_RDONLY | O_NONBLOCK));
  std::string buf(2048, '\0');
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd.get(), buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read '%s'", path.c_str());
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  return with_context(parse_ext4_superblock(buf), path);
}

Result<std::string> find_block_device(const RootSpec& spec, const std::string& sys_block,
                                      const std::string& dev_dir) {
  if (spec.kind == RootSpec::Kind::path) {
    struct stat st;
    if (::stat(spec.value.c_str(), &st) == 0) {
      if (!S_ISBLK(st.st_mode)) return make_error(ENOTBLK, "'%s' is not a block device", spec.value.c_str());
      return spec.value;
    }
    return sys_error("'%s'", spec.value.c_str());
  }
  for (const auto& name : block_devices(sys_block)) {
    std::string node = dev_dir + "/" + name;
    auto sb = read_ext4_superblock(node);
    if (!sb) continue;  // no ext4 here, or the device cannot be read (an empty CD drive)
    bool match = spec.kind == RootSpec::Kind::label ? sb->label == spec.value : sb->uuid == spec.value;
    if (match) return node;
  }
  return make_error(ENOENT, "no block device with %s", spec.text.c_str());
}

Result<std::string> wait_for_block_device(const RootSpec& spec, int timeout_ms, const std::string& sys_block,
                                          const std::string& dev_dir) {
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    auto found = find_block_device(spec, sys_block, dev_dir);
    if (found || found.error().code != ENOENT) return found;
    if (timeout_ms >= 0 && now_ms() >= deadline) {
      std::string seen = join(block_devices(sys_block), " ");
      return make_error(ETIMEDOUT, "root=%s did not appear within %d ms (block devices: %s)", spec.text.c_str(),
                        timeout_ms, seen.empty() ? "none" : seen.c_str());
    }
    struct timespec ts {0, 50 * 1000 * 1000};
    (void)::nanosleep(&ts, nullptr);
  }
}

}  // namespace bw::init
