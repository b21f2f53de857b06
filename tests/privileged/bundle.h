// Test fixture for end-to-end runtime tests: an OCI bundle in a temporary
// directory (busybox + bw-probe rootfs, config.json equivalent to `runc spec`)
// and a per-test state root, plus helpers that run the runtime and look for
// anything a container left behind on the host.
//
// The runtime under test is ${BULWARK_BUILD_DIR}/tools/bulwark-run unless the
// environment variable BW_TEST_RUNTIME names another binary (runc works and is
// how these tests were checked before bulwark-run existed); BW_TEST_PROBE
// overrides the path of the bw-probe helper likewise.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <functional>
#include <string>
#include <vector>

namespace bw::test {

// What a finished command did.
struct RunResult {
  int status = -1;         // exit code, or 128 + signal (shell convention)
  bool signaled = false;   // killed by a signal
  bool timed_out = false;  // killed by us after the timeout
  std::string out;
  std::string err;

  bool ok() const { return !timed_out && status == 0; }
  // For assertion messages: status, stdout and stderr.
  std::string describe() const;
};

// A command running in the background (for `run` of a long-lived container).
// Dropping it without wait() kills it with SIGKILL and reaps it.
class RunningCommand {
 public:
  RunningCommand() = default;
  RunningCommand(RunningCommand&& o) noexcept;
  RunningCommand& operator=(RunningCommand&&) = delete;
  RunningCommand(const RunningCommand&) = delete;
  ~RunningCommand();

  pid_t pid() const { return pid_; }
  // Collects output until the command exits; SIGKILLs it after timeout_s.
  RunResult wait(int timeout_s = 60);

 private:
  friend RunningCommand start_command(const std::vector<std::string>&, const std::string&,
                                      const std::vector<int>&);
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_ = -1;
  int err_ = -1;
  int in_ = -1;
  std::string input_;
};

// The whole content of a host file ("" when it cannot be read).
std::string host_file(const std::string& path);
// Where a host symlink points ("" when it is not one).
std::string host_link(const std::string& path);
// Polls `cond` every 20 ms until it holds or `timeout_s` passes; its last answer.
bool wait_until(const std::function<bool()>& cond, int timeout_s = 10);

// /proc/PID/NAME of the host.
std::string proc_file(pid_t pid, const std::string& name);
// Waits until `pid` runs bw-probe (start and exec may return before the exec).
bool wait_for_probe(pid_t pid);

// Starts argv[0] (an absolute path) with stdin fed from `input` (/dev/null when
// empty) and stdout/stderr captured. Fds other than 0-2 are not inherited,
// except `pass_fds`: pass_fds[i] (>= 3) becomes fd 3 + i of the command.
RunningCommand start_command(const std::vector<std::string>& argv, const std::string& input = "",
                             const std::vector<int>& pass_fds = {});
RunResult run_command(const std::vector<std::string>& argv, const std::string& input = "",
                      int timeout_s = 60);

std::string runtime_path();
std::string probe_path();

// Output parsing for bw-probe: `key=value` lines into a map (first '=' splits;
// a repeated key keeps its last value), and plain lines.
std::map<std::string, std::string> parse_kv(const std::string& out);
std::vector<std::string> split_lines(const std::string& s);

// Capability names ("CAP_KILL") to numbers, and a set of names to the hex
// mask /proc/self/status prints ("0000000020000420").
int cap_number(const std::string& name);
std::string cap_mask_hex(const std::vector<std::string>& names);

// ---- what is on the host right now ----
struct MountEntry {
  int id = 0;
  std::string mountpoint;
  std::string fstype;
};
std::vector<MountEntry> host_mounts();
// Mount points at or below `dir` in this process's mount namespace.
std::vector<std::string> mounts_under(const std::string& dir);
// Directories in any cgroup v1 or v2 hierarchy whose name contains `id`.
std::vector<std::string> cgroup_dirs_named(const std::string& id);
// Processes whose root directory is `dir` (same device and inode), i.e.
// containers started from that rootfs.
std::vector<pid_t> processes_rooted_at(const std::string& dir);
// True while /proc/PID exists (zombies included).
bool process_exists(pid_t pid);
// A dead process waiting for the host's init to reap it. Init reaps when it
// gets to it (seconds, on some hosts), so such a zombie is not the runtime's leak.
bool zombie_of_init(pid_t pid);

// The runc-spec-equivalent config.json the fixture starts from.
nlohmann::json default_config();

// Base fixture: skips (with the reason) when not root, fails when the runtime
// under test was not built.
class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

// Mount point -> per-mount options ("ro,nosuid,...") from bw-probe `mounts`
// output; when a path is mounted over, the topmost (last) entry wins.
std::map<std::string, std::string> parse_probe_mounts(const std::string& out);

class TestBundle {
 public:
  TestBundle();
  ~TestBundle();
  TestBundle(const TestBundle&) = delete;
  TestBundle& operator=(const TestBundle&) = delete;

  nlohmann::json& config() { return config_; }
  // Writes config() to config.json; write_raw writes any text instead.
  void write();
  void write_raw(const std::string& text);

  const std::string& path() const { return bundle_; }  // the bundle directory
  std::string rootfs() const { return bundle_ + "/rootfs"; }
  const std::string& state_root() const { return state_; }
  const std::string& base() const { return base_; }  // holds bundle and state root

  // A container id unique to this bundle and process.
  std::string new_id();
  // process.args = ["/bin/bw-probe", args...].
  void set_probe_args(const std::vector<std::string>& args);

  // bulwark-run --root <state root> args...
  RunResult run_runtime(std::vector<std::string> args, const std::string& stdin_data = "");
  RunningCommand start_runtime(std::vector<std::string> args, const std::string& stdin_data = "");
  // As above, with pass_fds[i] as fd 3 + i of the runtime (see start_command).
  RunningCommand start_runtime_with_fds(std::vector<std::string> args,
                                        const std::vector<int>& pass_fds);
  // set_probe_args, write, then `run --bundle <path> <new id>`; *id_out gets the id.
  RunResult run_probe(const std::vector<std::string>& probe_args, std::string* id_out = nullptr);

  // Polls `state ID` until its "status" is `status` (or timeout); returns the last state JSON
  // (null when state failed).
  nlohmann::json wait_for_status(const std::string& id, const std::string& status,
                                 int timeout_s = 10);

  // Everything a container `id` could leave on the host is gone: its state
  // directory, its process `pid` (0: not checked; a zombie of init counts as
  // gone), processes rooted in this
  // rootfs, mounts under the bundle or state root, and cgroups named after it.
  // Waits a few seconds for asynchronous teardown before reporting.
  ::testing::AssertionResult nothing_left_behind(const std::string& id, pid_t pid = 0) const;

 private:
  void build_rootfs();
  void cleanup();

  std::string base_;
  std::string bundle_;
  std::string state_;
  nlohmann::json config_;
  int next_id_ = 0;
};

// Lifecycle steps the end-to-end tests share.
// `state ID` as JSON (null when it fails; `raw` gets the run when given).
nlohmann::json state_of(TestBundle& b, const std::string& id, RunResult* raw = nullptr);
// The pid of a state, 0 when it has none.
pid_t pid_of(const nlohmann::json& state);
// run --detach of `probe_args` (extra runtime options before the id); the
// container's host pid once it runs bw-probe (0 on failure).
pid_t run_detached(TestBundle& b, const std::string& id, const std::vector<std::string>& probe_args,
                   const std::vector<std::string>& options = {});
// delete --force, then checks that nothing of the container is left.
void remove_container(TestBundle& b, const std::string& id, pid_t pid);

}  // namespace bw::test
