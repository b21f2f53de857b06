// The OCI runtime spec's config.json (v1.0.0 - v1.2.x) as typed values.
// Parsing (parse.cc) turns JSON into these types and reports type errors with
// the JSON path of the field; validation (validate.cc) checks meaning (a
// namespace type Bulwark knows, absolute mount destinations without "..",
// mapped uids, ...). Unknown properties are ignored, as the spec requires.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bw::oci {

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t hard = 0;
  uint64_t soft = 0;

  bool operator==(const Rlimit&) const = default;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;

  bool operator==(const Capabilities&) const = default;
};

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
  std::string username;  // Windows only in the spec; kept for completeness

  bool operator==(const User&) const = default;
};

struct ConsoleSize {
  uint32_t height = 0;
  uint32_t width = 0;

  bool operator==(const ConsoleSize&) const = default;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::string command_line;  // Windows only; refused on Linux when set
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;
  std::optional<int> oom_score_adj;
  std::string selinux_label;
  // v1.2 additions; refused when set because Bulwark cannot honour them yet.
  bool has_io_priority = false;
  bool has_scheduler = false;
  bool has_exec_cpu_affinity = false;

  bool operator==(const Process&) const = default;
};

struct Root {
  std::string path;  // relative to the bundle, or absolute
  bool readonly = false;

  bool operator==(const Root&) const = default;
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;

  bool operator==(const IdMapping&) const = default;
};

struct Mount {
  std::string destination;  // absolute path inside the container
  std::string type;         // "" for bind mounts
  std::string source;
  std::vector<std::string> options;
  std::vector<IdMapping> uid_mappings, gid_mappings;  // idmapped mounts (v1.1)

  bool operator==(const Mount&) const = default;
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0

  bool operator==(const Hook&) const = default;
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;

  bool operator==(const Hooks&) const = default;
};

enum class NamespaceType { pid, network, mount, ipc, uts, user, cgroup, time };

struct Namespace {
  NamespaceType type;
  std::string path;  // empty: create a new namespace; else join this one

  bool operator==(const Namespace&) const = default;
};

struct Device {
  std::string type;  // "c", "b", "u", "p"
  std::string path;
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;

  bool operator==(const Device&) const = default;
};

struct DeviceCgroupRule {
  bool allow = false;
  std::string type;  // "a", "c", "b" ("" = all)
  std::optional<int64_t> major, minor;
  std::string access;  // subset of "rwm"

  bool operator==(const DeviceCgroupRule&) const = default;
};

struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;

  bool operator==(const ThrottleDevice&) const = default;
};
struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leaf_weight;

  bool operator==(const WeightDevice&) const = default;
};

struct Resources {
  std::vector<DeviceCgroupRule> devices;
  // memory
  std::optional<int64_t> memory_limit, memory_reservation, memory_swap, memory_kernel,
      memory_kernel_tcp;
  std::optional<uint64_t> memory_swappiness;
  std::optional<bool> memory_disable_oom_killer, memory_use_hierarchy;
  bool memory_check_before_update = false;
  // cpu
  std::optional<uint64_t> cpu_shares, cpu_period, cpu_realtime_period;
  std::optional<int64_t> cpu_quota, cpu_realtime_runtime, cpu_idle, cpu_burst;
  std::string cpu_cpus, cpu_mems;
  // pids
  std::optional<int64_t> pids_limit;
  // block io
  std::optional<uint16_t> blkio_weight, blkio_leaf_weight;
  std::vector<WeightDevice> blkio_weight_device;
  std::vector<ThrottleDevice> blkio_throttle_read_bps, blkio_throttle_write_bps,
      blkio_throttle_read_iops, blkio_throttle_write_iops;
  // others
  std::vector<std::pair<std::string, uint64_t>> hugepage_limits;  // pageSize, limit
  bool has_network = false;
  bool has_rdma = false;
  std::map<std::string, std::string> unified;

  bool operator==(const Resources&) const = default;
};

struct SeccompArg {
  uint32_t index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // "SCMP_CMP_EQ", ...

  bool operator==(const SeccompArg&) const = default;
};

struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;  // "SCMP_ACT_ALLOW", ...
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;

  bool operator==(const SeccompSyscall&) const = default;
};

struct Seccomp {
  std::string default_action;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<std::string> flags;
  std::string listener_path;
  std::string listener_metadata;
  std::vector<SeccompSyscall> syscalls;

  bool operator==(const Seccomp&) const = default;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;

  bool operator==(const TimeOffset&) const = default;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, TimeOffset> time_offsets;  // "monotonic", "boottime"
  std::vector<Device> devices;
  std::string cgroups_path;
  std::optional<Resources> resources;
  std::string rootfs_propagation;  // "", "private", "rprivate", "slave", ...
  std::optional<Seccomp> seccomp;
  std::map<std::string, std::string> sysctl;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::string mount_label;
  // Present in the config and not supported: refused with a clear error.
  bool has_intel_rdt = false;
  bool has_personality = false;
  std::string personality_domain;  // "LINUX" or "LINUX32"
  std::vector<std::string> personality_flags;  // kept so that none is silently dropped

  bool operator==(const Linux&) const = default;
};

struct Spec {
  std::string oci_version;
  std::optional<Root> root;
  std::vector<Mount> mounts;
  std::optional<Process> process;
  std::string hostname;
  std::string domainname;
  std::optional<Hooks> hooks;
  std::map<std::string, std::string> annotations;
  std::optional<Linux> linux;

  const Namespace* find_namespace(NamespaceType t) const;

  bool operator==(const Spec&) const = default;
};

const char* namespace_type_name(NamespaceType t);
// Every Linux capability name ("CAP_CHOWN" ... "CAP_CHECKPOINT_RESTORE"),
// the set validation accepts and `features` reports.
std::span<const std::string_view> capability_names();
// CLONE_NEW* flag of a namespace type.
int namespace_clone_flag(NamespaceType t);

// Parses config.json text; errors name the JSON path: "linux.namespaces[2].type: ...".
Result<Spec> parse_spec(const std::string& json_text);
// Semantic checks that need no filesystem access.
Result<void> validate_spec(const Spec& spec);
// Reads <bundle>/config.json, parses and validates it. Errors are prefixed
// with the file path.
Result<Spec> load_spec(const std::string& bundle_dir);

// Serialises a Spec back to JSON (used by `spec` and for the copy kept in the
// state directory). Round-trips everything parse_spec reads.
std::string spec_to_json(const Spec& spec);

}  // namespace bw::oci
