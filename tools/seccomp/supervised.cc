#include "seccomp/supervised.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <string.h>

#include <array>
#include <cstdio>

#include "base/file.h"
#include "base/strings.h"

namespace bw::seccomp_tool {

std::string CommandLine::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return fallback;
  return it->second.back();
}

Result<CommandLine> parse_command_line(const std::vector<std::string>& args,
                                       const std::vector<OptionSpec>& spec) {
  CommandLine out;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;  // the command begins
    if (a == "--json" || a == "--strict") {
      out.values[a.substr(2)].push_back("");
      continue;
    }
    const OptionSpec* found = nullptr;
    std::string value;
    bool inline_value = false;
    for (const OptionSpec& s : spec) {
      std::string long_form = std::string("--") + s.long_name;
      if (a == long_form || (s.short_name && a == std::string{'-', s.short_name})) {
        found = &s;
      } else if (s.takes_value && a.starts_with(long_form + "=")) {
        found = &s;
        value = a.substr(long_form.size() + 1);
        inline_value = true;
      }
      if (found) break;
    }
    if (!found) return make_error(0, "unknown option '%s'", a.c_str());
    if (found->takes_value && !inline_value) {
      if (i + 1 >= args.size())
        return make_error(0, "option '%s' needs a value", a.c_str());
      value = args[++i];
    }
    auto& slot = out.values[found->long_name];
    if (!slot.empty() && !found->repeatable)
      return make_error(0, "option --%s is given twice", found->long_name);
    slot.push_back(value);
  }
  out.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (out.command.empty()) return make_error(0, "no command given (expected '-- COMMAND ARGS...')");
  return out;
}

std::string describe_exit(const ExitStatus& st) {
  if (!st.signaled) return strf("exited with status %d", st.code);
  const char* name = sigabbrev_np(st.code);
  return name ? strf("was killed by SIG%s", name) : strf("was killed by signal %d", st.code);
}

std::string command_text(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const std::string& a : argv) {
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    words.push_back(plain ? a : "'" + a + "'");
  }
  return join(words, " ");
}

std::string args_text(const std::array<uint64_t, 6>& args) {
  std::vector<std::string> parts;
  for (uint64_t a : args) parts.push_back(a ? strf("%#llx", static_cast<unsigned long long>(a)) : "0");
  return join(parts, ", ");
}

Result<void> write_output(const std::string& path, const std::string& text) {
  if (path == "-") {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
      return sys_error("writing to standard output");
    return {};
  }
  // A device, a fifo or /dev/stdout is written to, never renamed over.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(AT_FDCWD, path, O_WRONLY));
    return with_context(write_all(fd.get(), text), strf("writing '%s'", path.c_str()));
  }
  return with_context(write_file_atomic(path, text), strf("writing '%s'", path.c_str()));
}

}  // namespace bw::seccomp_tool
