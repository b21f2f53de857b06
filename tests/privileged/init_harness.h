// Fixture for tests that run the real bulwark-init in supervisor mode as PID 1
// of a fresh pid namespace (`unshare --pid --fork --mount-proc bulwark-init
// --supervisor --config-dir ...`), with its output in a file: a temporary
// directory with a config dir, starting and stopping the supervisor, and
// reading what it printed. File reading and polling are bundle.h's.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "base/file.h"
#include "bundle.h"

namespace bw::test {

inline const std::string kInit = BULWARK_BUILD_DIR "/init/bulwark-init";

// The non-empty lines of a host file.
inline std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  for (auto& l : split_lines(host_file(path)))
    if (!l.empty()) out.push_back(l);
  return out;
}

class InitHarness : public ::testing::Test {
 protected:
  // The temporary directory is /tmp/<temp_prefix>-XXXXXX.
  explicit InitHarness(std::string temp_prefix) : temp_prefix_(std::move(temp_prefix)) {}

  // Skips unless root with unshare(1); fails when bulwark-init was not built.
  // Makes base_ (mode 0755) and base_/cfg (cfg_), then runs prepare().
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (pid and mount namespaces); euid is " << ::geteuid();
    if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs unshare(1) from util-linux";
    ASSERT_EQ(::access(kInit.c_str(), X_OK), 0) << "bulwark-init not built at " << kInit;
    std::string templ = "/tmp/" + temp_prefix_ + "-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    base_ = templ;
    ASSERT_EQ(::chmod(base_.c_str(), 0755), 0);
    cfg_ = base_ + "/cfg";
    ASSERT_EQ(::mkdir(cfg_.c_str(), 0755), 0);
    prepare();
  }

  // What a test's fixture adds to SetUp, once base_ and cfg_ exist.
  virtual void prepare() {}

  void TearDown() override {
    if (unshare_pid_ > 0) {
      // Killing the namespace's init kills everything in it.
      if (pid_t init = init_pid_; init > 0) (void)::kill(init, SIGKILL);
      (void)::kill(unshare_pid_, SIGKILL);
      (void)::waitpid(unshare_pid_, nullptr, 0);
    }
    if (!base_.empty()) (void)remove_tree_at(AT_FDCWD, base_);
  }

  // Starts `unshare ... bulwark-init --supervisor` on cfg_ with control socket
  // `socket` ("" for none), state and log dirs under base_, then `extra`;
  // stdout and stderr go to base_/init.out. Returns once init says "starting ".
  void start_init(const std::string& socket, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", kInit,
                                     "--supervisor", "--config-dir", cfg_, "--socket", socket,
                                     "--state-dir", base_ + "/state", "--log-dir", base_ + "/log"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string out = base_ + "/init.out";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0 || null < 0 || ::dup2(null, 0) < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) _exit(127);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      _exit(127);
    }
    unshare_pid_ = pid;
    // bulwark-init is unshare's only child.
    std::string children = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
    ASSERT_TRUE(wait_until([&] { return atoi(host_file(children).c_str()) > 0; }, 5)) << output();
    init_pid_ = atoi(host_file(children).c_str());
    ASSERT_TRUE(wait_until([&] { return output().find("starting ") != std::string::npos; }, 5)) << output();
  }

  // Sends `sig` to bulwark-init and waits for it to end; the exit status in
  // shell convention, or -1 when it did not end within `timeout_s` seconds.
  int stop_init(int sig, int timeout_s) {
    (void)::kill(init_pid_, sig);
    int status = 0;
    bool done = wait_until([&] { return ::waitpid(unshare_pid_, &status, WNOHANG) == unshare_pid_; }, timeout_s);
    if (!done) return -1;
    unshare_pid_ = -1;
    init_pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // Everything bulwark-init printed so far.
  std::string output() const { return host_file(base_ + "/init.out"); }

  std::string base_, cfg_;
  pid_t unshare_pid_ = -1;
  pid_t init_pid_ = -1;

 private:
  std::string temp_prefix_;
};

}  // namespace bw::test
