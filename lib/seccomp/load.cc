// Installing a compiled filter, and handing its notification fd to an OCI
// seccomp agent.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "seccomp/seccomp.h"
#include "sys/syscalls.h"

namespace bw::seccomp {

Result<UniqueFd> load(const Filter& f) {
  if (f.program.empty()) return make_error(EINVAL, "loading seccomp filter: the program is empty");
  if (f.program.size() > BPF_MAXINSNS)
    return make_error(E2BIG, "loading seccomp filter: %zu instructions (the kernel allows %d)",
                      f.program.size(), BPF_MAXINSNS);
  struct sock_fprog prog {};
  prog.len = static_cast<unsigned short>(f.program.size());
  prog.filter = const_cast<struct sock_filter*>(f.program.data());

  unsigned flags = f.flags;
  if (f.uses_notify) {
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // TSYNC reports a thread it could not synchronise through the return
    // value, which NEW_LISTENER needs for the fd; TSYNC_ESRCH (5.7) makes
    // that failure an ESRCH instead.
    if (flags & SECCOMP_FILTER_FLAG_TSYNC) flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  }
  // Nothing but the one syscall runs after the filter is in place: the error
  // paths below only format strings.
  int rc = sys::seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) {
    int err = errno;
    const char* hint = err == EACCES ? " (needs no_new_privs or CAP_SYS_ADMIN)" : "";
    return make_error(err, "seccomp(SECCOMP_SET_MODE_FILTER, flags=%#x, %zu instructions)%s", flags,
                      f.program.size(), hint);
  }
  if (f.uses_notify) return UniqueFd(rc);  // the kernel creates it O_CLOEXEC
  if (rc > 0)
    return make_error(0, "seccomp(SECCOMP_FILTER_FLAG_TSYNC): thread %d could not be synchronised",
                      rc);
  return UniqueFd();
}

Result<void> send_listener_fd(const std::string& listener_path, int fd,
                              const std::string& state_json) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (listener_path.empty() || listener_path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, "seccomp listenerPath '%s' must be 1-%zu bytes long",
                      listener_path.c_str(), sizeof addr.sun_path - 1);
  // A stream socket needs at least one byte to carry the SCM_RIGHTS message.
  if (state_json.empty()) return make_error(EINVAL, "seccomp listener: empty state payload");
  std::memcpy(addr.sun_path, listener_path.data(), listener_path.size());

  int raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (raw < 0) return sys_error("socket(AF_UNIX) for seccomp listener '%s'", listener_path.c_str());
  UniqueFd sock(raw);
  int rc;
  do {
    rc = connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return sys_error("connecting to seccomp listener '%s'", listener_path.c_str());

  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control{};
  struct iovec iov {};
  iov.iov_base = const_cast<char*>(state_json.data());
  iov.iov_len = state_json.size();
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);

  // The fd travels with the first chunk; a large state may need more writes.
  size_t sent = 0;
  while (sent < state_json.size()) {
    ssize_t n = sendmsg(sock.get(), &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("sending the seccomp fd to listener '%s'", listener_path.c_str());
    sent += static_cast<size_t>(n);
    iov.iov_base = const_cast<char*>(state_json.data() + sent);
    iov.iov_len = state_json.size() - sent;
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
  }
  return {};
}

}  // namespace bw::seccomp
