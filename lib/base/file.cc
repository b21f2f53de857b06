#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace bw {

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("open '%s'", path.c_str());
  return UniqueFd(fd);
}

Result<std::string> read_fd(int fd) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> read_file(const std::string& path) {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(AT_FDCWD, path, O_RDONLY));
  return with_context(read_fd(fd.get()), strf("reading '%s'", path.c_str()));
}

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> write_file_atomic(int dirfd, const std::string& name, std::string_view data,
                               mode_t mode, Durability d) {
  bool durable = d == Durability::durable;
  std::string tmp = "." + name + ".tmp";
  (void)::unlinkat(dirfd, tmp.c_str(), 0);
  int fd = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("create '%s'", tmp.c_str());
  UniqueFd owned(fd);
  auto cleanup = [&] { (void)::unlinkat(dirfd, tmp.c_str(), 0); };
  if (auto r = write_all(fd, data); !r) {
    cleanup();
    return Unexpected(r.error().prefix(strf("writing '%s'", tmp.c_str())));
  }
  if (durable && ::fsync(fd) < 0) {
    auto e = sys_error("fsync '%s'", tmp.c_str());
    cleanup();
    return e;
  }
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) < 0) {
    auto e = sys_error("rename '%s' -> '%s'", tmp.c_str(), name.c_str());
    cleanup();
    return e;
  }
  if (durable && ::fsync(dirfd) < 0) return sys_error("fsync directory of '%s'", name.c_str());
  return {};
}

Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode,
                               Durability d) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  BW_ASSIGN_OR_RETURN(UniqueFd dfd, open_at(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY));
  return write_file_atomic(dfd.get(), name, data, mode, d);
}

Result<void> write_existing(const std::string& path, std::string_view data) {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(AT_FDCWD, path, O_WRONLY));
  ssize_t n;
  do {
    n = ::write(fd.get(), data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("write '%s'", path.c_str());
  if (static_cast<size_t>(n) != data.size()) return make_error(EIO, "short write to '%s'", path.c_str());
  return {};
}

Result<void> remove_tree_at(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    if (errno == ENOTDIR || errno == ELOOP) {
      if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT)
        return sys_error("unlink '%s'", name.c_str());
      return {};
    }
    return sys_error("open '%s'", name.c_str());
  }
  DIR* d = ::fdopendir(fd);
  if (!d) {
    auto e = sys_error("fdopendir '%s'", name.c_str());
    ::close(fd);
    return e;
  }
  while (struct dirent* de = ::readdir(d)) {
    std::string child = de->d_name;
    if (child == "." || child == "..") continue;
    if (de->d_type == DT_DIR) {
      if (auto r = remove_tree_at(::dirfd(d), child); !r) {
        ::closedir(d);
        return r;
      }
    } else if (::unlinkat(::dirfd(d), child.c_str(), 0) < 0 && errno != ENOENT) {
      auto e = sys_error("unlink '%s/%s'", name.c_str(), child.c_str());
      ::closedir(d);
      return e;
    }
  }
  ::closedir(d);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
    return sys_error("rmdir '%s'", name.c_str());
  return {};
}

}  // namespace bw
