// End-to-end: a process started with `exec` is held to the same restrictions
// as the container's own process (namespaces, capabilities, seccomp,
// no_new_privs, user), and nothing in a container can write the runtime's
// binary through /proc/<pid>/exe (CVE-2019-5736).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class ExecTest : public RuntimeTest {};

// The value of a `Key:` line of /proc/PID/status, blanks squashed.
std::string proc_status_field(pid_t pid, const std::string& key) {
  std::istringstream in(proc_file(pid, "status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream words(line.substr(key.size() + 1));
    std::string w, out;
    while (words >> w) out += (out.empty() ? "" : " ") + w;
    return out;
  }
  return "";
}

void set_all_caps(json& config, const std::vector<std::string>& caps) {
  for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"})
    config["process"]["capabilities"][set] = caps;
}

json mkdir_denying_profile() {
  return json::parse(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
  })");
}

const std::vector<std::string> kNamespaces = {"pid", "mnt", "net", "ipc", "uts", "cgroup"};

// ---- exec is held to the container's restrictions ----

TEST_F(ExecTest, ExecGetsTheContainersCapabilitiesSeccompAndNamespaces) {
  TestBundle b;
  const std::vector<std::string> caps = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                                         "CAP_SETGID", "CAP_SETUID"};
  set_all_caps(b.config(), caps);
  b.config()["linux"]["seccomp"] = mkdir_denying_profile();
  b.config()["process"]["noNewPrivileges"] = true;
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);

  RunResult r = b.run_runtime(
      {"exec", id, "/bin/bw-probe", "caps", "--", "seccomp", "--", "pid", "--", "pids", "--", "hostname"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  // The configured sets, not the full set of the root user that ran `exec`.
  std::string mask = cap_mask_hex(caps);
  for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"})
    EXPECT_EQ(kv[set], mask) << set << "\n" << r.describe();
  EXPECT_EQ(kv["Seccomp"], "2") << r.describe();
  EXPECT_EQ(kv["NoNewPrivs"], "1") << r.describe();
  // As many filters as the container's process has (the kernel counts them).
  EXPECT_EQ(kv["Seccomp_filters"], proc_status_field(pid, "Seccomp_filters")) << r.describe();
  // In the container's pid namespace: not its init, and it sees only the
  // container's processes (init, itself), none of the host's.
  EXPECT_NE(kv["pid"], "1") << r.describe();
  EXPECT_EQ(kv["ppid"], "0") << "its parent is outside the namespace\n" << r.describe();
  std::set<std::string> seen;
  std::stringstream pids(kv["pids"]);
  for (std::string p; std::getline(pids, p, ',');) seen.insert(p);
  EXPECT_TRUE(seen.count("1")) << r.describe();
  EXPECT_TRUE(seen.count(kv["pid"])) << r.describe();
  EXPECT_LE(seen.size(), 3u) << r.describe();
  EXPECT_FALSE(seen.count(std::to_string(getpid()))) << r.describe();
  EXPECT_EQ(kv["hostname"], "bulwark-test") << r.describe();

  // The filter is really in force: mkdir is refused on a writable tmpfs, where
  // creating a file works.
  r = b.run_runtime({"exec", id, "/bin/bw-probe", "write", "/dev/shm/f", "--", "mkdir", "/dev/shm/d"});
  EXPECT_EQ(r.out, "ok\ndenied errno=EPERM\n") << r.describe();
  // And the capability sets: CAP_SYS_ADMIN cannot be raised.
  r = b.run_runtime({"exec", id, "/bin/bw-probe", "raise-cap", "21"});
  EXPECT_EQ(r.out, "denied errno=EPERM\n") << r.describe();

  remove_container(b, id, pid);
}

TEST_F(ExecTest, ExecJoinsEveryNamespaceOfTheContainer) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  std::string pid_file = b.base() + "/exec.pid";
  RunResult r = b.run_runtime(
      {"exec", "--detach", "--pid-file", pid_file, id, "/bin/bw-probe", "sleep", "inf"});
  ASSERT_EQ(r.status, 0) << r.describe();
  pid_t exec_pid = atoi(host_file(pid_file).c_str());
  ASSERT_GT(exec_pid, 0) << "--pid-file: '" << host_file(pid_file) << "'";
  // A detached exec outlives the `exec` command that started it.
  ASSERT_TRUE(wait_for_probe(exec_pid)) << "exec'd process " << exec_pid << " is not running bw-probe";
  for (const auto& ns : kNamespaces) {
    std::string container_ns = host_link("/proc/" + std::to_string(pid) + "/ns/" + ns);
    EXPECT_NE(container_ns, host_link("/proc/self/ns/" + ns)) << ns << " is the host's";
    EXPECT_EQ(host_link("/proc/" + std::to_string(exec_pid) + "/ns/" + ns), container_ns) << ns;
  }
  // Same root directory as the container.
  struct stat a {}, c {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(pid) + "/root").c_str(), &a), 0);
  ASSERT_EQ(stat(("/proc/" + std::to_string(exec_pid) + "/root").c_str(), &c), 0);
  EXPECT_TRUE(a.st_dev == c.st_dev && a.st_ino == c.st_ino) << "exec'd process has another root";
  // `ps` lists it with the container's init.
  r = b.run_runtime({"ps", "--format", "json", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  json ps = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(ps.is_array()) << r.describe();
  std::set<pid_t> listed;
  for (const auto& p : ps) listed.insert(p.get<pid_t>());
  EXPECT_TRUE(listed.count(pid) && listed.count(exec_pid)) << r.describe();

  remove_container(b, id, pid);
  EXPECT_FALSE(process_exists(exec_pid) && !zombie_of_init(exec_pid))
      << "the exec'd process outlived the container";
}

TEST_F(ExecTest, ExecWithProcessFileAppliesUserCwdEnvAndCapabilities) {
  TestBundle b;
  b.config()["linux"]["seccomp"] = mkdir_denying_profile();
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);

  json process = {
      {"terminal", false},
      {"user", {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {5}}}},
      {"args", {"/bin/bw-probe", "id", "--", "cwd", "--", "env", "FOO", "--", "env", "--", "caps",
                "--", "seccomp"}},
      {"env", {"PATH=/bin", "FOO=bar baz"}},
      {"cwd", "/tmp"},
      {"capabilities",
       {{"bounding", {"CAP_KILL"}},
        {"effective", {"CAP_KILL"}},
        {"permitted", {"CAP_KILL"}},
        {"inheritable", {"CAP_KILL"}},
        {"ambient", {"CAP_KILL"}}}},
      {"noNewPrivileges", true},
  };
  std::string process_file = b.base() + "/process.json";
  std::ofstream(process_file) << process.dump();
  RunResult r = b.run_runtime({"exec", "--process", process_file, id});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  for (const char* k : {"uid", "euid", "suid", "gid", "egid", "sgid"})
    EXPECT_EQ(kv[k], "1000") << k << "\n" << r.describe();
  EXPECT_TRUE(kv["groups"] == "5" || kv["groups"] == "5,1000") << r.describe();
  EXPECT_EQ(kv["cwd"], "/tmp") << r.describe();
  EXPECT_EQ(kv["FOO"], "bar baz") << r.describe();
  // Only the process file's environment, not the container's (TERM=xterm).
  EXPECT_EQ(kv.count("TERM"), 0u) << r.describe();
  std::string kill_only = cap_mask_hex({"CAP_KILL"});
  for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"})
    EXPECT_EQ(kv[set], kill_only) << set << "\n" << r.describe();
  // The container's seccomp filter applies to it as well.
  EXPECT_EQ(kv["Seccomp"], "2") << r.describe();
  EXPECT_EQ(kv["NoNewPrivs"], "1") << r.describe();

  remove_container(b, id, pid);
}

TEST_F(ExecTest, ExecIntoStoppedContainerFailsClearly) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  RunResult r = b.run_runtime({"kill", id, "SIGKILL"});
  ASSERT_EQ(r.status, 0) << r.describe();
  ASSERT_EQ(b.wait_for_status(id, "stopped").value("status", ""), "stopped");

  r = b.run_runtime({"exec", id, "/bin/bw-probe", "id"});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.out, "") << "nothing ran\n" << r.describe();
  EXPECT_NE(r.err.find(id), std::string::npos) << "the error should name the container\n"
                                               << r.describe();
  EXPECT_TRUE(r.err.find("not running") != std::string::npos ||
              r.err.find("stopped") != std::string::npos)
      << "the error should say the container is not running\n"
      << r.describe();
  // The failed exec changed nothing: the container is still there, stopped.
  EXPECT_EQ(state_of(b, id).value("status", ""), "stopped");
  r = b.run_runtime({"delete", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

// A paused container's processes are frozen, a process exec'd into it would
// be too: exec refuses (as runc does without --ignore-paused) instead of
// hanging, and works again after resume.
TEST_F(ExecTest, ExecIntoPausedContainerFailsClearly) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  RunResult r = b.run_runtime({"pause", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  ASSERT_EQ(b.wait_for_status(id, "paused").value("status", ""), "paused");

  r = b.start_runtime({"exec", id, "/bin/bw-probe", "id"}).wait(15);
  EXPECT_FALSE(r.timed_out) << "exec into a paused container hung\n" << r.describe();
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_NE(r.err.find("paused"), std::string::npos) << "the error should say why\n"
                                                     << r.describe();
  EXPECT_EQ(state_of(b, id).value("status", ""), "paused");

  r = b.run_runtime({"resume", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  r = b.run_runtime({"exec", id, "/bin/bw-probe", "id"});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parse_kv(r.out)["uid"], "0") << r.describe();
  remove_container(b, id, pid);
}

// ---- CVE-2019-5736: the runtime's binary is out of the container's reach ----

// Size, mtime and content hash of a file.
struct Fingerprint {
  off_t size = -1;
  long long mtime_ns = -1;
  uint64_t hash = 0;
  bool operator==(const Fingerprint&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Fingerprint& f) {
  return os << "{size " << f.size << ", mtime_ns " << f.mtime_ns << ", fnv1a " << std::hex << f.hash
            << std::dec << "}";
}

Fingerprint fingerprint(const std::string& path) {
  Fingerprint f;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return f;
  f.size = st.st_size;
  f.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  f.hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : host_file(path)) f.hash = (f.hash ^ c) * 0x100000001b3ULL;
  return f;
}

// Runs the runtime from a private copy for the test's duration, so that a
// runtime that fails these tests damages only the copy (the probe writes back
// the bytes it read, but a write is a write). The build's binary is checked
// to be untouched as well.
class ExeGuardTest : public ExecTest {
 protected:
  void SetUp() override {
    ExecTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    original_ = runtime_path();
    original_print_ = fingerprint(original_);
    const char* env = getenv("BW_TEST_RUNTIME");
    if (env) saved_env_ = env;
    had_env_ = env != nullptr;
  }
  void TearDown() override {
    if (had_env_) {
      setenv("BW_TEST_RUNTIME", saved_env_.c_str(), 1);
    } else {
      unsetenv("BW_TEST_RUNTIME");
    }
    if (!original_.empty()) {
      EXPECT_EQ(fingerprint(original_), original_print_) << original_ << " changed";
    }
  }
  // Copies the runtime into the bundle's base directory and uses it from now on.
  std::string use_private_runtime(const TestBundle& b) {
    std::string copy = b.base() + "/bulwark-run";
    std::string data = host_file(original_);
    int fd = open(copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    EXPECT_GE(fd, 0) << copy;
    if (fd < 0) return "";
    EXPECT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    close(fd);
    setenv("BW_TEST_RUNTIME", copy.c_str(), 1);
    return copy;
  }

  std::string original_;
  Fingerprint original_print_;
  std::string saved_env_;
  bool had_env_ = false;
};

// The init of a created container runs the runtime's code, as pid 1 of the
// container, until `start`: the window the CVE's exploit uses.
pid_t create_waiting(TestBundle& b, const std::string& id) {
  b.set_probe_args({"sleep", "inf"});
  b.write();
  RunResult r = b.run_runtime({"create", "--bundle", b.path(), id});
  EXPECT_EQ(r.status, 0) << r.describe();
  pid_t pid = pid_of(state_of(b, id));
  EXPECT_GT(pid, 0);
  EXPECT_NE(proc_file(pid, "comm"), "bw-probe\n") << "created is not started";
  return pid;
}

TEST_F(ExeGuardTest, WithoutPtraceTheRuntimeExeCannotBeOpened) {
  TestBundle b;
  std::string runtime = use_private_runtime(b);
  ASSERT_FALSE(runtime.empty());
  Fingerprint before = fingerprint(runtime);
  std::string id = b.new_id();
  pid_t pid = create_waiting(b, id);
  ASSERT_GT(pid, 0);

  RunResult r = b.run_runtime({"exec", id, "/bin/bw-probe", "try-overwrite-exe", "1"});
  EXPECT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  // The runtime's processes are not dumpable: /proc/1/exe is closed to a
  // process without CAP_SYS_PTRACE, even to the container's root.
  EXPECT_TRUE(kv["open"] == "denied errno=EACCES" || kv["open"] == "denied errno=EPERM")
      << r.describe();
  EXPECT_EQ(kv["exe"].rfind("denied errno=", 0), 0u) << r.describe();
  EXPECT_EQ(kv["overwritten"], "0") << r.describe();

  remove_container(b, id, pid);
  EXPECT_EQ(fingerprint(runtime), before) << "the runtime binary changed";
}

TEST_F(ExeGuardTest, WithPtraceTheRuntimeRunsFromASealedCopy) {
  TestBundle b;
  std::string runtime = use_private_runtime(b);
  ASSERT_FALSE(runtime.empty());
  Fingerprint before = fingerprint(runtime);
  set_all_caps(b.config(), {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_PTRACE"});
  std::string id = b.new_id();
  pid_t pid = create_waiting(b, id);
  ASSERT_GT(pid, 0);

  RunResult r = b.run_runtime({"exec", id, "/bin/bw-probe", "try-overwrite-exe", "1", "--", "caps"});
  auto kv = parse_kv(r.out);
  ASSERT_EQ(kv["CapEff"], cap_mask_hex({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                                        "CAP_SYS_PTRACE"}))
      << "the probe must hold CAP_SYS_PTRACE for this test to mean anything\n"
      << r.describe();
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(kv["overwritten"], "0") << r.describe();
  if (kv["open"] == "ok") {
    // Opened: then it must be a sealed memory copy, never the file on disk.
    EXPECT_EQ(kv["target"].rfind("/memfd:bulwark-run", 0), 0u) << r.describe();
    unsigned long seals = std::stoul(kv["seals"] == "none" ? "0" : kv["seals"], nullptr, 16);
    EXPECT_EQ(seals & 0xe, 0xeu) << "F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK\n" << r.describe();
    EXPECT_NE(kv["reopen_pwrite"], "ok") << r.describe();
    EXPECT_NE(kv["pwrite"], "ok") << r.describe();
    // The host sees the same: the container's init runs from the memfd.
    EXPECT_EQ(host_link("/proc/" + std::to_string(pid) + "/exe").rfind("/memfd:bulwark-run", 0), 0u);
  } else {
    EXPECT_EQ(kv["open"].rfind("denied errno=", 0), 0u) << r.describe();
  }

  remove_container(b, id, pid);
  EXPECT_EQ(fingerprint(runtime), before) << "the runtime binary changed";
}

// The exploit's own sequence with a capability granted only to the exec'd
// process (`exec --cap CAP_SYS_PTRACE`): open /proc/1/exe read-only while the
// init still runs the runtime, let `start` replace it with the container's
// program, then re-open the held fd for writing once no process executes the
// runtime's file any more. bulwark-run refuses such an exec into a created
// container whose init runs an unsealed binary; once the container runs,
// the same exec is allowed and every later exec runs from a sealed copy.
TEST_F(ExeGuardTest, PtraceGrantedToExecCannotReachTheCreatedInitsBinary) {
  TestBundle b;
  std::string runtime = use_private_runtime(b);
  ASSERT_FALSE(runtime.empty());
  Fingerprint before = fingerprint(runtime);
  std::string id = b.new_id();
  pid_t pid = create_waiting(b, id);
  ASSERT_GT(pid, 0);

  RunResult refused = b.run_runtime({"exec", "--cap", "CAP_SYS_PTRACE", id, "/bin/bw-probe",
                                     "try-overwrite-exe", "1", "1"});
  EXPECT_NE(refused.status, 0) << refused.describe();
  EXPECT_NE(refused.err.find("CAP_SYS_PTRACE"), std::string::npos) << refused.describe();
  EXPECT_EQ(refused.out.find("overwritten=1"), std::string::npos) << refused.describe();

  RunResult r = b.run_runtime({"start", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  // Running: the ptrace-holding exec is let in, and from now on every exec's
  // set-up runs from a sealed copy, so there is nothing on disk to reach.
  RunningCommand attacker = b.start_runtime({"exec", "--cap", "CAP_SYS_PTRACE", id, "/bin/bw-probe",
                                             "try-overwrite-exe", "1", "2"});
  r = attacker.wait(60);
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["overwritten"], "0") << "the container wrote the runtime's binary\n" << r.describe();
  if (kv["open"] == "ok") {
    // /proc/1/exe is now the container's own program, never the runtime.
    EXPECT_EQ(kv["target"].find("bulwark-run"), std::string::npos) << r.describe();
  }
  RunResult later = b.run_runtime({"exec", id, "/bin/bw-probe", "pid"});
  EXPECT_EQ(later.status, 0) << later.describe();

  remove_container(b, id, pid);
  EXPECT_EQ(fingerprint(runtime), before) << "the runtime binary changed";
}

}  // namespace
}  // namespace bw::test
