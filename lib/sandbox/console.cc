#include "sandbox/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"

namespace bw::sandbox {

Result<Pty> open_pty(const std::optional<oci::ConsoleSize>& size) {
  Pty pty;
  BW_ASSIGN_OR_RETURN(pty.master, open_at(AT_FDCWD, "/dev/ptmx", O_RDWR | O_NOCTTY));
  int unlock = 0;
  if (::ioctl(pty.master.get(), TIOCSPTLCK, &unlock) < 0) return sys_error("unlockpt on /dev/ptmx");
  unsigned number = 0;
  if (::ioctl(pty.master.get(), TIOCGPTN, &number) < 0) return sys_error("ptsname on /dev/ptmx");
  pty.slave_path = strf("/dev/pts/%u", number);
  // TIOCGPTPEER opens the slave through the master's own devpts instance,
  // never through a path the container could have replaced.
  int slave = ::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return sys_error("opening the slave of %s (TIOCGPTPEER)", pty.slave_path.c_str());
  pty.slave.reset(slave);
  if (size) {
    struct winsize ws {};
    ws.ws_row = static_cast<unsigned short>(size->height);
    ws.ws_col = static_cast<unsigned short>(size->width);
    if (::ioctl(pty.master.get(), TIOCSWINSZ, &ws) < 0)
      return sys_error("setting the size of %s to %ux%u", pty.slave_path.c_str(), size->width,
                       size->height);
  }
  return pty;
}

Result<void> attach_stdio_to_pty(int slave) {
  // A session leader cannot start a new session (EPERM), but it can take a
  // terminal as it is.
  if (::setsid() < 0 && !(errno == EPERM && ::getsid(0) == ::getpid())) return sys_error("setsid");
  if (::ioctl(slave, TIOCSCTTY, 0) < 0)
    return sys_error("making the pty the controlling terminal (TIOCSCTTY)");
  for (int target = 0; target <= 2; ++target) {
    if (slave == target) {
      // dup2 onto itself keeps O_CLOEXEC; stdio must survive exec.
      int flags = ::fcntl(slave, F_GETFD);
      if (flags < 0 || ::fcntl(slave, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        return sys_error("clearing FD_CLOEXEC on fd %d", slave);
    } else if (::dup2(slave, target) < 0) {
      return sys_error("dup2(%d, %d)", slave, target);
    }
  }
  return {};
}

Result<void> send_fd(int socket_fd, int fd, const std::string& name) {
  // The payload may not be empty: a stream socket delivers no message, and so
  // no fd, for zero bytes.
  std::string payload = name.empty() ? std::string(1, '\0') : name;
  struct iovec iov = {payload.data(), payload.size()};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control{};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  ssize_t n;
  do {
    n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("sending fd %d ('%s') over the console socket", fd, name.c_str());
  return {};
}

Result<UniqueFd> connect_unix(const std::string& path) {
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return sys_error("socket(AF_UNIX)");
  UniqueFd sock(s);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  // A path longer than sun_path is reached through /proc/self/fd of an O_PATH fd.
  UniqueFd path_fd;
  std::string target = path;
  if (path.size() >= sizeof addr.sun_path) {
    BW_ASSIGN_OR_RETURN(path_fd, open_at(AT_FDCWD, path, O_PATH));
    target = strf("/proc/self/fd/%d", path_fd.get());
  }
  memcpy(addr.sun_path, target.c_str(), target.size() + 1);
  int r;
  do {
    r = ::connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return sys_error("connect to the console socket '%s'", path.c_str());
  return sock;
}

Result<UniqueFd> recv_fd(int socket_fd) {
  char payload[4096];
  struct iovec iov = {payload, sizeof payload};
  // Room for a few fds: a peer that sends more than one gets the extras closed.
  constexpr int kMaxFds = 8;
  union {
    char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
    struct cmsghdr align;
  } control{};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = ::recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("receiving an fd");
  UniqueFd received;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (!received)
        received.reset(fd);
      else
        (void)::close(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC)
    return make_error(EMSGSIZE, "receiving an fd: control data truncated");
  if (!received) {
    if (n == 0) return make_error(ECONNRESET, "receiving an fd: the peer closed the connection");
    return make_error(EBADMSG, "receiving an fd: the message carried none");
  }
  return received;
}

}  // namespace bw::sandbox
