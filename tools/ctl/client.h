// The client side of the control socket protocol (init/PROTOCOL.md): one
// JSON object per line in each direction.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::ctl {

class Connection {
 public:
  // Connects to the control socket at `path`.
  static Result<Connection> open(const std::string& path);

  // Sends one request (an "id" is added) and waits for its reply. A reply
  // with "ok": false becomes an error carrying the server's message as is.
  Result<nlohmann::json> call(nlohmann::json request);
  // The next message from the server (a streamed log line); nullopt when
  // the server closed the connection. Waits as long as it takes.
  Result<std::optional<nlohmann::json>> next();

 private:
  explicit Connection(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<std::optional<nlohmann::json>> read_message(bool wait_forever);

  UniqueFd fd_;
  std::string buffer_;
  long long next_id_ = 1;
};

}  // namespace bw::ctl
