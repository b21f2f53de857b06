#include "base/log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "base/file.h"
#include "base/strings.h"

namespace bw::log {

namespace {
struct Sink {
  std::string program = "bulwark";
  int fd = -1;
  bool json = false;
  bool debug = false;
};
Sink& sink() {
  static Sink s;
  return s;
}
const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "error";
}
}  // namespace

void configure(const std::string& program, const std::string& file, bool json, bool debug) {
  Sink& s = sink();
  s.program = program;
  s.json = json;
  s.debug = debug;
  if (!file.empty()) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) s.fd = fd;
  }
}

bool debug_enabled() { return sink().debug; }

void write(Level level, const std::string& message) {
  Sink& s = sink();
  if (level == Level::debug && !s.debug) return;
  if (s.fd >= 0) {
    std::string line;
    if (s.json) {
      line = strf("{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%s\"}\n", level_name(level),
                  json_escape(message).c_str(), now_rfc3339().c_str());
    } else {
      line = strf("%s: %s\n", level_name(level), message.c_str());
    }
    (void)write_all(s.fd, line);
  }
  // With a log file, only errors also go to stderr (callers like conmon read the file).
  if (s.fd < 0 || level == Level::error) {
    std::string line = strf("%s: %s%s\n", s.program.c_str(),
                            level == Level::error ? "" : (std::string(level_name(level)) + ": ").c_str(),
                            message.c_str());
    (void)write_all(STDERR_FILENO, line);
  }
}

}  // namespace bw::log
