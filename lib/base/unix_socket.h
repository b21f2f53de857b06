// Unix-domain sockets that carry file descriptors (SCM_RIGHTS): the console
// socket of the OCI runtime interface and the seccomp listener both use them.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw {

// Connects a SOCK_STREAM socket (O_CLOEXEC) to `path`; a path longer than
// sun_path is reached through /proc/self/fd of an O_PATH fd.
Result<UniqueFd> connect_unix(const std::string& path);
// Sends `fd` with `data` as the payload (at least one byte is always sent:
// a stream socket delivers no fd with an empty message).
Result<void> send_fd(int socket_fd, int fd, std::string_view data);
// One message that may carry an fd: its bytes, the first fd (O_CLOEXEC;
// extra fds are closed), and whether the peer had closed the connection.
struct FdMessage {
  std::string data;
  UniqueFd fd;
  bool closed = false;
};
Result<FdMessage> recv_fd_message(int socket_fd);
// Receives one fd; a message without one is an error.
Result<UniqueFd> recv_fd(int socket_fd);

}  // namespace bw
