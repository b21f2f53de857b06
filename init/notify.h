// The sd_notify protocol (systemd's NOTIFY_SOCKET): services send datagrams
// of newline-separated VAR=value assignments (READY=1, STATUS=..., WATCHDOG=1,
// MAINPID=..., STOPPING=1) to one SOCK_DGRAM unix socket per supervisor.
// SO_PASSCRED makes the kernel attach the sender's pid, uid and gid to every
// message (translated into our pid namespace); a sender cannot forge them.
// Which service a message belongs to is decided by the supervisor from that
// pid (see Supervisor::attribute in supervisor.cc).
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::init {

struct NotifyMessage {
  pid_t pid = 0;  // from SCM_CREDENTIALS: 0 when the kernel could not tell
  uid_t uid = 0;
  gid_t gid = 0;
  std::map<std::string, std::string> fields;  // the last value wins for a repeated name
};

// Parses a datagram's text. Lines without '=' and empty lines are skipped.
std::map<std::string, std::string> parse_notify_fields(std::string_view text);

class NotifySocket {
 public:
  NotifySocket() = default;
  NotifySocket(NotifySocket&&) noexcept = default;
  NotifySocket& operator=(NotifySocket&&) noexcept = default;
  // Removes the socket file (not an abstract name).
  ~NotifySocket();

  // Binds a datagram socket at `path` (replacing a stale socket file), mode
  // 0666 so that services running as any user can send, with SO_PASSCRED.
  // A path starting with '@' is an abstract socket.
  static Result<NotifySocket> bind(const std::string& path);
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // Receives one message without blocking; nullopt when none is waiting. A
  // malformed message (truncated, over 4096 bytes, without credentials)
  // comes back with pid 0 and no fields. File descriptors passed along
  // (FDSTORE=1) are closed: there is no fd store.
  Result<std::optional<NotifyMessage>> receive();

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace bw::init
