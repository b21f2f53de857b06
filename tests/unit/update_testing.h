// Helpers the updater's unit tests share: finding and running the real
// tools they check Bulwark's files against (grub-editenv, promtool, ostree,
// openssl).
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "base/file.h"

namespace bw::update::testing {

// The first executable `name` on $PATH (then /usr/sbin, /sbin); "" if none.
inline std::string find_program(const std::string& name) {
  const char* path = ::getenv("PATH");
  std::string dirs = std::string(path ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

struct RunResult {
  int status = -1;     // exit code, or -1 when it did not exit normally
  std::string output;  // stdout and stderr
};

// Runs argv (no shell, so values need no quoting) with `input` on its stdin
// (from a file, so no pipe can fill up) and collects its output.
inline RunResult run(const std::vector<std::string>& argv, const std::string& input = "") {
  RunResult result;
  char tmpl[] = "/tmp/bw-update-test-input-XXXXXX";
  int in = ::mkostemp(tmpl, O_CLOEXEC);
  if (in < 0) return result;
  ::unlink(tmpl);
  if (!write_all(in, input) || ::lseek(in, 0, SEEK_SET) != 0) {
    ::close(in);
    return result;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) {
    ::close(in);
    return result;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(in);
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (pid > 0 && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pid > 0 && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

}  // namespace bw::update::testing
