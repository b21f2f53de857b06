// config.json -> bw::oci::Spec. Only types are checked here; meaning is
// checked by validate.cc. Every error names the JSON path of the field.
//
// Like the Go implementations (runc, the spec's own Go types), a field whose
// value is null is treated as absent, and unknown properties are ignored.
// Numbers must be integers that fit the field: 1.5, -1 for an unsigned field
// and 2^40 for a uid are errors, not silently truncated.

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"

namespace bw::oci {

namespace {

using json = nlohmann::json;

std::string child_path(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

Error type_error(const std::string& path, const char* expected, const json& found) {
  return Error{0, strf("%s: expected %s, found %s", path.empty() ? "config.json" : path.c_str(),
                       expected, found.type_name())};
}

// --- scalars ---------------------------------------------------------------

Result<void> conv(const json& v, const std::string& path, std::string& out) {
  if (!v.is_string()) return Unexpected(type_error(path, "a string", v));
  out = v.get_ref<const std::string&>();
  return {};
}

Result<void> conv(const json& v, const std::string& path, bool& out) {
  if (!v.is_boolean()) return Unexpected(type_error(path, "a boolean", v));
  out = v.get<bool>();
  return {};
}

template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
Result<void> conv(const json& v, const std::string& path, T& out) {
  if (!v.is_number()) return Unexpected(type_error(path, "an integer", v));
  bool fits = false;
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    fits = std::in_range<T>(u);
    if (fits) out = static_cast<T>(u);
  } else if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    fits = std::in_range<T>(i);
    if (fits) out = static_cast<T>(i);
  }
  if (fits) return {};
  // Floats (1.5, 1e30, and integers too large for 64 bits) land here too.
  std::string lo = std::is_signed_v<T>
                       ? std::to_string(static_cast<int64_t>(std::numeric_limits<T>::min()))
                       : "0";
  std::string hi = std::to_string(static_cast<uint64_t>(std::numeric_limits<T>::max()));
  return make_error(0, "%s: expected an integer in [%s, %s], found %s", path.c_str(), lo.c_str(),
                    hi.c_str(), v.dump().c_str());
}

Result<void> conv(const json& v, const std::string& path, NamespaceType& out) {
  std::string s;
  BW_RETURN_IF_ERROR(conv(v, path, s));
  static constexpr NamespaceType kAll[] = {
      NamespaceType::pid, NamespaceType::network, NamespaceType::mount, NamespaceType::ipc,
      NamespaceType::uts, NamespaceType::user,    NamespaceType::cgroup, NamespaceType::time};
  std::string valid;
  for (NamespaceType t : kAll) {
    if (s == namespace_type_name(t)) {
      out = t;
      return {};
    }
    valid += valid.empty() ? "" : ", ";
    valid += namespace_type_name(t);
  }
  return make_error(0, "%s: unknown namespace type '%s' (valid types: %s)", path.c_str(),
                    s.c_str(), valid.c_str());
}

// --- structs: declared here so that the container templates below find them.

Result<void> conv(const json& v, const std::string& path, Rlimit& out);
Result<void> conv(const json& v, const std::string& path, Capabilities& out);
Result<void> conv(const json& v, const std::string& path, User& out);
Result<void> conv(const json& v, const std::string& path, ConsoleSize& out);
Result<void> conv(const json& v, const std::string& path, Process& out);
Result<void> conv(const json& v, const std::string& path, Root& out);
Result<void> conv(const json& v, const std::string& path, IdMapping& out);
Result<void> conv(const json& v, const std::string& path, Mount& out);
Result<void> conv(const json& v, const std::string& path, Hook& out);
Result<void> conv(const json& v, const std::string& path, Hooks& out);
Result<void> conv(const json& v, const std::string& path, Namespace& out);
Result<void> conv(const json& v, const std::string& path, Device& out);
Result<void> conv(const json& v, const std::string& path, DeviceCgroupRule& out);
Result<void> conv(const json& v, const std::string& path, ThrottleDevice& out);
Result<void> conv(const json& v, const std::string& path, WeightDevice& out);
Result<void> conv(const json& v, const std::string& path, std::pair<std::string, uint64_t>& out);
Result<void> conv(const json& v, const std::string& path, Resources& out);
Result<void> conv(const json& v, const std::string& path, SeccompArg& out);
Result<void> conv(const json& v, const std::string& path, SeccompSyscall& out);
Result<void> conv(const json& v, const std::string& path, Seccomp& out);
Result<void> conv(const json& v, const std::string& path, TimeOffset& out);
Result<void> conv(const json& v, const std::string& path, Linux& out);

// --- containers ------------------------------------------------------------

// Fills the value in place (a whole Spec is discarded on error anyway); a
// temporary here trips GCC 12's -Wmaybe-uninitialized at -O3.
template <class T>
Result<void> conv(const json& v, const std::string& path, std::optional<T>& out) {
  return conv(v, path, out.emplace());
}

template <class T>
Result<void> conv(const json& v, const std::string& path, std::vector<T>& out) {
  if (!v.is_array()) return Unexpected(type_error(path, "an array", v));
  out.clear();
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    T item{};
    BW_RETURN_IF_ERROR(conv(v[i], index_path(path, i), item));
    out.push_back(std::move(item));
  }
  return {};
}

template <class V>
Result<void> conv(const json& v, const std::string& path, std::map<std::string, V>& out) {
  if (!v.is_object()) return Unexpected(type_error(path, "an object", v));
  out.clear();
  for (const auto& [key, value] : v.items()) {
    V item{};
    BW_RETURN_IF_ERROR(conv(value, child_path(path, key), item));
    out.emplace(key, std::move(item));
  }
  return {};
}

// Reads the fields of one JSON object and keeps the first error, so that a
// struct's converter reads as a list of its fields.
class ObjReader {
 public:
  ObjReader(const json& v, std::string path) : v_(&v), path_(std::move(path)) {
    if (!v.is_object()) err_ = type_error(path_, "an object", v);
  }

  // True when the key is present with a non-null value.
  bool has(const char* key) const {
    if (!ok()) return false;
    auto it = v_->find(key);
    return it != v_->end() && !it->is_null();
  }

  template <class T>
  ObjReader& opt(const char* key, T& out) {
    if (has(key)) absorb(conv((*v_)[key], child_path(path_, key), out));
    return *this;
  }

  template <class T>
  ObjReader& req(const char* key, T& out) {
    if (!ok()) return *this;
    if (!has(key))
      err_ = Error{0, strf("%s: required", child_path(path_, key).c_str())};
    else
      absorb(conv((*v_)[key], child_path(path_, key), out));
    return *this;
  }

  // A reader for a nested object; inert (reads nothing) when the key is absent.
  ObjReader object(const char* key) {
    if (!has(key)) return ObjReader();
    return ObjReader((*v_)[key], child_path(path_, key));
  }

  void absorb(Result<void> r) {
    if (!err_ && !r) err_ = std::move(r).error();
  }

  Result<void> done() {
    if (err_) return Unexpected(std::move(*err_));
    return {};
  }

 private:
  ObjReader() = default;
  bool ok() const { return v_ && !err_; }

  const json* v_ = nullptr;
  std::string path_;
  std::optional<Error> err_;
};

// --- struct converters -----------------------------------------------------

Result<void> conv(const json& v, const std::string& path, Rlimit& out) {
  return ObjReader(v, path).req("type", out.type).req("hard", out.hard).req("soft", out.soft)
      .done();
}

Result<void> conv(const json& v, const std::string& path, Capabilities& out) {
  return ObjReader(v, path)
      .opt("bounding", out.bounding)
      .opt("effective", out.effective)
      .opt("inheritable", out.inheritable)
      .opt("permitted", out.permitted)
      .opt("ambient", out.ambient)
      .done();
}

Result<void> conv(const json& v, const std::string& path, User& out) {
  return ObjReader(v, path)
      .opt("uid", out.uid)
      .opt("gid", out.gid)
      .opt("umask", out.umask)
      .opt("additionalGids", out.additional_gids)
      .opt("username", out.username)
      .done();
}

Result<void> conv(const json& v, const std::string& path, ConsoleSize& out) {
  return ObjReader(v, path).req("height", out.height).req("width", out.width).done();
}

Result<void> conv(const json& v, const std::string& path, Process& out) {
  ObjReader o(v, path);
  o.opt("terminal", out.terminal)
      .opt("consoleSize", out.console_size)
      .opt("user", out.user)
      .opt("args", out.args)
      .opt("commandLine", out.command_line)
      .opt("env", out.env)
      .req("cwd", out.cwd)
      .opt("capabilities", out.capabilities)
      .opt("rlimits", out.rlimits)
      .opt("noNewPrivileges", out.no_new_privileges)
      .opt("apparmorProfile", out.apparmor_profile)
      .opt("oomScoreAdj", out.oom_score_adj)
      .opt("selinuxLabel", out.selinux_label);
  // Not modelled; validation refuses them rather than dropping them.
  out.has_io_priority = o.has("ioPriority");
  out.has_scheduler = o.has("scheduler");
  out.has_exec_cpu_affinity = o.has("execCPUAffinity");
  return o.done();
}

Result<void> conv(const json& v, const std::string& path, Root& out) {
  return ObjReader(v, path).req("path", out.path).opt("readonly", out.readonly).done();
}

Result<void> conv(const json& v, const std::string& path, IdMapping& out) {
  return ObjReader(v, path)
      .req("containerID", out.container_id)
      .req("hostID", out.host_id)
      .req("size", out.size)
      .done();
}

Result<void> conv(const json& v, const std::string& path, Mount& out) {
  return ObjReader(v, path)
      .req("destination", out.destination)
      .opt("type", out.type)
      .opt("source", out.source)
      .opt("options", out.options)
      .opt("uidMappings", out.uid_mappings)
      .opt("gidMappings", out.gid_mappings)
      .done();
}

Result<void> conv(const json& v, const std::string& path, Hook& out) {
  return ObjReader(v, path)
      .req("path", out.path)
      .opt("args", out.args)
      .opt("env", out.env)
      .opt("timeout", out.timeout)
      .done();
}

Result<void> conv(const json& v, const std::string& path, Hooks& out) {
  return ObjReader(v, path)
      .opt("prestart", out.prestart)
      .opt("createRuntime", out.create_runtime)
      .opt("createContainer", out.create_container)
      .opt("startContainer", out.start_container)
      .opt("poststart", out.poststart)
      .opt("poststop", out.poststop)
      .done();
}

Result<void> conv(const json& v, const std::string& path, Namespace& out) {
  return ObjReader(v, path).req("type", out.type).opt("path", out.path).done();
}

Result<void> conv(const json& v, const std::string& path, Device& out) {
  return ObjReader(v, path)
      .req("type", out.type)
      .req("path", out.path)
      .opt("major", out.major)
      .opt("minor", out.minor)
      .opt("fileMode", out.file_mode)
      .opt("uid", out.uid)
      .opt("gid", out.gid)
      .done();
}

Result<void> conv(const json& v, const std::string& path, DeviceCgroupRule& out) {
  return ObjReader(v, path)
      .req("allow", out.allow)
      .opt("type", out.type)
      .opt("major", out.major)
      .opt("minor", out.minor)
      .opt("access", out.access)
      .done();
}

Result<void> conv(const json& v, const std::string& path, ThrottleDevice& out) {
  return ObjReader(v, path)
      .req("major", out.major)
      .req("minor", out.minor)
      .req("rate", out.rate)
      .done();
}

Result<void> conv(const json& v, const std::string& path, WeightDevice& out) {
  return ObjReader(v, path)
      .req("major", out.major)
      .req("minor", out.minor)
      .opt("weight", out.weight)
      .opt("leafWeight", out.leaf_weight)
      .done();
}

// A hugepageLimits entry.
Result<void> conv(const json& v, const std::string& path, std::pair<std::string, uint64_t>& out) {
  return ObjReader(v, path).req("pageSize", out.first).req("limit", out.second).done();
}

Result<void> conv(const json& v, const std::string& path, Resources& out) {
  ObjReader o(v, path);
  o.opt("devices", out.devices);

  ObjReader mem = o.object("memory");
  mem.opt("limit", out.memory_limit)
      .opt("reservation", out.memory_reservation)
      .opt("swap", out.memory_swap)
      .opt("kernel", out.memory_kernel)
      .opt("kernelTCP", out.memory_kernel_tcp)
      .opt("swappiness", out.memory_swappiness)
      .opt("disableOOMKiller", out.memory_disable_oom_killer)
      .opt("useHierarchy", out.memory_use_hierarchy)
      .opt("checkBeforeUpdate", out.memory_check_before_update);
  o.absorb(mem.done());

  ObjReader cpu = o.object("cpu");
  cpu.opt("shares", out.cpu_shares)
      .opt("quota", out.cpu_quota)
      .opt("burst", out.cpu_burst)
      .opt("period", out.cpu_period)
      .opt("realtimeRuntime", out.cpu_realtime_runtime)
      .opt("realtimePeriod", out.cpu_realtime_period)
      .opt("cpus", out.cpu_cpus)
      .opt("mems", out.cpu_mems)
      .opt("idle", out.cpu_idle);
  o.absorb(cpu.done());

  ObjReader pids = o.object("pids");
  pids.opt("limit", out.pids_limit);
  o.absorb(pids.done());

  ObjReader blkio = o.object("blockIO");
  blkio.opt("weight", out.blkio_weight)
      .opt("leafWeight", out.blkio_leaf_weight)
      .opt("weightDevice", out.blkio_weight_device)
      .opt("throttleReadBpsDevice", out.blkio_throttle_read_bps)
      .opt("throttleWriteBpsDevice", out.blkio_throttle_write_bps)
      .opt("throttleReadIOPSDevice", out.blkio_throttle_read_iops)
      .opt("throttleWriteIOPSDevice", out.blkio_throttle_write_iops);
  o.absorb(blkio.done());

  o.opt("hugepageLimits", out.hugepage_limits).opt("unified", out.unified);
  out.has_network = o.has("network");
  out.has_rdma = o.has("rdma");
  return o.done();
}

Result<void> conv(const json& v, const std::string& path, SeccompArg& out) {
  return ObjReader(v, path)
      .req("index", out.index)
      .req("value", out.value)
      .opt("valueTwo", out.value_two)
      .req("op", out.op)
      .done();
}

Result<void> conv(const json& v, const std::string& path, SeccompSyscall& out) {
  return ObjReader(v, path)
      .req("names", out.names)
      .req("action", out.action)
      .opt("errnoRet", out.errno_ret)
      .opt("args", out.args)
      .done();
}

Result<void> conv(const json& v, const std::string& path, Seccomp& out) {
  return ObjReader(v, path)
      .req("defaultAction", out.default_action)
      .opt("defaultErrnoRet", out.default_errno_ret)
      .opt("architectures", out.architectures)
      .opt("flags", out.flags)
      .opt("listenerPath", out.listener_path)
      .opt("listenerMetadata", out.listener_metadata)
      .opt("syscalls", out.syscalls)
      .done();
}

Result<void> conv(const json& v, const std::string& path, TimeOffset& out) {
  return ObjReader(v, path).opt("secs", out.secs).opt("nanosecs", out.nanosecs).done();
}

Result<void> conv(const json& v, const std::string& path, Linux& out) {
  ObjReader o(v, path);
  o.opt("namespaces", out.namespaces)
      .opt("uidMappings", out.uid_mappings)
      .opt("gidMappings", out.gid_mappings)
      .opt("timeOffsets", out.time_offsets)
      .opt("devices", out.devices)
      .opt("cgroupsPath", out.cgroups_path)
      .opt("resources", out.resources)
      .opt("rootfsPropagation", out.rootfs_propagation)
      .opt("seccomp", out.seccomp)
      .opt("sysctl", out.sysctl)
      .opt("maskedPaths", out.masked_paths)
      .opt("readonlyPaths", out.readonly_paths)
      .opt("mountLabel", out.mount_label);
  out.has_intel_rdt = o.has("intelRdt");
  out.has_personality = o.has("personality");
  ObjReader personality = o.object("personality");
  personality.opt("domain", out.personality_domain).opt("flags", out.personality_flags);
  o.absorb(personality.done());
  return o.done();
}

Result<void> conv_spec(const json& v, Spec& out) {
  return ObjReader(v, "")
      .opt("ociVersion", out.oci_version)
      .opt("root", out.root)
      .opt("mounts", out.mounts)
      .opt("process", out.process)
      .opt("hostname", out.hostname)
      .opt("domainname", out.domainname)
      .opt("hooks", out.hooks)
      .opt("annotations", out.annotations)
      .opt("linux", out.linux)
      .done();
}

// nlohmann's message reads "[json.exception.parse_error.101] parse error at
// line 3, column 5: syntax error while parsing ..."; keep the part a person
// needs. Its "last read: '...'" quotes the input raw, which may be binary or
// invalid UTF-8, so such bytes are shown as \xNN.
std::string describe_parse_error(const json::parse_error& e) {
  std::string what;
  for (unsigned char c : std::string_view(e.what())) {
    if (c < 0x20 || c >= 0x7f)
      what += strf("\\x%02x", c);
    else
      what += static_cast<char>(c);
  }
  auto at = what.find(" at line ");
  if (at != std::string::npos) {
    auto colon = what.find(": ", at);
    if (colon != std::string::npos) {
      return strf("at byte %zu (%s): %s", e.byte, what.substr(at + 4, colon - at - 4).c_str(),
                  what.substr(colon + 2).c_str());
    }
  }
  return strf("at byte %zu: %s", e.byte, what.c_str());
}

}  // namespace

Result<Spec> parse_spec(const std::string& json_text) {
  // No exception leaves this function: nlohmann throws on bad input, and
  // std::bad_alloc is possible on huge documents.
  try {
    json doc;
    try {
      doc = json::parse(json_text);
    } catch (const json::parse_error& e) {
      return make_error(0, "config.json is not valid JSON %s", describe_parse_error(e).c_str());
    }
    Spec spec;
    BW_RETURN_IF_ERROR(conv_spec(doc, spec));
    return spec;
  } catch (const std::exception& e) {
    return make_error(0, "config.json: %s", e.what());
  }
}

}  // namespace bw::oci
