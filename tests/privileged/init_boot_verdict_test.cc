// The boot verdict of a real bulwark-init, run as PID 1 of a fresh pid
// namespace in supervisor mode (`unshare --pid --fork --mount-proc
// bulwark-init --supervisor --config-dir ...`): what the updater sees
// (<state-dir>/boot-verdict, the hooks in <config-dir>/boot-verdict.d, the
// control socket's status) when the required services come up, when one
// crash-loops, when a health check never passes before the deadline, and
// when a shutdown comes first.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/file.h"
#include "bundle.h"
#include "init_harness.h"

namespace bw::test {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using namespace std::chrono_literals;

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// One request on the control socket, its reply parsed.
json control(const std::string& socket, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return json();
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string line = request + "\n";
    if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      char buf[4096];
      ssize_t n;
      while (reply.find('\n') == std::string::npos && (n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, n);
    }
  }
  ::close(fd);
  return json::parse(reply, nullptr, false);
}

class InitVerdictTest : public InitHarness {
 protected:
  InitVerdictTest() : InitHarness("bwv") {}

  void prepare() override {
    ASSERT_EQ(::mkdir((cfg_ + "/boot-verdict.d").c_str(), 0755), 0);
    verdict_file_ = base_ + "/state/boot-verdict";
    hook_log_ = base_ + "/hook.log";
    socket_ = base_ + "/control.sock";
  }

  void service(const std::string& name, const std::string& script, const std::string& more = "") {
    std::string quoted;
    for (char c : script) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    std::string toml = "exec = [\"/bin/sh\", \"-c\", \"" + quoted + "\"]\n" + more;
    ASSERT_TRUE(write_file_atomic(cfg_ + "/" + name + ".toml", toml, 0644, Durability::volatile_));
  }

  void hook(const std::string& name, const std::string& body, mode_t mode = 0755) {
    ASSERT_TRUE(write_file_atomic(cfg_ + "/boot-verdict.d/" + name, "#!/bin/sh\n" + body + "\n", mode,
                                  Durability::volatile_));
  }
  // A hook that appends "NAME|ARGC|$1|$2|$BULWARK_BOOT_VERDICT" to hook.log.
  void recording_hook(const std::string& name) {
    hook(name, "echo \"" + name + "|$#|$1|$2|$BULWARK_BOOT_VERDICT\" >> " + hook_log_);
  }

  void start(const std::vector<std::string>& extra = {}) { start_init(socket_, extra); }
  int stop(int sig = SIGTERM) { return stop_init(sig, 10); }

  // The boot-verdict file, once it exists.
  json verdict(int timeout_s) {
    wait_until([&] { return ::access(verdict_file_.c_str(), F_OK) == 0; }, timeout_s);
    return json::parse(host_file(verdict_file_), nullptr, false);
  }

  std::string verdict_file_, hook_log_, socket_;
};

// Two required services, one with a health check that passes only after a
// second; a non-required service that fails does not matter. The verdict is
// good, once, after the health check passed; the hooks run in name order,
// one after the other; a failing or non-executable hook is logged and
// changes nothing; a shutdown does not run them again.
TEST_F(InitVerdictTest, GoodWhenRequiredServicesAreReadyAndHealthy) {
  service("db", "exec sleep 1000", "required_for_boot = true\n");
  service("web", "(sleep 1; touch " + base_ + "/web-ok) & exec sleep 1000",
          "required_for_boot = true\nrequires = [\"db\"]\n"
          "[health]\ncommand = [\"/bin/sh\", \"-c\", \"test -f " + base_ + "/web-ok\"]\ninterval_ms = 100\n"
          "retries = 100\n");
  service("extra", "exit 1", "restart = \"no\"\n");
  // 10 takes a while; 30 must not start before it ended.
  hook("10-first", "echo \"10-start $(date +%s%N)\" >> " + base_ + "/order; sleep 0.3; "
                   "echo \"10-end $(date +%s%N)\" >> " + base_ + "/order");
  hook("20-fails", "echo hook-output-on-stderr >&2; exit 3");
  recording_hook("30-record");
  hook("40-not-executable", "echo should-not-run >> " + hook_log_, 0644);
  start();

  json v = verdict(10);
  ASSERT_TRUE(v.is_object()) << host_file(verdict_file_) << output();
  EXPECT_EQ(v["verdict"], "good") << v.dump();
  EXPECT_EQ(v["reason"], "all 2 required services up") << v.dump();
  EXPECT_GE(v["elapsed_ms"].get<long long>(), 1000) << "decided before web's health check passed: " << v.dump();
  EXPECT_LT(v["elapsed_ms"].get<long long>(), 8000) << v.dump();
  std::string time = v["time"];
  EXPECT_EQ(time.size(), 30u) << time;
  EXPECT_EQ(time.back(), 'Z') << time;
  EXPECT_EQ(v.size(), 4u) << v.dump();

  ASSERT_TRUE(wait_until([&] { return !lines_of(hook_log_).empty(); }, 5)) << output();
  EXPECT_EQ(lines_of(hook_log_), std::vector<std::string>{"30-record|2|good|all 2 required services up|good"});
  auto order = lines_of(base_ + "/order");
  ASSERT_EQ(order.size(), 2u) << output();
  EXPECT_EQ(order[0].rfind("10-start ", 0), 0u);
  EXPECT_EQ(order[1].rfind("10-end ", 0), 0u);
  std::string out = output();
  EXPECT_NE(out.find("boot verdict: good: all 2 required services up"), std::string::npos) << out;
  EXPECT_NE(out.find("boot-verdict hook '" + cfg_ + "/boot-verdict.d/20-fails' failed (exited with status 3), ignoring"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("hook-output-on-stderr"), std::string::npos) << out;
  EXPECT_NE(out.find("40-not-executable' is not executable, ignoring"), std::string::npos) << out;

  json status = control(socket_, R"({"cmd":"status"})");
  ASSERT_TRUE(status.is_object()) << output();
  EXPECT_EQ(status["result"]["boot_verdict"]["verdict"], "good") << status.dump();
  EXPECT_EQ(status["result"]["boot_verdict"]["reason"], "all 2 required services up") << status.dump();
  // bulwarkctl status prints it under the table.
  std::string ctl_out;
  if (FILE* p = popen((BULWARK_BUILD_DIR "/tools/ctl/bulwarkctl --socket " + socket_ + " status 2>&1").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) ctl_out.append(buf, n);
    pclose(p);
  }
  EXPECT_NE(ctl_out.find("Boot verdict: good (all 2 required services up, after "), std::string::npos) << ctl_out;

  EXPECT_EQ(stop(), 0) << output();
  EXPECT_EQ(lines_of(hook_log_).size(), 1u) << output();
  EXPECT_EQ(occurrences(output(), "boot verdict: "), 1u) << output();
}

// A required service that crash-loops makes the verdict bad at once (long
// before the deadline), naming it and its last exit. (It waits for READY=1:
// with ready = "started" and no health check it would count as up the
// moment it ran.)
TEST_F(InitVerdictTest, BadWhenARequiredServiceCrashLoops) {
  service("steady", "exec sleep 1000", "required_for_boot = true\n");
  service("db", "exit 1",
          "required_for_boot = true\nready = \"notify\"\nrestart_delay_ms = 50\nrestart_max_delay_ms = 100\n"
          "crash_loop_restarts = 2\n");
  recording_hook("50-record");
  start();
  json v = verdict(10);
  ASSERT_TRUE(v.is_object()) << output();
  EXPECT_EQ(v["verdict"], "bad") << v.dump();
  std::string reason = v["reason"];
  EXPECT_EQ(reason.rfind("service 'db' failed: crash loop: 2 restarts within 60000 ms", 0), 0u) << reason;
  EXPECT_NE(reason.find("(last: exited with status 1)"), std::string::npos) << reason;
  EXPECT_LT(v["elapsed_ms"].get<long long>(), 5000) << v.dump();
  ASSERT_TRUE(wait_until([&] { return !lines_of(hook_log_).empty(); }, 5)) << output();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(lines_of(hook_log_), std::vector<std::string>{"50-record|2|bad|" + reason + "|bad"});
  EXPECT_EQ(stop(), 0) << output();
  EXPECT_EQ(lines_of(hook_log_).size(), 1u);
}

// A health check that never passes: bad at the deadline (--boot-deadline 2),
// not before. A hook that hangs is killed after --hook-timeout-ms and the
// next one still runs; meanwhile the supervisor keeps serving.
TEST_F(InitVerdictTest, BadWhenAHealthCheckNeverPassesBeforeTheDeadline) {
  service("web", "exec sleep 1000",
          "required_for_boot = true\n[health]\ncommand = [\"/bin/false\"]\ninterval_ms = 100\nretries = 1000\n");
  hook("10-hangs", "exec sleep 1000");
  recording_hook("20-record");
  auto t0 = Clock::now();
  start({"--boot-deadline", "2", "--hook-timeout-ms", "1000"});
  json v = verdict(8);
  ASSERT_TRUE(v.is_object()) << output();
  auto took = Clock::now() - t0;
  EXPECT_GE(took, 1900ms);
  EXPECT_EQ(v["verdict"], "bad") << v.dump();
  EXPECT_EQ(v["reason"], "service 'web' not healthy within 2 s") << v.dump();
  EXPECT_GE(v["elapsed_ms"].get<long long>(), 2000) << v.dump();
  EXPECT_LT(v["elapsed_ms"].get<long long>(), 3000) << v.dump();

  // The first hook hangs: the loop still answers.
  json status = control(socket_, R"({"cmd":"status"})");
  EXPECT_EQ(status["result"]["boot_verdict"]["verdict"], "bad") << status.dump() << output();
  EXPECT_TRUE(lines_of(hook_log_).empty());

  ASSERT_TRUE(wait_until([&] { return !lines_of(hook_log_).empty(); }, 5)) << output();
  EXPECT_EQ(lines_of(hook_log_),
            std::vector<std::string>{"20-record|2|bad|service 'web' not healthy within 2 s|bad"});
  EXPECT_NE(output().find("boot-verdict hook '" + cfg_ + "/boot-verdict.d/10-hangs' did not finish within 1000 ms, "
                          "sending SIGKILL"),
            std::string::npos)
      << output();
  EXPECT_EQ(stop(), 0) << output();
  EXPECT_EQ(lines_of(hook_log_).size(), 1u);
}

// A shutdown before the verdict: none is given, no file, no hook; the
// status said it was pending and why.
TEST_F(InitVerdictTest, NoVerdictWhenShutdownComesFirst) {
  // ready = "notify" and it never says READY=1.
  service("web", "exec sleep 1000", "required_for_boot = true\nready = \"notify\"\n");
  recording_hook("50-record");
  start();
  json status;
  ASSERT_TRUE(wait_until(
      [&] {
        status = control(socket_, R"({"cmd":"status"})");
        return status.is_object() && status["result"].contains("boot_verdict");
      },
      5))
      << output();
  EXPECT_EQ(status["result"]["boot_verdict"]["verdict"], "pending") << status.dump();
  EXPECT_EQ(status["result"]["boot_verdict"]["reason"], "waiting for 'web' to become ready") << status.dump();
  EXPECT_EQ(stop(), 0) << output();
  EXPECT_NE(output().find("shutting down before the boot verdict (waiting for 'web' to become ready): no verdict "
                          "is given"),
            std::string::npos)
      << output();
  EXPECT_NE(::access(verdict_file_.c_str(), F_OK), 0);
  EXPECT_TRUE(lines_of(hook_log_).empty());
  EXPECT_EQ(output().find("boot verdict: "), std::string::npos) << output();
}

TEST_F(InitVerdictTest, BadDeadlineIsRefused) {
  for (const char* bad : {"0", "-1", "86401", "2s"}) {
    std::string err = base_ + "/err";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || ::dup2(fd, 2) < 0) _exit(127);
      ::execl(kInit.c_str(), kInit.c_str(), "--supervisor", "--config-dir", cfg_.c_str(), "--boot-deadline", bad,
              static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << bad << ": " << status;
    EXPECT_NE(host_file(err).find(std::string("--boot-deadline: '") + bad + "' is not a number from 1 to 86400"),
              std::string::npos)
        << host_file(err);
  }
}

}  // namespace
}  // namespace bw::test
