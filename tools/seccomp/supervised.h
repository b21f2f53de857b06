// What `record` and `check` share: they run a command given after their own
// options, read a profile file and say how the command ended.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/child.h"
#include "base/result.h"

namespace bw::seccomp_tool {

struct OptionSpec {
  const char* long_name;   // "output" for --output
  char short_name;         // 'o' for -o; 0 for none
  bool takes_value;
  bool repeatable = false;
};

struct CommandLine {
  std::map<std::string, std::vector<std::string>> values;  // by long name
  std::vector<std::string> command;                       // after "--" (or the first operand)

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
};

// Options first, then the command: everything after "--", or from the first
// word that is not an option. --json and --strict are always accepted (as
// values["json"], values["strict"]). An error is a usage error (exit status 2).
Result<CommandLine> parse_command_line(const std::vector<std::string>& args,
                                       const std::vector<OptionSpec>& spec);

// "exited with status 3", "was killed by SIGSEGV".
std::string describe_exit(const ExitStatus& st);
// For messages: the command's words, quoted where needed.
std::string command_text(const std::vector<std::string>& argv);
// "0x7ffc1a2b, 0x1ed, 0, 0, 0, 0"
std::string args_text(const std::array<uint64_t, 6>& args);

// Writes `text` to `path` atomically (a new file renamed into place), to
// stdout when path is "-", and straight into an existing non-regular file
// (/dev/null, a fifo).
Result<void> write_output(const std::string& path, const std::string& text);

}  // namespace bw::seccomp_tool
