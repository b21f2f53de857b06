// Namespace helpers, loading a bundle's config.json, and serialising a Spec
// back to JSON.

#include "oci/spec.h"

#include <sched.h>

#include <nlohmann/json.hpp>

#include "base/file.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080  // Linux 5.6; older libc headers lack it
#endif

namespace bw::oci {

const Namespace* Spec::find_namespace(NamespaceType t) const {
  if (!linux) return nullptr;
  for (const Namespace& ns : linux->namespaces)
    if (ns.type == t) return &ns;
  return nullptr;
}

const char* namespace_type_name(NamespaceType t) {
  switch (t) {
    case NamespaceType::pid: return "pid";
    case NamespaceType::network: return "network";
    case NamespaceType::mount: return "mount";
    case NamespaceType::ipc: return "ipc";
    case NamespaceType::uts: return "uts";
    case NamespaceType::user: return "user";
    case NamespaceType::cgroup: return "cgroup";
    case NamespaceType::time: return "time";
  }
  return "unknown";
}

int namespace_clone_flag(NamespaceType t) {
  switch (t) {
    case NamespaceType::pid: return CLONE_NEWPID;
    case NamespaceType::network: return CLONE_NEWNET;
    case NamespaceType::mount: return CLONE_NEWNS;
    case NamespaceType::ipc: return CLONE_NEWIPC;
    case NamespaceType::uts: return CLONE_NEWUTS;
    case NamespaceType::user: return CLONE_NEWUSER;
    case NamespaceType::cgroup: return CLONE_NEWCGROUP;
    case NamespaceType::time: return CLONE_NEWTIME;
  }
  return 0;
}

Result<Spec> load_spec(const std::string& bundle_dir) {
  const std::string dir = bundle_dir.empty() ? std::string(".") : bundle_dir;
  const std::string path = dir + (dir.ends_with('/') ? "config.json" : "/config.json");
  // read_file's errors already name the path.
  BW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  BW_ASSIGN_OR_RETURN(Spec spec, with_context(parse_spec(text), path));
  BW_RETURN_IF_ERROR(with_context(validate_spec(spec), path));
  return spec;
}

// --- serialisation ---------------------------------------------------------
//
// Optional values are written only when set and lists only when non-empty, so
// that parse_spec(spec_to_json(s)) == s. An ordered_json keeps the familiar
// key order of `runc spec`.

namespace {

using ojson = nlohmann::ordered_json;

template <class T>
void put_opt(ojson& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
void put_str(ojson& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}
template <class T>
void put_list(ojson& j, const char* key, const std::vector<T>& v) {
  if (!v.empty()) j[key] = v;
}
template <class V>
void put_map(ojson& j, const char* key, const std::map<std::string, V>& v) {
  if (!v.empty()) j[key] = v;
}

ojson to_json(const IdMapping& m) {
  return ojson{{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}};
}

ojson to_json(const std::vector<IdMapping>& v) {
  ojson a = ojson::array();
  for (const IdMapping& m : v) a.push_back(to_json(m));
  return a;
}

ojson to_json(const Process& p) {
  ojson j;
  j["terminal"] = p.terminal;
  if (p.console_size)
    j["consoleSize"] = {{"height", p.console_size->height}, {"width", p.console_size->width}};
  ojson user{{"uid", p.user.uid}, {"gid", p.user.gid}};
  put_opt(user, "umask", p.user.umask);
  put_list(user, "additionalGids", p.user.additional_gids);
  put_str(user, "username", p.user.username);
  j["user"] = std::move(user);
  j["args"] = p.args;
  put_str(j, "commandLine", p.command_line);
  j["env"] = p.env;
  j["cwd"] = p.cwd;
  if (p.capabilities) {
    j["capabilities"] = {{"bounding", p.capabilities->bounding},
                         {"effective", p.capabilities->effective},
                         {"inheritable", p.capabilities->inheritable},
                         {"permitted", p.capabilities->permitted},
                         {"ambient", p.capabilities->ambient}};
  }
  if (!p.rlimits.empty()) {
    ojson a = ojson::array();
    for (const Rlimit& r : p.rlimits)
      a.push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
    j["rlimits"] = std::move(a);
  }
  if (p.no_new_privileges) j["noNewPrivileges"] = true;
  put_str(j, "apparmorProfile", p.apparmor_profile);
  put_opt(j, "oomScoreAdj", p.oom_score_adj);
  put_str(j, "selinuxLabel", p.selinux_label);
  // Their contents are not modelled (validation refuses them); an empty
  // object keeps the fact that they were asked for.
  if (p.has_io_priority) j["ioPriority"] = ojson::object();
  if (p.has_scheduler) j["scheduler"] = ojson::object();
  if (p.has_exec_cpu_affinity) j["execCPUAffinity"] = ojson::object();
  return j;
}

ojson to_json(const Mount& m) {
  ojson j{{"destination", m.destination}};
  put_str(j, "type", m.type);
  put_str(j, "source", m.source);
  put_list(j, "options", m.options);
  if (!m.uid_mappings.empty()) j["uidMappings"] = to_json(m.uid_mappings);
  if (!m.gid_mappings.empty()) j["gidMappings"] = to_json(m.gid_mappings);
  return j;
}

ojson to_json(const std::vector<Hook>& hooks) {
  ojson a = ojson::array();
  for (const Hook& h : hooks) {
    ojson j{{"path", h.path}};
    put_list(j, "args", h.args);
    put_list(j, "env", h.env);
    put_opt(j, "timeout", h.timeout);
    a.push_back(std::move(j));
  }
  return a;
}

ojson to_json(const Hooks& h) {
  ojson j = ojson::object();
  auto put = [&](const char* key, const std::vector<Hook>& v) {
    if (!v.empty()) j[key] = to_json(v);
  };
  put("prestart", h.prestart);
  put("createRuntime", h.create_runtime);
  put("createContainer", h.create_container);
  put("startContainer", h.start_container);
  put("poststart", h.poststart);
  put("poststop", h.poststop);
  return j;
}

ojson to_json(const std::vector<ThrottleDevice>& v) {
  ojson a = ojson::array();
  for (const ThrottleDevice& d : v)
    a.push_back({{"major", d.major}, {"minor", d.minor}, {"rate", d.rate}});
  return a;
}

ojson to_json(const Resources& r) {
  ojson j = ojson::object();
  if (!r.devices.empty()) {
    ojson a = ojson::array();
    for (const DeviceCgroupRule& d : r.devices) {
      ojson rule{{"allow", d.allow}};
      put_str(rule, "type", d.type);
      put_opt(rule, "major", d.major);
      put_opt(rule, "minor", d.minor);
      put_str(rule, "access", d.access);
      a.push_back(std::move(rule));
    }
    j["devices"] = std::move(a);
  }
  ojson mem = ojson::object();
  put_opt(mem, "limit", r.memory_limit);
  put_opt(mem, "reservation", r.memory_reservation);
  put_opt(mem, "swap", r.memory_swap);
  put_opt(mem, "kernel", r.memory_kernel);
  put_opt(mem, "kernelTCP", r.memory_kernel_tcp);
  put_opt(mem, "swappiness", r.memory_swappiness);
  put_opt(mem, "disableOOMKiller", r.memory_disable_oom_killer);
  put_opt(mem, "useHierarchy", r.memory_use_hierarchy);
  if (r.memory_check_before_update) mem["checkBeforeUpdate"] = true;
  if (!mem.empty()) j["memory"] = std::move(mem);

  ojson cpu = ojson::object();
  put_opt(cpu, "shares", r.cpu_shares);
  put_opt(cpu, "quota", r.cpu_quota);
  put_opt(cpu, "burst", r.cpu_burst);
  put_opt(cpu, "period", r.cpu_period);
  put_opt(cpu, "realtimeRuntime", r.cpu_realtime_runtime);
  put_opt(cpu, "realtimePeriod", r.cpu_realtime_period);
  put_str(cpu, "cpus", r.cpu_cpus);
  put_str(cpu, "mems", r.cpu_mems);
  put_opt(cpu, "idle", r.cpu_idle);
  if (!cpu.empty()) j["cpu"] = std::move(cpu);

  if (r.pids_limit) j["pids"] = {{"limit", *r.pids_limit}};

  ojson blkio = ojson::object();
  put_opt(blkio, "weight", r.blkio_weight);
  put_opt(blkio, "leafWeight", r.blkio_leaf_weight);
  if (!r.blkio_weight_device.empty()) {
    ojson a = ojson::array();
    for (const WeightDevice& d : r.blkio_weight_device) {
      ojson w{{"major", d.major}, {"minor", d.minor}};
      put_opt(w, "weight", d.weight);
      put_opt(w, "leafWeight", d.leaf_weight);
      a.push_back(std::move(w));
    }
    blkio["weightDevice"] = std::move(a);
  }
  auto put_throttle = [&](const char* key, const std::vector<ThrottleDevice>& v) {
    if (!v.empty()) blkio[key] = to_json(v);
  };
  put_throttle("throttleReadBpsDevice", r.blkio_throttle_read_bps);
  put_throttle("throttleWriteBpsDevice", r.blkio_throttle_write_bps);
  put_throttle("throttleReadIOPSDevice", r.blkio_throttle_read_iops);
  put_throttle("throttleWriteIOPSDevice", r.blkio_throttle_write_iops);
  if (!blkio.empty()) j["blockIO"] = std::move(blkio);

  if (!r.hugepage_limits.empty()) {
    ojson a = ojson::array();
    for (const auto& [size, limit] : r.hugepage_limits)
      a.push_back({{"pageSize", size}, {"limit", limit}});
    j["hugepageLimits"] = std::move(a);
  }
  if (r.has_network) j["network"] = ojson::object();
  if (r.has_rdma) j["rdma"] = ojson::object();
  put_map(j, "unified", r.unified);
  return j;
}

ojson to_json(const Seccomp& s) {
  ojson j{{"defaultAction", s.default_action}};
  put_opt(j, "defaultErrnoRet", s.default_errno_ret);
  put_list(j, "architectures", s.architectures);
  put_list(j, "flags", s.flags);
  put_str(j, "listenerPath", s.listener_path);
  put_str(j, "listenerMetadata", s.listener_metadata);
  if (!s.syscalls.empty()) {
    ojson a = ojson::array();
    for (const SeccompSyscall& sc : s.syscalls) {
      ojson c{{"names", sc.names}, {"action", sc.action}};
      put_opt(c, "errnoRet", sc.errno_ret);
      if (!sc.args.empty()) {
        ojson args = ojson::array();
        for (const SeccompArg& arg : sc.args) {
          args.push_back({{"index", arg.index},
                          {"value", arg.value},
                          {"valueTwo", arg.value_two},
                          {"op", arg.op}});
        }
        c["args"] = std::move(args);
      }
      a.push_back(std::move(c));
    }
    j["syscalls"] = std::move(a);
  }
  return j;
}

ojson to_json(const Linux& l) {
  ojson j = ojson::object();
  if (!l.namespaces.empty()) {
    ojson a = ojson::array();
    for (const Namespace& ns : l.namespaces) {
      ojson n{{"type", namespace_type_name(ns.type)}};
      put_str(n, "path", ns.path);
      a.push_back(std::move(n));
    }
    j["namespaces"] = std::move(a);
  }
  if (!l.uid_mappings.empty()) j["uidMappings"] = to_json(l.uid_mappings);
  if (!l.gid_mappings.empty()) j["gidMappings"] = to_json(l.gid_mappings);
  if (!l.time_offsets.empty()) {
    ojson offsets = ojson::object();
    for (const auto& [clock, off] : l.time_offsets)
      offsets[clock] = {{"secs", off.secs}, {"nanosecs", off.nanosecs}};
    j["timeOffsets"] = std::move(offsets);
  }
  if (!l.devices.empty()) {
    ojson a = ojson::array();
    for (const Device& d : l.devices) {
      ojson dev{{"path", d.path}, {"type", d.type}, {"major", d.major}, {"minor", d.minor}};
      put_opt(dev, "fileMode", d.file_mode);
      put_opt(dev, "uid", d.uid);
      put_opt(dev, "gid", d.gid);
      a.push_back(std::move(dev));
    }
    j["devices"] = std::move(a);
  }
  put_str(j, "cgroupsPath", l.cgroups_path);
  if (l.resources) j["resources"] = to_json(*l.resources);
  put_str(j, "rootfsPropagation", l.rootfs_propagation);
  if (l.seccomp) j["seccomp"] = to_json(*l.seccomp);
  put_map(j, "sysctl", l.sysctl);
  put_list(j, "maskedPaths", l.masked_paths);
  put_list(j, "readonlyPaths", l.readonly_paths);
  put_str(j, "mountLabel", l.mount_label);
  if (l.has_intel_rdt) j["intelRdt"] = ojson::object();
  if (l.has_personality) {
    ojson p = ojson::object();
    put_str(p, "domain", l.personality_domain);
    put_list(p, "flags", l.personality_flags);
    j["personality"] = std::move(p);
  }
  return j;
}

}  // namespace

std::string spec_to_json(const Spec& spec) {
  ojson j;
  j["ociVersion"] = spec.oci_version;
  if (spec.process) j["process"] = to_json(*spec.process);
  if (spec.root) j["root"] = {{"path", spec.root->path}, {"readonly", spec.root->readonly}};
  put_str(j, "hostname", spec.hostname);
  put_str(j, "domainname", spec.domainname);
  if (!spec.mounts.empty()) {
    ojson a = ojson::array();
    for (const Mount& m : spec.mounts) a.push_back(to_json(m));
    j["mounts"] = std::move(a);
  }
  if (spec.hooks) j["hooks"] = to_json(*spec.hooks);
  put_map(j, "annotations", spec.annotations);
  if (spec.linux) j["linux"] = to_json(*spec.linux);
  // A Spec built in code may hold invalid UTF-8; replace it rather than throw.
  return j.dump(2, ' ', false, ojson::error_handler_t::replace);
}

}  // namespace bw::oci
