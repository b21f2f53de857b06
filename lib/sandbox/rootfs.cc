#include "sandbox/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

Result<void> set_root_propagation(const std::string& wanted) {
  // Default as runc: slave, so host mounts still reach us but ours never reach the host.
  unsigned long flags = MS_REC | MS_SLAVE;
  if (wanted == "private") flags = MS_PRIVATE;
  else if (wanted == "rprivate") flags = MS_REC | MS_PRIVATE;
  else if (wanted == "slave") flags = MS_SLAVE;
  else if (wanted == "rslave") flags = MS_REC | MS_SLAVE;
  else if (wanted == "shared") flags = MS_SHARED;
  else if (wanted == "rshared") flags = MS_REC | MS_SHARED;
  else if (wanted == "unbindable") flags = MS_UNBINDABLE;
  else if (wanted == "runbindable") flags = MS_REC | MS_UNBINDABLE;
  // Shared or unbindable alone would let our mounts propagate to the host:
  // make everything a slave first, then apply the requested mode on top.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0)
    return sys_error("making / a recursive slave");
  if (flags != (MS_REC | MS_SLAVE) && ::mount(nullptr, "/", nullptr, flags, nullptr) < 0)
    return sys_error("setting rootfsPropagation '%s'", wanted.c_str());
  return {};
}

bool has_mount_at(const oci::Spec& spec, const std::string& dest) {
  for (const auto& m : spec.mounts)
    if (m.destination == dest || m.destination == dest + "/") return true;
  return false;
}

Result<UniqueFd> open_root(const std::string& rootfs) {
  int fd = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open rootfs '%s'", rootfs.c_str());
  return UniqueFd(fd);
}

}  // namespace

Result<void> prepare_rootfs(const RootfsPlan& plan) {
  const oci::Spec& spec = *plan.spec;
  BW_RETURN_IF_ERROR(set_root_propagation(spec.linux ? spec.linux->rootfs_propagation : ""));
  {
    // pivot_root needs the new root to be a mount point: bind it onto itself.
    BW_ASSIGN_OR_RETURN(UniqueFd src, open_root(plan.rootfs));
    BW_RETURN_IF_ERROR(with_context(bind_at(src.get(), src.get(), true, 0, 0),
                                    strf("root.path: binding '%s' onto itself", plan.rootfs.c_str())));
  }
  // Opened after the bind so it refers to the new mount.
  BW_ASSIGN_OR_RETURN(UniqueFd root, open_root(plan.rootfs));
  for (size_t i = 0; i < spec.mounts.size(); ++i)
    BW_RETURN_IF_ERROR(mount_entry(root.get(), spec.mounts[i], plan.bundle, strf("mounts[%zu]", i)));
  return setup_dev(root.get(), spec, plan.in_user_ns);
}

Result<void> enter_rootfs(const RootfsPlan& plan) {
  BW_ASSIGN_OR_RETURN(UniqueFd root, open_root(plan.rootfs));
  if (::fchdir(root.get()) < 0) return sys_error("chdir to rootfs");
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching
  // "." then removes the old root without needing a directory for it.
  if (sys::pivot_root(".", ".") < 0) return sys_error("pivot_root('%s')", plan.rootfs.c_str());
  if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
    return sys_error("making the old root a slave");
  if (::umount2(".", MNT_DETACH) < 0) return sys_error("detaching the old root");
  if (::chdir("/") < 0) return sys_error("chdir /");
  return {};
}

namespace {

Result<void> mask_path(int rootfd, const std::string& path, size_t index) {
  auto target = open_in_root(rootfd, path, Create::none);
  if (!target) {
    if (target.error().code == ENOENT) return {};
    return Unexpected(target.error().prefix(strf("linux.maskedPaths[%zu]", index)));
  }
  struct stat st;
  if (::fstat(target->get(), &st) < 0) return sys_error("linux.maskedPaths[%zu]: stat", index);
  if (S_ISDIR(st.st_mode)) {
    MountOptions opts;
    opts.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    opts.data = {"mode=0555"};
    return with_context(mount_fs_at(target->get(), "tmpfs", "tmpfs", opts),
                        strf("linux.maskedPaths[%zu] ('%s')", index, path.c_str()));
  }
  BW_ASSIGN_OR_RETURN(UniqueFd null, open_in_root(rootfd, "/dev/null", Create::none));
  return with_context(bind_at(null.get(), target->get(), false, 0, 0),
                      strf("linux.maskedPaths[%zu] ('%s')", index, path.c_str()));
}

Result<void> readonly_path(int rootfd, const std::string& path, size_t index) {
  auto target = open_in_root(rootfd, path, Create::none);
  if (!target) {
    if (target.error().code == ENOENT) return {};
    return Unexpected(target.error().prefix(strf("linux.readonlyPaths[%zu]", index)));
  }
  return with_context(bind_at(target->get(), target->get(), true,
                              MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0),
                      strf("linux.readonlyPaths[%zu] ('%s')", index, path.c_str()));
}

}  // namespace

Result<void> finish_rootfs(const RootfsPlan& plan, const std::string& console_path) {
  const oci::Spec& spec = *plan.spec;
  BW_ASSIGN_OR_RETURN(UniqueFd root, open_root("/"));
  if (!console_path.empty()) {
    BW_ASSIGN_OR_RETURN(UniqueFd target, open_in_root(root.get(), "/dev/console", Create::file));
    BW_ASSIGN_OR_RETURN(UniqueFd pty, open_in_root(root.get(), console_path, Create::none));
    BW_RETURN_IF_ERROR(with_context(bind_at(pty.get(), target.get(), false, 0, 0), "/dev/console"));
  }
  if (spec.linux) {
    for (size_t i = 0; i < spec.linux->masked_paths.size(); ++i)
      BW_RETURN_IF_ERROR(mask_path(root.get(), spec.linux->masked_paths[i], i));
    for (size_t i = 0; i < spec.linux->readonly_paths.size(); ++i)
      BW_RETURN_IF_ERROR(readonly_path(root.get(), spec.linux->readonly_paths[i], i));
  }
  if (spec.root && spec.root->readonly) {
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (sys::mount_setattr(root.get(), "", AT_EMPTY_PATH, &attr) < 0)
      return sys_error("root.readonly: making / read-only");
  }
  return {};
}

// ---- /dev ----

namespace {

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {
    {"/dev/null", 1, 3},    {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
    {"/dev/random", 1, 8},  {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

Result<void> make_device(int rootfd, const std::string& path, mode_t type, unsigned major,
                         unsigned minor, mode_t mode, uid_t uid, gid_t gid, bool in_user_ns) {
  auto slash = path.rfind('/');
  BW_ASSIGN_OR_RETURN(UniqueFd dir, open_in_root(rootfd, path.substr(0, slash), Create::dir));
  std::string name = path.substr(slash + 1);
  if (in_user_ns) {
    // mknod is refused in a user namespace: bind the host's node instead.
    int f = ::openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0) return sys_error("create '%s'", path.c_str());
    ::close(f);
    BW_ASSIGN_OR_RETURN(UniqueFd target, open_in_root(dir.get(), name, Create::none));
    int src = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (src < 0) return sys_error("host device '%s'", path.c_str());
    UniqueFd source(src);
    return bind_at(source.get(), target.get(), false, 0, 0);
  }
  (void)::unlinkat(dir.get(), name.c_str(), 0);
  if (::mknodat(dir.get(), name.c_str(), type | (mode & 07777), makedev(major, minor)) < 0)
    return sys_error("mknod '%s'", path.c_str());
  // The node was just created in a directory only we can write (a fresh tmpfs).
  if (::fchownat(dir.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return sys_error("chown '%s'", path.c_str());
  if (::fchmodat(dir.get(), name.c_str(), mode & 07777, 0) < 0) return sys_error("chmod '%s'", path.c_str());
  return {};
}

}  // namespace

Result<void> setup_dev(int rootfd, const oci::Spec& spec, bool in_user_ns) {
  if (!has_mount_at(spec, "/dev")) {
    // Never write device nodes into the image itself.
    BW_ASSIGN_OR_RETURN(UniqueFd dev, open_in_root(rootfd, "/dev", Create::dir));
    MountOptions o;
    o.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
    o.data = {"mode=755", "size=65536k"};
    BW_RETURN_IF_ERROR(with_context(mount_fs_at(dev.get(), "tmpfs", "tmpfs", o), "mounting /dev"));
  }
  if (!has_mount_at(spec, "/dev/pts")) {
    BW_ASSIGN_OR_RETURN(UniqueFd pts, open_in_root(rootfd, "/dev/pts", Create::dir));
    MountOptions o;
    o.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
    o.data = {"newinstance", "ptmxmode=0666", "mode=0620"};
    if (!in_user_ns) o.data.push_back("gid=5");
    BW_RETURN_IF_ERROR(with_context(mount_fs_at(pts.get(), "devpts", "devpts", o), "mounting /dev/pts"));
  }
  if (!has_mount_at(spec, "/dev/shm")) {
    BW_ASSIGN_OR_RETURN(UniqueFd shm, open_in_root(rootfd, "/dev/shm", Create::dir));
    MountOptions o;
    o.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    o.data = {"mode=1777", "size=65536k"};
    BW_RETURN_IF_ERROR(with_context(mount_fs_at(shm.get(), "tmpfs", "shm", o), "mounting /dev/shm"));
  }
  for (const auto& d : kDefaultDevices)
    BW_RETURN_IF_ERROR(with_context(
        make_device(rootfd, d.path, S_IFCHR, d.major, d.minor, 0666, 0, 0, in_user_ns), "creating default devices"));
  if (spec.linux) {
    for (size_t i = 0; i < spec.linux->devices.size(); ++i) {
      const auto& d = spec.linux->devices[i];
      mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
      BW_RETURN_IF_ERROR(with_context(
          make_device(rootfd, d.path, type, static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor),
                      d.file_mode.value_or(0666), d.uid.value_or(0), d.gid.value_or(0), in_user_ns),
          strf("linux.devices[%zu] ('%s')", i, d.path.c_str())));
    }
  }
  BW_ASSIGN_OR_RETURN(UniqueFd dev, open_in_root(rootfd, "/dev", Create::dir));
  const std::pair<const char*, const char*> links[] = {
      {"/proc/self/fd", "fd"},         {"/proc/self/fd/0", "stdin"},
      {"/proc/self/fd/1", "stdout"},   {"/proc/self/fd/2", "stderr"},
      {"pts/ptmx", "ptmx"},            {"/proc/kcore", "core"},
  };
  for (auto [target, name] : links) {
    if (std::string(name) == "ptmx") (void)::unlinkat(dev.get(), name, 0);
    if (::symlinkat(target, dev.get(), name) < 0 && errno != EEXIST)
      return sys_error("symlink /dev/%s", name);
  }
  return {};
}

}  // namespace bw::sandbox
