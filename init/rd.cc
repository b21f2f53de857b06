// The rd stage (rd.h): from the initramfs to the deployment's init.
#include "init/rd.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "init/boot.h"
#include "init/modules.h"
#include "sandbox/mounts.h"

#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

namespace bw::init {

namespace {

constexpr const char* kModulesFile = "/etc/bulwark/rd-modules";
constexpr const char* kSysroot = "/sysroot";
constexpr int kMaxRootWaitS = 3600;

Result<UniqueFd> open_dir_path(int dirfd, const std::string& name, const std::string& what) {
  int fd = ::openat(dirfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error("%s", what.c_str());
  return UniqueFd(fd);
}

// The path the kernel has for an fd (readlink of /proc/self/fd/N).
Result<std::string> fd_path(int fd) {
  char buf[4096];
  std::string link = strf("/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) return sys_error("readlink '%s'", link.c_str());
  return std::string(buf, static_cast<size_t>(n));
}

bool is_mount_point(const std::string& path) {
  struct statx stx {};
  return ::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
         (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

// Deletes what is below `dirfd` on device `dev`, never crossing into another
// filesystem, then the entries themselves (systemd's rm_rf_children).
void remove_same_device(int dirfd, dev_t dev, int depth) {
  if (depth > 64) return;
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  while (struct dirent* e = ::readdir(d)) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;
      remove_same_device(sub, dev, depth + 1);
      ::close(sub);
      (void)::unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
    } else {
      (void)::unlinkat(dirfd, e->d_name, 0);
    }
  }
  ::closedir(d);
}

void load_modules(const RdConfig& cfg, const KernelCmdline& cmdline) {
  if (cfg.modules.empty()) return;
  auto loader = ModuleLoader::open(ModuleLoader::default_dir());
  if (!loader) {
    log::warning(loader.error().text() + "; loading no modules");
    return;
  }
  for (const auto& m : cfg.modules) {
    // A module that fails may be for hardware this machine lacks; if the root
    // device needed it, the wait for the root names what was seen.
    if (auto r = loader->load(m, cmdline); !r) log::warning(r.error().text() + ", ignoring");
  }
  log::info("loaded modules: " + (loader->loaded().empty() ? std::string("none") : join(loader->loaded(), " ")));
}

Result<void> mount_root(const RdConfig& cfg, const std::string& device) {
  if (::mkdir(kSysroot, 0755) < 0 && errno != EEXIST) return sys_error("mkdir '%s'", kSysroot);
  unsigned long flags = cfg.read_only ? MS_RDONLY : 0;
  if (::mount(device.c_str(), kSysroot, cfg.fstype.c_str(), flags, cfg.flags.empty() ? nullptr : cfg.flags.c_str()) < 0)
    return sys_error("mount '%s' (%s, %s%s%s) on '%s'", device.c_str(), cfg.fstype.c_str(),
                     cfg.read_only ? "ro" : "rw", cfg.flags.empty() ? "" : ",", cfg.flags.c_str(), kSysroot);
  return {};
}

}  // namespace

bool is_rd_invocation(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "rd") return true;
  return ::getpid() == 1 && ::access("/etc/initrd-release", F_OK) == 0;
}

std::vector<std::string> default_init_paths() {
  return {"/usr/lib/bulwark/bulwark-init", "/usr/sbin/bulwark-init", "/sbin/init"};
}

Result<RdConfig> parse_rd_config(const KernelCmdline& cmdline, const std::string& modules_file,
                                 const std::string& modules_text) {
  RdConfig cfg;
  auto root = cmdline.get("root");
  if (!root) return make_error(EINVAL, "no root= on the kernel command line");
  BW_ASSIGN_OR_RETURN(cfg.root, parse_root_spec(*root));
  if (auto v = cmdline.get("rootfstype"); v && !v->empty()) cfg.fstype = *v;
  if (auto v = cmdline.get("rootflags")) cfg.flags = *v;
  for (const auto& p : cmdline.params())
    if (!p.value && (p.key == "ro" || p.key == "rw")) cfg.read_only = p.key == "ro";
  if (auto v = cmdline.get("ostree")) {
    if (v->empty() || (*v)[0] != '/')
      return make_error(EINVAL, "ostree=%s: expected an absolute path such as /ostree/boot.1/OS/CHECKSUM/0",
                        v->c_str());
    cfg.ostree = *v;
  }
  BW_ASSIGN_OR_RETURN(cfg.modules, parse_module_list(modules_file, modules_text, cmdline));
  if (auto v = cmdline.get("bulwark.rootwait")) {
    BW_ASSIGN_OR_RETURN(int s, parse_seconds("bulwark.rootwait", *v, kMaxRootWaitS));
    cfg.root_timeout_ms = s * 1000;
  } else if (cmdline.has("rootwait")) {
    cfg.root_timeout_ms = -1;
  }
  if (auto v = cmdline.get("init")) {
    if (v->empty() || (*v)[0] != '/') return make_error(EINVAL, "init=%s: expected an absolute path", v->c_str());
    cfg.init = *v;
  }
  return cfg;
}

Result<Deployment> prepare_deployment(const std::string& sysroot, const std::string& ostree_arg) {
  auto ctx = [&](Error e) { return Unexpected(e.prefix(strf("preparing ostree=%s", ostree_arg.c_str()))); };
  auto sysfd = open_dir_path(AT_FDCWD, sysroot, strf("sysroot '%s'", sysroot.c_str()));
  if (!sysfd) return ctx(sysfd.error());
  auto sys_path = fd_path(sysfd->get());
  if (!sys_path) return ctx(sys_path.error());
  // Symlinks resolve as if the sysroot were "/": the chain cannot leave it.
  auto dep = sandbox::open_in_root(sysfd->get(), ostree_arg, sandbox::Create::none);
  if (!dep) return ctx(dep.error());
  auto dep_path = fd_path(dep->get());
  if (!dep_path) return ctx(dep_path.error());

  // <sysroot>/ostree/deploy/<os>/deploy/<checksum>.<serial>
  std::string prefix = (*sys_path == "/" ? "" : *sys_path) + "/ostree/deploy/";
  std::vector<std::string> rel;
  if (dep_path->starts_with(prefix)) rel = split(dep_path->substr(prefix.size()), '/');
  if (rel.size() != 3 || rel[0].empty() || rel[1] != "deploy" || rel[2].find('.') == std::string::npos)
    return ctx(Error{EINVAL, strf("resolves to '%s', which is not a deployment (%sOS/deploy/CHECKSUM.SERIAL)",
                                  dep_path->c_str(), prefix.c_str())});
  Deployment out{*dep_path, rel[0]};
  struct stat st;
  if (::fstat(dep->get(), &st) < 0 || !S_ISDIR(st.st_mode))
    return ctx(Error{ENOTDIR, strf("'%s' is not a directory", dep_path->c_str())});

  auto step = [&](Result<void> r, const std::string& what) -> Result<void> {
    if (!r) return Unexpected(r.error().prefix(what));
    return {};
  };
  // 1. The deployment becomes a mount of its own, which can later be moved onto /.
  if (auto r = step(sandbox::bind_at(dep->get(), dep->get(), false, 0, 0), "binding the deployment on itself"); !r)
    return ctx(r.error());
  auto root = open_dir_path(AT_FDCWD, out.path, "re-opening the deployment");
  if (!root) return ctx(root.error());
  // 2. /sysroot: the physical root (not recursive: the new deployment mount
  //    under it would otherwise appear inside itself).
  auto sysroot_target = open_dir_path(root->get(), "sysroot", "the deployment has no /sysroot directory");
  if (!sysroot_target) return ctx(sysroot_target.error());
  if (auto r = step(sandbox::bind_at(sysfd->get(), sysroot_target->get(), false, 0, 0), "binding /sysroot"); !r)
    return ctx(r.error());
  // 3. /var: shared by every deployment of this stateroot.
  auto var_src = open_dir_path(sysfd->get(), "ostree/deploy/" + out.os + "/var",
                               strf("the stateroot's var (ostree/deploy/%s/var)", out.os.c_str()));
  if (!var_src) return ctx(var_src.error());
  auto var_target = open_dir_path(root->get(), "var", "the deployment has no /var directory");
  if (!var_target) return ctx(var_target.error());
  if (auto r = step(sandbox::bind_at(var_src->get(), var_target->get(), false, 0, 0), "binding /var"); !r)
    return ctx(r.error());
  // 4. /usr read-only: the OS content is the commit's and never changes in place.
  auto usr = open_dir_path(root->get(), "usr", "the deployment has no /usr directory");
  if (!usr) return ctx(usr.error());
  if (auto r = step(sandbox::bind_at(usr->get(), usr->get(), false, MOUNT_ATTR_RDONLY, 0), "binding /usr read-only");
      !r)
    return ctx(r.error());
  return out;
}

Result<void> switch_root(const std::string& new_root, const SwitchRootOptions& options) {
  for (const auto& mp : options.move_mounts) {
    if (!is_mount_point(mp)) continue;
    std::string target = new_root + mp;
    struct stat st;
    if (::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (::mount(mp.c_str(), target.c_str(), nullptr, MS_MOVE, nullptr) < 0)
        return sys_error("moving mount '%s' to '%s'", mp.c_str(), target.c_str());
    } else {
      log::warning(strf("'%s' has no %s directory: unmounting it, ignoring", new_root.c_str(), mp.c_str()));
      (void)::umount2(mp.c_str(), MNT_DETACH);
    }
  }
  UniqueFd old_root;
  if (options.free_initramfs && ::getpid() == 1) {
    struct statfs fs {};
    int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && ::fstatfs(fd, &fs) == 0 && (fs.f_type == RAMFS_MAGIC || fs.f_type == TMPFS_MAGIC))
      old_root.reset(fd);
    else if (fd >= 0)
      ::close(fd);
  }
  if (::chdir(new_root.c_str()) < 0) return sys_error("chdir '%s'", new_root.c_str());
  if (::mount(new_root.c_str(), "/", nullptr, MS_MOVE, nullptr) < 0)
    return sys_error("moving '%s' onto /", new_root.c_str());
  if (::chroot(".") < 0) return sys_error("chroot '%s'", new_root.c_str());
  if (::chdir("/") < 0) return sys_error("chdir / in the new root");
  if (old_root) {
    struct stat st;
    if (::fstat(old_root.get(), &st) == 0) remove_same_device(old_root.get(), st.st_dev, 0);
    old_root.reset();
  }
  std::string tried;
  for (const auto& init : options.init_candidates) {
    if (::access(init.c_str(), X_OK) != 0) {
      tried += strf("%s'%s' (%s)", tried.empty() ? "" : ", ", init.c_str(), strerror(errno));
      continue;
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(init.c_str()));
    for (const auto& a : options.init_args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(init.c_str(), argv.data());
    tried += strf("%s'%s' (exec: %s)", tried.empty() ? "" : ", ", init.c_str(), strerror(errno));
  }
  return make_error(ENOENT, "no init to execute in the new root: tried %s", tried.c_str());
}

Result<void> rd_stage(int argc, char** argv) {
  if (::getpid() != 1) return make_error(EPERM, "the rd stage runs only as PID 1 (the initramfs's /init)");
  ensure_std_fds();
  install_crash_handlers();
  BW_RETURN_IF_ERROR(with_context(mount_api_filesystems("", false), "mounting API filesystems"));
  seed_console();
  BW_ASSIGN_OR_RETURN(KernelCmdline cmdline, KernelCmdline::read());
  auto modules_text = read_file(kModulesFile);
  if (!modules_text && modules_text.error().code != ENOENT) return Unexpected(modules_text.error());
  BW_ASSIGN_OR_RETURN(RdConfig cfg, parse_rd_config(cmdline, kModulesFile, modules_text ? *modules_text : ""));

  load_modules(cfg, cmdline);
  BW_ASSIGN_OR_RETURN(std::string device, wait_for_block_device(cfg.root, cfg.root_timeout_ms));
  log::info(strf("root=%s is %s", cfg.root.text.c_str(), device.c_str()));
  BW_RETURN_IF_ERROR(mount_root(cfg, device));

  std::string new_root = kSysroot;
  if (!cfg.ostree.empty()) {
    BW_ASSIGN_OR_RETURN(Deployment d, prepare_deployment(kSysroot, cfg.ostree));
    new_root = d.path;
    log::info(strf("ostree deployment '%s' (stateroot %s)", d.path.c_str(), d.os.c_str()));
    // libostree recognises a system booted from a deployment by this file.
    if (auto r = write_file_atomic("/run/ostree-booted", "", 0644, Durability::volatile_); !r)
      log::warning("creating /run/ostree-booted: " + r.error().text() + ", ignoring");
  }

  SwitchRootOptions opts;
  opts.free_initramfs = ::access("/etc/initrd-release", F_OK) == 0;
  if (!cfg.init.empty()) opts.init_candidates = {cfg.init};
  // The kernel passes the words after "--" as our argv; the real init gets them.
  int first = argc > 1 && std::string_view(argv[1]) == "rd" ? 2 : 1;
  for (int i = first; i < argc; ++i) opts.init_args.emplace_back(argv[i]);
  return switch_root(new_root, opts);
}

}  // namespace bw::init
