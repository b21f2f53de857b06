// The compiled-program cache: <dir>/<key>.bpf, where key is the sha256 of
// everything the program depends on. A file is only trusted in a directory
// nobody else can write to, and only after its header, size and checksum
// match; anything else is ignored and replaced.
#include <fcntl.h>
#include <linux/filter.h>
#include <nettle/sha2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <string>

#include "base/file.h"
#include "seccomp/internal.h"

namespace bw::seccomp::detail {

namespace {

// Bump when the file layout or the way programs are compiled changes, so that
// programs from an older Bulwark are not reused.
constexpr uint32_t kCacheVersion = 2;
constexpr char kMagic[8] = {'B', 'W', 'S', 'E', 'C', 'B', 'P', 'F'};

struct CacheHeader {
  char magic[8];
  uint32_t version;
  uint32_t insn_count;
  uint32_t names_len;  // unknown syscall names, each followed by '\n'
  uint32_t reserved;
  char key[64];                                // hex sha256, as in the file name
  unsigned char digest[SHA256_DIGEST_SIZE];  // sha256 of everything after the header
};
static_assert(sizeof(CacheHeader) == 120);

constexpr size_t kMaxNamesLen = 64 * 1024;
constexpr size_t kMaxFileSize =
    sizeof(CacheHeader) + kMaxNamesLen + BPF_MAXINSNS * sizeof(struct sock_filter);

// Length-prefixed fields: unambiguous whatever the strings contain.
class Canon {
 public:
  void str(std::string_view s) {
    num(s.size());
    out_ += s;
  }
  void num(uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out_.append(buf, end);
    out_ += ':';
  }
  void opt(const std::optional<uint32_t>& v) {
    if (v) {
      out_ += '+';
      num(*v);
    } else {
      out_ += '-';
    }
  }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xF];
  }
  return out;
}

bool trusted_owner(uid_t uid) { return uid == 0 || uid == geteuid(); }

// The checksum covers everything after the header: names, then program.
void digest_of(std::string_view body, unsigned char* md) {
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, body.size(), reinterpret_cast<const uint8_t*>(body.data()));
  sha256_digest(&ctx, SHA256_DIGEST_SIZE, md);
}

// Writes a file under a temporary name unique to this process and call, then
// renames it into place: two runtimes filling the same entry at once must not
// rename each other's half-written file. No fsync: an entry lost or torn by a
// power cut fails its checksum and is rebuilt, and waiting for the disk would
// slow the first start of every profile (about 0.4 ms on ext4, more under load).
Result<void> write_atomic(int dirfd, const std::string& name, std::string_view data) {
  static std::atomic<unsigned> counter{0};
  std::string tmp =
      strf(".%s.%d.%u.tmp", name.c_str(), static_cast<int>(getpid()), counter.fetch_add(1));
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600));
  auto fail = [&](Unexpected e) {
    (void)unlinkat(dirfd, tmp.c_str(), 0);
    return e;
  };
  if (auto r = write_all(fd.get(), data); !r)
    return fail(Unexpected(r.error().prefix("writing " + tmp)));
  if (renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) < 0)
    return fail(sys_error("rename '%s' -> '%s'", tmp.c_str(), name.c_str()));
  return {};
}

}  // namespace

std::string cache_key(const oci::Seccomp& s, Engine engine) {
  Canon c;
  c.str("bulwark-seccomp");
  c.num(kCacheVersion);
  c.str(engine_name(engine));
  c.str(native_arch());
  c.str(kernel_release());
  c.str(libseccomp_version());
  c.str(s.default_action);
  c.opt(s.default_errno_ret);
  c.num(s.architectures.size());
  for (const auto& a : s.architectures) c.str(a);
  c.num(s.flags.size());
  for (const auto& f : s.flags) c.str(f);
  c.num(s.syscalls.size());
  for (const auto& sc : s.syscalls) {
    c.num(sc.names.size());
    for (const auto& n : sc.names) c.str(n);
    c.str(sc.action);
    c.opt(sc.errno_ret);
    c.num(sc.args.size());
    for (const auto& a : sc.args) {
      c.num(a.index);
      c.num(a.value);
      c.num(a.value_two);
      c.str(a.op);
    }
  }
  unsigned char md[SHA256_DIGEST_SIZE];
  digest_of(c.text(), md);
  return hex(md, sizeof md);
}

UniqueFd open_cache_dir(const std::string& path, std::string& why_not) {
  if (mkdir(path.c_str(), 0700) < 0 && errno != EEXIST) {
    why_not = strf("creating cache directory '%s': %s", path.c_str(), strerror(errno));
    return {};
  }
  auto fd = open_at(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
  if (!fd) {
    why_not = "cache directory: " + fd.error().text();
    return {};
  }
  struct stat st {};
  if (fstat(fd->get(), &st) < 0) {
    why_not = strf("fstat of cache directory '%s': %s", path.c_str(), strerror(errno));
    return {};
  }
  // A program from a directory someone else can write to could be any
  // program: it is never used.
  if (!trusted_owner(st.st_uid)) {
    why_not = strf("cache directory '%s' is owned by uid %u, not by root or uid %u", path.c_str(),
                   static_cast<unsigned>(st.st_uid), static_cast<unsigned>(geteuid()));
    return {};
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    why_not = strf("cache directory '%s' is group or world writable (mode %04o)", path.c_str(),
                   static_cast<unsigned>(st.st_mode & 07777));
    return {};
  }
  return std::move(*fd);
}

bool read_cached(int dirfd, const std::string& key, Filter& out, std::string& why) {
  std::string name = key + ".bpf";
  int raw = openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (raw < 0) {
    if (errno != ENOENT)
      why = strf("opening cached filter '%s': %s", name.c_str(), strerror(errno));
    return false;
  }
  UniqueFd fd(raw);
  auto damaged = [&](const char* what) {
    why = strf("cached filter '%s' is damaged (%s); rebuilt it", name.c_str(), what);
    return false;
  };
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return damaged("fstat failed");
  if (!S_ISREG(st.st_mode) || !trusted_owner(st.st_uid))
    return damaged("not a regular file of ours");
  size_t size = static_cast<size_t>(st.st_size);
  if (size < sizeof(CacheHeader) || size > kMaxFileSize) return damaged("bad size");

  std::string data(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd.get(), data.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return damaged("short read");
    done += static_cast<size_t>(n);
  }

  CacheHeader h;
  std::memcpy(&h, data.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return damaged("bad magic");
  if (h.version != kCacheVersion) return damaged("other format version");
  if (key.size() != sizeof h.key || std::memcmp(h.key, key.data(), sizeof h.key) != 0)
    return damaged("key does not match");
  if (h.insn_count == 0 || h.insn_count > BPF_MAXINSNS || h.names_len > kMaxNamesLen)
    return damaged("bad counts");
  size_t body = size - sizeof h;
  if (body < h.names_len || (body - h.names_len) % sizeof(struct sock_filter) != 0 ||
      (body - h.names_len) / sizeof(struct sock_filter) != h.insn_count)
    return damaged("size does not match the header");

  std::string_view names(data.data() + sizeof h, h.names_len);
  std::vector<struct sock_filter> program(h.insn_count);
  std::memcpy(program.data(), data.data() + sizeof h + h.names_len,
              h.insn_count * sizeof(struct sock_filter));
  unsigned char md[SHA256_DIGEST_SIZE];
  digest_of(std::string_view(data).substr(sizeof h), md);
  if (std::memcmp(md, h.digest, sizeof md) != 0) return damaged("checksum mismatch");

  std::vector<std::string> unknown;
  while (!names.empty()) {
    size_t nl = names.find('\n');
    if (nl == std::string_view::npos) return damaged("bad name list");
    unknown.emplace_back(names.substr(0, nl));
    names.remove_prefix(nl + 1);
  }
  out.program = std::move(program);
  out.unknown_names = std::move(unknown);
  return true;
}

Result<void> write_cached(int dirfd, const Filter& f) {
  std::string names;
  for (const auto& n : f.unknown_names) {
    if (n.find('\n') != std::string::npos) continue;  // cannot be a syscall name anyway
    names += n;
    names += '\n';
  }
  if (names.size() > kMaxNamesLen || f.program.empty() || f.program.size() > BPF_MAXINSNS ||
      f.key.size() != 64)
    return make_error(0, "filter not cacheable");

  CacheHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kCacheVersion;
  h.insn_count = static_cast<uint32_t>(f.program.size());
  h.names_len = static_cast<uint32_t>(names.size());
  std::memcpy(h.key, f.key.data(), sizeof h.key);

  std::string data(sizeof h, '\0');
  data += names;
  data.append(reinterpret_cast<const char*>(f.program.data()),
              f.program.size() * sizeof(struct sock_filter));
  digest_of(std::string_view(data).substr(sizeof h), h.digest);
  std::memcpy(data.data(), &h, sizeof h);
  return write_atomic(dirfd, f.key + ".bpf", data);
}

}  // namespace bw::seccomp::detail
