// Where programs send their messages. Library code does not print; it returns
// errors, and at most logs at debug level through this sink.
#pragma once

#include <string>

namespace bw::log {

enum class Level { debug, info, warning, error };

// Programs configure the sink once at start-up: an optional log file (plain
// text or one JSON object per line, the format runc's callers parse) in
// addition to stderr.
void configure(const std::string& program, const std::string& file, bool json, bool debug);
void write(Level level, const std::string& message);
// Whether debug messages are written: lets a hot path skip formatting one.
bool debug_enabled();

inline void debug(const std::string& m) { write(Level::debug, m); }
inline void info(const std::string& m) { write(Level::info, m); }
inline void warning(const std::string& m) { write(Level::warning, m); }
inline void error(const std::string& m) { write(Level::error, m); }

}  // namespace bw::log
