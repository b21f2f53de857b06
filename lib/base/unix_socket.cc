#include "base/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"

namespace bw {

Result<void> send_fd(int socket_fd, int fd, std::string_view data) {
  // The payload may not be empty: a stream socket delivers no message, and so
  // no fd, for zero bytes.
  std::string payload = data.empty() ? std::string(1, '\0') : std::string(data);
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
  // The fd travels with the first chunk; a large payload may need more writes.
  size_t sent = 0;
  while (sent < payload.size()) {
    ssize_t n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("sending fd %d over a unix socket", fd);
    sent += static_cast<size_t>(n);
    iov.iov_base = payload.data() + sent;
    iov.iov_len = payload.size() - sent;
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
  }
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
  if (r < 0) return sys_error("connect to unix socket '%s'", path.c_str());
  return sock;
}

Result<FdMessage> recv_fd_message(int socket_fd) {
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
  if (n < 0) return sys_error("receiving from a unix socket");
  FdMessage out;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (!out.fd)
        out.fd.reset(fd);
      else
        (void)::close(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return make_error(EMSGSIZE, "receiving an fd: control data truncated");
  out.data.assign(payload, static_cast<size_t>(n));
  out.closed = n == 0 && !out.fd;
  return out;
}

Result<UniqueFd> recv_fd(int socket_fd) {
  BW_ASSIGN_OR_RETURN(FdMessage m, recv_fd_message(socket_fd));
  if (m.fd) return std::move(m.fd);
  if (m.closed) return make_error(ECONNRESET, "receiving an fd: the peer closed the connection");
  return make_error(EBADMSG, "receiving an fd: the message carried none");
}

}  // namespace bw
