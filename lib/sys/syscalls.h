// Raw system calls that glibc 2.36 does not wrap (or wraps inconsistently).
// Each returns -1 with errno set like libc, and ENOSYS when this build has no
// syscall number for it. All fds these create are O_CLOEXEC where the call
// allows it; callers pass the flags explicitly.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bw::sys {

inline long missing() {
  errno = ENOSYS;
  return -1;
}

inline int pidfd_open(pid_t pid, unsigned flags) {
#ifdef __NR_pidfd_open
  return static_cast<int>(syscall(__NR_pidfd_open, pid, flags));
#else
  return static_cast<int>(missing());
#endif
}

inline int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags) {
#ifdef __NR_pidfd_send_signal
  return static_cast<int>(syscall(__NR_pidfd_send_signal, pidfd, sig, info, flags));
#else
  return static_cast<int>(missing());
#endif
}

// clone3 without a new stack: behaves like fork() in the child (returns 0).
inline pid_t clone3(struct clone_args* args) {
#ifdef __NR_clone3
  return static_cast<pid_t>(syscall(__NR_clone3, args, sizeof(*args)));
#else
  return static_cast<pid_t>(missing());
#endif
}

inline int pivot_root(const char* new_root, const char* put_old) {
  return static_cast<int>(syscall(__NR_pivot_root, new_root, put_old));
}

inline int open_tree(int dfd, const char* path, unsigned flags) {
#ifdef __NR_open_tree
  return static_cast<int>(syscall(__NR_open_tree, dfd, path, flags));
#else
  return static_cast<int>(missing());
#endif
}

inline int move_mount(int from_dfd, const char* from_path, int to_dfd, const char* to_path,
                      unsigned flags) {
#ifdef __NR_move_mount
  return static_cast<int>(syscall(__NR_move_mount, from_dfd, from_path, to_dfd, to_path, flags));
#else
  return static_cast<int>(missing());
#endif
}

inline int fsopen(const char* fsname, unsigned flags) {
#ifdef __NR_fsopen
  return static_cast<int>(syscall(__NR_fsopen, fsname, flags));
#else
  return static_cast<int>(missing());
#endif
}

inline int fsconfig(int fd, unsigned cmd, const char* key, const void* value, int aux) {
#ifdef __NR_fsconfig
  return static_cast<int>(syscall(__NR_fsconfig, fd, cmd, key, value, aux));
#else
  return static_cast<int>(missing());
#endif
}

inline int fsmount(int fd, unsigned flags, unsigned attr_flags) {
#ifdef __NR_fsmount
  return static_cast<int>(syscall(__NR_fsmount, fd, flags, attr_flags));
#else
  return static_cast<int>(missing());
#endif
}

inline int mount_setattr(int dfd, const char* path, unsigned flags, struct mount_attr* attr) {
#ifdef __NR_mount_setattr
  return static_cast<int>(syscall(__NR_mount_setattr, dfd, path, flags, attr, sizeof(*attr)));
#else
  return static_cast<int>(missing());
#endif
}

inline int openat2(int dfd, const char* path, struct open_how* how) {
#ifdef __NR_openat2
  return static_cast<int>(syscall(__NR_openat2, dfd, path, how, sizeof(*how)));
#else
  return static_cast<int>(missing());
#endif
}

inline int close_range(unsigned first, unsigned last, unsigned flags) {
#ifdef __NR_close_range
  return static_cast<int>(syscall(__NR_close_range, first, last, flags));
#else
  return static_cast<int>(missing());
#endif
}

inline int seccomp(unsigned op, unsigned flags, void* args) {
  return static_cast<int>(syscall(__NR_seccomp, op, flags, args));
}


}  // namespace bw::sys
