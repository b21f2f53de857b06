// The parts of the cgroup module that need no privileges: finding the cgroup2
// mount, cgroup paths, and the mapping of linux.resources to cgroup v2 files.
#include "sandbox/cgroup2.h"

#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/statfs.h>

namespace bw::sandbox {
namespace {

// Line shapes taken from this development host (hybrid) and a pure v2 system.
const char* kHybridMountinfo =
    "23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const char* kPureMountinfo =
    "24 1 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
    "29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "300 29 0:99 / /var/lib/x/rootfs/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

TEST(Cgroup2Mount, FindsTheHybridMount) {
  auto m = parse_cgroup2_mount(kHybridMountinfo);
  ASSERT_TRUE(m) << m.error().text();
  EXPECT_EQ(m->path, "/sys/fs/cgroup/unified");
  EXPECT_TRUE(m->hybrid);
}

TEST(Cgroup2Mount, PrefersTheStandardPlaceOnPureV2) {
  auto m = parse_cgroup2_mount(kPureMountinfo);
  ASSERT_TRUE(m) << m.error().text();
  EXPECT_EQ(m->path, "/sys/fs/cgroup");
  EXPECT_FALSE(m->hybrid);
}

TEST(Cgroup2Mount, UnescapesTheMountPoint) {
  auto m = parse_cgroup2_mount("50 1 0:40 / /mnt/my\\040cgroup rw - cgroup2 none rw\n");
  ASSERT_TRUE(m) << m.error().text();
  EXPECT_EQ(m->path, "/mnt/my cgroup");
}

TEST(Cgroup2Mount, NoCgroup2IsEnoent) {
  auto m = parse_cgroup2_mount("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ENOENT);
}

TEST(Cgroup2Mount, FindMountOnThisHost) {
  auto m = Cgroup::find_mount();
  if (!m) {
    EXPECT_EQ(m.error().code, ENOENT) << m.error().text();
    return;
  }
  struct statfs sfs {};
  ASSERT_EQ(statfs(m->c_str(), &sfs), 0) << *m;
  EXPECT_EQ(sfs.f_type, CGROUP2_SUPER_MAGIC) << *m;
}

TEST(CgroupPath, DefaultsToBulwarkId) {
  EXPECT_EQ(cgroup_relative_path("web", "").value(), "bulwark/web");
  EXPECT_FALSE(cgroup_relative_path("a/b", ""));
  EXPECT_FALSE(cgroup_relative_path("..", ""));
}

TEST(CgroupPath, AbsoluteAndRelativeAreUnderTheMount) {
  EXPECT_EQ(cgroup_relative_path("x", "/machine/web").value(), "machine/web");
  EXPECT_EQ(cgroup_relative_path("x", "machine//web/").value(), "machine/web");
}

TEST(CgroupPath, RefusesEscapesRootAndSystemdPaths) {
  auto dots = cgroup_relative_path("x", "/a/../../etc");
  ASSERT_FALSE(dots);
  EXPECT_NE(dots.error().message.find("linux.cgroupsPath"), std::string::npos);
  EXPECT_FALSE(cgroup_relative_path("x", "/a/./b"));
  EXPECT_FALSE(cgroup_relative_path("x", "/"));
  auto systemd = cgroup_relative_path("x", "system.slice:bulwark:web");
  ASSERT_FALSE(systemd);
  EXPECT_NE(systemd.error().message.find("systemd"), std::string::npos);
}

// The writes as "file=value" strings, in order, for compact expectations.
std::vector<std::string> plan(const oci::Resources& r) {
  auto w = cgroup2_writes(r);
  EXPECT_TRUE(w) << w.error().text();
  std::vector<std::string> out;
  if (w)
    for (auto& x : *w) out.push_back(x.file + "=" + x.value);
  return out;
}

std::string plan_error(const oci::Resources& r) {
  auto w = cgroup2_writes(r);
  EXPECT_FALSE(w);
  return w ? "" : w.error().message;
}

using Strings = std::vector<std::string>;

TEST(Cgroup2Writes, EmptyResourcesWriteNothing) { EXPECT_EQ(plan(oci::Resources{}), Strings{}); }

TEST(Cgroup2Writes, MemoryLimitReservationAndSwap) {
  oci::Resources r;
  r.memory_limit = 256 << 20;
  r.memory_reservation = 128 << 20;
  r.memory_swap = 384 << 20;  // memory+swap on v1: 128 MiB of swap on v2
  EXPECT_EQ(plan(r),
            (Strings{"memory.max=268435456", "memory.low=134217728", "memory.swap.max=134217728"}));
  auto w = cgroup2_writes(r).value();
  EXPECT_EQ(w[0].field, "linux.resources.memory.limit");
  EXPECT_EQ(w[0].controller, "memory");
  EXPECT_EQ(w[2].field, "linux.resources.memory.swap");
}

TEST(Cgroup2Writes, SwapEqualToMemoryDisablesSwap) {
  oci::Resources r;
  r.memory_limit = 1 << 20;
  r.memory_swap = 1 << 20;
  EXPECT_EQ(plan(r), (Strings{"memory.max=1048576", "memory.swap.max=0"}));
}

TEST(Cgroup2Writes, UnlimitedMemoryMeansUnlimitedSwapAndIsTheDefault) {
  oci::Resources r;
  r.memory_limit = -1;
  auto w = cgroup2_writes(r).value();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].value, "max");
  EXPECT_TRUE(w[0].is_default);
  EXPECT_EQ(w[1].file, "memory.swap.max");
  EXPECT_EQ(w[1].value, "max");
  EXPECT_TRUE(w[1].skip_if_missing);
}

TEST(Cgroup2Writes, BadSwapSettingsNameTheField) {
  oci::Resources r;
  r.memory_swap = 1 << 20;
  EXPECT_NE(plan_error(r).find("linux.resources.memory.swap"), std::string::npos);
  r.memory_limit = 2 << 20;  // swap below memory
  EXPECT_NE(plan_error(r).find("linux.resources.memory.swap"), std::string::npos);
  oci::Resources neg;
  neg.memory_limit = -5;
  EXPECT_NE(plan_error(neg).find("linux.resources.memory.limit"), std::string::npos);
}

TEST(Cgroup2Writes, PidsLimit) {
  oci::Resources r;
  r.pids_limit = 100;
  EXPECT_EQ(plan(r), Strings{"pids.max=100"});
  for (int64_t unlimited : {int64_t{0}, int64_t{-1}}) {
    r.pids_limit = unlimited;
    auto w = cgroup2_writes(r).value();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].value, "max");
    EXPECT_TRUE(w[0].is_default);
  }
}

TEST(Cgroup2Writes, CpuSharesUseRuncsConversion) {
  oci::Resources r;
  r.cpu_shares = 1024;
  EXPECT_EQ(plan(r), Strings{"cpu.weight=39"});
  r.cpu_shares = 2;
  EXPECT_EQ(plan(r), Strings{"cpu.weight=1"});
  r.cpu_shares = 262144;
  EXPECT_EQ(plan(r), Strings{"cpu.weight=10000"});
  r.cpu_shares = 1;  // clamped to 2, not wrapped around
  EXPECT_EQ(plan(r), Strings{"cpu.weight=1"});
}

TEST(Cgroup2Writes, CpuQuotaPeriodAndSets) {
  oci::Resources r;
  r.cpu_quota = 50000;
  r.cpu_period = 100000;
  r.cpu_cpus = "0-1";
  r.cpu_mems = "0";
  EXPECT_EQ(plan(r), (Strings{"cpu.max=50000 100000", "cpuset.cpus=0-1", "cpuset.mems=0"}));
  oci::Resources period_only;
  period_only.cpu_period = 20000;
  EXPECT_EQ(plan(period_only), Strings{"cpu.max=max 20000"});
  oci::Resources unlimited;
  unlimited.cpu_quota = -1;
  auto w = cgroup2_writes(unlimited).value();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].value, "max");
  EXPECT_TRUE(w[0].is_default);
}

TEST(Cgroup2Writes, RealtimeCpuIsRefused) {
  oci::Resources r;
  r.cpu_realtime_runtime = 950000;
  EXPECT_NE(plan_error(r).find("linux.resources.cpu.realtimeRuntime"), std::string::npos);
}

TEST(Cgroup2Writes, BlockIoWeightsAndThrottles) {
  oci::Resources r;
  r.blkio_weight = 500;
  r.blkio_weight_device.push_back({8, 0, uint16_t{1000}, std::nullopt});
  r.blkio_throttle_read_bps.push_back({8, 0, 1048576});
  r.blkio_throttle_write_iops.push_back({8, 16, 0});
  EXPECT_EQ(plan(r), (Strings{"io.weight=4950", "io.weight=8:0 10000", "io.max=8:0 rbps=1048576",
                              "io.max=8:16 wiops=max"}));
  oci::Resources bad;
  bad.blkio_weight = 5;
  EXPECT_NE(plan_error(bad).find("linux.resources.blockIO.weight"), std::string::npos);
}

TEST(Cgroup2Writes, HugepageLimits) {
  oci::Resources r;
  r.hugepage_limits = {{"2MB", 4194304}, {"1GB", 0}};
  EXPECT_EQ(plan(r), (Strings{"hugetlb.2MB.max=4194304", "hugetlb.1GB.max=0"}));
  r.hugepage_limits = {{"2M/../x", 1}};
  EXPECT_NE(plan_error(r).find("linux.resources.hugepageLimits[0].pageSize"), std::string::npos);
}

TEST(Cgroup2Writes, UnifiedIsWrittenLastAndKeysAreChecked) {
  oci::Resources r;
  r.memory_limit = 1 << 20;
  r.unified = {{"memory.high", "524288"}, {"cgroup.max.descendants", "5"}};
  auto w = cgroup2_writes(r).value();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].file, "memory.max");
  EXPECT_EQ(w[1].file, "cgroup.max.descendants");
  EXPECT_EQ(w[1].controller, "");
  EXPECT_EQ(w[2].file, "memory.high");
  EXPECT_EQ(w[2].controller, "memory");
  for (const char* bad : {"../memory.max", "memory.max/x", "memory", ".max", "cgroup.procs",
                          "cgroup.subtree_control", "cgroup.kill"}) {
    oci::Resources b;
    b.unified = {{bad, "1"}};
    EXPECT_NE(plan_error(b).find("linux.resources.unified"), std::string::npos) << bad;
  }
}

oci::DeviceCgroupRule rule(bool allow, std::string type, std::optional<int64_t> major,
                           std::optional<int64_t> minor, std::string access) {
  return {allow, std::move(type), major, minor, std::move(access)};
}

TEST(Cgroup2Writes, TypicalDeviceAllowListsAreAccepted) {
  oci::Resources runc_default;  // `runc spec`
  runc_default.devices = {rule(false, "", std::nullopt, std::nullopt, "rwm")};
  EXPECT_EQ(plan(runc_default), Strings{});
  oci::Resources docker_like;
  docker_like.devices = {rule(false, "a", std::nullopt, std::nullopt, "rwm"),
                         rule(true, "c", std::nullopt, std::nullopt, "m"),
                         rule(true, "b", std::nullopt, std::nullopt, "m"),
                         rule(true, "c", 1, 3, "rwm"),
                         rule(true, "c", 136, std::nullopt, "rwm"),
                         rule(true, "c", 10, 200, "rwm")};
  EXPECT_EQ(plan(docker_like), Strings{});
}

TEST(Cgroup2Writes, RestrictingDeviceRulesNeedEbpf) {
  oci::Resources r;
  r.devices = {rule(true, "a", std::nullopt, std::nullopt, "rwm"), rule(false, "c", 1, 3, "w")};
  std::string e = plan_error(r);
  EXPECT_NE(e.find("linux.resources.devices[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("device cgroup rules need an eBPF program, not supported yet"),
            std::string::npos)
      << e;
  oci::Resources bad_access;
  bad_access.devices = {rule(true, "c", 1, 3, "rwx")};
  EXPECT_NE(plan_error(bad_access).find("linux.resources.devices[0].access"), std::string::npos);
}

TEST(Cgroup2Writes, NetworkAndRdmaAreRefused) {
  oci::Resources net;
  net.has_network = true;
  EXPECT_NE(plan_error(net).find("linux.resources.network"), std::string::npos);
  oci::Resources rdma;
  rdma.has_rdma = true;
  EXPECT_NE(plan_error(rdma).find("linux.resources.rdma"), std::string::npos);
}

}  // namespace
}  // namespace bw::sandbox
