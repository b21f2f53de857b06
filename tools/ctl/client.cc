#include "client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/file.h"
#include "base/unix_socket.h"

namespace bw::ctl {

namespace {
// bulwark-init answers at once (start and stop are asynchronous); a reply
// that takes longer means PID 1 is stuck, which the user should hear about.
constexpr int kReplyTimeoutMs = 60 * 1000;

// Like write_all, without SIGPIPE: when the server has already closed the
// connection (it refused it), its reply is still there to be read.
Result<void> send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("sending a request to bulwark-init");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}
}  // namespace

Result<Connection> Connection::open(const std::string& path) {
  auto fd = connect_unix(path);
  if (!fd) return Unexpected(fd.error().prefix("cannot reach bulwark-init"));
  return Connection(std::move(*fd));
}

Result<std::optional<nlohmann::json>> Connection::read_message(bool wait_forever) {
  for (;;) {
    if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return make_error(EBADMSG, "bulwark-init sent a reply that is not a JSON object: %s", line.c_str());
      return j;
    }
    struct pollfd p = {fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, wait_forever ? -1 : kReplyTimeoutMs);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("poll on the control socket");
    if (r == 0) return make_error(ETIMEDOUT, "no reply from bulwark-init within %d s", kReplyTimeoutMs / 1000);
    char buf[65536];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("reading from the control socket");
    if (n == 0) return std::optional<nlohmann::json>();
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> Connection::call(nlohmann::json request) {
  long long id = next_id_++;
  request["id"] = id;
  auto sent = send_all(fd_.get(), request.dump() + "\n");
  for (;;) {
    auto read = read_message(false);
    if (!read) return Unexpected(sent ? read.error() : sent.error());
    auto& reply = *read;
    if (!reply) {
      if (!sent) return Unexpected(sent.error());
      return make_error(ECONNRESET, "bulwark-init closed the connection without replying");
    }
    // Streamed lines of an earlier follow request are not replies.
    if (!reply->contains("ok")) continue;
    auto reply_id = reply->value("id", nlohmann::json());
    if (reply_id != id && !reply_id.is_null()) continue;
    if (reply->value("ok", false) != true) {
      std::string e = reply->value("error", std::string("request failed"));
      return make_error(0, "%s", e.c_str());
    }
    return reply->value("result", nlohmann::json::object());
  }
}

Result<std::optional<nlohmann::json>> Connection::next() { return read_message(true); }

}  // namespace bw::ctl
