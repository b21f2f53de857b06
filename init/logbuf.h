// Per-service logs: a workload's stdout and stderr go through a pipe into a
// bounded ring buffer in memory (for `bulwarkctl logs` and live following)
// and into <log_dir>/<service>.log, rotated by size (<service>.log.1 ...
// .log.N, oldest dropped).
//
// Every stored line is "<RFC 3339 UTC time> <text>", without the newline.
// A line that would not fit in the ring on its own is cut short and ends in
// kTruncatedMarker; the rest of it, up to the next newline, is dropped.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::init {

struct LogLimits {
  size_t ring_bytes = 64 * 1024;       // kept in memory per service
  size_t file_bytes = 1024 * 1024;     // rotate when the file would exceed this
  int files = 3;                        // rotated files kept
};

inline constexpr const char kTruncatedMarker[] = " [line truncated]";

// A handle to one service's log. Copies share the same log (the control
// socket keeps a copy for a follower, so the log outlives a service that is
// removed while someone follows it). Single-threaded: all calls come from
// the supervisor's event loop.
class ServiceLog {
 public:
  // An empty log_dir keeps the log in memory only.
  ServiceLog(std::string service, std::string log_dir, LogLimits limits);
  // Appends output read from the service's pipe. Lines are completed across
  // calls; each complete line is stored with a timestamp prefix.
  void append(const char* data, size_t len);
  // Stores a pending incomplete line (the pipe reached end of file, the
  // service ended mid-line). Nothing happens when there is none.
  void flush();
  // The lines currently in memory, oldest first.
  std::vector<std::string> lines() const;
  // Called with each new complete line until the returned id is removed.
  // A callback may unsubscribe itself (or others) while it runs.
  int subscribe(std::function<void(const std::string&)> on_line);
  void unsubscribe(int id);

  const std::string& service() const;
  // <log_dir>/<service>.log, or "" for a memory-only log.
  std::string file_path() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bw::init
