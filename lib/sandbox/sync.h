// Messages between the runtime and the processes it is setting up, over a
// SOCK_SEQPACKET socketpair: one message per packet, a type, a number and
// optional text. An error from the container side travels back as a message
// so the runtime can report it and clean up.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::sandbox {

enum class Msg : uint32_t {
  need_idmap = 1,   // child: user namespace created, write my uid/gid maps
  idmap_done,       // parent: maps written
  child_pid,        // child: the container init's pid (value)
  placed,           // parent: init placed in its cgroup; value = its pid, text = state JSON
  run_hooks,        // child: environment created, run prestart/createRuntime hooks
  hooks_done,       // parent: hooks ran, continue
  created,          // child: ready, waiting for start
  error,            // either side: text is the error, value its errno
};

struct Packet {
  Msg type;
  int64_t value = 0;
  std::string text;
};

struct SyncPair {
  UniqueFd parent;
  UniqueFd child;
};

Result<SyncPair> make_sync_pair();
Result<void> send_packet(int fd, Msg type, int64_t value = 0, const std::string& text = "");
// Receives one packet; EOF (the peer exited or exec'd) is an error with code EPIPE.
Result<Packet> recv_packet(int fd);
// Receives one packet and checks its type; an error packet turns into that error.
Result<Packet> expect_packet(int fd, Msg type);
// Sends an error packet for `e` (best effort).
void send_error(int fd, const Error& e);

}  // namespace bw::sandbox
