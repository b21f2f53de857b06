#include "init/notify.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "base/strings.h"

namespace bw::init {

namespace {
// systemd's limit for one notification datagram.
constexpr size_t kMaxMessage = 4096;
}  // namespace

std::map<std::string, std::string> parse_notify_fields(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& line : split(text, '\n')) {
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

NotifySocket::~NotifySocket() {
  if (fd_.valid() && !path_.empty() && path_[0] != '@') (void)::unlink(path_.c_str());
}

Result<NotifySocket> NotifySocket::bind(const std::string& path) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, "notify socket path '%s' is empty or longer than %zu bytes", path.c_str(),
                      sizeof addr.sun_path - 1);
  memcpy(addr.sun_path, path.data(), path.size());
  bool abstract = path[0] == '@';
  if (abstract) addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());

  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket(AF_UNIX, SOCK_DGRAM)");
  NotifySocket s;
  s.fd_ = UniqueFd(fd);
  s.path_ = path;
  if (!abstract && ::unlink(path.c_str()) < 0 && errno != ENOENT)
    return sys_error("removing stale notify socket '%s'", path.c_str());
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), len) < 0)
    return sys_error("bind notify socket '%s'", path.c_str());
  if (!abstract && ::chmod(path.c_str(), 0666) < 0) return sys_error("chmod 0666 '%s'", path.c_str());
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) return sys_error("setsockopt(SO_PASSCRED)");
  // Room for bursts of messages from many services while the loop is busy.
  int rcvbuf = 1024 * 1024;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  return s;
}

Result<std::optional<NotifyMessage>> NotifySocket::receive() {
  char buf[kMaxMessage + 1];
  struct iovec iov = {buf, sizeof buf};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 253)];
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return std::optional<NotifyMessage>();
    return sys_error("recvmsg on the notify socket");
  }
  std::optional<struct ucred> cred;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
      struct ucred u;
      memcpy(&u, CMSG_DATA(c), sizeof u);
      cred = u;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int passed;
        memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        (void)::close(passed);
      }
    }
  }
  // Too long for the protocol, or cut short: dropped rather than half-read.
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || static_cast<size_t>(n) > kMaxMessage || !cred)
    return std::optional<NotifyMessage>(NotifyMessage{});
  NotifyMessage m;
  m.pid = cred->pid;
  m.uid = cred->uid;
  m.gid = cred->gid;
  m.fields = parse_notify_fields(std::string_view(buf, static_cast<size_t>(n)));
  return std::optional<NotifyMessage>(std::move(m));
}

}  // namespace bw::init
