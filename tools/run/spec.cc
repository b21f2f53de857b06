// `spec`: writes a starting config.json, restricted by default: read-only
// root, new pid/network/ipc/uts/mount/cgroup namespaces, three capabilities,
// no_new_privs, and Bulwark's default seccomp profile.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "default_seccomp.h"
#include "run/args.h"

namespace bw::run {

namespace {

nlohmann::json default_config(bool rootless) {
  using nlohmann::json;
  json caps = json::array({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
  json namespaces = json::array({{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}},
                                 {{"type", "uts"}}, {{"type", "mount"}}, {{"type", "cgroup"}}});
  json cfg = {
      {"ociVersion", "1.2.0"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", json::array({"sh"})},
        {"env", json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"})},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "bulwark"},
      {"mounts",
       json::array({
           {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
           {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
            {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
           {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
            {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
           {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
            {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
           {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"},
            {"options", {"nosuid", "noexec", "nodev"}}},
           {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"},
            {"options", {"nosuid", "noexec", "nodev", "ro"}}},
           {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup2"}, {"source", "cgroup"},
            {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
           {{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"},
            {"options", {"nosuid", "nodev", "mode=1777"}}},
       })},
      {"linux",
       {{"namespaces", namespaces},
        {"maskedPaths", {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                         "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                         "/proc/scsi", "/sys/devices/virtual/powercap"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
        {"seccomp", json::parse(kDefaultSeccompProfile)}}},
  };
  if (rootless) {
    cfg["linux"]["namespaces"].push_back({{"type", "user"}});
    cfg["linux"]["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", getuid()}, {"size", 1}}});
    cfg["linux"]["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", getgid()}, {"size", 1}}});
  }
  return cfg;
}

}  // namespace

int cmd_spec(const Globals&, const std::vector<std::string>& words) {
  auto a = parse_args(words, {{"bundle", "b", true}, {"rootless", "", false}}, false);
  if (!a) return fail(a.error().prefix("spec"));
  std::string path = a->get("bundle", ".") + "/config.json";
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return fail(Error{EEXIST, "spec: '" + path + "' already exists"});
  if (auto r = write_file_atomic(path, default_config(a->has("rootless")).dump(2) + "\n"); !r)
    return fail(r.error().prefix("spec"));
  return 0;
}

}  // namespace bw::run
