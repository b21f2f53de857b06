// End-to-end: `bulwark-run run` of the bw-probe helper, asserting from inside
// the container that each restriction of the config holds. Where a denial
// could also come from something other than the restriction under test, the
// test checks the errno that only that restriction produces, or runs a
// control that shows the probe would have seen the difference.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;

class RunTest : public RuntimeTest {};

std::string host_hostname() {
  struct utsname u {};
  uname(&u);
  return u.nodename;
}

void set_all_caps(json& config, const std::vector<std::string>& caps) {
  for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"})
    config["process"]["capabilities"][set] = caps;
}

const std::vector<std::string> kDefaultCaps = {"CAP_AUDIT_WRITE", "CAP_KILL",
                                               "CAP_NET_BIND_SERVICE"};

TEST_F(RunTest, ProbeRunsAndContainerIsCleanedUp) {
  TestBundle b;
  std::string id;
  RunResult r = b.run_probe({"id"}, &id);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parse_kv(r.out)["uid"], "0") << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id));
}

TEST_F(RunTest, ExitStatusPropagates) {
  TestBundle b;
  std::string id;
  RunResult r = b.run_probe({"exit", "7"}, &id);
  EXPECT_EQ(r.status, 7) << r.describe();
  EXPECT_FALSE(r.signaled);
  EXPECT_TRUE(b.nothing_left_behind(id));
  r = b.run_probe({"exit", "0"});
  EXPECT_EQ(r.status, 0) << r.describe();
}

TEST_F(RunTest, CannotSeeHostPids) {
  TestBundle b;
  RunResult r = b.run_probe({"pid", "--", "pids"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["pid"], "1") << r.describe();
  EXPECT_EQ(kv["ppid"], "0") << r.describe();
  // Only the probe itself (and at most a transient helper of the runtime).
  EXPECT_LE(std::stoi(kv["count"]), 2) << r.describe();
  std::stringstream pids(kv["pids"]);
  for (std::string p; std::getline(pids, p, ',');) EXPECT_NE(p, std::to_string(getpid()));
}

TEST_F(RunTest, OrphansDoNotOutliveTheContainer) {
  TestBundle b;
  std::string id;
  RunResult r = b.run_probe({"fork-orphans", "3", "--", "exit", "0"}, &id);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(parse_kv(r.out)["orphans"], "") << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id));
}

TEST_F(RunTest, CannotMount) {
  TestBundle b;
  RunResult r = b.run_probe({"mount-tmpfs", "/tmp"});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_EQ(r.out, "denied errno=EPERM\n") << r.describe();
}

TEST_F(RunTest, CannotRaiseCapabilityItWasNotGiven) {
  TestBundle b;
  RunResult r = b.run_probe({"raise-cap", "21"});  // CAP_SYS_ADMIN
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_EQ(r.out, "denied errno=EPERM\n") << r.describe();
}

// Control for the two tests above: the same probes succeed once the config
// grants CAP_SYS_ADMIN, so their denials come from the capability sets.
TEST_F(RunTest, GrantedSysAdminCanMountAndKeepCapability) {
  TestBundle b;
  auto caps = kDefaultCaps;
  caps.push_back("CAP_SYS_ADMIN");
  set_all_caps(b.config(), caps);
  RunResult r = b.run_probe({"mount-tmpfs", "/tmp"});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.out, "ok\n") << r.describe();
  r = b.run_probe({"raise-cap", "21"});
  EXPECT_EQ(r.out, "ok\n") << r.describe();
}

TEST_F(RunTest, CannotLoadKernelModules) {
  // On the host, with CAP_SYS_MODULE, the bogus image reaches the module
  // loader (ENOEXEC). A kernel without module support answers ENOSYS to
  // everyone, and then EPERM cannot be told apart from "no modules at all".
  RunResult host = run_command({probe_path(), "load-module"});
  if (host.out.find("errno=ENOSYS") != std::string::npos)
    GTEST_SKIP() << "kernel has no module support (init_module answers ENOSYS): " << host.out;
  TestBundle b;
  RunResult r = b.run_probe({"load-module"});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_EQ(r.out, "init_module: denied errno=EPERM\nfinit_module: denied errno=EPERM\n")
      << r.describe();
}

TEST_F(RunTest, RootfsIsReadOnly) {
  TestBundle b;
  RunResult r = b.run_probe({"write", "/bin/x"});
  EXPECT_EQ(r.out, "denied errno=EROFS\n") << r.describe();
  r = b.run_probe({"mkdir", "/newdir"});
  EXPECT_EQ(r.out, "denied errno=EROFS\n") << r.describe();
  struct stat st {};
  EXPECT_NE(lstat((b.rootfs() + "/bin/x").c_str(), &st), 0);
  EXPECT_NE(lstat((b.rootfs() + "/newdir").c_str(), &st), 0);
}

TEST_F(RunTest, RootfsIsWritableWhenNotReadOnly) {
  TestBundle b;
  b.config()["root"]["readonly"] = false;
  RunResult r = b.run_probe({"write", "/bin/x", "hello"});
  EXPECT_EQ(r.out, "ok\n") << r.describe();
  EXPECT_EQ(host_file(b.rootfs() + "/bin/x"), "hello");
}

TEST_F(RunTest, ReadonlyPathsCannotBeWritten) {
  TestBundle b;
  std::string hostname = host_hostname();
  // procfs checks only the file mode here, so without the read-only mount of
  // /proc/sys the write succeeds (checked under runc); EROFS shows the mount
  // is what stops it.
  RunResult r = b.run_probe({"write", "/proc/sys/kernel/hostname", "evil"});
  EXPECT_EQ(r.out, "denied errno=EROFS\n") << r.describe();
  EXPECT_EQ(host_hostname(), hostname);

  r = b.run_probe({"mounts"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto mounts = parse_probe_mounts(r.out);
  int checked = 0;
  for (const auto& p : b.config()["linux"]["readonlyPaths"]) {
    std::string path = p.get<std::string>();
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;  // the container's /proc is like ours
    ++checked;
    ASSERT_TRUE(mounts.count(path)) << path << " is not a mount point\n" << r.describe();
    EXPECT_EQ(mounts[path].substr(0, 3), "ro,") << path << ": " << mounts[path];
  }
  EXPECT_GT(checked, 0);
}

TEST_F(RunTest, MaskedPathsAreHidden) {
  TestBundle b;
  int discriminating = 0;
  for (const auto& p : b.config()["linux"]["maskedPaths"]) {
    std::string path = p.get<std::string>();
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      RunResult host = run_command({probe_path(), "ls", path});
      if (parse_kv(host.out)["count"] != "0") ++discriminating;
      RunResult r = b.run_probe({"ls", path});
      // An empty directory, or none that can be opened.
      EXPECT_TRUE(r.out == "count=0\nentries=\n" || r.out.rfind("denied", 0) == 0) << path << "\n"
                                                                                   << r.describe();
    } else {
      if (!host_file(path).empty()) ++discriminating;
      RunResult r = b.run_probe({"read", path});
      EXPECT_TRUE(r.out == "ok bytes=0\n" || r.out.rfind("denied", 0) == 0) << path << "\n"
                                                                            << r.describe();
    }
  }
  if (discriminating == 0)
    GTEST_SKIP() << "no masked path has content on this host, so masking cannot be observed";
}

TEST_F(RunTest, CannotReachHostNetwork) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_in addr {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string port = std::to_string(ntohs(addr.sin_port));

  // Control: the listener is reachable from the host.
  RunResult host = run_command({probe_path(), "connect", "127.0.0.1", port});
  EXPECT_EQ(host.out, "ok\n") << host.describe();

  TestBundle b;
  RunResult r = b.run_probe({"connect", "127.0.0.1", port});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_EQ(r.out.rfind("denied errno=", 0), 0u) << r.describe();
  close(fd);
}

TEST_F(RunTest, DefaultCapabilitySets) {
  TestBundle b;
  RunResult r = b.run_probe({"caps"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  std::string mask = cap_mask_hex(kDefaultCaps);
  EXPECT_EQ(kv["CapEff"], mask) << r.describe();
  EXPECT_EQ(kv["CapPrm"], mask) << r.describe();
  EXPECT_EQ(kv["CapBnd"], mask) << r.describe();
  // runc's spec lists no inheritable set.
  EXPECT_EQ(kv["CapInh"], "0000000000000000") << r.describe();
}

TEST_F(RunTest, ConfiguredCapabilitySets) {
  TestBundle b;
  std::vector<std::string> caps = {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",    "CAP_SETUID",
                                   "CAP_SETGID", "CAP_NET_RAW",      "CAP_SYS_CHROOT"};
  set_all_caps(b.config(), caps);
  RunResult r = b.run_probe({"caps"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  std::string mask = cap_mask_hex(caps);
  for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"})
    EXPECT_EQ(kv[set], mask) << set << "\n" << r.describe();
}

// A non-root process keeps capabilities across execve only through the
// ambient set, so this checks that the runtime raises it.
TEST_F(RunTest, NonRootUserKeepsAmbientCapabilities) {
  TestBundle b;
  std::vector<std::string> caps = {"CAP_KILL", "CAP_NET_BIND_SERVICE"};
  set_all_caps(b.config(), caps);
  b.config()["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  RunResult r = b.run_probe({"caps"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  std::string mask = cap_mask_hex(caps);
  for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapAmb"})
    EXPECT_EQ(kv[set], mask) << set << "\n" << r.describe();
}

TEST_F(RunTest, Rlimits) {
  TestBundle b;
  b.config()["process"]["rlimits"] =
      json::array({{{"type", "RLIMIT_NOFILE"}, {"soft", 123}, {"hard", 456}}});
  RunResult r = b.run_probe({"rlimit", "NOFILE"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["soft"], "123") << r.describe();
  EXPECT_EQ(kv["hard"], "456") << r.describe();
}

TEST_F(RunTest, UserGroupsAndNoWayBackToRoot) {
  TestBundle b;
  b.config()["process"]["user"] = {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {5, 7}}};
  RunResult r = b.run_probe({"id"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  for (const char* k : {"uid", "euid", "suid", "gid", "egid", "sgid"})
    EXPECT_EQ(kv[k], "1000") << k << "\n" << r.describe();
  // The primary gid may or may not be repeated; nothing else (the host's
  // groups) may appear.
  EXPECT_TRUE(kv["groups"] == "5,7" || kv["groups"] == "5,7,1000") << r.describe();

  r = b.run_probe({"setuid", "0"});
  EXPECT_EQ(r.out, "denied errno=EPERM\n") << r.describe();
}

TEST_F(RunTest, Hostname) {
  TestBundle b;
  std::string before = host_hostname();
  RunResult r = b.run_probe({"hostname"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parse_kv(r.out)["hostname"], "bulwark-test") << r.describe();
  EXPECT_EQ(host_hostname(), before);
}

TEST_F(RunTest, Domainname) {
  TestBundle b;
  b.config()["domainname"] = "bulwark.example";
  RunResult r = b.run_probe({"hostname"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parse_kv(r.out)["domainname"], "bulwark.example") << r.describe();
}

TEST_F(RunTest, NamespacedSysctls) {
  TestBundle b;
  std::string host_shmmax = host_file("/proc/sys/kernel/shmmax");
  std::string host_ping = host_file("/proc/sys/net/ipv4/ping_group_range");
  b.config()["linux"]["sysctl"] = {{"kernel.shmmax", "123456789"},
                                   {"net.ipv4.ping_group_range", "100 200"}};
  RunResult r =
      b.run_probe({"sysctl", "kernel.shmmax", "--", "sysctl", "net.ipv4.ping_group_range"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["kernel.shmmax"], "123456789") << r.describe();
  EXPECT_EQ(kv["net.ipv4.ping_group_range"], "100 200") << r.describe();
  EXPECT_EQ(host_file("/proc/sys/kernel/shmmax"), host_shmmax);
  EXPECT_EQ(host_file("/proc/sys/net/ipv4/ping_group_range"), host_ping);
}

json mkdir_denying_profile() {
  return json::parse(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
  })");
}

TEST_F(RunTest, SeccompProfileIsEnforced) {
  TestBundle b;
  b.config()["linux"]["seccomp"] = mkdir_denying_profile();
  RunResult r = b.run_probe({"seccomp"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["Seccomp"], "2") << r.describe();
  EXPECT_EQ(kv["NoNewPrivs"], "1") << r.describe();
  // /dev/shm is a writable tmpfs, so only the filter can say EPERM here.
  r = b.run_probe({"mkdir", "/dev/shm/d"});
  EXPECT_EQ(r.out, "denied errno=EPERM\n") << r.describe();
}

TEST_F(RunTest, NoSeccompWithoutProfile) {
  TestBundle b;
  RunResult r = b.run_probe({"seccomp"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["Seccomp"], "0") << r.describe();
  EXPECT_EQ(kv["NoNewPrivs"], "1") << r.describe();
  r = b.run_probe({"mkdir", "/dev/shm/d"});
  EXPECT_EQ(r.out, "ok\n") << r.describe();
}

TEST_F(RunTest, NoNewPrivilegesOff) {
  TestBundle b;
  b.config()["process"]["noNewPrivileges"] = false;
  RunResult r = b.run_probe({"seccomp"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parse_kv(r.out)["NoNewPrivs"], "0") << r.describe();
}

TEST_F(RunTest, UmaskCwdAndEnvironment) {
  TestBundle b;
  // Set in the runtime's environment: it must not reach the container.
  ASSERT_EQ(setenv("BW_TEST_LEAK", "leaked", 1), 0);
  b.config()["process"]["user"]["umask"] = 027;
  b.config()["process"]["cwd"] = "/tmp";
  b.config()["process"]["env"].push_back("FOO=bar baz");
  RunResult r = b.run_probe({"umask", "--", "cwd", "--", "env", "FOO", "--", "env"});
  unsetenv("BW_TEST_LEAK");
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["umask"], "0027") << r.describe();
  EXPECT_EQ(kv["cwd"], "/tmp") << r.describe();
  EXPECT_EQ(kv["FOO"], "bar baz") << r.describe();
  EXPECT_EQ(kv["TERM"], "xterm") << r.describe();
  EXPECT_EQ(kv.count("BW_TEST_LEAK"), 0u) << r.describe();
}

TEST_F(RunTest, StdioIsNotATerminal) {
  TestBundle b;
  RunResult r = b.run_probe({"isatty"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.out, "stdin=0\nstdout=0\nstderr=0\n");
}

TEST_F(RunTest, UserNamespaceMapsRootToUnprivilegedUid) {
  TestBundle b;
  json& linux = b.config()["linux"];
  linux["namespaces"].push_back({{"type", "user"}});
  linux["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  linux["gidMappings"] = linux["uidMappings"];
  RunResult r = b.run_probe({"id", "--", "read", "/proc/self/uid_map"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["uid"], "0") << r.describe();
  EXPECT_EQ(kv["gid"], "0") << r.describe();
  auto lines = split_lines(r.out);
  std::string map_line = lines.empty() ? "" : lines.back();
  std::istringstream in(map_line);
  long inside = -1, outside = -1, size = -1;
  in >> inside >> outside >> size;
  EXPECT_EQ(inside, 0) << r.describe();
  EXPECT_EQ(outside, 100000) << r.describe();
  EXPECT_EQ(size, 65536) << r.describe();
}

}  // namespace
}  // namespace bw::test
