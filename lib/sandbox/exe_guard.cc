#include "sandbox/exe_guard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>

#include "base/file.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3; older kernels refuse it with EINVAL
#endif

extern char** environ;

namespace bw::sandbox {

namespace {

constexpr int kRequiredSeals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;

Result<UniqueFd> create_memfd() {
  // MFD_EXEC says outright that the memfd is to be executed: with
  // vm.memfd_noexec=1 a memfd made without it is not executable.
  int fd = ::memfd_create("bulwark-run", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL)
    fd = ::memfd_create("bulwark-run", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return sys_error("memfd_create('bulwark-run')");
  return UniqueFd(fd);
}

Result<void> copy_contents(int src, int dst, off_t size) {
  off_t offset = 0;
  while (offset < size) {
    ssize_t n = ::sendfile(dst, src, &offset, static_cast<size_t>(size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) break;  // fall back to read/write
    if (n < 0) return sys_error("sendfile into the memfd");
    if (n == 0) return make_error(EIO, "the executable shrank while being copied");
  }
  char buf[65536];
  while (offset < size) {
    ssize_t n = ::pread(src, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("reading the executable");
    if (n == 0) return make_error(EIO, "the executable shrank while being copied");
    BW_RETURN_IF_ERROR(write_all(dst, std::string_view(buf, static_cast<size_t>(n))));
    offset += n;
  }
  return {};
}

}  // namespace

Result<bool> is_protected_exe(int fd) {
  struct statvfs vfs {};
  if (::fstatvfs(fd, &vfs) < 0) return sys_error("fstatvfs on the executable");
  if (vfs.f_flag & ST_RDONLY) return true;
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    if (errno == EINVAL) return false;  // not a memfd (or other sealable file)
    return sys_error("F_GET_SEALS on the executable");
  }
  return (seals & kRequiredSeals) == kRequiredSeals;
}

Result<UniqueFd> sealed_copy(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) return sys_error("fstat on the executable");
  BW_ASSIGN_OR_RETURN(UniqueFd memfd, create_memfd());
  if (::ftruncate(memfd.get(), st.st_size) < 0) return sys_error("ftruncate of the memfd");
  BW_RETURN_IF_ERROR(copy_contents(fd, memfd.get(), st.st_size));
  if (::fcntl(memfd.get(), F_ADD_SEALS, kRequiredSeals | F_SEAL_SEAL) < 0)
    return sys_error("sealing the memfd");
  return memfd;
}

Result<void> ensure_protected_exe(int argc, char** argv) {
  if (argc < 1 || !argv || !argv[0]) return make_error(EINVAL, "ensure_protected_exe: no argv");
  BW_ASSIGN_OR_RETURN(UniqueFd exe, open_at(AT_FDCWD, "/proc/self/exe", O_RDONLY));
  bool marked = ::getenv(kExeSealedEnv) != nullptr;
  BW_ASSIGN_OR_RETURN(bool protected_exe, is_protected_exe(exe.get()));
  if (protected_exe) {
    // Container processes started from here must not inherit the marker.
    if (marked) (void)::unsetenv(kExeSealedEnv);
    return {};
  }
  if (marked)
    return make_error(0,
                      "%s is set but /proc/self/exe is not a sealed copy; refusing to re-execute "
                      "again",
                      kExeSealedEnv);
  BW_ASSIGN_OR_RETURN(UniqueFd copy, sealed_copy(exe.get()));
  if (::setenv(kExeSealedEnv, "1", 1) < 0) return sys_error("setenv %s", kExeSealedEnv);
  // fexecve is execveat(fd, "", ..., AT_EMPTY_PATH). The memfd is O_CLOEXEC,
  // which is fine for an ELF binary (only a script would need the fd after exec).
  ::fexecve(copy.get(), argv, environ);
  auto err = sys_error("re-executing from a sealed copy of /proc/self/exe");
  (void)::unsetenv(kExeSealedEnv);
  return err;
}

namespace {
bool has_ptrace(const oci::Process* p) {
  if (!p || !p->capabilities) return false;
  for (const auto& c : p->capabilities->bounding)
    if (c == "CAP_SYS_PTRACE") return true;
  return false;
}
bool has_own_user_namespace(const oci::Spec& spec) {
  // Capabilities held in a user namespace we created count for nothing
  // against a process whose memory belongs to the runtime's namespace.
  const oci::Namespace* user = spec.find_namespace(oci::NamespaceType::user);
  return user && user->path.empty();
}
}  // namespace

bool process_may_ptrace(const oci::Spec& spec, const oci::Process& p) {
  return !has_own_user_namespace(spec) && has_ptrace(&p);
}

bool exe_reachable_from_container(const oci::Spec& spec, const oci::Process* extra) {
  const oci::Namespace* pid = spec.find_namespace(oci::NamespaceType::pid);
  if (!pid || !pid->path.empty()) return true;
  if (has_own_user_namespace(spec)) return false;
  return has_ptrace(spec.process ? &*spec.process : nullptr) || has_ptrace(extra);
}

bool running_from_protected_exe() {
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  UniqueFd exe(fd);
  auto r = is_protected_exe(exe.get());
  return r && *r;
}

}  // namespace bw::sandbox
