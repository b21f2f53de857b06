// validate_spec and load_spec: each refused config names the field and why.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "oci/spec.h"

namespace bw::oci {
namespace {

using json = nlohmann::json;

// A valid config close to `runc spec` output.
json base_config() {
  return json::parse(R"({
    "ociVersion": "1.2.0",
    "process": {
      "user": {"uid": 0, "gid": 0},
      "args": ["sh"],
      "env": ["PATH=/bin"],
      "cwd": "/",
      "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"]},
      "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    },
    "root": {"path": "rootfs", "readonly": true},
    "hostname": "c",
    "mounts": [
      {"destination": "/proc", "type": "proc", "source": "proc"},
      {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
      {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
      {"destination": "/etc/hosts", "type": "bind", "source": "/tmp/hosts", "options": ["rbind"]}
    ],
    "linux": {
      "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                     {"type": "mount"}, {"type": "cgroup"}],
      "maskedPaths": ["/proc/kcore"],
      "readonlyPaths": ["/proc/sys"]
    }
  })");
}

// base_config with a user namespace mapping container ids 0-65535.
json userns_config() {
  json j = base_config();
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  return j;
}

Result<void> check(const json& j) {
  auto spec = parse_spec(j.dump());
  EXPECT_TRUE(spec.has_value()) << spec.error().text();
  if (!spec) return Unexpected(spec.error());
  return validate_spec(*spec);
}

void expect_valid(const json& j) {
  auto r = check(j);
  EXPECT_TRUE(r.has_value()) << r.error().text() << "\n" << j.dump(2);
}

// The validation error of a config that must be refused.
std::string error_of(const json& j) {
  auto r = check(j);
  EXPECT_FALSE(r.has_value()) << "accepted unexpectedly:\n" << j.dump(2);
  return r ? "" : r.error().message;
}

#define EXPECT_REFUSED(config, expected_message) EXPECT_EQ(error_of(config), expected_message)
#define EXPECT_REFUSED_WITH(config, prefix)                           \
  do {                                                                \
    std::string _msg = error_of(config);                              \
    EXPECT_EQ(_msg.rfind(prefix, 0), 0u) << "message: " << _msg;       \
  } while (0)

json with(json j, const std::string& pointer, const json& value) {
  j[json::json_pointer(pointer)] = value;
  return j;
}

json without(json j, const std::string& pointer) {
  json::json_pointer p(pointer);
  json& parent = j[p.parent_pointer()];
  if (parent.is_array())
    parent.erase(std::stoul(p.back()));
  else
    parent.erase(p.back());
  return j;
}

TEST(OciValidate, BaseConfigsAreValid) {
  expect_valid(base_config());
  expect_valid(userns_config());
}

TEST(OciValidate, OciVersion) {
  for (const char* v : {"1.0.0", "1.0.2-dev", "1.1.0", "1.1.0-rc.1", "1.2.0", "1.2.1+dev", "1.0.10"})
    expect_valid(with(base_config(), "/ociVersion", v));
  for (const char* v : {"2.0.0", "1.3.0", "1.0", "1.0.x", "0.9.0", "1.0.0-", "1.2", "v1.0.0", "1..0"})
    EXPECT_REFUSED(with(base_config(), "/ociVersion", v),
                   std::string("ociVersion: '") + v +
                       "' is not supported (supported: 1.0.x, 1.1.x, 1.2.x)");
  EXPECT_REFUSED(without(base_config(), "/ociVersion"), "ociVersion: required");
}

TEST(OciValidate, RootAndProcess) {
  EXPECT_REFUSED(without(base_config(), "/root"), "root: required");
  EXPECT_REFUSED(with(base_config(), "/root/path", ""), "root.path: must not be empty");
  EXPECT_REFUSED(without(base_config(), "/process"), "process: required");
  EXPECT_REFUSED(with(base_config(), "/process/args", json::array()),
                 "process.args: must not be empty");
  EXPECT_REFUSED(with(base_config(), "/process/commandLine", "sh -c x"),
                 "process.commandLine: Windows only; use process.args on Linux");
  EXPECT_REFUSED(with(base_config(), "/process/cwd", "work"),
                 "process.cwd: must be an absolute path ('work')");
}

TEST(OciValidate, Namespaces) {
  json j = base_config();
  j["linux"]["namespaces"].push_back({{"type", "pid"}, {"path", "/proc/1/ns/pid"}});
  EXPECT_REFUSED(j, "linux.namespaces[6].type: duplicate namespace type 'pid' (also at "
                    "linux.namespaces[0])");
  EXPECT_REFUSED(with(base_config(), "/linux/namespaces/1/path", "run/netns/x"),
                 "linux.namespaces[1].path: must be an absolute path ('run/netns/x')");
  expect_valid(with(base_config(), "/linux/namespaces/1/path", "/run/netns/x"));
}

TEST(OciValidate, TimeNamespace) {
  json offsets = {{"monotonic", {{"secs", 10}}}, {"boottime", {{"secs", -5}, {"nanosecs", 7}}}};
  json j = with(base_config(), "/linux/timeOffsets", offsets);
  EXPECT_REFUSED(j, "linux.timeOffsets: set without a time namespace");
  j["linux"]["namespaces"].push_back({{"type", "time"}});
  expect_valid(j);
  EXPECT_REFUSED(with(j, "/linux/namespaces/6/path", "/proc/7/ns/time"),
                 "linux.timeOffsets: cannot be set when joining an existing time namespace "
                 "('/proc/7/ns/time')");
  EXPECT_REFUSED(with(j, "/linux/timeOffsets/realtime", json{{"secs", 1}}),
                 "linux.timeOffsets.realtime: unknown clock (valid: monotonic, boottime)");
  EXPECT_REFUSED(with(j, "/linux/timeOffsets/monotonic/nanosecs", 1000000000),
                 "linux.timeOffsets.monotonic.nanosecs: 1000000000 is not below 1000000000");
}

TEST(OciValidate, UserNamespaceMappings) {
  EXPECT_REFUSED(without(userns_config(), "/linux/uidMappings"),
                 "linux.uidMappings: required when a new user namespace is created");
  EXPECT_REFUSED(with(userns_config(), "/linux/gidMappings", json::array()),
                 "linux.gidMappings: required when a new user namespace is created");
  EXPECT_REFUSED(without(without(userns_config(), "/linux/namespaces/6"), "/linux/gidMappings"),
                 "linux.uidMappings: set without a user namespace");
  EXPECT_REFUSED(with(userns_config(), "/linux/namespaces/6/path", "/proc/9/ns/user"),
                 "linux.uidMappings: cannot be set when joining an existing user namespace "
                 "('/proc/9/ns/user')");
  // Joining a user namespace: its mappings are the kernel's business.
  json joined = without(without(userns_config(), "/linux/uidMappings"), "/linux/gidMappings");
  joined["linux"]["namespaces"][6]["path"] = "/proc/9/ns/user";
  expect_valid(with(joined, "/process/user/uid", 123456));

  json j = userns_config();
  j["linux"]["uidMappings"].push_back({{"containerID", 65535}, {"hostID", 300000}, {"size", 2}});
  EXPECT_REFUSED(j, "linux.uidMappings[1]: container ids 65535-65536 overlap linux.uidMappings[0]");
  j = userns_config();
  j["linux"]["gidMappings"].push_back({{"containerID", 70000}, {"hostID", 165535}, {"size", 10}});
  EXPECT_REFUSED(j, "linux.gidMappings[1]: host ids 165535-165544 overlap linux.gidMappings[0]");
  EXPECT_REFUSED(with(userns_config(), "/linux/uidMappings/0/size", 0),
                 "linux.uidMappings[0].size: must be greater than 0");
  EXPECT_REFUSED(with(userns_config(), "/linux/uidMappings/0/containerID", 4294967295u),
                 "linux.uidMappings[0]: range exceeds the 32-bit id space");
}

TEST(OciValidate, ProcessUserMustBeMapped) {
  EXPECT_REFUSED(with(userns_config(), "/process/user/uid", 70000),
                 "process.user.uid: 70000 is not mapped by linux.uidMappings");
  json j = with(userns_config(), "/linux/uidMappings/0/size", 1000);
  EXPECT_REFUSED(with(j, "/process/user/uid", 1000),
                 "process.user.uid: 1000 is not mapped by linux.uidMappings");
  expect_valid(with(j, "/process/user/uid", 999));
  EXPECT_REFUSED(with(userns_config(), "/process/user/gid", 65536),
                 "process.user.gid: 65536 is not mapped by linux.gidMappings");
  EXPECT_REFUSED(with(userns_config(), "/process/user/additionalGids", json{5, 100000}),
                 "process.user.additionalGids[1]: 100000 is not mapped by linux.gidMappings");
  // Without a user namespace ids are host ids and need no mapping.
  expect_valid(with(base_config(), "/process/user/uid", 70000));
}

TEST(OciValidate, Mounts) {
  EXPECT_REFUSED(with(base_config(), "/mounts/3/destination", "/a/../../etc"),
                 "mounts[3].destination: '..' components are not allowed ('/a/../../etc')");
  EXPECT_REFUSED(with(base_config(), "/mounts/1/destination", ".."),
                 "mounts[1].destination: must be an absolute path ('..')");
  EXPECT_REFUSED(with(base_config(), "/mounts/2/destination", "sys"),
                 "mounts[2].destination: must be an absolute path ('sys')");
  EXPECT_REFUSED(with(base_config(), "/mounts/2/destination", ""),
                 "mounts[2].destination: required");
  expect_valid(with(base_config(), "/mounts/2/destination", "/a/..b/c.."));  // not components
  EXPECT_REFUSED(without(base_config(), "/mounts/3/source"),
                 "mounts[3].source: required for a bind mount");
  json rbind = {{"destination", "/x"}, {"options", {"rbind", "ro"}}};
  EXPECT_REFUSED(with(base_config(), "/mounts/4", rbind),
                 "mounts[4].source: required for a bind mount");
  json idmapped = {{"containerID", 0}, {"hostID", 1000}, {"size", 1}};
  EXPECT_REFUSED(with(base_config(), "/mounts/3/uidMappings", json{idmapped}),
                 "mounts[3].uidMappings: idmapped mounts are not supported");
  EXPECT_REFUSED(with(base_config(), "/mounts/3/gidMappings", json{idmapped}),
                 "mounts[3].gidMappings: idmapped mounts are not supported");
}

TEST(OciValidate, MaskedAndReadonlyPaths) {
  EXPECT_REFUSED(with(base_config(), "/linux/maskedPaths/1", "proc/kcore"),
                 "linux.maskedPaths[1]: must be an absolute path ('proc/kcore')");
  EXPECT_REFUSED(with(base_config(), "/linux/readonlyPaths/0", "/proc/../etc"),
                 "linux.readonlyPaths[0]: '..' components are not allowed ('/proc/../etc')");
}

TEST(OciValidate, HostnameNeedsNewUtsNamespace) {
  EXPECT_REFUSED(without(base_config(), "/linux/namespaces/3"),
                 "hostname: requires a new uts namespace in linux.namespaces");
  EXPECT_REFUSED(with(base_config(), "/linux/namespaces/3/path", "/proc/1/ns/uts"),
                 "hostname: requires a new uts namespace in linux.namespaces");
  json j = without(without(base_config(), "/hostname"), "/linux/namespaces/3");
  expect_valid(j);
  EXPECT_REFUSED(with(j, "/domainname", "example.org"),
                 "domainname: requires a new uts namespace in linux.namespaces");
}

TEST(OciValidate, Sysctl) {
  auto sysctl = [](const std::string& name, json config = base_config()) {
    config["linux"]["sysctl"][name] = "1";
    return config;
  };
  for (const char* name : {"kernel.shmmax", "kernel.shmmni", "kernel.shmall",
                           "kernel.shm_rmid_forced", "kernel.msgmax", "kernel.msgmnb",
                           "kernel.msgmni", "kernel.sem", "fs.mqueue.msg_max",
                           "net.ipv4.ip_forward", "net.core.somaxconn", "kernel.hostname",
                           "kernel.domainname"})
    expect_valid(sysctl(name));
  EXPECT_REFUSED(sysctl("vm.swappiness"),
                 "linux.sysctl.vm.swappiness: not a namespaced sysctl; refusing to change the host");
  EXPECT_REFUSED(sysctl("kernel.pid_max"),
                 "linux.sysctl.kernel.pid_max: not a namespaced sysctl; refusing to change the host");
  EXPECT_REFUSED(sysctl("net.ipv4.ip_forward", without(base_config(), "/linux/namespaces/1")),
                 "linux.sysctl.net.ipv4.ip_forward: requires a new network namespace");
  EXPECT_REFUSED(sysctl("net.ipv4.ip_forward",
                        with(base_config(), "/linux/namespaces/1/path", "/proc/1/ns/net")),
                 "linux.sysctl.net.ipv4.ip_forward: requires a new network namespace");
  EXPECT_REFUSED(sysctl("kernel.sem", without(base_config(), "/linux/namespaces/2")),
                 "linux.sysctl.kernel.sem: requires a new ipc namespace");
  EXPECT_REFUSED(sysctl("fs.mqueue.queues_max", without(base_config(), "/linux/namespaces/2")),
                 "linux.sysctl.fs.mqueue.queues_max: requires a new ipc namespace");
  EXPECT_REFUSED(sysctl("kernel.hostname",
                        without(without(base_config(), "/hostname"), "/linux/namespaces/3")),
                 "linux.sysctl.kernel.hostname: requires a new uts namespace");
  EXPECT_REFUSED_WITH(sysctl("net/ipv4/ip_forward"), "linux.sysctl.net/ipv4/ip_forward: invalid");
  EXPECT_REFUSED_WITH(sysctl("net..ipv4"), "linux.sysctl.net..ipv4: invalid");
  EXPECT_REFUSED_WITH(sysctl("fs.mqueue.."), "linux.sysctl.fs.mqueue..: invalid");
}

TEST(OciValidate, Capabilities) {
  json all = json::array();
  for (const char* c :
       {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"})
    all.push_back(c);
  ASSERT_EQ(all.size(), 41u);
  json j = base_config();
  for (const char* set : {"bounding", "effective", "inheritable", "permitted", "ambient"})
    j["process"]["capabilities"][set] = all;
  expect_valid(j);
  EXPECT_REFUSED(with(base_config(), "/process/capabilities/bounding/2", "CAP_FOO"),
                 "process.capabilities.bounding[2]: unknown capability 'CAP_FOO'");
  EXPECT_REFUSED(with(base_config(), "/process/capabilities/ambient", json{"CAP_KILL", "kill"}),
                 "process.capabilities.ambient[1]: unknown capability 'kill'");
}

TEST(OciValidate, Rlimits) {
  EXPECT_REFUSED(with(base_config(), "/process/rlimits/0/type", "RLIMIT_FOO"),
                 "process.rlimits[0].type: unknown resource limit 'RLIMIT_FOO'");
  EXPECT_REFUSED(with(base_config(), "/process/rlimits/0/soft", 2048),
                 "process.rlimits[0]: soft limit 2048 exceeds hard limit 1024");
  json j = base_config();
  j["process"]["rlimits"].push_back({{"type", "RLIMIT_CORE"}, {"hard", 0}, {"soft", 0}});
  j["process"]["rlimits"].push_back({{"type", "RLIMIT_NOFILE"}, {"hard", 5}, {"soft", 5}});
  EXPECT_REFUSED(j, "process.rlimits[2].type: duplicate RLIMIT_NOFILE (also at process.rlimits[0])");
}

TEST(OciValidate, OomScoreAdj) {
  expect_valid(with(base_config(), "/process/oomScoreAdj", -1000));
  expect_valid(with(base_config(), "/process/oomScoreAdj", 1000));
  EXPECT_REFUSED(with(base_config(), "/process/oomScoreAdj", 1001),
                 "process.oomScoreAdj: 1001 is outside [-1000, 1000]");
  EXPECT_REFUSED(with(base_config(), "/process/oomScoreAdj", -1001),
                 "process.oomScoreAdj: -1001 is outside [-1000, 1000]");
}

TEST(OciValidate, UnsupportedFeaturesAreRefusedNotDropped) {
  EXPECT_REFUSED(with(base_config(), "/process/apparmorProfile", "docker-default"),
                 "process.apparmorProfile: AppArmor is not supported on this system");
  EXPECT_REFUSED(with(base_config(), "/process/selinuxLabel", "system_u:system_r:svirt_lxc_net_t:s0"),
                 "process.selinuxLabel: SELinux is not supported on this system");
  EXPECT_REFUSED(with(base_config(), "/linux/mountLabel", "system_u:object_r:svirt_sandbox_file_t:s0"),
                 "linux.mountLabel: SELinux is not supported on this system");
  EXPECT_REFUSED(with(base_config(), "/process/ioPriority", json{{"class", "IOPRIO_CLASS_RT"}}),
                 "process.ioPriority: not supported");
  EXPECT_REFUSED(with(base_config(), "/process/scheduler", json{{"policy", "SCHED_FIFO"}}),
                 "process.scheduler: not supported");
  EXPECT_REFUSED(with(base_config(), "/process/execCPUAffinity", json{{"final", "1"}}),
                 "process.execCPUAffinity: not supported");
  EXPECT_REFUSED(with(base_config(), "/linux/intelRdt", json{{"closID", "x"}}),
                 "linux.intelRdt: not supported");
  EXPECT_REFUSED(with(base_config(), "/linux/resources/network", json{{"classID", 1}}),
                 "linux.resources.network: not supported");
  EXPECT_REFUSED(with(base_config(), "/linux/resources/rdma", json::object()),
                 "linux.resources.rdma: not supported");
  expect_valid(with(base_config(), "/linux/personality", json{{"domain", "LINUX"}}));
  EXPECT_REFUSED(with(base_config(), "/linux/personality", json{{"domain", "LINUX32"}}),
                 "linux.personality.domain: 'LINUX32' is not supported (only LINUX)");
  EXPECT_REFUSED(with(base_config(), "/linux/personality",
                      json{{"domain", "LINUX"}, {"flags", {"ADDR_NO_RANDOMIZE"}}}),
                 "linux.personality.flags: not supported");
}

TEST(OciValidate, Devices) {
  json dev = {{"type", "c"}, {"path", "/dev/fuse"}, {"major", 10}, {"minor", 229}};
  json j = with(base_config(), "/linux/devices", json{dev});
  expect_valid(j);
  expect_valid(with(with(j, "/linux/devices/0/type", "p"), "/linux/devices/0/path", "/dev/fifo"));
  EXPECT_REFUSED(with(j, "/linux/devices/0/type", "x"),
                 "linux.devices[0].type: 'x' is not one of c, b, u, p");
  EXPECT_REFUSED(with(j, "/linux/devices/0/path", "dev/fuse"),
                 "linux.devices[0].path: must be an absolute path ('dev/fuse')");
  EXPECT_REFUSED(with(j, "/linux/devices/0/path", "/etc/passwd"),
                 "linux.devices[0].path: must be under /dev ('/etc/passwd')");
  EXPECT_REFUSED(with(j, "/linux/devices/0/path", "/dev/"),
                 "linux.devices[0].path: must be under /dev ('/dev/')");
  EXPECT_REFUSED(with(j, "/linux/devices/0/path", "/dev/../etc/shadow"),
                 "linux.devices[0].path: '..' components are not allowed ('/dev/../etc/shadow')");
  EXPECT_REFUSED(with(j, "/linux/devices/0/minor", -1), "linux.devices[0].minor: must not be negative");
}

TEST(OciValidate, DeviceCgroupRules) {
  json rule = {{"allow", true}, {"type", "z"}, {"access", "rw"}};
  EXPECT_REFUSED(with(base_config(), "/linux/resources/devices", json{rule}),
                 "linux.resources.devices[0].type: 'z' is not one of a, c, b");
  rule["type"] = "c";
  rule["access"] = "rwx";
  EXPECT_REFUSED(with(base_config(), "/linux/resources/devices", json{rule}),
                 "linux.resources.devices[0].access: 'rwx' may only contain r, w, m");
}

TEST(OciValidate, RootfsPropagation) {
  for (const char* p : {"private", "rprivate", "slave", "rslave", "shared", "rshared",
                        "unbindable", "runbindable"})
    expect_valid(with(base_config(), "/linux/rootfsPropagation", p));
  EXPECT_REFUSED_WITH(with(base_config(), "/linux/rootfsPropagation", "rsharedd"),
                      "linux.rootfsPropagation: unknown propagation 'rsharedd'");
}

TEST(OciValidate, Hooks) {
  json hook = {{"path", "/usr/bin/hook"}, {"timeout", 5}};
  json j = with(base_config(), "/hooks/createRuntime", json{hook});
  expect_valid(j);
  EXPECT_REFUSED(with(j, "/hooks/createRuntime/0/path", "hook"),
                 "hooks.createRuntime[0].path: must be an absolute path ('hook')");
  EXPECT_REFUSED(with(j, "/hooks/poststop", json{{{"path", "/x"}, {"timeout", 0}}}),
                 "hooks.poststop[0].timeout: must be greater than 0 (found 0)");
  EXPECT_REFUSED(with(j, "/hooks/prestart", json{hook, {{"path", "/x"}, {"timeout", -3}}}),
                 "hooks.prestart[1].timeout: must be greater than 0 (found -3)");
}

json seccomp_config() {
  json j = base_config();
  j["linux"]["seccomp"] = json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
      {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}
    ]
  })");
  return j;
}

TEST(OciValidate, Seccomp) {
  expect_valid(seccomp_config());
  const std::string sc = "/linux/seccomp";
  EXPECT_REFUSED_WITH(with(seccomp_config(), sc + "/defaultAction", "SCMP_ACT_DENY"),
                      "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_DENY'");
  EXPECT_REFUSED_WITH(with(seccomp_config(), sc + "/syscalls/0/action", "allow"),
                      "linux.seccomp.syscalls[0].action: unknown action 'allow'");
  EXPECT_REFUSED_WITH(with(seccomp_config(), sc + "/syscalls/1/args/0/op", "SCMP_CMP_XOR"),
                      "linux.seccomp.syscalls[1].args[0].op: unknown operator 'SCMP_CMP_XOR'");
  EXPECT_REFUSED(with(seccomp_config(), sc + "/syscalls/1/args/0/index", 6),
                 "linux.seccomp.syscalls[1].args[0].index: 6 is out of range (a syscall has "
                 "arguments 0-5)");
  expect_valid(with(seccomp_config(), sc + "/syscalls/1/args/0/index", 5));
  EXPECT_REFUSED(with(seccomp_config(), sc + "/syscalls/2/errnoRet", 4096),
                 "linux.seccomp.syscalls[2].errnoRet: 4096 is greater than 4095");
  EXPECT_REFUSED(with(seccomp_config(), sc + "/defaultErrnoRet", 5000),
                 "linux.seccomp.defaultErrnoRet: 5000 is greater than 4095");
  EXPECT_REFUSED(with(seccomp_config(), sc + "/syscalls/0/errnoRet", 1),
                 "linux.seccomp.syscalls[0].errnoRet: not allowed with action SCMP_ACT_ALLOW");
  EXPECT_REFUSED(with(with(seccomp_config(), sc + "/defaultAction", "SCMP_ACT_KILL_PROCESS"),
                      sc + "/defaultErrnoRet", 1),
                 "linux.seccomp.defaultErrnoRet: not allowed with defaultAction "
                 "SCMP_ACT_KILL_PROCESS");
  EXPECT_REFUSED(with(seccomp_config(), sc + "/syscalls/0/names", json::array()),
                 "linux.seccomp.syscalls[0].names: must not be empty");
  EXPECT_REFUSED(with(seccomp_config(), sc + "/architectures/1", "SCMP_ARCH_Z80"),
                 "linux.seccomp.architectures[1]: unknown architecture 'SCMP_ARCH_Z80'");
  EXPECT_REFUSED_WITH(with(seccomp_config(), sc + "/flags/0", "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
                      "linux.seccomp.flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'");
  json notify = with(seccomp_config(), sc + "/syscalls/2/action", "SCMP_ACT_NOTIFY");
  notify["linux"]["seccomp"]["syscalls"][2].erase("errnoRet");
  EXPECT_REFUSED(notify, "linux.seccomp.listenerPath: required when SCMP_ACT_NOTIFY is used");
  expect_valid(with(notify, sc + "/listenerPath", "/run/notify.sock"));
}

// --- load_spec --------------------------------------------------------------

class LoadSpec : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bw-oci-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)remove_tree_at(AT_FDCWD, dir_); }
  void write_config(const std::string& text) {
    std::ofstream(dir_ + "/config.json") << text;
  }
  std::string dir_;
};

TEST_F(LoadSpec, LoadsAValidBundle) {
  write_config(base_config().dump(2));
  auto s = load_spec(dir_);
  ASSERT_TRUE(s.has_value()) << s.error().text();
  EXPECT_EQ(s->process->args, std::vector<std::string>{"sh"});
  EXPECT_TRUE(load_spec(dir_ + "/").has_value());
}

TEST_F(LoadSpec, ParseErrorsNameTheFile) {
  write_config(with(base_config(), "/linux/namespaces/0/type", "bogus").dump());
  auto s = load_spec(dir_);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message.rfind(dir_ + "/config.json: linux.namespaces[0].type: unknown "
                                           "namespace type 'bogus'", 0),
            0u)
      << s.error().message;
}

TEST_F(LoadSpec, ValidationErrorsNameTheFile) {
  write_config(with(base_config(), "/mounts/0/destination", "/a/../../etc").dump());
  auto s = load_spec(dir_);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message, dir_ + "/config.json: mounts[0].destination: '..' components "
                                      "are not allowed ('/a/../../etc')");
}

TEST_F(LoadSpec, MissingConfig) {
  auto s = load_spec(dir_);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ENOENT);
  EXPECT_NE(s.error().message.find(dir_ + "/config.json"), std::string::npos) << s.error().text();
}

}  // namespace
}  // namespace bw::oci
