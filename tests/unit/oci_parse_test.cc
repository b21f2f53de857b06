// parse_spec: real configs parse; bad ones fail with the JSON path of the field.

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "oci/spec.h"
#include "oci/state.h"

namespace bw::oci {
namespace {

using json = nlohmann::json;

// `runc spec` output (runc 1.1), unchanged.
constexpr const char* kRuncSpec = R"({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
})";

// A rootless podman-style config: user namespace, bind mounts, hooks, a
// seccomp profile with argument filters, resources, sysctls, annotations and
// properties this runtime does not know (which must be ignored).
constexpr const char* kPodmanSpec = R"({
  "ociVersion": "1.1.0",
  "process": {
    "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [1000, 10]},
    "args": ["/usr/bin/app", "--serve"],
    "env": ["PATH=/usr/bin:/bin", "container=podman", "HOME=/home/app"],
    "cwd": "/home/app",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_CHOWN"],
      "inheritable": [],
      "permitted": ["CAP_CHOWN"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 524288, "soft": 524288},
                {"type": "RLIMIT_NPROC", "hard": 4194304, "soft": 4194304}],
    "noNewPrivileges": true,
    "oomScoreAdj": 100
  },
  "root": {"path": "/var/lib/containers/storage/overlay/abc/merged"},
  "hostname": "app",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/etc/hosts", "type": "bind",
     "source": "/run/user/1000/containers/overlay-containers/abc/userdata/hosts",
     "options": ["bind", "rprivate"]},
    {"destination": "/etc/resolv.conf", "type": "bind",
     "source": "/run/user/1000/containers/overlay-containers/abc/userdata/resolv.conf",
     "options": ["rbind", "rprivate", "nosuid", "nodev"]},
    {"destination": "/run/.containerenv", "type": "bind",
     "source": "/run/user/1000/containers/overlay-containers/abc/userdata/.containerenv",
     "options": ["bind", "rprivate"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
     "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}
  ],
  "hooks": {
    "createRuntime": [{"path": "/usr/libexec/podman/netavark-hook", "args": ["netavark-hook", "setup"],
                       "env": ["A=1"], "timeout": 10}],
    "poststop": [{"path": "/usr/bin/podman", "args": ["podman", "cleanup"]}]
  },
  "annotations": {"io.container.manager": "libpod", "org.opencontainers.image.stopSignal": "15"},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                    {"containerID": 1, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                    {"containerID": 1, "hostID": 100000, "size": 65536}],
    "sysctl": {"net.ipv4.ping_group_range": "0 0"},
    "resources": {
      "memory": {"limit": 536870912, "swap": -1},
      "cpu": {"quota": 50000, "period": 100000, "cpus": "0-1"},
      "pids": {"limit": 2048}
    },
    "cgroupsPath": "user.slice:libpod:abc",
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 38,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "syscalls": [
        {"names": ["read", "write", "exit_group", "futex"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
      ],
      "x-containers-common-extension": {"comment": "unknown keys are ignored"}
    },
    "maskedPaths": ["/proc/acpi", "/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "someFutureLinuxField": [1, 2, 3]
  },
  "vm": {"hypervisor": {"path": "/usr/bin/qemu"}},
  "windows": null
})";

// Every field parse_spec reads, including ones validation later refuses.
constexpr const char* kEveryField = R"({
  "ociVersion": "1.2.0",
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [
    {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"],
     "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
     "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 20}]}
  ],
  "process": {
    "terminal": true,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 1, "gid": 2, "umask": 63, "additionalGids": [3, 4], "username": "u"},
    "args": ["a", "b"],
    "commandLine": "a b",
    "env": ["X=1"],
    "cwd": "/work",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_CHOWN"],
                     "inheritable": ["CAP_FOWNER"], "permitted": ["CAP_SETUID"],
                     "ambient": ["CAP_SETGID"]},
    "rlimits": [{"type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 0}],
    "noNewPrivileges": true,
    "apparmorProfile": "profile",
    "oomScoreAdj": -500,
    "selinuxLabel": "system_u:system_r:container_t:s0",
    "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4},
    "scheduler": {"policy": "SCHED_IDLE"},
    "execCPUAffinity": {"initial": "0"}
  },
  "hostname": "h",
  "domainname": "d",
  "hooks": {
    "prestart": [{"path": "/bin/p"}],
    "createRuntime": [{"path": "/bin/cr", "args": ["cr"], "env": ["E=1"], "timeout": 5}],
    "createContainer": [{"path": "/bin/cc"}],
    "startContainer": [{"path": "/bin/sc"}],
    "poststart": [{"path": "/bin/ps"}],
    "poststop": [{"path": "/bin/pst", "timeout": 1}]
  },
  "annotations": {"k": "v"},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "mount"},
                   {"type": "ipc"}, {"type": "uts"}, {"type": "user"}, {"type": "cgroup"},
                   {"type": "time"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
    "timeOffsets": {"monotonic": {"secs": -86400, "nanosecs": 5}, "boottime": {"secs": 7}},
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438,
                 "uid": 0, "gid": 0}],
    "cgroupsPath": "/bulwark/x",
    "resources": {
      "devices": [{"allow": false, "access": "rwm"},
                  {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
      "memory": {"limit": 1, "reservation": 2, "swap": 3, "kernel": 4, "kernelTCP": 5,
                 "swappiness": 6, "disableOOMKiller": true, "useHierarchy": false,
                 "checkBeforeUpdate": true},
      "cpu": {"shares": 1024, "quota": -1, "burst": 7, "period": 100000, "realtimeRuntime": 8,
              "realtimePeriod": 9, "cpus": "0-3", "mems": "0", "idle": 1},
      "pids": {"limit": -1},
      "blockIO": {"weight": 500, "leafWeight": 300,
                  "weightDevice": [{"major": 8, "minor": 0, "weight": 100, "leafWeight": 50},
                                   {"major": 8, "minor": 16}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                  "throttleWriteBpsDevice": [{"major": 8, "minor": 1, "rate": 2000}],
                  "throttleReadIOPSDevice": [{"major": 8, "minor": 2, "rate": 3000}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 3, "rate": 4000}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
      "network": {"classID": 1048577},
      "rdma": {"mlx5_1": {"hcaHandles": 3}},
      "unified": {"memory.high": "max", "io.weight": "default 100"}
    },
    "rootfsPropagation": "rslave",
    "seccomp": {
      "defaultAction": "SCMP_ACT_NOTIFY",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_AARCH64"],
      "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "listenerPath": "/run/seccomp.sock",
      "listenerMetadata": "meta",
      "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
                    "args": [{"index": 1, "value": 9, "valueTwo": 18446744073709551615,
                              "op": "SCMP_CMP_NE"}]}]
    },
    "sysctl": {"net.core.somaxconn": "1024"},
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "system_u:object_r:container_file_t:s0",
    "intelRdt": {"closID": "x"},
    "personality": {"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}
  }
})";

Spec parse_ok(const std::string& text) {
  auto r = parse_spec(text);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().text());
  return r ? *r : Spec{};
}

// Parses a config that must fail and returns the message.
std::string parse_error(const std::string& text) {
  auto r = parse_spec(text);
  EXPECT_FALSE(r.has_value()) << "parsed unexpectedly: " << text;
  if (r) return "";
  EXPECT_EQ(r.error().code, 0);
  return r.error().message;
}

// The runc config with one change applied at a JSON pointer.
std::string runc_with(const std::string& pointer, const json& value) {
  json j = json::parse(kRuncSpec);
  j[json::json_pointer(pointer)] = value;
  return j.dump();
}

TEST(OciParse, RuncSpecOutput) {
  Spec s = parse_ok(kRuncSpec);
  EXPECT_EQ(s.oci_version, "1.0.2-dev");
  ASSERT_TRUE(s.root);
  EXPECT_EQ(s.root->path, "rootfs");
  EXPECT_TRUE(s.root->readonly);
  ASSERT_TRUE(s.process);
  EXPECT_TRUE(s.process->terminal);
  EXPECT_EQ(s.process->args, std::vector<std::string>{"sh"});
  EXPECT_EQ(s.process->env.size(), 2u);
  EXPECT_EQ(s.process->cwd, "/");
  ASSERT_TRUE(s.process->capabilities);
  EXPECT_EQ(s.process->capabilities->bounding.size(), 3u);
  EXPECT_TRUE(s.process->capabilities->inheritable.empty());
  ASSERT_EQ(s.process->rlimits.size(), 1u);
  EXPECT_EQ(s.process->rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(s.process->rlimits[0].hard, 1024u);
  EXPECT_TRUE(s.process->no_new_privileges);
  EXPECT_FALSE(s.process->oom_score_adj);
  EXPECT_EQ(s.hostname, "runc");
  ASSERT_EQ(s.mounts.size(), 7u);
  EXPECT_EQ(s.mounts[2].destination, "/dev/pts");
  EXPECT_EQ(s.mounts[2].type, "devpts");
  EXPECT_EQ(s.mounts[2].options.back(), "gid=5");
  ASSERT_TRUE(s.linux);
  ASSERT_EQ(s.linux->namespaces.size(), 6u);
  EXPECT_EQ(s.linux->namespaces[1].type, NamespaceType::network);
  EXPECT_TRUE(s.linux->namespaces[1].path.empty());
  ASSERT_TRUE(s.linux->resources);
  ASSERT_EQ(s.linux->resources->devices.size(), 1u);
  EXPECT_FALSE(s.linux->resources->devices[0].allow);
  EXPECT_EQ(s.linux->resources->devices[0].access, "rwm");
  EXPECT_FALSE(s.linux->resources->memory_limit);
  EXPECT_EQ(s.linux->masked_paths.size(), 10u);
  EXPECT_EQ(s.linux->readonly_paths.size(), 5u);
  EXPECT_FALSE(s.linux->seccomp);
  EXPECT_FALSE(s.hooks);
  EXPECT_NE(s.find_namespace(NamespaceType::uts), nullptr);
  EXPECT_EQ(s.find_namespace(NamespaceType::user), nullptr);
  EXPECT_TRUE(validate_spec(s).has_value()) << validate_spec(s).error().text();
}

TEST(OciParse, PodmanStyleSpec) {
  Spec s = parse_ok(kPodmanSpec);
  ASSERT_TRUE(s.process);
  EXPECT_EQ(s.process->user.uid, 1000u);
  EXPECT_EQ(s.process->user.umask, 18u);
  EXPECT_EQ(s.process->user.additional_gids, (std::vector<uint32_t>{1000, 10}));
  EXPECT_EQ(s.process->oom_score_adj, 100);
  EXPECT_FALSE(s.process->terminal);
  ASSERT_EQ(s.mounts.size(), 6u);
  EXPECT_EQ(s.mounts[3].type, "bind");
  EXPECT_EQ(s.mounts[3].options[0], "rbind");
  ASSERT_TRUE(s.hooks);
  ASSERT_EQ(s.hooks->create_runtime.size(), 1u);
  EXPECT_EQ(s.hooks->create_runtime[0].timeout, 10);
  EXPECT_EQ(s.hooks->create_runtime[0].env, std::vector<std::string>{"A=1"});
  ASSERT_EQ(s.hooks->poststop.size(), 1u);
  EXPECT_FALSE(s.hooks->poststop[0].timeout);
  EXPECT_EQ(s.annotations.at("io.container.manager"), "libpod");
  ASSERT_TRUE(s.linux);
  ASSERT_EQ(s.linux->uid_mappings.size(), 2u);
  EXPECT_EQ(s.linux->uid_mappings[1].host_id, 100000u);
  EXPECT_EQ(s.linux->uid_mappings[1].size, 65536u);
  EXPECT_EQ(s.linux->sysctl.at("net.ipv4.ping_group_range"), "0 0");
  ASSERT_TRUE(s.linux->resources);
  EXPECT_EQ(s.linux->resources->memory_limit, 536870912);
  EXPECT_EQ(s.linux->resources->memory_swap, -1);
  EXPECT_EQ(s.linux->resources->cpu_quota, 50000);
  EXPECT_EQ(s.linux->resources->cpu_period, 100000u);
  EXPECT_EQ(s.linux->resources->cpu_cpus, "0-1");
  EXPECT_EQ(s.linux->resources->pids_limit, 2048);
  EXPECT_EQ(s.linux->cgroups_path, "user.slice:libpod:abc");
  ASSERT_TRUE(s.linux->seccomp);
  const Seccomp& sc = *s.linux->seccomp;
  EXPECT_EQ(sc.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc.default_errno_ret, 38u);
  EXPECT_EQ(sc.architectures.size(), 3u);
  ASSERT_EQ(sc.syscalls.size(), 4u);
  EXPECT_EQ(sc.syscalls[0].names.size(), 4u);
  ASSERT_EQ(sc.syscalls[1].args.size(), 1u);
  EXPECT_EQ(sc.syscalls[1].args[0].value, 4294967295u);
  EXPECT_EQ(sc.syscalls[2].args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(sc.syscalls[3].errno_ret, 1u);
  EXPECT_FALSE(sc.syscalls[0].errno_ret);
  EXPECT_TRUE(validate_spec(s).has_value()) << validate_spec(s).error().text();
}

TEST(OciParse, EveryFieldIsRead) {
  Spec s = parse_ok(kEveryField);
  const Process& p = *s.process;
  EXPECT_EQ(p.console_size->height, 24u);
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.username, "u");
  EXPECT_EQ(p.command_line, "a b");
  EXPECT_EQ(p.capabilities->ambient, std::vector<std::string>{"CAP_SETGID"});
  EXPECT_EQ(p.rlimits[0].hard, UINT64_MAX);
  EXPECT_EQ(p.apparmor_profile, "profile");
  EXPECT_EQ(p.oom_score_adj, -500);
  EXPECT_TRUE(p.has_io_priority);
  EXPECT_TRUE(p.has_scheduler);
  EXPECT_TRUE(p.has_exec_cpu_affinity);
  EXPECT_EQ(s.domainname, "d");
  EXPECT_EQ(s.mounts[0].gid_mappings[0].size, 20u);
  EXPECT_EQ(s.hooks->prestart[0].path, "/bin/p");
  EXPECT_EQ(s.hooks->create_container[0].path, "/bin/cc");
  EXPECT_EQ(s.hooks->start_container[0].path, "/bin/sc");
  EXPECT_EQ(s.hooks->poststart[0].path, "/bin/ps");
  const Linux& l = *s.linux;
  EXPECT_EQ(l.namespaces.size(), 8u);
  EXPECT_EQ(l.namespaces[7].type, NamespaceType::time);
  EXPECT_EQ(l.namespaces[1].path, "/run/netns/x");
  EXPECT_EQ(l.time_offsets.at("monotonic").secs, -86400);
  EXPECT_EQ(l.time_offsets.at("monotonic").nanosecs, 5u);
  EXPECT_EQ(l.time_offsets.at("boottime").nanosecs, 0u);
  EXPECT_EQ(l.devices[0].file_mode, 438u);
  EXPECT_EQ(l.devices[0].minor, 229);
  const Resources& r = *l.resources;
  EXPECT_EQ(r.devices[1].major, 10);
  EXPECT_FALSE(r.devices[0].major);
  EXPECT_EQ(r.memory_kernel_tcp, 5);
  EXPECT_EQ(r.memory_swappiness, 6u);
  EXPECT_EQ(r.memory_disable_oom_killer, true);
  EXPECT_EQ(r.memory_use_hierarchy, false);
  EXPECT_TRUE(r.memory_check_before_update);
  EXPECT_EQ(r.cpu_burst, 7);
  EXPECT_EQ(r.cpu_idle, 1);
  EXPECT_EQ(r.cpu_realtime_period, 9u);
  EXPECT_EQ(r.pids_limit, -1);
  EXPECT_EQ(r.blkio_weight, 500);
  EXPECT_EQ(r.blkio_weight_device[0].leaf_weight, 50);
  EXPECT_FALSE(r.blkio_weight_device[1].weight);
  EXPECT_EQ(r.blkio_throttle_write_iops[0].rate, 4000u);
  EXPECT_EQ(r.hugepage_limits[0].first, "2MB");
  EXPECT_TRUE(r.has_network);
  EXPECT_TRUE(r.has_rdma);
  EXPECT_EQ(r.unified.at("io.weight"), "default 100");
  EXPECT_EQ(l.rootfs_propagation, "rslave");
  EXPECT_EQ(l.seccomp->listener_metadata, "meta");
  EXPECT_EQ(l.seccomp->flags[0], "SECCOMP_FILTER_FLAG_LOG");
  EXPECT_EQ(l.seccomp->syscalls[0].args[0].value_two, UINT64_MAX);
  EXPECT_EQ(l.mount_label, "system_u:object_r:container_file_t:s0");
  EXPECT_TRUE(l.has_intel_rdt);
  EXPECT_TRUE(l.has_personality);
  EXPECT_EQ(l.personality_domain, "LINUX32");
  EXPECT_EQ(l.personality_flags, std::vector<std::string>{"ADDR_NO_RANDOMIZE"});
}

TEST(OciParse, RoundTrip) {
  for (const char* text : {kRuncSpec, kPodmanSpec, kEveryField}) {
    Spec s = parse_ok(text);
    std::string out = spec_to_json(s);
    Spec again = parse_ok(out);
    EXPECT_TRUE(again == s) << out;
    EXPECT_EQ(spec_to_json(again), out);
  }
}

TEST(OciParse, RoundTripOfBuiltSpec) {
  Spec s;
  s.oci_version = "1.2.0";
  s.root = Root{"/r", false};
  s.process.emplace();
  s.process->args = {"x"};
  s.process->user.uid = 4294967295u;
  s.linux.emplace();
  s.linux->resources.emplace();  // present but empty
  s.linux->seccomp.emplace();
  s.linux->seccomp->default_action = "SCMP_ACT_ALLOW";
  s.hooks.emplace();  // present but empty
  s.annotations["quote\"and\\slash"] = "line\nbreak";
  Spec again = parse_ok(spec_to_json(s));
  EXPECT_TRUE(again == s) << spec_to_json(s);
}

TEST(OciParse, SpecToJsonIsIndented) {
  std::string out = spec_to_json(parse_ok(kRuncSpec));
  EXPECT_EQ(out.rfind("{\n  \"ociVersion\": \"1.0.2-dev\",", 0), 0u) << out;
}

TEST(OciParse, AbsentOptionalFieldsStayDefault) {
  Spec s = parse_ok(R"({"ociVersion": "1.0.0", "process": {"cwd": "/"}})");
  EXPECT_FALSE(s.root);
  EXPECT_FALSE(s.linux);
  EXPECT_FALSE(s.hooks);
  EXPECT_TRUE(s.mounts.empty());
  EXPECT_TRUE(s.process->env.empty());
  EXPECT_TRUE(s.process->args.empty());
  EXPECT_FALSE(s.process->capabilities);
  EXPECT_FALSE(s.process->user.umask);
  EXPECT_EQ(s.process->user.uid, 0u);
}

TEST(OciParse, NullIsAbsent) {
  Spec s = parse_ok(R"({"ociVersion": "1.0.0", "hooks": null, "mounts": null,
                        "process": {"cwd": "/", "env": null, "oomScoreAdj": null},
                        "linux": {"resources": null, "intelRdt": null, "seccomp": null}})");
  EXPECT_FALSE(s.hooks);
  EXPECT_TRUE(s.process->env.empty());
  EXPECT_FALSE(s.process->oom_score_adj);
  EXPECT_FALSE(s.linux->resources);
  EXPECT_FALSE(s.linux->has_intel_rdt);
}

TEST(OciParse, UnknownPropertiesIgnored) {
  Spec s = parse_ok(kPodmanSpec);  // has "vm", "windows" and unknown linux/seccomp keys
  EXPECT_EQ(s.oci_version, "1.1.0");
  // Deeply nested unknown data neither fails nor overflows the stack.
  std::string deep = std::string(20000, '[') + std::string(20000, ']');
  Spec d = parse_ok(R"({"ociVersion": "1.0.0", "x-unknown": )" + deep + "}");
  EXPECT_EQ(d.oci_version, "1.0.0");
}

TEST(OciParse, BadJsonNamesTheByte) {
  std::string msg = parse_error("{\n  \"ociVersion\": \"1.0.0\",\n  \"root\": {\"path\": }\n}");
  EXPECT_NE(msg.find("config.json is not valid JSON at byte 47"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  msg = parse_error("");
  EXPECT_NE(msg.find("not valid JSON at byte"), std::string::npos) << msg;
  msg = parse_error(R"({"ociVersion": "1.0.0"} trailing)");
  EXPECT_NE(msg.find("not valid JSON at byte"), std::string::npos) << msg;
  msg = parse_error("{\"hostname\": \"\xff\xfe\"}");
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

TEST(OciParse, TopLevelMustBeAnObject) {
  EXPECT_EQ(parse_error("[1, 2]"), "config.json: expected an object, found array");
  EXPECT_EQ(parse_error("null"), "config.json: expected an object, found null");
}

TEST(OciParse, WrongTypeNamesThePath) {
  EXPECT_EQ(parse_error(runc_with("/linux/namespaces/2/type", 5)),
            "linux.namespaces[2].type: expected a string, found number");
  EXPECT_EQ(parse_error(runc_with("/process/args", "sh")),
            "process.args: expected an array, found string");
  EXPECT_EQ(parse_error(runc_with("/process/env/1", false)),
            "process.env[1]: expected a string, found boolean");
  EXPECT_EQ(parse_error(runc_with("/process/terminal", "yes")),
            "process.terminal: expected a boolean, found string");
  EXPECT_EQ(parse_error(runc_with("/root", json::array())),
            "root: expected an object, found array");
  EXPECT_EQ(parse_error(runc_with("/linux/resources/memory", 5)),
            "linux.resources.memory: expected an object, found number");
  EXPECT_EQ(parse_error(runc_with("/linux/resources/memory/limit", "1G")),
            "linux.resources.memory.limit: expected an integer, found string");
  EXPECT_EQ(parse_error(runc_with("/linux/sysctl", json{{"net.core.somaxconn", 1024}})),
            "linux.sysctl.net.core.somaxconn: expected a string, found number");
  EXPECT_EQ(parse_error(runc_with("/annotations", json{{"a", json::object()}})),
            "annotations.a: expected a string, found object");
  EXPECT_EQ(parse_error(runc_with("/mounts/4/options/0", 1)),
            "mounts[4].options[0]: expected a string, found number");
  EXPECT_EQ(parse_error(runc_with("/linux/personality", json{{"domain", 1}})),
            "linux.personality.domain: expected a string, found number");
  EXPECT_EQ(parse_error(runc_with("/hooks", json{{"poststop", {{{"path", "/x"}, {"timeout", "5"}}}}})),
            "hooks.poststop[0].timeout: expected an integer, found string");
}

TEST(OciParse, UnknownNamespaceType) {
  std::string msg = parse_error(runc_with("/linux/namespaces/3/type", "net"));
  EXPECT_EQ(msg.rfind("linux.namespaces[3].type: unknown namespace type 'net'", 0), 0u) << msg;
  EXPECT_NE(msg.find("pid, network, mount, ipc, uts, user, cgroup, time"), std::string::npos)
      << msg;
}

TEST(OciParse, NumbersMustFitTheField) {
  EXPECT_EQ(parse_error(runc_with("/process/user/uid", 1ULL << 40)),
            "process.user.uid: expected an integer in [0, 4294967295], found 1099511627776");
  EXPECT_EQ(parse_error(runc_with("/process/user/gid", -1)),
            "process.user.gid: expected an integer in [0, 4294967295], found -1");
  EXPECT_EQ(parse_error(runc_with("/process/user/additionalGids", json{1, 2.5})),
            "process.user.additionalGids[1]: expected an integer in [0, 4294967295], found 2.5");
  EXPECT_EQ(parse_error(runc_with("/process/rlimits/0/soft", -5)),
            "process.rlimits[0].soft: expected an integer in [0, 18446744073709551615], found -5");
  EXPECT_EQ(parse_error(runc_with("/process/oomScoreAdj", 1LL << 33)),
            "process.oomScoreAdj: expected an integer in [-2147483648, 2147483647], found "
            "8589934592");
  EXPECT_EQ(parse_error(runc_with("/linux/resources/blockIO", json{{"weight", 70000}})),
            "linux.resources.blockIO.weight: expected an integer in [0, 65535], found 70000");
  EXPECT_EQ(parse_error(runc_with("/linux/resources/memory", json{{"limit", 1ULL << 63}})),
            "linux.resources.memory.limit: expected an integer in [-9223372036854775808, "
            "9223372036854775807], found 9223372036854775808");
  // Larger than 64 bits: nlohmann stores it as a float; still a clear range error.
  std::string msg = parse_error(R"({"process": {"cwd": "/", "user": {"uid": 99999999999999999999999}}})");
  EXPECT_EQ(msg.rfind("process.user.uid: expected an integer in [0, 4294967295], found ", 0), 0u)
      << msg;
  // Negative values are fine where the field is signed.
  Spec s = parse_ok(runc_with("/linux/resources/memory", json{{"swap", -1}}));
  EXPECT_EQ(s.linux->resources->memory_swap, -1);
}

TEST(OciParse, RequiredFields) {
  json j = json::parse(kRuncSpec);
  j["process"].erase("cwd");
  EXPECT_EQ(parse_error(j.dump()), "process.cwd: required");
  EXPECT_EQ(parse_error(runc_with("/process/cwd", nullptr)), "process.cwd: required");
  EXPECT_EQ(parse_error(runc_with("/linux/namespaces/0", json::object())),
            "linux.namespaces[0].type: required");
  EXPECT_EQ(parse_error(runc_with("/mounts/1", json{{"type", "tmpfs"}})),
            "mounts[1].destination: required");
  EXPECT_EQ(parse_error(runc_with("/linux/uidMappings", json{{{"containerID", 0}, {"size", 1}}})),
            "linux.uidMappings[0].hostID: required");
  EXPECT_EQ(parse_error(runc_with("/process/rlimits/0", json{{"type", "RLIMIT_CORE"}, {"soft", 1}})),
            "process.rlimits[0].hard: required");
  EXPECT_EQ(parse_error(runc_with("/linux/seccomp", json{{"syscalls", json::array()}})),
            "linux.seccomp.defaultAction: required");
  EXPECT_EQ(parse_error(runc_with("/linux/seccomp",
                                  json{{"defaultAction", "SCMP_ACT_ALLOW"},
                                       {"syscalls", {{{"names", {"kill"}},
                                                      {"action", "SCMP_ACT_ERRNO"},
                                                      {"args", {{{"index", 0}, {"value", 1}}}}}}}})),
            "linux.seccomp.syscalls[0].args[0].op: required");
}

TEST(OciParse, FirstErrorWins) {
  json j = json::parse(kRuncSpec);
  j["process"]["terminal"] = 1;
  j["linux"]["namespaces"][0]["type"] = "bogus";
  EXPECT_EQ(parse_error(j.dump()), "process.terminal: expected a boolean, found number");
}

TEST(OciParse, NamespaceHelpers) {
  EXPECT_STREQ(namespace_type_name(NamespaceType::network), "network");
  EXPECT_STREQ(namespace_type_name(NamespaceType::time), "time");
  EXPECT_EQ(namespace_clone_flag(NamespaceType::mount), 0x00020000);  // CLONE_NEWNS
  EXPECT_EQ(namespace_clone_flag(NamespaceType::user), 0x10000000);   // CLONE_NEWUSER
  EXPECT_EQ(namespace_clone_flag(NamespaceType::time), 0x00000080);   // CLONE_NEWTIME
  EXPECT_EQ(namespace_clone_flag(NamespaceType::pid), 0x20000000);    // CLONE_NEWPID
  Spec s;
  EXPECT_EQ(s.find_namespace(NamespaceType::pid), nullptr);
}

TEST(OciState, ToJson) {
  State st;
  st.id = "web";
  st.status = "running";
  st.pid = 4242;
  st.bundle = "/srv/bundles/web";
  st.annotations["org.example/key"] = "v\"q";
  EXPECT_EQ(state_to_json(st),
            R"({"ociVersion":"1.2.0","id":"web","status":"running","pid":4242,)"
            R"("bundle":"/srv/bundles/web","annotations":{"org.example/key":"v\"q"}})");
  json j = json::parse(state_to_json(st, 2));
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_NE(state_to_json(st, 2).find("\n  \"id\": \"web\""), std::string::npos);

  for (const char* status : {"created", "paused"}) {
    st.status = status;
    EXPECT_EQ(json::parse(state_to_json(st))["pid"], 4242) << status;
  }
  st.status = "stopped";
  EXPECT_FALSE(json::parse(state_to_json(st)).contains("pid"));
  st.status = "created";
  st.pid = 0;
  EXPECT_FALSE(json::parse(state_to_json(st)).contains("pid"));
  st.annotations.clear();
  EXPECT_EQ(json::parse(state_to_json(st))["annotations"], json::object());
}

}  // namespace
}  // namespace bw::oci
