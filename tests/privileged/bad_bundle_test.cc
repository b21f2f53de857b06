// End-to-end: bundles bulwark-run must refuse. Each refusal exits non-zero
// with one line on stderr naming the offending field, and leaves nothing
// behind: no state for the id, no new mount on the host, no process, no
// cgroup. Both `create` and `run` are checked, since each loads the bundle.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;

class BadBundleTest : public RuntimeTest {};

std::set<int> mount_ids() {
  std::set<int> ids;
  for (const auto& m : host_mounts()) ids.insert(m.id);
  return ids;
}

std::string new_mounts_since(const std::set<int>& before) {
  std::string s;
  for (const auto& m : host_mounts()) {
    if (!before.count(m.id)) s += " " + m.mountpoint + " (" + m.fstype + ")";
  }
  return s;
}

void expect_refused(TestBundle& b, const std::string& field) {
  for (const char* verb : {"create", "run"}) {
    SCOPED_TRACE(std::string(verb) + " of a bundle with a bad " + field);
    std::set<int> before = mount_ids();
    std::string id = b.new_id();
    RunResult r = b.run_runtime({verb, "--bundle", b.path(), id});
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_NE(r.err.find(field), std::string::npos) << "stderr should name '" << field << "'\n"
                                                    << r.describe();
    EXPECT_EQ(split_lines(r.err).size(), 1u) << "one line on stderr\n" << r.describe();
    EXPECT_NE(b.run_runtime({"state", id}).status, 0) << "state of a refused container";
    EXPECT_TRUE(b.nothing_left_behind(id));
    EXPECT_EQ(new_mounts_since(before), "") << "mounts appeared on the host";
  }
}

// A path under the host's /tmp that a contained mount can never create.
std::string host_escape_target(const TestBundle& b, const char* what) {
  return "/tmp/bwt-" + std::string(what) + "-" + b.base().substr(b.base().size() - 6);
}

bool host_path_exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

TEST_F(BadBundleTest, InvalidJson) {
  TestBundle b;
  b.write_raw(R"({"ociVersion": "1.0.2", "process": {"args": ["/bin/bw-probe", )");
  expect_refused(b, "config.json");
}

TEST_F(BadBundleTest, UnknownNamespaceType) {
  TestBundle b;
  b.config()["linux"]["namespaces"].push_back({{"type", "bogus"}});
  b.write();
  expect_refused(b, "linux.namespaces");
}

TEST_F(BadBundleTest, MountDestinationWithDotDot) {
  TestBundle b;
  std::string target = host_escape_target(b, "dotdot");
  b.config()["mounts"].push_back({{"destination", "/../../../../../../.." + target},
                                  {"type", "tmpfs"},
                                  {"source", "tmpfs"},
                                  {"options", {"nosuid", "nodev"}}});
  b.write();
  expect_refused(b, "mounts[");
  EXPECT_FALSE(host_path_exists(target)) << target << " was created on the host";
  (void)rmdir(target.c_str());
}

// rootfs/escape points outside the rootfs (relative and absolute variants).
// Following it on the host would create and mount over the host's /tmp/...;
// the runtime must refuse the mount or resolve the link inside the rootfs.
TEST_F(BadBundleTest, MountDestinationThroughSymlinkStaysInside) {
  for (bool absolute : {false, true}) {
    SCOPED_TRACE(absolute ? "absolute symlink" : "relative symlink");
    TestBundle b;
    // Enough "../" to climb from the rootfs to / (extra ones stay at /).
    const std::string rootfs = b.rootfs();
    std::string up;
    for (auto n = std::count(rootfs.begin(), rootfs.end(), '/') + 2; n > 0; --n) up += "../";
    ASSERT_EQ(symlink(absolute ? "/tmp" : (up + "tmp").c_str(), (b.rootfs() + "/escape").c_str()),
              0);
    std::string target = host_escape_target(b, "symlink");
    std::string name = target.substr(5);  // without "/tmp/"
    b.config()["mounts"].push_back({{"destination", "/escape/" + name},
                                    {"type", "tmpfs"},
                                    {"source", "tmpfs"},
                                    {"options", {"nosuid", "nodev"}}});
    b.set_probe_args({"mounts"});
    b.write();
    std::string id = b.new_id();
    RunResult r = b.run_runtime({"run", "--bundle", b.path(), id});
    EXPECT_FALSE(r.timed_out) << r.describe();
    if (r.status != 0) {
      EXPECT_NE(r.err.find("mounts["), std::string::npos) << r.describe();
    }
    EXPECT_FALSE(host_path_exists(target)) << target << " was created on the host\n"
                                           << r.describe();
    EXPECT_TRUE(mounts_under(target).empty());
    EXPECT_TRUE(b.nothing_left_behind(id));
    (void)rmdir(target.c_str());
  }
}

TEST_F(BadBundleTest, MissingRootfs) {
  TestBundle b;
  b.config()["root"]["path"] = "no-such-rootfs";
  b.write();
  expect_refused(b, "root.path");
}

TEST_F(BadBundleTest, RelativeCwd) {
  TestBundle b;
  b.config()["process"]["cwd"] = "tmp";
  b.write();
  expect_refused(b, "process.cwd");
}

TEST_F(BadBundleTest, UnknownCapability) {
  TestBundle b;
  b.config()["process"]["capabilities"]["bounding"].push_back("CAP_BOGUS");
  b.write();
  expect_refused(b, "process.capabilities");
}

TEST_F(BadBundleTest, UnknownRlimit) {
  TestBundle b;
  b.config()["process"]["rlimits"].push_back({{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}});
  b.write();
  expect_refused(b, "process.rlimits");
}

TEST_F(BadBundleTest, UnmappedUidInUserNamespace) {
  TestBundle b;
  json& linux = b.config()["linux"];
  linux["namespaces"].push_back({{"type", "user"}});
  linux["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  linux["gidMappings"] = linux["uidMappings"];
  b.config()["process"]["user"]["uid"] = 70000;
  b.write();
  expect_refused(b, "process.user.uid");
}

TEST_F(BadBundleTest, DuplicateIdIsRefusedAndLeavesTheFirstAlone) {
  TestBundle b;
  b.set_probe_args({"sleep", "inf"});
  b.write();
  std::string id = b.new_id();
  RunResult r = b.run_runtime({"create", "--bundle", b.path(), id});
  ASSERT_EQ(r.status, 0) << r.describe();
  RunResult st = b.run_runtime({"state", id});
  ASSERT_EQ(st.status, 0) << st.describe();
  json first = json::parse(st.out);

  for (std::vector<std::string> again :
       {std::vector<std::string>{"create"}, std::vector<std::string>{"run", "--detach"}}) {
    SCOPED_TRACE(again[0]);
    again.insert(again.end(), {"--bundle", b.path(), id});
    r = b.run_runtime(again);
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.describe();
    st = b.run_runtime({"state", id});
    ASSERT_EQ(st.status, 0) << st.describe();
    json now = json::parse(st.out);
    EXPECT_EQ(now["status"], "created") << now.dump();
    EXPECT_EQ(now["pid"], first["pid"]) << now.dump();
  }

  r = b.run_runtime({"delete", "--force", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, first.value("pid", 0)));
}

// A resource limit needs its cgroup v2 controller. Where cgroup2 has none
// (a v1/v2 hybrid host), the limit is refused by name, never dropped; where
// the controller exists, the container runs (the limit's value is checked by
// the cgroup tests on a pure cgroup v2 system).
TEST_F(BadBundleTest, MemoryLimitNeedsItsController) {
  TestBundle b;
  b.config()["linux"]["resources"] = {{"memory", {{"limit", 64 * 1024 * 1024}}}};
  b.config()["process"]["args"] = {"/bin/bw-probe", "cgroup"};
  b.write();
  std::string controllers;
  for (const auto& m : host_mounts())
    if (m.fstype == "cgroup2") {
      std::ifstream f(m.mountpoint + "/cgroup.controllers");
      std::getline(f, controllers);
      break;
    }
  if (controllers.find("memory") == std::string::npos) {
    expect_refused(b, "linux.resources.memory.limit");
    return;
  }
  std::string id = b.new_id();
  RunResult r = b.run_runtime({"run", "--bundle", b.path(), id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id));
}

}  // namespace
}  // namespace bw::test
