// End-to-end: the OCI lifecycle through bulwark-run (create, start, state,
// kill, delete, exec, run --detach) and that each way of ending a container
// leaves nothing behind on the host.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class LifecycleTest : public RuntimeTest {};

// Waits until `pid` has a handler for `sig` (so PID 1 will not ignore it).
bool wait_for_handler(pid_t pid, int sig) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    std::istringstream in(proc_file(pid, "status"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("SigCgt:", 0) == 0 &&
          (std::stoull(line.substr(7), nullptr, 16) >> (sig - 1) & 1))
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// create + start of `probe_args`; returns the container's host pid (0 on failure).
pid_t create_and_start(TestBundle& b, const std::string& id,
                       const std::vector<std::string>& probe_args) {
  b.set_probe_args(probe_args);
  b.write();
  RunResult r = b.run_runtime({"create", "--bundle", b.path(), id});
  EXPECT_EQ(r.status, 0) << r.describe();
  r = b.run_runtime({"start", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  json st = b.wait_for_status(id, "running");
  EXPECT_EQ(st.value("status", ""), "running") << st.dump();
  pid_t pid = pid_of(st);
  EXPECT_TRUE(pid > 0 && wait_for_probe(pid)) << st.dump();
  return pid;
}

TEST_F(LifecycleTest, CreateStartKillDelete) {
  TestBundle b;
  b.set_probe_args({"sleep", "inf"});
  b.write();
  std::string id = b.new_id();
  std::string pid_file = b.base() + "/container.pid";

  RunResult r = b.run_runtime({"create", "--bundle", b.path(), "--pid-file", pid_file, id});
  ASSERT_EQ(r.status, 0) << r.describe();
  json st = state_of(b, id, &r);
  ASSERT_TRUE(st.is_object()) << r.describe();
  EXPECT_EQ(st.value("status", ""), "created") << st.dump();
  EXPECT_EQ(st.value("id", ""), id) << st.dump();
  EXPECT_EQ(st.value("bundle", ""), b.path()) << st.dump();
  EXPECT_TRUE(st.contains("ociVersion")) << st.dump();
  pid_t pid = pid_of(st);
  ASSERT_GT(pid, 0) << st.dump();
  EXPECT_TRUE(process_exists(pid));
  std::ifstream pf(pid_file);
  pid_t from_file = 0;
  pf >> from_file;
  EXPECT_EQ(from_file, pid) << "--pid-file";
  // Created is not started: the probe must not run before `start`.
  EXPECT_NE(proc_file(pid, "comm"), "bw-probe\n");

  r = b.run_runtime({"start", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  st = b.wait_for_status(id, "running");
  EXPECT_EQ(st.value("status", ""), "running") << st.dump();
  EXPECT_EQ(pid_of(st), pid) << st.dump();
  EXPECT_TRUE(wait_for_probe(pid));

  // A second start of a running container is an error and changes nothing.
  r = b.run_runtime({"start", id});
  EXPECT_NE(r.status, 0) << r.describe();

  r = b.run_runtime({"kill", id, "SIGKILL"});
  ASSERT_EQ(r.status, 0) << r.describe();
  st = b.wait_for_status(id, "stopped");
  EXPECT_EQ(st.value("status", ""), "stopped") << st.dump();

  r = b.run_runtime({"delete", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  r = b.run_runtime({"state", id});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_FALSE(r.err.empty());
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, RunReportsKillSignal) {
  TestBundle b;
  b.set_probe_args({"sleep", "inf"});
  b.write();
  std::string id = b.new_id();
  RunningCommand run = b.start_runtime({"run", "--bundle", b.path(), id});
  json st = b.wait_for_status(id, "running");
  ASSERT_EQ(st.value("status", ""), "running") << st.dump();
  pid_t pid = pid_of(st);
  RunResult k = b.run_runtime({"kill", id, "SIGKILL"});
  EXPECT_EQ(k.status, 0) << k.describe();
  RunResult r = run.wait();
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.describe();
  EXPECT_FALSE(r.signaled) << "the runtime itself must exit, not die";
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, KillDeliversTheNamedSignal) {
  TestBundle b;
  b.set_probe_args({"wait-signal", "inf"});
  b.write();
  std::string id = b.new_id();
  RunningCommand run = b.start_runtime({"run", "--bundle", b.path(), id});
  json st = b.wait_for_status(id, "running");
  pid_t pid = pid_of(st);
  ASSERT_GT(pid, 0) << st.dump();
  ASSERT_TRUE(wait_for_handler(pid, SIGUSR1));
  RunResult k = b.run_runtime({"kill", id, "SIGUSR1"});
  EXPECT_EQ(k.status, 0) << k.describe();
  RunResult r = run.wait();
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parse_kv(r.out)["signal"], std::to_string(SIGUSR1)) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, RunDetachThenKillAndDelete) {
  TestBundle b;
  b.set_probe_args({"sleep", "inf"});
  b.write();
  std::string id = b.new_id();
  RunResult r = b.run_runtime({"run", "--detach", "--bundle", b.path(), id});
  ASSERT_EQ(r.status, 0) << r.describe();
  json st = b.wait_for_status(id, "running");
  ASSERT_EQ(st.value("status", ""), "running") << st.dump();
  pid_t pid = pid_of(st);
  r = b.run_runtime({"kill", id, "SIGKILL"});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(b.wait_for_status(id, "stopped").value("status", ""), "stopped");
  r = b.run_runtime({"delete", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, DeleteOfRunningContainerNeedsForce) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = create_and_start(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  RunResult r = b.run_runtime({"delete", id});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_EQ(state_of(b, id).value("status", ""), "running");
  EXPECT_TRUE(process_exists(pid));

  r = b.run_runtime({"delete", "--force", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, DeleteForceOfCreatedContainer) {
  TestBundle b;
  b.set_probe_args({"sleep", "inf"});
  b.write();
  std::string id = b.new_id();
  RunResult r = b.run_runtime({"create", "--bundle", b.path(), id});
  ASSERT_EQ(r.status, 0) << r.describe();
  pid_t pid = pid_of(state_of(b, id));
  r = b.run_runtime({"delete", "--force", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, OrphansDieWhenTheContainerIsKilled) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = create_and_start(b, id, {"fork-orphans", "3", "--", "sleep", "inf"});
  ASSERT_GT(pid, 0);
  RunResult r = b.run_runtime({"kill", id, "SIGKILL"});
  EXPECT_EQ(r.status, 0) << r.describe();
  b.wait_for_status(id, "stopped");
  r = b.run_runtime({"delete", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, ExecJoinsTheContainer) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = create_and_start(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);

  RunResult r = b.run_runtime({"exec", id, "/bin/bw-probe", "pid", "--", "hostname", "--", "caps"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_NE(kv["pid"], "1") << r.describe();
  EXPECT_NE(kv["pid"], "") << r.describe();
  EXPECT_EQ(kv["hostname"], "bulwark-test") << r.describe();
  // The exec'd process gets the container's capabilities, not the runtime's.
  EXPECT_EQ(kv["CapEff"], cap_mask_hex({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}))
      << r.describe();

  r = b.run_runtime({"exec", id, "/bin/bw-probe", "exit", "5"});
  EXPECT_EQ(r.status, 5) << r.describe();

  json process = b.config()["process"];
  process["args"] = {"/bin/bw-probe", "id", "--", "cwd"};
  process["user"] = {{"uid", 1000}, {"gid", 1000}};
  process["cwd"] = "/tmp";
  std::string process_file = b.base() + "/process.json";
  std::ofstream(process_file) << process.dump();
  r = b.run_runtime({"exec", "--process", process_file, id});
  ASSERT_EQ(r.status, 0) << r.describe();
  kv = parse_kv(r.out);
  EXPECT_EQ(kv["uid"], "1000") << r.describe();
  EXPECT_EQ(kv["cwd"], "/tmp") << r.describe();

  r = b.run_runtime({"delete", "--force", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(LifecycleTest, StateOfUnknownContainerFails) {
  TestBundle b;
  RunResult r = b.run_runtime({"state", "no-such-container"});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_FALSE(r.err.empty()) << r.describe();
  EXPECT_TRUE(r.out.empty()) << r.describe();
}

}  // namespace
}  // namespace bw::test
