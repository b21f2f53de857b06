// Semantic checks of a parsed config.json that need no filesystem access.
// The first problem found is reported, naming the field's JSON path and the
// reason. Anything Bulwark cannot honour is refused here rather than ignored
// later, so a container never starts with part of its config dropped.

#include <algorithm>
#include <string>
#include <string_view>

#include "base/strings.h"
#include "oci/spec.h"

namespace bw::oci {

namespace {

using Check = Result<void>;

template <size_t N>
bool one_of(std::string_view s, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

template <size_t N>
std::string list_text(const std::string_view (&list)[N]) {
  std::string out;
  for (std::string_view s : list) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

constexpr std::string_view kCapabilities[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"};
static_assert(std::size(kCapabilities) == 41);

constexpr std::string_view kRlimits[] = {
    "RLIMIT_CPU",    "RLIMIT_FSIZE",   "RLIMIT_DATA",       "RLIMIT_STACK",
    "RLIMIT_CORE",   "RLIMIT_RSS",     "RLIMIT_NPROC",      "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK", "RLIMIT_AS",     "RLIMIT_LOCKS",      "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO",     "RLIMIT_RTTIME"};

constexpr std::string_view kPropagations[] = {"",      "private", "rprivate",   "slave",
                                              "rslave", "shared", "rshared",    "unbindable",
                                              "runbindable"};

constexpr std::string_view kSeccompActions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};

constexpr std::string_view kSeccompOps[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
                                            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                                            "SCMP_CMP_MASKED_EQ"};

constexpr std::string_view kSeccompArchs[] = {
    "SCMP_ARCH_X86",       "SCMP_ARCH_X86_64",    "SCMP_ARCH_X32",       "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",   "SCMP_ARCH_MIPS",      "SCMP_ARCH_MIPS64",    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",    "SCMP_ARCH_MIPSEL64",  "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",     "SCMP_ARCH_PPC64LE",   "SCMP_ARCH_S390",      "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",    "SCMP_ARCH_PARISC64",  "SCMP_ARCH_RISCV64",   "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",      "SCMP_ARCH_SH",        "SCMP_ARCH_SHEB"};

constexpr std::string_view kSeccompFlags[] = {
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};

// sysctls that belong to the ipc namespace (besides fs.mqueue.*).
constexpr std::string_view kIpcSysctls[] = {
    "kernel.shmmax", "kernel.shmmni", "kernel.shmall", "kernel.shm_rmid_forced",
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem"};

// Largest errno a seccomp filter can return (SECCOMP_RET_DATA is wider, but
// the kernel caps errno returns at MAX_ERRNO).
constexpr uint32_t kMaxErrno = 4095;

bool has_dotdot(std::string_view p) {
  for (const std::string& part : split(p, '/'))
    if (part == "..") return true;
  return false;
}

// An absolute path without ".." components.
Check check_abs_path(const std::string& field, const std::string& p) {
  if (p.empty()) return make_error(0, "%s: required", field.c_str());
  if (p[0] != '/')
    return make_error(0, "%s: must be an absolute path ('%s')", field.c_str(), p.c_str());
  if (has_dotdot(p))
    return make_error(0, "%s: '..' components are not allowed ('%s')", field.c_str(), p.c_str());
  return {};
}

// True when the spec creates a new namespace of this type (no path to join).
bool new_ns(const Spec& s, NamespaceType t) {
  const Namespace* ns = s.find_namespace(t);
  return ns && ns->path.empty();
}

Check check_version(const Spec& s) {
  if (s.oci_version.empty()) return make_error(0, "ociVersion: required");
  // "1.<minor>.<patch>" with an optional "-dev"/"+build" style suffix.
  const std::string& v = s.oci_version;
  size_t end = v.find_first_of("-+");
  std::vector<std::string> parts = split(std::string_view(v).substr(0, end), '.');
  bool ok = parts.size() == 3 && parts[0] == "1" &&
            (parts[1] == "0" || parts[1] == "1" || parts[1] == "2") && !parts[2].empty() &&
            std::all_of(parts[2].begin(), parts[2].end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            (end == std::string::npos || end + 1 < v.size());
  if (!ok)
    return make_error(0, "ociVersion: '%s' is not supported (supported: 1.0.x, 1.1.x, 1.2.x)",
                      v.c_str());
  return {};
}

Check check_root(const Spec& s) {
  if (!s.root) return make_error(0, "root: required");
  if (s.root->path.empty()) return make_error(0, "root.path: must not be empty");
  return {};
}

Check check_capabilities(const Capabilities& caps) {
  const std::pair<const char*, const std::vector<std::string>*> sets[] = {
      {"bounding", &caps.bounding},       {"effective", &caps.effective},
      {"inheritable", &caps.inheritable}, {"permitted", &caps.permitted},
      {"ambient", &caps.ambient}};
  for (const auto& [name, list] : sets) {
    for (size_t i = 0; i < list->size(); ++i) {
      if (!one_of((*list)[i], kCapabilities))
        return make_error(0, "process.capabilities.%s[%zu]: unknown capability '%s'", name, i,
                          (*list)[i].c_str());
    }
  }
  return {};
}

Check check_rlimits(const std::vector<Rlimit>& rlimits) {
  for (size_t i = 0; i < rlimits.size(); ++i) {
    const Rlimit& r = rlimits[i];
    std::string field = at("process.rlimits", i);
    if (!one_of(r.type, kRlimits))
      return make_error(0, "%s.type: unknown resource limit '%s'", field.c_str(), r.type.c_str());
    for (size_t j = 0; j < i; ++j) {
      if (rlimits[j].type == r.type)
        return make_error(0, "%s.type: duplicate %s (also at process.rlimits[%zu])",
                          field.c_str(), r.type.c_str(), j);
    }
    if (r.soft > r.hard)
      return make_error(0, "%s: soft limit %llu exceeds hard limit %llu", field.c_str(),
                        static_cast<unsigned long long>(r.soft),
                        static_cast<unsigned long long>(r.hard));
  }
  return {};
}

Check check_process(const Spec& s) {
  if (!s.process) return make_error(0, "process: required");
  const Process& p = *s.process;
  if (p.args.empty()) return make_error(0, "process.args: must not be empty");
  if (!p.command_line.empty())
    return make_error(0, "process.commandLine: Windows only; use process.args on Linux");
  if (p.cwd.empty() || p.cwd[0] != '/')
    return make_error(0, "process.cwd: must be an absolute path ('%s')", p.cwd.c_str());
  if (p.capabilities) BW_RETURN_IF_ERROR(check_capabilities(*p.capabilities));
  BW_RETURN_IF_ERROR(check_rlimits(p.rlimits));
  if (p.oom_score_adj && (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000))
    return make_error(0, "process.oomScoreAdj: %d is outside [-1000, 1000]", *p.oom_score_adj);
  if (!p.apparmor_profile.empty())
    return make_error(0, "process.apparmorProfile: AppArmor is not supported on this system");
  if (!p.selinux_label.empty())
    return make_error(0, "process.selinuxLabel: SELinux is not supported on this system");
  if (p.has_io_priority) return make_error(0, "process.ioPriority: not supported");
  if (p.has_scheduler) return make_error(0, "process.scheduler: not supported");
  if (p.has_exec_cpu_affinity) return make_error(0, "process.execCPUAffinity: not supported");
  return {};
}

Check check_mounts(const Spec& s) {
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    const Mount& m = s.mounts[i];
    std::string field = at("mounts", i);
    BW_RETURN_IF_ERROR(check_abs_path(field + ".destination", m.destination));
    bool bind = m.type == "bind" || std::any_of(m.options.begin(), m.options.end(), [](auto& o) {
                  return o == "bind" || o == "rbind";
                });
    if (bind && m.source.empty())
      return make_error(0, "%s.source: required for a bind mount", field.c_str());
    if (!m.uid_mappings.empty() || !m.gid_mappings.empty())
      return make_error(0, "%s.%s: idmapped mounts are not supported", field.c_str(),
                        m.uid_mappings.empty() ? "gidMappings" : "uidMappings");
  }
  return {};
}

Check check_hooks(const Spec& s) {
  if (!s.hooks) return {};
  const std::pair<const char*, const std::vector<Hook>*> kinds[] = {
      {"prestart", &s.hooks->prestart},
      {"createRuntime", &s.hooks->create_runtime},
      {"createContainer", &s.hooks->create_container},
      {"startContainer", &s.hooks->start_container},
      {"poststart", &s.hooks->poststart},
      {"poststop", &s.hooks->poststop}};
  for (const auto& [kind, hooks] : kinds) {
    for (size_t i = 0; i < hooks->size(); ++i) {
      const Hook& h = (*hooks)[i];
      std::string field = at(std::string("hooks.") + kind, i);
      if (h.path.empty() || h.path[0] != '/')
        return make_error(0, "%s.path: must be an absolute path ('%s')", field.c_str(),
                          h.path.c_str());
      if (h.timeout && *h.timeout <= 0)
        return make_error(0, "%s.timeout: must be greater than 0 (found %d)", field.c_str(),
                          *h.timeout);
    }
  }
  return {};
}

Check check_namespaces(const Linux& l) {
  for (size_t i = 0; i < l.namespaces.size(); ++i) {
    const Namespace& ns = l.namespaces[i];
    for (size_t j = 0; j < i; ++j) {
      if (l.namespaces[j].type == ns.type)
        return make_error(0, "linux.namespaces[%zu].type: duplicate namespace type '%s' (also at "
                          "linux.namespaces[%zu])", i, namespace_type_name(ns.type), j);
    }
    if (!ns.path.empty() && ns.path[0] != '/')
      return make_error(0, "linux.namespaces[%zu].path: must be an absolute path ('%s')", i,
                        ns.path.c_str());
  }
  return {};
}

Check check_time_offsets(const Spec& s) {
  const Linux& l = *s.linux;
  if (l.time_offsets.empty()) return {};
  const Namespace* ns = s.find_namespace(NamespaceType::time);
  if (!ns) return make_error(0, "linux.timeOffsets: set without a time namespace");
  if (!ns->path.empty())
    return make_error(0, "linux.timeOffsets: cannot be set when joining an existing time "
                      "namespace ('%s')", ns->path.c_str());
  for (const auto& [clock, off] : l.time_offsets) {
    if (clock != "monotonic" && clock != "boottime")
      return make_error(0, "linux.timeOffsets.%s: unknown clock (valid: monotonic, boottime)",
                        clock.c_str());
    if (off.nanosecs >= 1000000000)
      return make_error(0, "linux.timeOffsets.%s.nanosecs: %u is not below 1000000000",
                        clock.c_str(), off.nanosecs);
  }
  return {};
}

Check check_mappings(const std::string& field, const std::vector<IdMapping>& maps) {
  // The kernel accepts at most 340 lines in uid_map/gid_map.
  if (maps.size() > 340)
    return make_error(0, "%s: %zu mappings; the kernel accepts at most 340", field.c_str(),
                      maps.size());
  for (size_t i = 0; i < maps.size(); ++i) {
    const IdMapping& m = maps[i];
    if (m.size == 0) return make_error(0, "%s.size: must be greater than 0", at(field, i).c_str());
    if (uint64_t{m.container_id} + m.size > (uint64_t{1} << 32) ||
        uint64_t{m.host_id} + m.size > (uint64_t{1} << 32))
      return make_error(0, "%s: range exceeds the 32-bit id space", at(field, i).c_str());
    for (size_t j = 0; j < i; ++j) {
      const IdMapping& o = maps[j];
      auto overlap = [&](uint32_t a, uint32_t b) {
        return uint64_t{a} < uint64_t{b} + o.size && uint64_t{b} < uint64_t{a} + m.size;
      };
      if (overlap(m.container_id, o.container_id))
        return make_error(0, "%s: container ids %u-%llu overlap %s", at(field, i).c_str(),
                          m.container_id, 0ULL + m.container_id + m.size - 1, at(field, j).c_str());
      if (overlap(m.host_id, o.host_id))
        return make_error(0, "%s: host ids %u-%llu overlap %s", at(field, i).c_str(), m.host_id,
                          0ULL + m.host_id + m.size - 1, at(field, j).c_str());
    }
  }
  return {};
}

bool is_mapped(uint32_t id, const std::vector<IdMapping>& maps) {
  return std::any_of(maps.begin(), maps.end(), [&](const IdMapping& m) {
    return id >= m.container_id && uint64_t{id} < uint64_t{m.container_id} + m.size;
  });
}

Check check_user_namespace(const Spec& s) {
  const Linux& l = *s.linux;
  const Namespace* userns = s.find_namespace(NamespaceType::user);
  bool has_maps = !l.uid_mappings.empty() || !l.gid_mappings.empty();
  if (!userns) {
    if (has_maps)
      return make_error(0, "linux.%s: set without a user namespace",
                        l.uid_mappings.empty() ? "gidMappings" : "uidMappings");
    return {};
  }
  if (!userns->path.empty()) {
    // The joined namespace already has its mappings; Bulwark cannot change them.
    if (has_maps)
      return make_error(0, "linux.%s: cannot be set when joining an existing user namespace "
                        "('%s')", l.uid_mappings.empty() ? "gidMappings" : "uidMappings",
                        userns->path.c_str());
    return {};
  }
  if (l.uid_mappings.empty())
    return make_error(0, "linux.uidMappings: required when a new user namespace is created");
  if (l.gid_mappings.empty())
    return make_error(0, "linux.gidMappings: required when a new user namespace is created");
  BW_RETURN_IF_ERROR(check_mappings("linux.uidMappings", l.uid_mappings));
  BW_RETURN_IF_ERROR(check_mappings("linux.gidMappings", l.gid_mappings));
  if (!s.process) return {};
  const User& u = s.process->user;
  if (!is_mapped(u.uid, l.uid_mappings))
    return make_error(0, "process.user.uid: %u is not mapped by linux.uidMappings", u.uid);
  if (!is_mapped(u.gid, l.gid_mappings))
    return make_error(0, "process.user.gid: %u is not mapped by linux.gidMappings", u.gid);
  for (size_t i = 0; i < u.additional_gids.size(); ++i) {
    if (!is_mapped(u.additional_gids[i], l.gid_mappings))
      return make_error(0, "process.user.additionalGids[%zu]: %u is not mapped by "
                        "linux.gidMappings", i, u.additional_gids[i]);
  }
  return {};
}

Check check_devices(const Linux& l) {
  for (size_t i = 0; i < l.devices.size(); ++i) {
    const Device& d = l.devices[i];
    std::string field = at("linux.devices", i);
    if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
      return make_error(0, "%s.type: '%s' is not one of c, b, u, p", field.c_str(),
                        d.type.c_str());
    BW_RETURN_IF_ERROR(check_abs_path(field + ".path", d.path));
    if (d.path.size() <= 5 || d.path.compare(0, 5, "/dev/") != 0)
      return make_error(0, "%s.path: must be under /dev ('%s')", field.c_str(), d.path.c_str());
    if (d.major < 0 || d.minor < 0)
      return make_error(0, "%s.%s: must not be negative", field.c_str(),
                        d.major < 0 ? "major" : "minor");
  }
  return {};
}

Check check_resources(const Resources& r) {
  for (size_t i = 0; i < r.devices.size(); ++i) {
    const DeviceCgroupRule& d = r.devices[i];
    std::string field = at("linux.resources.devices", i);
    if (d.type != "" && d.type != "a" && d.type != "c" && d.type != "b")
      return make_error(0, "%s.type: '%s' is not one of a, c, b", field.c_str(), d.type.c_str());
    if (d.access.find_first_not_of("rwm") != std::string::npos)
      return make_error(0, "%s.access: '%s' may only contain r, w, m", field.c_str(),
                        d.access.c_str());
  }
  // cgroup v2 has no net_cls/net_prio controller, and Bulwark does not
  // manage the rdma controller.
  if (r.has_network) return make_error(0, "linux.resources.network: not supported");
  if (r.has_rdma) return make_error(0, "linux.resources.rdma: not supported");
  return {};
}

Check check_sysctl(const Spec& s) {
  for (const auto& [name, value] : s.linux->sysctl) {
    std::string field = "linux.sysctl." + name;
    if (name.empty()) return make_error(0, "linux.sysctl: empty sysctl name");
    if (name.find('/') != std::string::npos || name.find("..") != std::string::npos ||
        name.front() == '.' || name.back() == '.')
      return make_error(0, "%s: invalid sysctl name (no '/', '..' or empty components)",
                        field.c_str());
    NamespaceType needed;
    const char* ns_name;
    if (one_of(name, kIpcSysctls) || name.starts_with("fs.mqueue.")) {
      needed = NamespaceType::ipc;
      ns_name = "ipc";
    } else if (name.starts_with("net.")) {
      needed = NamespaceType::network;
      ns_name = "network";
    } else if (name == "kernel.hostname" || name == "kernel.domainname") {
      needed = NamespaceType::uts;
      ns_name = "uts";
    } else {
      return make_error(0, "%s: not a namespaced sysctl; refusing to change the host",
                        field.c_str());
    }
    // A joined namespace may be the host's, so only a new one is safe to change.
    if (!new_ns(s, needed))
      return make_error(0, "%s: requires a new %s namespace", field.c_str(), ns_name);
  }
  return {};
}

bool errno_action(const std::string& action) {
  return action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE";
}

Check check_seccomp(const Seccomp& sc) {
  const std::string base = "linux.seccomp";
  if (!one_of(sc.default_action, kSeccompActions))
    return make_error(0, "%s.defaultAction: unknown action '%s' (valid: %s)", base.c_str(),
                      sc.default_action.c_str(), list_text(kSeccompActions).c_str());
  bool notify = sc.default_action == "SCMP_ACT_NOTIFY";
  if (sc.default_errno_ret) {
    if (!errno_action(sc.default_action))
      return make_error(0, "%s.defaultErrnoRet: not allowed with defaultAction %s", base.c_str(),
                        sc.default_action.c_str());
    if (*sc.default_errno_ret > kMaxErrno)
      return make_error(0, "%s.defaultErrnoRet: %u is greater than %u", base.c_str(),
                        *sc.default_errno_ret, kMaxErrno);
  }
  for (size_t i = 0; i < sc.architectures.size(); ++i) {
    if (!one_of(sc.architectures[i], kSeccompArchs))
      return make_error(0, "%s.architectures[%zu]: unknown architecture '%s'", base.c_str(), i,
                        sc.architectures[i].c_str());
  }
  for (size_t i = 0; i < sc.flags.size(); ++i) {
    if (!one_of(sc.flags[i], kSeccompFlags))
      return make_error(0, "%s.flags[%zu]: unknown flag '%s' (valid: %s)", base.c_str(), i,
                        sc.flags[i].c_str(), list_text(kSeccompFlags).c_str());
  }
  for (size_t i = 0; i < sc.syscalls.size(); ++i) {
    const SeccompSyscall& call = sc.syscalls[i];
    std::string field = at(base + ".syscalls", i);
    if (call.names.empty()) return make_error(0, "%s.names: must not be empty", field.c_str());
    for (size_t n = 0; n < call.names.size(); ++n) {
      if (call.names[n].empty())
        return make_error(0, "%s.names[%zu]: empty syscall name", field.c_str(), n);
    }
    if (!one_of(call.action, kSeccompActions))
      return make_error(0, "%s.action: unknown action '%s' (valid: %s)", field.c_str(),
                        call.action.c_str(), list_text(kSeccompActions).c_str());
    notify = notify || call.action == "SCMP_ACT_NOTIFY";
    if (call.errno_ret) {
      if (!errno_action(call.action))
        return make_error(0, "%s.errnoRet: not allowed with action %s", field.c_str(),
                          call.action.c_str());
      if (*call.errno_ret > kMaxErrno)
        return make_error(0, "%s.errnoRet: %u is greater than %u", field.c_str(),
                          *call.errno_ret, kMaxErrno);
    }
    for (size_t a = 0; a < call.args.size(); ++a) {
      const SeccompArg& arg = call.args[a];
      std::string afield = at(field + ".args", a);
      if (arg.index > 5)
        return make_error(0, "%s.index: %u is out of range (a syscall has arguments 0-5)",
                          afield.c_str(), arg.index);
      if (!one_of(arg.op, kSeccompOps))
        return make_error(0, "%s.op: unknown operator '%s' (valid: %s)", afield.c_str(),
                          arg.op.c_str(), list_text(kSeccompOps).c_str());
    }
  }
  if (notify && sc.listener_path.empty())
    return make_error(0, "%s.listenerPath: required when SCMP_ACT_NOTIFY is used", base.c_str());
  return {};
}

Check check_linux(const Spec& s) {
  if (!s.linux) return {};
  const Linux& l = *s.linux;
  BW_RETURN_IF_ERROR(check_namespaces(l));
  BW_RETURN_IF_ERROR(check_user_namespace(s));
  BW_RETURN_IF_ERROR(check_time_offsets(s));
  BW_RETURN_IF_ERROR(check_devices(l));
  if (l.resources) BW_RETURN_IF_ERROR(check_resources(*l.resources));
  if (!one_of(l.rootfs_propagation, kPropagations))
    return make_error(0, "linux.rootfsPropagation: unknown propagation '%s' (valid: %s, or empty)",
                      l.rootfs_propagation.c_str(), list_text(kPropagations).c_str());
  BW_RETURN_IF_ERROR(check_sysctl(s));
  for (size_t i = 0; i < l.masked_paths.size(); ++i)
    BW_RETURN_IF_ERROR(check_abs_path(at("linux.maskedPaths", i), l.masked_paths[i]));
  for (size_t i = 0; i < l.readonly_paths.size(); ++i)
    BW_RETURN_IF_ERROR(check_abs_path(at("linux.readonlyPaths", i), l.readonly_paths[i]));
  if (l.seccomp) BW_RETURN_IF_ERROR(check_seccomp(*l.seccomp));
  if (!l.mount_label.empty())
    return make_error(0, "linux.mountLabel: SELinux is not supported on this system");
  if (l.has_intel_rdt) return make_error(0, "linux.intelRdt: not supported");
  if (l.has_personality) {
    if (l.personality_domain != "LINUX")
      return make_error(0, "linux.personality.domain: '%s' is not supported (only LINUX)",
                        l.personality_domain.c_str());
    if (!l.personality_flags.empty())
      return make_error(0, "linux.personality.flags: not supported");
  }
  return {};
}

Check check_uts_names(const Spec& s) {
  if (!s.hostname.empty() && !new_ns(s, NamespaceType::uts))
    return make_error(0, "hostname: requires a new uts namespace in linux.namespaces");
  if (!s.domainname.empty() && !new_ns(s, NamespaceType::uts))
    return make_error(0, "domainname: requires a new uts namespace in linux.namespaces");
  return {};
}

}  // namespace

Result<void> validate_spec(const Spec& spec) {
  BW_RETURN_IF_ERROR(check_version(spec));
  BW_RETURN_IF_ERROR(check_root(spec));
  BW_RETURN_IF_ERROR(check_process(spec));
  BW_RETURN_IF_ERROR(check_mounts(spec));
  BW_RETURN_IF_ERROR(check_hooks(spec));
  BW_RETURN_IF_ERROR(check_uts_names(spec));
  BW_RETURN_IF_ERROR(check_linux(spec));
  return {};
}

std::span<const std::string_view> capability_names() { return kCapabilities; }

}  // namespace bw::oci
