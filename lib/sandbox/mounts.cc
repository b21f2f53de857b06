#include "sandbox/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <vector>

#include "base/strings.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

constexpr int kMaxSymlinks = 40;

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  for (auto& c : split(path, '/'))
    if (!c.empty() && c != ".") out.push_back(c);
  return out;
}

Result<UniqueFd> dup_fd(int fd) {
  int n = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (n < 0) return sys_error("dup");
  return UniqueFd(n);
}

}  // namespace

Result<UniqueFd> open_in_root(int rootfd, const std::string& path, Create create) {
  std::vector<UniqueFd> stack;
  BW_ASSIGN_OR_RETURN(UniqueFd root, dup_fd(rootfd));
  stack.push_back(std::move(root));
  std::deque<std::string> todo = components(path);
  int symlinks = 0;
  std::string walked;  // for messages
  while (!todo.empty()) {
    std::string comp = std::move(todo.front());
    todo.pop_front();
    if (comp == "..") {
      if (stack.size() == 1)
        return make_error(EXDEV, "'%s' escapes the container's root (via '..' at '%s')",
                          path.c_str(), walked.empty() ? "/" : walked.c_str());
      stack.pop_back();
      continue;
    }
    bool last = todo.empty();
    int dirfd = stack.back().get();
    int fd = ::openat(dirfd, comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create != Create::none) {
      if (last && create == Create::file) {
        int f = ::openat(dirfd, comp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0644);
        if (f < 0 && errno != EEXIST) return sys_error("create '%s' in '%s'", comp.c_str(), path.c_str());
        if (f >= 0) ::close(f);
      } else if (::mkdirat(dirfd, comp.c_str(), 0755) < 0 && errno != EEXIST) {
        return sys_error("mkdir '%s' in '%s'", comp.c_str(), path.c_str());
      }
      fd = ::openat(dirfd, comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) return sys_error("open '%s' (at '%s')", path.c_str(), (walked + "/" + comp).c_str());
    UniqueFd cur(fd);
    struct stat st;
    if (::fstat(cur.get(), &st) < 0) return sys_error("stat '%s'", path.c_str());
    if (S_ISLNK(st.st_mode)) {
      if (++symlinks > kMaxSymlinks) return make_error(ELOOP, "too many symlinks in '%s'", path.c_str());
      char buf[4096];
      ssize_t n = ::readlinkat(cur.get(), "", buf, sizeof buf - 1);
      if (n < 0) return sys_error("readlink '%s'", (walked + "/" + comp).c_str());
      std::string target(buf, static_cast<size_t>(n));
      auto more = components(target);
      if (!target.empty() && target[0] == '/') {
        stack.resize(1);
        walked.clear();
      }
      for (auto it = more.rbegin(); it != more.rend(); ++it) todo.push_front(*it);
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode))
      return make_error(ENOTDIR, "'%s' is not a directory (in '%s')", (walked + "/" + comp).c_str(),
                        path.c_str());
    walked += "/" + comp;
    stack.push_back(std::move(cur));
  }
  if (stack.size() == 1) return dup_fd(stack[0].get());
  return std::move(stack.back());
}

Result<MountOptions> parse_mount_options(const std::vector<std::string>& options) {
  struct Attr {
    unsigned set, clear;
  };
  static const std::map<std::string, Attr> attrs = {
      {"ro", {MOUNT_ATTR_RDONLY, 0}},          {"rw", {0, MOUNT_ATTR_RDONLY}},
      {"nosuid", {MOUNT_ATTR_NOSUID, 0}},      {"suid", {0, MOUNT_ATTR_NOSUID}},
      {"nodev", {MOUNT_ATTR_NODEV, 0}},        {"dev", {0, MOUNT_ATTR_NODEV}},
      {"noexec", {MOUNT_ATTR_NOEXEC, 0}},      {"exec", {0, MOUNT_ATTR_NOEXEC}},
      {"noatime", {MOUNT_ATTR_NOATIME, 0}},    {"relatime", {MOUNT_ATTR_RELATIME, 0}},
      {"strictatime", {MOUNT_ATTR_STRICTATIME, 0}},
      {"nodiratime", {MOUNT_ATTR_NODIRATIME, 0}}, {"diratime", {0, MOUNT_ATTR_NODIRATIME}},
      {"nosymfollow", {MOUNT_ATTR_NOSYMFOLLOW, 0}}, {"symfollow", {0, MOUNT_ATTR_NOSYMFOLLOW}},
  };
  static const std::map<std::string, std::pair<unsigned long, bool>> propagation = {
      {"shared", {MS_SHARED, false}},         {"rshared", {MS_SHARED, true}},
      {"slave", {MS_SLAVE, false}},           {"rslave", {MS_SLAVE, true}},
      {"private", {MS_PRIVATE, false}},       {"rprivate", {MS_PRIVATE, true}},
      {"unbindable", {MS_UNBINDABLE, false}}, {"runbindable", {MS_UNBINDABLE, true}},
  };
  MountOptions out;
  for (const auto& o : options) {
    if (auto a = attrs.find(o); a != attrs.end()) {
      // atime modes are one field: a later one replaces an earlier one.
      if (a->second.set & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_RELATIME | MOUNT_ATTR_STRICTATIME))
        out.attr_set &= ~static_cast<unsigned>(MOUNT_ATTR__ATIME);
      out.attr_set = (out.attr_set & ~a->second.clear) | a->second.set;
      out.attr_clear = (out.attr_clear & ~a->second.set) | a->second.clear;
    } else if (auto p = propagation.find(o); p != propagation.end()) {
      out.propagation = p->second.first;
      out.recursive = out.recursive || p->second.second;
    } else if (o == "bind") {
      out.bind = true;
    } else if (o == "rbind") {
      out.bind = true;
      out.recursive = true;
    } else if (o == "defaults" || o == "async" || o == "auto" || o == "noauto" || o == "nouser" ||
               o == "user" || o.empty()) {
      // No effect on a mount made by a runtime.
    } else if (o == "sync" || o == "dirsync" || o == "mand" || o == "remount" || o == "silent" ||
               o == "loud" || o == "idmap" || o == "ridmap" || o == "tmpcopyup" || o == "copy-symlink") {
      return make_error(EINVAL, "option '%s' is not supported", o.c_str());
    } else {
      out.data.push_back(o);
    }
  }
  return out;
}

namespace {
// Appends what the filesystem context logged ("e tmpfs: Bad value for 'size'").
std::string fs_context_log(int fsfd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fsfd, buf, sizeof buf - 1);
    if (n <= 0) break;
    buf[n] = 0;
    std::string line = buf;
    if (line.size() > 2 && line[1] == ' ') line = line.substr(2);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}
}  // namespace

Result<void> mount_fs_at(int target_fd, const std::string& type, const std::string& source,
                         const MountOptions& opts) {
  int fsfd = sys::fsopen(type.c_str(), FSOPEN_CLOEXEC);
  if (fsfd < 0) return sys_error("fsopen('%s')", type.c_str());
  UniqueFd fs(fsfd);
  auto fail = [&](const std::string& what) {
    int saved = errno;
    std::string log = fs_context_log(fs.get());
    return Unexpected(Error{saved, what + (log.empty() ? "" : " (" + log + ")")});
  };
  if (!source.empty() && sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, "source", source.c_str(), 0) < 0)
    return fail(strf("%s: source '%s'", type.c_str(), source.c_str()));
  for (const auto& d : opts.data) {
    auto eq = d.find('=');
    int r;
    if (eq == std::string::npos) {
      r = sys::fsconfig(fs.get(), FSCONFIG_SET_FLAG, d.c_str(), nullptr, 0);
    } else {
      std::string key = d.substr(0, eq), value = d.substr(eq + 1);
      r = sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0);
    }
    if (r < 0) return fail(strf("%s: option '%s'", type.c_str(), d.c_str()));
  }
  if (sys::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
    return fail(strf("creating %s filesystem", type.c_str()));
  int mfd = sys::fsmount(fs.get(), FSMOUNT_CLOEXEC, opts.attr_set);
  if (mfd < 0) return fail(strf("fsmount(%s)", type.c_str()));
  UniqueFd mnt(mfd);
  if (sys::move_mount(mnt.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return sys_error("move_mount(%s)", type.c_str());
  if (opts.propagation) {
    struct mount_attr attr {};
    attr.propagation = opts.propagation;
    if (sys::mount_setattr(mnt.get(), "", AT_EMPTY_PATH, &attr) < 0)
      return sys_error("setting propagation of %s mount", type.c_str());
  }
  return {};
}

Result<void> bind_at(int source_fd, int target_fd, bool recursive, unsigned attr_set,
                     unsigned attr_clear) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  int tfd = sys::open_tree(source_fd, "", flags);
  if (tfd < 0) return sys_error("open_tree");
  UniqueFd tree(tfd);
  if (attr_set || attr_clear) {
    struct mount_attr attr {};
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clear;
    // Changing the atime mode needs the whole field cleared first.
    if (attr_set & MOUNT_ATTR__ATIME) attr.attr_clr |= MOUNT_ATTR__ATIME;
    if (sys::mount_setattr(tree.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr) < 0)
      return sys_error("mount_setattr");
  }
  if (sys::move_mount(tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return sys_error("move_mount");
  return {};
}

Result<void> mount_entry(int rootfd, const oci::Mount& m, const std::string& bundle,
                         const std::string& field) {
  auto where = [&](Error e) {
    e.prefix(strf("%s (%s on '%s')", field.c_str(), m.type.empty() ? "bind" : m.type.c_str(),
                  m.destination.c_str()));
    return Unexpected(std::move(e));
  };
  auto opts = parse_mount_options(m.options);
  if (!opts) return where(opts.error());
  bool is_bind = opts->bind || m.type == "bind";
  if (is_bind) {
    std::string src = m.source;
    if (src.empty()) return where(Error{EINVAL, "bind mount needs a source"});
    if (src[0] != '/') src = bundle + "/" + src;
    int sfd = ::open(src.c_str(), O_PATH | O_CLOEXEC);
    if (sfd < 0) return where(Error{errno, strf("source '%s'", src.c_str())});
    UniqueFd source(sfd);
    struct stat st;
    if (::fstat(source.get(), &st) < 0) return where(Error{errno, "stat source"});
    auto target = open_in_root(rootfd, m.destination, S_ISDIR(st.st_mode) ? Create::dir : Create::file);
    if (!target) return where(target.error());
    if (auto r = bind_at(source.get(), target->get(), opts->recursive, opts->attr_set, opts->attr_clear); !r)
      return where(r.error());
    if (opts->propagation) {
      // The mount now at the target: re-open the path to reach it, not what was below.
      auto mounted = open_in_root(rootfd, m.destination, Create::none);
      if (!mounted) return where(mounted.error());
      struct mount_attr attr {};
      attr.propagation = opts->propagation;
      if (sys::mount_setattr(mounted->get(), "", AT_EMPTY_PATH | (opts->recursive ? AT_RECURSIVE : 0), &attr) < 0)
        return where(Error{errno, "setting propagation"});
    }
    return {};
  }
  std::string type = m.type;
  // Bulwark targets cgroup v2: a "cgroup" mount is the unified hierarchy.
  if (type == "cgroup") type = "cgroup2";
  if (type.empty()) return where(Error{EINVAL, "mount type is missing and it is not a bind mount"});
  auto target = open_in_root(rootfd, m.destination, Create::dir);
  if (!target) return where(target.error());
  std::string source = m.source.empty() ? type : m.source;
  if (auto r = mount_fs_at(target->get(), type, source, *opts); !r) return where(r.error());
  return {};
}

}  // namespace bw::sandbox
