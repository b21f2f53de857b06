// bulwark-init supervising real services as PID 1 of a fresh pid namespace
// (`unshare --pid --fork --mount-proc bulwark-init --supervisor ...`), so
// every orphan in the namespace is re-parented to it. Each test writes a
// services directory, starts the supervisor, and watches what the services
// record in files (events with timestamps) and what the supervisor logs.

#include <gtest/gtest.h>

#include <dirent.h>
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
#include <grp.h>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/file.h"
#include "bundle.h"
#include "init_harness.h"
#include "sandbox/cgroup2.h"

namespace bw::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A field of /proc/PID/status ("State", "PPid", ...), "" when gone.
std::string proc_status(pid_t pid, const std::string& key) {
  for (const auto& line : split_lines(proc_file(pid, "status")))
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

// Host pids whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid > 0 && proc_status(pid, "PPid") == std::to_string(parent)) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

// The state column of `name`'s line in a state dump ("running", ...).
std::string state_in(const std::string& dump, const std::string& name) {
  for (const auto& line : split_lines(dump)) {
    std::istringstream in(line);
    std::string w0, w1, w2, w3;
    in >> w0 >> w1 >> w2 >> w3;  // "bulwark-init:" "info:" NAME STATE
    if (w2 == name) return w3;
  }
  return "";
}

// "name TIMESTAMP_NS" lines a service appends to the events file.
struct Event {
  std::string name;
  long long ns = 0;
};

class InitSupervisorTest : public InitHarness {
 protected:
  InitSupervisorTest() : InitHarness("bwi") {}

  void prepare() override {
    ASSERT_EQ(::access(probe_path().c_str(), X_OK), 0) << "bw-probe not built at " << probe_path();
    events_ = base_ + "/events";
  }

  void service(const std::string& name, const std::string& toml) {
    ASSERT_TRUE(write_file_atomic(cfg_ + "/" + name + ".toml", toml, 0644, Durability::volatile_));
  }
  // A shell service: `script` runs under /bin/sh -c; EV is the events file.
  std::string sh(const std::string& script) {
    std::string full = "export EV=" + events_ + " P=" + probe_path() + "; " + script;
    std::string quoted;
    for (char c : full) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return "exec = [\"/bin/sh\", \"-c\", \"" + quoted + "\"]\n";
  }
  // A shell snippet appending "NAME <monotonic-ish ns>" to the events file.
  static std::string ev(const std::string& name) { return "echo \"" + name + " $(date +%s%N)\" >> $EV"; }

  void start(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    start_init("", args);
  }
  int stop(int sig = SIGTERM) { return stop_init(sig, 20); }

  // The supervisor's SIGUSR2 state dump, freshly written.
  std::string dump() {
    size_t before = output().size();
    (void)::kill(init_pid_, SIGUSR2);
    wait_until([&] { return output().find("info: state:", before) != std::string::npos; }, 3);
    std::this_thread::sleep_for(100ms);
    return output().substr(before);
  }

  std::vector<Event> events(const std::string& prefix = "") const {
    std::vector<Event> out;
    for (const auto& l : lines_of(events_)) {
      size_t sp = l.find(' ');
      Event e{l.substr(0, sp), sp == std::string::npos ? 0 : atoll(l.c_str() + sp + 1)};
      if (e.name.rfind(prefix, 0) == 0) out.push_back(e);
    }
    return out;
  }
  int count(const std::string& name) const {
    int n = 0;
    for (const auto& e : events())
      if (e.name == name) ++n;
    return n;
  }
  long long at(const std::string& name) const {
    for (const auto& e : events())
      if (e.name == name) return e.ns;
    return -1;
  }

  std::string events_;
};

TEST_F(InitSupervisorTest, ReapsZombiesOfReparentedOrphans) {
  // An inner shell leaves five subshells behind and exits: they are
  // re-parented to the namespace's PID 1, live half a second, and exit.
  // (The service itself keeps running: when a service's main process ends,
  // what is left of its process group is killed.)
  service("spawner", sh("sh -c 'for i in 1 2 3 4 5; do (sleep 0.5; " + ev("orphan-done") +
                        ") & done; exit 0'; exec sleep 1000"));
  service("steady", sh("exec sleep 1000"));
  start();
  ASSERT_TRUE(wait_until([&] { return count("orphan-done") == 5; }, 10)) << output();
  // Give the supervisor a moment to reap the last of them, then look for
  // zombies among its children.
  bool clean = wait_until(
      [&] {
        for (pid_t c : children_of(init_pid_))
          if (proc_status(c, "State").rfind("Z", 0) == 0) return false;
        return true;
      },
      3);
  EXPECT_TRUE(clean) << "zombies left with parent " << init_pid_;
  std::string d = dump();
  size_t at_reaped = d.find(" orphans reaped");
  ASSERT_NE(at_reaped, std::string::npos) << d;
  size_t start = d.rfind(", ", at_reaped) + 2;
  EXPECT_GE(atoi(d.c_str() + start), 5) << d;
  EXPECT_EQ(state_in(d, "spawner"), "running") << d;
  EXPECT_EQ(stop(), 0) << output();
}

TEST_F(InitSupervisorTest, ReadinessGatesDependents) {
  service("slow", sh(ev("slow-start") + "; exec $P notify STATUS=warming-up -- sleep 1 -- notify READY=1 "
                                        "STATUS=serving -- sleep 1000") +
                      "ready = \"notify\"\n");
  service("dependent", sh(ev("dependent-start") + "; exec sleep 1000") + "requires = [\"slow\"]\n");
  start();
  ASSERT_TRUE(wait_until([&] { return count("slow-start") == 1; }, 5)) << output();
  std::this_thread::sleep_for(300ms);
  // A READY=1 from a process that is not the service's counts for nothing.
  {
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::string path = base_ + "/state/notify.sock";
    strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    EXPECT_GE(::sendto(fd, "READY=1", 7, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  std::string d = dump();
  EXPECT_EQ(state_in(d, "slow"), "starting") << d;
  EXPECT_NE(d.find("status=warming-up"), std::string::npos) << d;
  EXPECT_EQ(state_in(d, "dependent"), "waiting") << d;
  EXPECT_EQ(count("dependent-start"), 0);
  ASSERT_TRUE(wait_until([&] { return count("dependent-start") == 1; }, 5)) << output();
  // It started only after `slow` said it was ready, a second after it began.
  EXPECT_GE(at("dependent-start") - at("slow-start"), 900LL * 1000 * 1000);
  d = dump();
  EXPECT_EQ(state_in(d, "slow"), "running") << d;
  EXPECT_NE(d.find("status=serving"), std::string::npos) << d;
  EXPECT_EQ(stop(), 0) << output();
}

TEST_F(InitSupervisorTest, CrashingServiceBacksOffThenFailsOthersUnaffected) {
  service("crasher", sh(ev("crash") + "; exit 1") +
                         "restart_delay_ms = 100\nrestart_max_delay_ms = 400\n"
                         "crash_loop_restarts = 4\ncrash_loop_window_ms = 60000\n");
  service("steady", sh(ev("steady-start") + "; exec sleep 1000"));
  start();
  ASSERT_TRUE(wait_until([&] { return output().find("crasher: crash loop") != std::string::npos; }, 10))
      << output();
  std::this_thread::sleep_for(700ms);
  auto crashes = events("crash");
  // The first run and four restarts, then no more.
  ASSERT_EQ(crashes.size(), 5u) << output();
  // The delay doubles from 100 ms and stops at 400 ms.
  const long long expect_ms[] = {100, 200, 400, 400};
  for (size_t i = 1; i < crashes.size(); ++i) {
    long long gap_ms = (crashes[i].ns - crashes[i - 1].ns) / 1000000;
    EXPECT_GE(gap_ms, expect_ms[i - 1] - 10) << "restart " << i;
    EXPECT_LT(gap_ms, expect_ms[i - 1] + 300) << "restart " << i;
  }
  EXPECT_EQ(count("steady-start"), 1);
  std::string d = dump();
  EXPECT_EQ(state_in(d, "crasher"), "failed") << d;
  EXPECT_NE(d.find("restarts=4"), std::string::npos) << d;
  EXPECT_EQ(state_in(d, "steady"), "running") << d;
  EXPECT_NE(host_file(base_ + "/log/crasher.log").find("crash loop: 4 restarts"), std::string::npos);
  EXPECT_EQ(stop(), 0) << output();
}

TEST_F(InitSupervisorTest, ServiceThatStopsPingingTheWatchdogIsRestarted) {
  // Pings twice, then goes quiet.
  service("quiet", sh(ev("quiet-start") + "; exec $P notify READY=1 -- notify WATCHDOG=1 -- sleep 0.2 -- "
                                          "notify WATCHDOG=1 -- sleep 1000") +
                       "ready = \"notify\"\nwatchdog_ms = 600\nrestart_delay_ms = 100\n");
  // Pings from children of its main process, which count for it too. (Each
  // lives on a little after sending: a sender that is gone by the time the
  // message is read can no longer be traced to a service.)
  service("pinger", sh(ev("pinger-start") + "; $P notify READY=1 -- sleep 0.1 >/dev/null; "
                                            "while true; do $P notify WATCHDOG=1 -- sleep 0.2 >/dev/null; done") +
                        "ready = \"notify\"\nwatchdog_ms = 600\n");
  start();
  ASSERT_TRUE(wait_until([&] { return count("quiet-start") >= 2; }, 8)) << output();
  EXPECT_NE(output().find("quiet: watchdog timeout: no WATCHDOG=1 within 600 ms"), std::string::npos) << output();
  // The first run lasted about 0.2 s of pings plus the 600 ms timeout.
  auto starts = events("quiet-start");
  long long lived_ms = (starts[1].ns - starts[0].ns) / 1000000;
  EXPECT_GE(lived_ms, 750);
  EXPECT_LT(lived_ms, 3000);
  EXPECT_EQ(count("pinger-start"), 1) << output();
  std::string d = dump();
  EXPECT_EQ(state_in(d, "pinger"), "running") << d;
  EXPECT_EQ(stop(), 0) << output();
}

TEST_F(InitSupervisorTest, LogsAreCapturedAndRotated) {
  service("chatty", sh("i=0; while [ $i -lt 300 ]; do echo \"line $i of the chatty service\"; "
                       "echo \"err $i\" >&2; i=$((i+1)); done; exec sleep 1000"));
  start({"--log-file-bytes", "2048", "--log-files", "2"});
  std::string log = base_ + "/log/chatty.log";
  ASSERT_TRUE(
      wait_until([&] { return host_file(log).find("line 299 of the chatty service") != std::string::npos; }, 10))
      << output();
  struct stat st {};
  ASSERT_EQ(::stat((log + ".1").c_str(), &st), 0) << "no rotated file";
  EXPECT_LE(st.st_size, 2048);
  EXPECT_EQ(::stat((log + ".2").c_str(), &st), 0);
  EXPECT_NE(::stat((log + ".3").c_str(), &st), 0) << "more rotated files than --log-files";
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_LE(st.st_size, 2048);
  // stderr is captured too.
  EXPECT_NE(host_file(log).find("err 299"), std::string::npos);
  EXPECT_EQ(stop(), 0) << output();
}

TEST_F(InitSupervisorTest, ShutdownStopsInReverseOrderWithinTimeoutsThenRunsHooks) {
  service("base", sh("trap '" + ev("base-stop") + "; exit 0' TERM; " + ev("base-start") +
                     "; while :; do sleep 0.05; done"));
  service("mid", sh("trap '" + ev("mid-stop") + "; exit 0' TERM; " + ev("mid-start") +
                    "; while :; do sleep 0.05; done") +
                     "requires = [\"base\"]\n");
  // Ignores its stop signal: SIGKILL after 500 ms.
  service("top", sh("trap '" + ev("top-term") + "' TERM; " + ev("top-start") + "; while :; do sleep 0.05; done") +
                     "requires = [\"mid\"]\nstop_timeout_ms = 500\n");
  service("loner", sh("trap '" + ev("loner-stop") + "; exit 0' TERM; while :; do sleep 0.05; done") +
                       "stop_signal = \"SIGTERM\"\n");
  ASSERT_EQ(::mkdir((cfg_ + "/shutdown.d").c_str(), 0755), 0);
  ASSERT_TRUE(write_file_atomic(cfg_ + "/shutdown.d/10-record",
                                "#!/bin/sh\necho \"hook-$1 $(date +%s%N)\" >> " + events_ + "\n", 0755,
                                Durability::volatile_));
  ASSERT_TRUE(write_file_atomic(cfg_ + "/shutdown.d/20-second",
                                "#!/bin/sh\necho \"hook2-$BULWARK_SHUTDOWN_ACTION $(date +%s%N)\" >> " + events_ +
                                    "\n",
                                0755, Durability::volatile_));
  start();
  ASSERT_TRUE(wait_until([&] { return count("top-start") == 1; }, 5)) << output();
  std::this_thread::sleep_for(200ms);
  auto t0 = Clock::now();
  long long stop_sent_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  EXPECT_EQ(stop(SIGTERM), 0) << output();
  auto took = Clock::now() - t0;
  EXPECT_LT(took, 5s);
  for (const char* e : {"top-term", "mid-stop", "base-stop", "loner-stop", "hook-exit", "hook2-exit"})
    EXPECT_EQ(count(e), 1) << e << "\n" << host_file(events_) << output();
  // top ignored SIGTERM and was killed 500 ms later; only then did mid get
  // its signal. (The trap's own timestamp lags the signal by up to a sleep
  // period, so the bound is taken from when the stop was requested.)
  EXPECT_GT(at("mid-stop"), at("top-term")) << host_file(events_);
  EXPECT_GE(at("mid-stop") - stop_sent_ns, 500LL * 1000 * 1000) << host_file(events_);
  EXPECT_GT(at("base-stop"), at("mid-stop"));
  EXPECT_GT(at("hook-exit"), at("base-stop"));
  EXPECT_GT(at("hook2-exit"), at("hook-exit"));
  EXPECT_NE(output().find("top: still running 500 ms after its stop signal, sending SIGKILL"), std::string::npos);
}

TEST_F(InitSupervisorTest, IdleSupervisorDoesNotWakeUp) {
  service("a", sh("exec sleep 1000"));
  service("b", sh("exec sleep 1000") + "requires = [\"a\"]\n");
  start();
  ASSERT_TRUE(wait_until([&] { return state_in(dump(), "b") == "running"; }, 5));
  std::this_thread::sleep_for(200ms);
  std::string before = proc_status(init_pid_, "voluntary_ctxt_switches");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(proc_status(init_pid_, "voluntary_ctxt_switches"), before);
  EXPECT_NE(dump().find("0 timers pending"), std::string::npos);
  EXPECT_EQ(stop(), 0) << output();
}

TEST_F(InitSupervisorTest, ProcessesThatLeaveTheGroupDieWithTheServiceCgroup) {
  auto mount = sandbox::Cgroup::find_mount();
  if (!mount) GTEST_SKIP() << "needs cgroup v2: " << mount.error().text();
  std::string parent = "bwi-test-" + std::to_string(::getpid());
  // setsid: a new session and process group, out of reach of a process-group kill.
  service("leaver", sh("setsid sleep 1000 & echo $! > " + base_ + "/escapee; sleep 0.3; exit 0") +
                        "restart = \"no\"\n");
  start({"--cgroup-parent", parent});
  std::string pidfile = base_ + "/escapee";
  ASSERT_TRUE(wait_until([&] { return atoi(host_file(pidfile).c_str()) > 0; }, 5)) << output();
  // The escapee's pid is in the namespace; find it on the host by its cgroup.
  ASSERT_TRUE(wait_until([&] { return output().find("leaver: exited with status 0") != std::string::npos; }, 5))
      << output();
  bool gone = wait_until(
      [&] {
        for (pid_t c : children_of(init_pid_))
          if (proc_file(c, "comm") == "sleep\n") return false;
        return true;
      },
      3);
  EXPECT_TRUE(gone) << "the setsid'd sleep outlived its service";
  EXPECT_NE(::access((*mount + "/" + parent + "/leaver").c_str(), F_OK), 0);
  EXPECT_EQ(stop(), 0) << output();
  EXPECT_NE(::access((*mount + "/" + parent).c_str(), F_OK), 0) << "cgroup parent left behind";
}

TEST_F(InitSupervisorTest, ContainerServiceWithHealthCheck) {
  TestBundle bundle;
  std::string name = "box-" + std::to_string(::getpid());
  bundle.config()["process"]["args"] = {"/bin/sh", "-c", "echo in-container; exec sleep 1000"};
  bundle.write();
  service(name, "bundle = \"" + bundle.path() + "\"\nstop_timeout_ms = 500\n"
                "[health]\ncommand = [\"/bin/bw-probe\", \"exit\", \"0\"]\ninterval_ms = 200\n");
  service("after-box", sh(ev("after-box") + "; exec sleep 1000") + "requires = [\"" + name + "\"]\n");
  start();
  ASSERT_TRUE(wait_until([&] { return output().find(name + ": healthy") != std::string::npos; }, 10)) << output();
  EXPECT_EQ(count("after-box"), 1);
  EXPECT_NE(host_file(base_ + "/log/" + name + ".log").find("in-container"), std::string::npos);
  std::string d = dump();
  EXPECT_NE(d.find(" running   container"), std::string::npos) << d;
  EXPECT_NE(d.find("health=healthy"), std::string::npos) << d;
  EXPECT_EQ(stop(), 0) << output();
  // sleep as the container's PID 1 ignores SIGTERM: killed after the timeout, then deleted.
  EXPECT_NE(output().find(name + ": still running 500 ms after its stop signal"), std::string::npos);
  DIR* d2 = ::opendir((base_ + "/state/containers").c_str());
  ASSERT_NE(d2, nullptr);
  int entries = 0;
  while (struct dirent* e = ::readdir(d2))
    if (e->d_name[0] != '.') ++entries;
  ::closedir(d2);
  EXPECT_EQ(entries, 0) << "container state left behind";
  EXPECT_TRUE(cgroup_dirs_named(name).empty());
}

// bulwarkctl as another user: exit status and stderr.
struct CtlResult {
  int status = -1;
  std::string err;
};
CtlResult bulwarkctl_as(uid_t uid, gid_t gid, const std::vector<std::string>& args, const std::string& errfile) {
  std::vector<std::string> argv = {BULWARK_BUILD_DIR "/tools/ctl/bulwarkctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(errfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0 || null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(fd, 2) < 0) _exit(127);
    if (uid != 0 && (::setgroups(0, nullptr) < 0 || ::setresgid(gid, gid, gid) < 0 || ::setresuid(uid, uid, uid) < 0))
      _exit(126);
    std::vector<char*> a;
    for (auto& w : argv) a.push_back(w.data());
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    _exit(127);
  }
  CtlResult r;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) r.status = WEXITSTATUS(status);
  r.err = host_file(errfile);
  return r;
}

// The control socket of a real supervisor: a uid whose role does not allow
// `stop` is refused (and the refusal logged) while it may read the status;
// root may stop the service.
TEST_F(InitSupervisorTest, ControlSocketRefusesANonPermittedUid) {
  service("web", sh("exec sleep 1000"));
  std::string policy = base_ + "/access.toml";
  ASSERT_TRUE(write_file_atomic(policy, "[users]\n1000 = \"viewer\"\n", 0644, Durability::volatile_));
  std::string sock = base_ + "/control.sock";
  start({"--socket", sock, "--access-policy", policy});
  ASSERT_TRUE(wait_until([&] { return state_in(dump(), "web") == "running"; }, 5)) << output();
  std::string err = base_ + "/ctl.err";

  CtlResult denied = bulwarkctl_as(1000, 1000, {"--socket", sock, "stop", "web"}, err);
  EXPECT_EQ(denied.status, 1) << denied.err;
  EXPECT_NE(denied.err.find("permission denied"), std::string::npos) << denied.err;
  EXPECT_TRUE(wait_until([&] { return output().find("denied 'stop web' to uid 1000") != std::string::npos; }, 2))
      << output();
  EXPECT_EQ(state_in(dump(), "web"), "running");

  CtlResult status = bulwarkctl_as(1000, 1000, {"--socket", sock, "status"}, err);
  EXPECT_EQ(status.status, 0) << status.err;

  CtlResult stopped = bulwarkctl_as(0, 0, {"--socket", sock, "stop", "web"}, err);
  EXPECT_EQ(stopped.status, 0) << stopped.err;
  EXPECT_TRUE(wait_until([&] { return state_in(dump(), "web") == "inactive"; }, 5)) << output();
  EXPECT_EQ(stop(SIGTERM), 0) << output();
}

}  // namespace
}  // namespace bw::test
