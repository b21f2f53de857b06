#include "sandbox/sync.h"

#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace bw::sandbox {

namespace {
struct Header {
  uint32_t type;
  int32_t pad;
  int64_t value;
};
constexpr size_t kMaxPacket = 64 * 1024;
}  // namespace

Result<SyncPair> make_sync_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return sys_error("socketpair");
  return SyncPair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

Result<void> send_packet(int fd, Msg type, int64_t value, const std::string& text) {
  Header h{static_cast<uint32_t>(type), 0, value};
  std::string buf(reinterpret_cast<const char*>(&h), sizeof h);
  buf += text.substr(0, kMaxPacket - sizeof h);
  ssize_t n;
  do {
    n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("sending to sync socket");
  return {};
}

Result<Packet> recv_packet(int fd) {
  std::vector<char> buf(kMaxPacket);
  ssize_t n;
  do {
    n = ::recv(fd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("receiving from sync socket");
  if (n == 0) return make_error(EPIPE, "the other side exited unexpectedly");
  if (static_cast<size_t>(n) < sizeof(Header)) return make_error(EPROTO, "short sync packet");
  Header h;
  memcpy(&h, buf.data(), sizeof h);
  Packet p{static_cast<Msg>(h.type), h.value,
           std::string(buf.data() + sizeof h, static_cast<size_t>(n) - sizeof h)};
  return p;
}

Result<Packet> expect_packet(int fd, Msg type) {
  BW_ASSIGN_OR_RETURN(Packet p, recv_packet(fd));
  if (p.type == Msg::error) return Unexpected(Error{static_cast<int>(p.value), p.text});
  if (p.type != type)
    return make_error(EPROTO, "unexpected sync message %u (wanted %u)", static_cast<unsigned>(p.type),
                      static_cast<unsigned>(type));
  return p;
}

void send_error(int fd, const Error& e) { (void)send_packet(fd, Msg::error, e.code, e.message); }

}  // namespace bw::sandbox
