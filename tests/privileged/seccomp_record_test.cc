// `bulwark-seccomp record` and `check` on real processes: bw-syscall-mix
// (tests/helper/syscall_mix.cc) makes known calls an exact number of times
// from threads, a forked child, an exec'd program and the compat ABIs, so the
// counts show that no task and no call was missed.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;

const std::string kBuild = BULWARK_BUILD_DIR;

std::string tool() { return kBuild + "/tools/seccomp/bulwark-seccomp"; }
std::string mix() { return kBuild + "/tests/helper/bw-syscall-mix"; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The tool's --json report, after whatever the command printed itself.
json report(const RunResult& r) {
  size_t pos = r.out.rfind("\n{\n");
  pos = r.out.compare(0, 2, "{\n") == 0 ? 0 : pos == std::string::npos ? pos : pos + 1;
  if (pos == std::string::npos) return json();
  return json::parse(r.out.substr(pos), nullptr, false);
}

const json* find_call(const json& list, const std::string& name, const std::string& arch = "") {
  for (const auto& e : list)
    if (e["name"] == name && (arch.empty() || e["arch"] == arch)) return &e;
  return nullptr;
}

bool has_rule(const json& profile, const std::string& name, const std::string& op = "",
              uint64_t value = 0) {
  for (const auto& r : profile["syscalls"]) {
    bool named = false;
    for (const auto& n : r["names"]) named = named || n == name;
    if (!named) continue;
    if (op.empty()) return r.value("args", json::array()).empty();
    for (const auto& a : r.value("args", json::array()))
      if (a["op"] == op && a["value"] == value) return true;
  }
  return false;
}

class SeccompRecordTest : public RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(::access(tool().c_str(), X_OK), 0) << tool() << " was not built";
    ASSERT_EQ(::access(mix().c_str(), X_OK), 0) << mix() << " was not built";
    char tmpl[] = "/tmp/bw-record-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)run_command({"/bin/rm", "-rf", dir_});
  }

  // Records bw-syscall-mix all into <dir>/mix.json once per test.
  json record_mix(json* report_out = nullptr) {
    RunResult r = run_command({tool(), "record", "--json", "-o", dir_ + "/mix.json", "--", mix(),
                               "all"});
    EXPECT_EQ(r.status, 0) << r.describe();
    if (report_out) *report_out = report(r);
    return json::parse(read_text(dir_ + "/mix.json"), nullptr, false);
  }

  std::string dir_;
};

TEST_F(SeccompRecordTest, SeesEveryCallOfEveryThreadForkAndExec) {
  json rep;
  json profile = record_mix(&rep);
  ASSERT_TRUE(rep.is_object());
  const json& calls = rep["syscalls"];
  // Exact counts: nothing is sampled and no task escapes the filter.
  ASSERT_NE(find_call(calls, "sysinfo"), nullptr);
  EXPECT_EQ((*find_call(calls, "sysinfo"))["count"], 8 * 1000);  // 8 threads
  ASSERT_NE(find_call(calls, "times"), nullptr);
  EXPECT_EQ((*find_call(calls, "times"))["count"], 500);  // the forked child
  ASSERT_NE(find_call(calls, "sched_getscheduler"), nullptr);
  EXPECT_EQ((*find_call(calls, "sched_getscheduler"))["count"], 300);  // a thread after exec
  // main + 8 threads + forked child (+ its thread after exec) + the compat child
  EXPECT_GE(rep["tasks"].get<int>(), 11);
  EXPECT_EQ(rep["exit"]["code"], 0);

  // Compat ABIs are named by their architecture.
  EXPECT_NE(find_call(calls, "getppid", "SCMP_ARCH_X32"), nullptr);
  auto arches = rep["architectures"];
  EXPECT_EQ(arches[0], "SCMP_ARCH_X86_64");
  EXPECT_NE(std::find(arches.begin(), arches.end(), "SCMP_ARCH_X32"), arches.end());
  bool i386 = find_call(calls, "getppid", "SCMP_ARCH_X86") != nullptr;
  EXPECT_EQ(profile["architectures"], arches);
  std::cout << "[ info     ] i386 system calls " << (i386 ? "recorded" : "not run by this kernel")
            << "\n";

  // The profile: the calls by name, argument rules where they are tight.
  EXPECT_EQ(profile["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(profile["defaultErrnoRet"], 1);
  for (const char* name : {"sysinfo", "times", "sched_getscheduler", "execve", "getppid"})
    EXPECT_TRUE(has_rule(profile, name)) << name;
  EXPECT_TRUE(has_rule(profile, "socket", "SCMP_CMP_EQ", AF_UNIX));
  EXPECT_TRUE(has_rule(profile, "socket", "SCMP_CMP_EQ", AF_INET));
  EXPECT_FALSE(has_rule(profile, "socket"));  // never unconditionally
  EXPECT_TRUE(has_rule(profile, "clone", "SCMP_CMP_MASKED_EQ", 0x7E020000));
  EXPECT_FALSE(has_rule(profile, "mount"));  // nothing that was not called
}

TEST_F(SeccompRecordTest, TheRecordedProfileRunsTheCommandInAContainer) {
  json profile = record_mix();
  ASSERT_TRUE(profile.is_object());
  // Enforced, as bulwark-run loads it: clone3 gets ENOSYS, the C library
  // falls back to clone, and everything else the helper does is allowed.
  TestBundle bundle;
  std::ifstream src(mix(), std::ios::binary);
  std::ofstream(bundle.rootfs() + "/bin/bw-syscall-mix", std::ios::binary) << src.rdbuf();
  ASSERT_EQ(::chmod((bundle.rootfs() + "/bin/bw-syscall-mix").c_str(), 0755), 0);
  bundle.config()["process"]["args"] = {"/bin/bw-syscall-mix", "all"};
  bundle.config()["linux"]["seccomp"] = profile;
  bundle.write();
  RunResult r = bundle.run_runtime({"run", "--bundle", bundle.path(), bundle.new_id()});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("ok\n"), std::string::npos) << r.describe();

  // Without the exec'd program's call the profile is too small: it fails.
  json smaller = profile;
  for (auto& rule : smaller["syscalls"]) {
    auto& names = rule["names"];
    names.erase(std::remove(names.begin(), names.end(), "sched_getscheduler"), names.end());
  }
  bundle.config()["linux"]["seccomp"] = smaller;
  bundle.write();
  r = bundle.run_runtime({"run", "--bundle", bundle.path(), bundle.new_id()});
  EXPECT_NE(r.status, 0) << r.describe();
}

TEST_F(SeccompRecordTest, CheckListsWhatWouldBeDeniedAndLetsItRun) {
  json profile = record_mix();
  ASSERT_TRUE(profile.is_object());
  RunResult clean =
      run_command({tool(), "check", "--json", "--profile", dir_ + "/mix.json", "--", mix(), "all"});
  EXPECT_EQ(clean.status, 0) << clean.describe();
  json rep = report(clean);
  ASSERT_TRUE(rep.is_object()) << clean.describe();
  EXPECT_TRUE(rep["denied"].empty()) << rep.dump(2);
  // clone3 is answered ENOSYS, as the profile says, and the threads still start.
  EXPECT_NE(find_call(rep["enosys"], "clone3"), nullptr) << rep.dump(2);

  for (auto& rule : profile["syscalls"]) {
    auto& names = rule["names"];
    for (const char* gone : {"times", "sysinfo"})
      names.erase(std::remove(names.begin(), names.end(), gone), names.end());
  }
  write_text(dir_ + "/smaller.json", profile.dump());
  RunResult r = run_command(
      {tool(), "check", "--json", "--profile", dir_ + "/smaller.json", "--", mix(), "all"});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_NE(r.out.find("sysinfo=8000"), std::string::npos) << "not enforced: " << r.describe();
  rep = report(r);
  ASSERT_TRUE(rep.is_object()) << r.describe();
  EXPECT_EQ(rep["exit"]["code"], 0);  // the command itself succeeded
  ASSERT_EQ(rep["denied"].size(), 2u) << rep.dump(2);
  const json* times = find_call(rep["denied"], "times");
  ASSERT_NE(times, nullptr);
  EXPECT_EQ((*times)["count"], 500);
  EXPECT_EQ((*times)["action"], "errno 1 (EPERM)");
  EXPECT_EQ((*times)["first"]["comm"], "bw-syscall-mix");
  EXPECT_EQ((*find_call(rep["denied"], "sysinfo"))["count"], 8000);

  // Human-readable by default.
  r = run_command({tool(), "check", "--profile", dir_ + "/smaller.json", "--", mix(), "all"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("2 system calls would have been denied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("times"), std::string::npos) << r.out;
}

TEST_F(SeccompRecordTest, CheckReportsWhatAKillingProfileWouldKill) {
  write_text(dir_ + "/kill.json", R"({"defaultAction": "SCMP_ACT_KILL_PROCESS",
      "syscalls": [{"names": ["execve", "exit_group"], "action": "SCMP_ACT_ALLOW"}]})");
  RunResult r = run_command(
      {tool(), "check", "--json", "--profile", dir_ + "/kill.json", "--", mix(), "all"});
  EXPECT_EQ(r.status, 1) << r.describe();
  json rep = report(r);
  ASSERT_TRUE(rep.is_object()) << r.describe();
  EXPECT_EQ(rep["exit"]["signaled"], false);
  EXPECT_EQ(rep["exit"]["code"], 0);
  const json* sysinfo = find_call(rep["denied"], "sysinfo");
  ASSERT_NE(sysinfo, nullptr);
  EXPECT_EQ((*sysinfo)["action"], "kill process");
}

TEST_F(SeccompRecordTest, FollowsProcessesTheCommandLeavesBehind) {
  // The shell exits at once; its orphan makes a directory later. record
  // returns only after the orphan is done, with the orphan's mkdir recorded.
  std::string marker = dir_ + "/made-by-orphan";
  RunResult r = run_command({tool(), "record", "--json", "-o", dir_ + "/p.json", "--",
                             "/bin/busybox", "sh", "-c",
                             "(/bin/busybox sleep 0.3; /bin/busybox mkdir " + marker + ") & exit 0"});
  EXPECT_EQ(r.status, 0) << r.describe();
  struct stat st {};
  EXPECT_EQ(::stat(marker.c_str(), &st), 0) << "record returned before the orphan finished";
  json rep = report(r);
  ASSERT_TRUE(rep.is_object()) << r.describe();
  EXPECT_NE(find_call(rep["syscalls"], "mkdir"), nullptr) << rep.dump(2);
  EXPECT_TRUE(find_call(rep["syscalls"], "nanosleep") ||
              find_call(rep["syscalls"], "clock_nanosleep"))
      << rep.dump(2);
}

TEST_F(SeccompRecordTest, PassesSignalsToTheCommand) {
  RunningCommand rec = start_command({tool(), "record", "-o", dir_ + "/p.json", "--",
                                      "/bin/busybox", "sleep", "30"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(rec.pid(), SIGTERM), 0);
  auto start = std::chrono::steady_clock::now();
  RunResult r = rec.wait(10);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_NE(r.err.find("was killed by SIGTERM"), std::string::npos) << r.describe();
  EXPECT_NE(read_text(dir_ + "/p.json").find("execve"), std::string::npos);  // still written
}

TEST_F(SeccompRecordTest, FailuresAreReported) {
  RunResult r = run_command({tool(), "record", "--", "/nonexistent/program"});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_NE(r.err.find("/nonexistent/program"), std::string::npos) << r.describe();

  r = run_command({tool(), "record", "-o", dir_ + "/x.json"});
  EXPECT_EQ(r.status, 2) << r.describe();
  r = run_command({tool(), "check", "--", "/bin/true"});
  EXPECT_EQ(r.status, 2) << r.describe();

  // A failing command: exit 1, and the profile of what it did is written.
  r = run_command({tool(), "record", "-o", dir_ + "/fail.json", "--", "/bin/busybox", "sh", "-c",
                   "exit 3"});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_NE(r.err.find("exited with status 3"), std::string::npos) << r.describe();
  EXPECT_NE(read_text(dir_ + "/fail.json").find("exit_group"), std::string::npos);
}

TEST_F(SeccompRecordTest, BaseProfileGivesTheSettings) {
  std::string base = std::string(BULWARK_SOURCE_DIR) + "/seccomp-profiles/default.json";
  RunResult r = run_command({tool(), "record", "--base", base, "-o", dir_ + "/b.json", "--", mix(),
                             "loop", "10"});
  EXPECT_EQ(r.status, 0) << r.describe();
  json p = json::parse(read_text(dir_ + "/b.json"), nullptr, false);
  json d = json::parse(read_text(base), nullptr, false);
  ASSERT_TRUE(p.is_object() && d.is_object());
  EXPECT_EQ(p["defaultAction"], d["defaultAction"]);
  EXPECT_EQ(p["defaultErrnoRet"], d["defaultErrnoRet"]);
  EXPECT_EQ(p["architectures"], d["architectures"]);
  EXPECT_TRUE(has_rule(p, "getppid"));
  // The base's allow rules are not carried over; its clone3 ENOSYS rule is.
  EXPECT_FALSE(has_rule(p, "mount"));
  EXPECT_FALSE(has_rule(p, "read"));
  bool clone3_enosys = false;
  for (const auto& rule : p["syscalls"])
    clone3_enosys = clone3_enosys || (rule["names"] == json::array({"clone3"}) &&
                                      rule["action"] == "SCMP_ACT_ERRNO" && rule["errnoRet"] == 38);
  EXPECT_TRUE(clone3_enosys) << p.dump(2);
}

// Not a pass/fail benchmark: the ratio for a call-heavy loop, for the record.
TEST_F(SeccompRecordTest, OverheadOfRecording) {
  auto time = [](const std::vector<std::string>& argv) {
    auto start = std::chrono::steady_clock::now();
    RunResult r = run_command(argv);
    EXPECT_EQ(r.status, 0) << r.describe();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const std::string n = "200000";
  double bare = time({mix(), "loop", n});
  double recorded = time({tool(), "record", "-o", dir_ + "/loop.json", "--", mix(), "loop", n});
  std::cout << "[ info     ] " << n << " getppid calls: bare " << bare << " s, recorded "
            << recorded << " s (x" << recorded / bare << ")\n";
}

}  // namespace
}  // namespace bw::test
