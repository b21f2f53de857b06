// Installing a compiled filter, and handing its notification fd to an OCI
// seccomp agent.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "seccomp/seccomp.h"
#include "base/unix_socket.h"
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
  // A stream socket needs at least one byte to carry the SCM_RIGHTS message.
  if (state_json.empty()) return make_error(EINVAL, "seccomp listener: empty state payload");
  BW_ASSIGN_OR_RETURN(UniqueFd sock,
                      with_context(connect_unix(listener_path), "seccomp listener"));
  return with_context(send_fd(sock.get(), fd, state_json),
                      strf("sending the seccomp fd to listener '%s'", listener_path.c_str()));
}

}  // namespace bw::seccomp
