#include "sandbox/cgroup2.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "base/file.h"
#include "base/strings.h"
#include "sys/syscalls.h"

namespace bw::sandbox {

namespace {

// Marks the parent directories create() makes, so that remove() takes away
// only those and never a directory someone else made (a systemd slice, a
// directory another tool shares). cgroupfs keeps trusted.* xattrs for root and
// user.* for delegated hierarchies.
constexpr const char* kCreatedXattrs[] = {"trusted.bulwark.created", "user.bulwark.created"};

// How long freeze() waits for cgroup.events to report the new state, and
// remove() for the processes of a killed cgroup to exit.
constexpr int kFreezeTimeoutMs = 2000;
constexpr int kRemoveTimeoutMs = 2000;

int64_t now_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// The number as cgroup v2 wants it, with runc's meaning of the OCI values:
// -1 is "max" (no limit) and 0 is "not set" (nothing written).
std::string limit_value(int64_t v) {
  if (v == -1) return "max";
  if (v == 0) return "";
  return std::to_string(v);
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t j) { return s[j] >= '0' && s[j] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::set<std::string> split_words(std::string_view text) {
  std::set<std::string> out;
  for (auto& w : split(trim(text), ' '))
    if (!w.empty()) out.insert(std::string(trim(w)));
  return out;
}

Result<std::set<std::string>> read_controllers(const std::string& path) {
  BW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return split_words(text);
}

Result<void> write_at(int dirfd, const std::string& dir, const std::string& file,
                      std::string_view value) {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(dirfd, file, O_WRONLY));
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return sys_error("writing '%.*s' to '%s/%s'", static_cast<int>(value.size()), value.data(),
                     dir.c_str(), file.c_str());
  return {};
}

Result<std::vector<pid_t>> parse_pids(const std::string& text, const std::string& where) {
  std::vector<pid_t> pids;
  for (auto& line : split(text, '\n')) {
    if (trim(line).empty()) continue;
    auto v = parse_int(trim(line));
    if (!v || *v <= 0)
      return make_error(EINVAL, "'%s': unexpected line '%s'", where.c_str(), line.c_str());
    pids.push_back(static_cast<pid_t>(*v));
  }
  return pids;
}

Result<std::vector<std::string>> subdirectories(const std::string& dir) {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY));
  DIR* d = ::fdopendir(fd.get());
  if (!d) return sys_error("fdopendir '%s'", dir.c_str());
  (void)fd.release();  // owned by d now
  std::vector<std::string> out;
  while (struct dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (de->d_type == DT_DIR && name != "." && name != "..") out.push_back(dir + "/" + name);
  }
  ::closedir(d);
  return out;
}

// Every process in the cgroup and its descendants (a container with its own
// cgroup namespace may have made sub-cgroups).
Result<std::vector<pid_t>> pids_recursive(const std::string& dir) {
  BW_ASSIGN_OR_RETURN(std::string text, read_file(dir + "/cgroup.procs"));
  BW_ASSIGN_OR_RETURN(std::vector<pid_t> pids, parse_pids(text, dir + "/cgroup.procs"));
  BW_ASSIGN_OR_RETURN(auto subs, subdirectories(dir));
  for (auto& sub : subs) {
    auto more = pids_recursive(sub);
    if (!more) {
      if (more.error().code == ENOENT) continue;  // removed meanwhile
      return Unexpected(more.error());
    }
    pids.insert(pids.end(), more->begin(), more->end());
  }
  return pids;
}

// rmdir, retried while the cgroup's last processes are still exiting (EBUSY).
Result<void> rmdir_retrying(const std::string& dir, int64_t deadline) {
  for (int delay_us = 500;; delay_us = std::min(delay_us * 2, 20000)) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY || now_ms() >= deadline) return sys_error("rmdir '%s'", dir.c_str());
    ::usleep(static_cast<useconds_t>(delay_us));
  }
}

// Removes the sub-cgroups a container made inside its own, deepest first.
Result<void> rmdir_tree(const std::string& dir, int64_t deadline) {
  auto subs = subdirectories(dir);
  if (!subs) {
    if (subs.error().code == ENOENT) return {};
    return Unexpected(subs.error());
  }
  for (auto& sub : *subs) BW_RETURN_IF_ERROR(rmdir_tree(sub, deadline));
  return rmdir_retrying(dir, deadline);
}

bool has_created_marker(const std::string& dir) {
  char v;
  for (const char* name : kCreatedXattrs)
    if (::getxattr(dir.c_str(), name, &v, sizeof v) >= 0) return true;
  return false;
}

void set_created_marker(const std::string& dir) {
  for (const char* name : kCreatedXattrs)
    if (::setxattr(dir.c_str(), name, "1", 1, 0) == 0) return;
  // Without the marker the directory is left behind by remove(): an empty
  // directory is the lesser harm than removing one that is not ours.
}

// Directories create() made, removed again (deepest first) unless dismissed.
class CreatedDirs {
 public:
  ~CreatedDirs() { rollback(); }
  void add(std::string dir) { dirs_.push_back(std::move(dir)); }
  void dismiss() { dirs_.clear(); }
  void rollback() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) (void)::rmdir(it->c_str());
    dirs_.clear();
  }

 private:
  std::vector<std::string> dirs_;
};

std::string field_index(const char* base, size_t i) { return strf("%s[%zu]", base, i); }

Result<void> check_device_rules(const std::vector<oci::DeviceCgroupRule>& rules) {
  // cgroup v2 has no devices.allow/deny files: device rules are enforced by an
  // eBPF program attached to the cgroup, which Bulwark does not build yet.
  // Until it does, rules are accepted only when ignoring them gives up nothing
  // the container's own /dev does not already give:
  //  - "deny all" rules (type "a" or empty, no major/minor): the usual first
  //    rule of runc/podman/docker specs. The container's /dev is a fresh tmpfs
  //    holding only the devices Bulwark creates for it, so it cannot reach
  //    other device nodes. What is lost is the guard against a process that
  //    keeps CAP_MKNOD (and no user namespace) creating a node for a host device.
  //  - allow rules: without a program every access is allowed anyway.
  // A deny rule for a particular device or type would restrict access that
  // the container otherwise has, so it is refused rather than silently dropped.
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& rule = rules[i];
    std::string field = field_index("linux.resources.devices", i);
    if (rule.type != "" && rule.type != "a" && rule.type != "c" && rule.type != "b")
      return make_error(0, "%s.type: expected \"a\", \"c\" or \"b\", found \"%s\"", field.c_str(),
                        rule.type.c_str());
    if (rule.access.find_first_not_of("rwm") != std::string::npos)
      return make_error(0, "%s.access: expected letters of \"rwm\", found \"%s\"", field.c_str(),
                        rule.access.c_str());
    if (rule.allow) continue;
    bool deny_all = (rule.type.empty() || rule.type == "a") && !rule.major && !rule.minor;
    if (!deny_all)
      return make_error(EOPNOTSUPP,
                        "%s: device cgroup rules need an eBPF program, not supported yet (only "
                        "\"deny all\" and allow rules are accepted; this rule denies %s %s:%s)",
                        field.c_str(), rule.type.c_str(),
                        rule.major ? std::to_string(*rule.major).c_str() : "*",
                        rule.minor ? std::to_string(*rule.minor).c_str() : "*");
  }
  return {};
}

Result<void> check_limit(const char* field, const std::optional<int64_t>& v) {
  if (v && *v < -1)
    return make_error(0, "%s: expected -1 (unlimited) or a positive number of bytes, found %lld",
                      field, static_cast<long long>(*v));
  return {};
}

bool valid_page_size(const std::string& s) {
  if (s.size() < 3) return false;
  std::string unit = s.substr(s.size() - 2);
  if (unit != "KB" && unit != "MB" && unit != "GB") return false;
  std::string digits = s.substr(0, s.size() - 2);
  return !digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos;
}

// runc's blkio weight (10-1000) to io.weight (1-10000) conversion.
uint64_t io_weight_from_blkio(uint64_t w) { return 1 + (w - 10) * 9999 / 990; }

Result<void> check_blkio_weight(const std::string& field, uint16_t w) {
  if (w < 10 || w > 1000)
    return make_error(0, "%s: expected a weight from 10 to 1000, found %u", field.c_str(), w);
  return {};
}

Result<void> check_device_numbers(const std::string& field, int64_t major, int64_t minor) {
  if (major < 0 || minor < 0)
    return make_error(0, "%s: expected non-negative major and minor numbers, found %lld:%lld",
                      field.c_str(), static_cast<long long>(major), static_cast<long long>(minor));
  return {};
}

// unified keys that are cgroup core files but no resource settings: writing
// them would move processes, kill, freeze or change our own controller setup.
bool refused_core_file(const std::string& key) {
  return key.rfind("cgroup.", 0) == 0 && key != "cgroup.max.descendants" &&
         key != "cgroup.max.depth" && key != "cgroup.pressure";
}

}  // namespace

Result<std::vector<CgroupWrite>> cgroup2_writes(const oci::Resources& r) {
  std::vector<CgroupWrite> out;
  auto add = [&](std::string field, std::string controller, std::string file, std::string value,
                 bool is_default = false, bool skip_if_missing = false) {
    out.push_back(CgroupWrite{std::move(field), std::move(controller), std::move(file),
                              std::move(value), is_default, skip_if_missing});
  };

  BW_RETURN_IF_ERROR(check_device_rules(r.devices));

  // memory. kernel, kernelTCP, swappiness, disableOOMKiller and useHierarchy
  // have no cgroup v2 counterpart; runc and crun ignore them there too.
  BW_RETURN_IF_ERROR(check_limit("linux.resources.memory.limit", r.memory_limit));
  BW_RETURN_IF_ERROR(check_limit("linux.resources.memory.reservation", r.memory_reservation));
  BW_RETURN_IF_ERROR(check_limit("linux.resources.memory.swap", r.memory_swap));
  int64_t memory = r.memory_limit.value_or(0);
  int64_t swap = r.memory_swap.value_or(0);
  if (std::string v = limit_value(memory); !v.empty())
    add("linux.resources.memory.limit", "memory", "memory.max", v, v == "max");
  if (std::string v = limit_value(r.memory_reservation.value_or(0)); !v.empty())
    add("linux.resources.memory.reservation", "memory", "memory.low", v);
  // OCI's swap is memory+swap (cgroup v1); memory.swap.max is swap alone.
  // This is runc's ConvertMemorySwapToCgroupV2Value.
  int64_t swap_v2 = 0;
  if (memory == -1 && swap == 0) {
    swap_v2 = -1;  // unlimited memory and no swap setting: both unlimited, as on v1
  } else if (swap == -1 || swap == 0) {
    swap_v2 = swap;
  } else if (memory == 0) {
    return make_error(0,
                      "linux.resources.memory.swap: a swap limit needs a memory limit "
                      "(linux.resources.memory.limit)");
  } else if (memory < 0) {
    return make_error(0,
                      "linux.resources.memory.swap: a swap limit (%lld) cannot go with an "
                      "unlimited memory limit",
                      static_cast<long long>(swap));
  } else if (swap < memory) {
    return make_error(0,
                      "linux.resources.memory.swap: memory+swap (%lld) must be at least the memory "
                      "limit (%lld)",
                      static_cast<long long>(swap), static_cast<long long>(memory));
  } else {
    swap_v2 = swap - memory;
  }
  std::string swap_value = limit_value(swap_v2);
  if (swap_value.empty() && swap > 0) swap_value = "0";  // swap == limit: no swap at all
  if (!swap_value.empty())
    add("linux.resources.memory.swap", "memory", "memory.swap.max", swap_value, swap_value == "max",
        swap_value == "max" || swap_value == "0");

  // pids: 0 and negative mean no limit.
  if (r.pids_limit) {
    if (*r.pids_limit <= 0)
      add("linux.resources.pids.limit", "pids", "pids.max", "max", true);
    else
      add("linux.resources.pids.limit", "pids", "pids.max", std::to_string(*r.pids_limit));
  }

  // cpu
  if (r.cpu_shares && *r.cpu_shares != 0) {
    // runc's conversion from shares (2-262144) to weight (1-10000). Out-of-range
    // shares are clamped as the v1 kernel clamps them.
    uint64_t shares = std::clamp<uint64_t>(*r.cpu_shares, 2, 262144);
    add("linux.resources.cpu.shares", "cpu", "cpu.weight",
        std::to_string(1 + ((shares - 2) * 9999) / 262142));
  }
  int64_t quota = r.cpu_quota.value_or(0);
  uint64_t period = r.cpu_period.value_or(0);
  if (quota != 0 || period != 0) {
    std::string v = quota > 0 ? std::to_string(quota) : "max";
    if (period != 0) v += " " + std::to_string(period);
    add(quota != 0 ? "linux.resources.cpu.quota" : "linux.resources.cpu.period", "cpu", "cpu.max",
        v, v == "max");
  }
  if (r.cpu_burst) {
    if (*r.cpu_burst < 0)
      return make_error(
          0,
          "linux.resources.cpu.burst: expected a non-negative number of microseconds, found %lld",
          static_cast<long long>(*r.cpu_burst));
    add("linux.resources.cpu.burst", "cpu", "cpu.max.burst", std::to_string(*r.cpu_burst));
  }
  if (r.cpu_idle) add("linux.resources.cpu.idle", "cpu", "cpu.idle", std::to_string(*r.cpu_idle));
  if (r.cpu_realtime_runtime.value_or(0) != 0)
    return make_error(EOPNOTSUPP,
                      "linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time CPU budget");
  if (r.cpu_realtime_period.value_or(0) != 0)
    return make_error(EOPNOTSUPP,
                      "linux.resources.cpu.realtimePeriod: cgroup v2 has no real-time CPU budget");
  if (!r.cpu_cpus.empty()) add("linux.resources.cpu.cpus", "cpuset", "cpuset.cpus", r.cpu_cpus);
  if (!r.cpu_mems.empty()) add("linux.resources.cpu.mems", "cpuset", "cpuset.mems", r.cpu_mems);

  // block io. leafWeight has no v2 counterpart and is ignored, as runc does.
  if (r.blkio_weight && *r.blkio_weight != 0) {
    BW_RETURN_IF_ERROR(check_blkio_weight("linux.resources.blockIO.weight", *r.blkio_weight));
    add("linux.resources.blockIO.weight", "io", "io.weight",
        std::to_string(io_weight_from_blkio(*r.blkio_weight)));
  }
  for (size_t i = 0; i < r.blkio_weight_device.size(); ++i) {
    const auto& wd = r.blkio_weight_device[i];
    std::string field = field_index("linux.resources.blockIO.weightDevice", i);
    BW_RETURN_IF_ERROR(check_device_numbers(field, wd.major, wd.minor));
    if (!wd.weight) continue;
    BW_RETURN_IF_ERROR(check_blkio_weight(field + ".weight", *wd.weight));
    add(field + ".weight", "io", "io.weight",
        strf("%lld:%lld %llu", static_cast<long long>(wd.major), static_cast<long long>(wd.minor),
             static_cast<unsigned long long>(io_weight_from_blkio(*wd.weight))));
  }
  struct Throttle {
    const char* field;
    const char* key;
    const std::vector<oci::ThrottleDevice>* list;
  };
  for (const Throttle& t : {Throttle{"linux.resources.blockIO.throttleReadBpsDevice", "rbps",
                                     &r.blkio_throttle_read_bps},
                            Throttle{"linux.resources.blockIO.throttleWriteBpsDevice", "wbps",
                                     &r.blkio_throttle_write_bps},
                            Throttle{"linux.resources.blockIO.throttleReadIOPSDevice", "riops",
                                     &r.blkio_throttle_read_iops},
                            Throttle{"linux.resources.blockIO.throttleWriteIOPSDevice", "wiops",
                                     &r.blkio_throttle_write_iops}}) {
    for (size_t i = 0; i < t.list->size(); ++i) {
      const auto& td = (*t.list)[i];
      std::string field = field_index(t.field, i);
      BW_RETURN_IF_ERROR(check_device_numbers(field, td.major, td.minor));
      // A rate of 0 removes the limit on v1; "max" does so on v2.
      std::string rate = td.rate == 0 ? "max" : std::to_string(td.rate);
      add(field, "io", "io.max",
          strf("%lld:%lld %s=%s", static_cast<long long>(td.major),
               static_cast<long long>(td.minor), t.key, rate.c_str()));
    }
  }

  for (size_t i = 0; i < r.hugepage_limits.size(); ++i) {
    const auto& [size, limit] = r.hugepage_limits[i];
    std::string field = field_index("linux.resources.hugepageLimits", i);
    if (!valid_page_size(size))
      return make_error(0, "%s.pageSize: expected a size like \"2MB\" or \"1GB\", found \"%s\"",
                        field.c_str(), size.c_str());
    add(field, "hugetlb", "hugetlb." + size + ".max", std::to_string(limit));
  }

  if (r.has_network)
    return make_error(EOPNOTSUPP,
                      "linux.resources.network: cgroup v2 has no net_cls/net_prio controllers");
  if (r.has_rdma) return make_error(EOPNOTSUPP, "linux.resources.rdma: not supported yet");

  // unified: written as given, after the mapped settings so that it wins.
  for (const auto& [key, value] : r.unified) {
    std::string field = strf("linux.resources.unified[\"%s\"]", key.c_str());
    auto dot = key.find('.');
    if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos ||
        dot == std::string::npos || dot == 0 || dot + 1 == key.size())
      return make_error(0, "%s: expected a cgroup file name like \"memory.high\"", field.c_str());
    std::string controller = key.substr(0, dot);
    if (controller == "cgroup") {
      if (refused_core_file(key))
        return make_error(0, "%s: not a resource setting; Bulwark manages this file itself",
                          field.c_str());
      controller.clear();
    }
    add(field, controller, key, value);
  }
  return out;
}

Result<std::string> cgroup_relative_path(const std::string& id, const std::string& cgroups_path) {
  if (cgroups_path.empty()) {
    if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos)
      return make_error(0, "container id '%s' cannot name a cgroup", id.c_str());
    return "bulwark/" + id;
  }
  if (cgroups_path[0] != '/' && std::count(cgroups_path.begin(), cgroups_path.end(), ':') == 2)
    return make_error(0,
                      "linux.cgroupsPath '%s': systemd-style \"slice:prefix:name\" paths need a "
                      "systemd cgroup driver, which Bulwark does not have; use a path such as "
                      "\"/bulwark/<name>\"",
                      cgroups_path.c_str());
  std::vector<std::string> parts;
  for (auto& part : split(cgroups_path, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == "..")
      return make_error(0, "linux.cgroupsPath '%s': \".\" and \"..\" are not allowed",
                        cgroups_path.c_str());
    parts.push_back(part);
  }
  if (parts.empty())
    return make_error(0, "linux.cgroupsPath '%s': the root cgroup cannot hold a container",
                      cgroups_path.c_str());
  return join(parts, "/");
}

Result<Cgroup2Mount> parse_cgroup2_mount(const std::string& mountinfo) {
  std::vector<std::string> found;
  bool v1 = false;
  for (auto& line : split(mountinfo, '\n')) {
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    auto fields = split(std::string_view(line).substr(0, sep), ' ');
    auto tail = split(std::string_view(line).substr(sep + 3), ' ');
    if (fields.size() < 5 || tail.empty()) continue;
    if (tail[0] == "cgroup") v1 = true;
    if (tail[0] == "cgroup2") found.push_back(unescape_mountinfo(fields[4]));
  }
  if (found.empty()) return make_error(ENOENT, "no cgroup2 filesystem is mounted");
  // Prefer the standard places over, say, a cgroup2 mounted into a container rootfs.
  std::string path = found.front();
  for (const char* preferred : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"})
    if (std::find(found.begin(), found.end(), preferred) != found.end()) path = preferred;
  return Cgroup2Mount{path, v1};
}

Result<std::string> Cgroup::find_mount() {
  BW_ASSIGN_OR_RETURN(std::string mountinfo, read_file("/proc/self/mountinfo"));
  BW_ASSIGN_OR_RETURN(Cgroup2Mount m, parse_cgroup2_mount(mountinfo));
  return m.path;
}

namespace {

// Drops writes whose controller is missing when they only restate the
// default, and refuses the others, before anything is created.
Result<std::set<std::string>> check_controllers(std::vector<CgroupWrite>& writes,
                                                const Cgroup2Mount& mnt) {
  BW_ASSIGN_OR_RETURN(auto available, read_controllers(mnt.path + "/cgroup.controllers"));
  std::set<std::string> needed;
  std::vector<CgroupWrite> kept;
  for (auto& w : writes) {
    if (!w.controller.empty() && !available.count(w.controller)) {
      if (w.is_default) continue;
      return make_error(EOPNOTSUPP, "%s: the %s controller is not available in cgroup2 at %s%s",
                        w.field.c_str(), w.controller.c_str(), mnt.path.c_str(),
                        mnt.hybrid ? " (cgroup v1/v2 hybrid host?)" : "");
    }
    if (!w.controller.empty()) needed.insert(w.controller);
    kept.push_back(std::move(w));
  }
  writes = std::move(kept);
  return needed;
}

// Makes <mount>/<rel>, remembering what it made. A parent that another
// container's remove() takes away between our mkdirs shows up as ENOENT and
// the path is made again.
Result<void> make_path(const std::string& mount, const std::string& rel, CreatedDirs& created) {
  auto parts = split(rel, '/');
  for (int attempt = 0;; ++attempt) {
    std::string dir = mount;
    bool retry = false;
    for (size_t i = 0; i < parts.size(); ++i) {
      bool leaf = i + 1 == parts.size();
      dir += "/" + parts[i];
      if (::mkdir(dir.c_str(), 0755) == 0) {
        created.add(dir);
        if (!leaf) set_created_marker(dir);
        continue;
      }
      if (errno == EEXIST && !leaf) continue;
      if (errno == EEXIST)
        return make_error(EEXIST,
                          "cgroup '%s' already exists (another container with the same "
                          "linux.cgroupsPath, or one that was not deleted?)",
                          dir.c_str());
      if (errno == ENOENT && attempt < 3) {
        retry = true;
        break;
      }
      return sys_error("mkdir '%s'", dir.c_str());
    }
    if (!retry) return {};
    created.rollback();
  }
}

// Enables the controllers in cgroup.subtree_control of every ancestor from the
// mount down to the leaf's parent, as runc does: a controller reaches a cgroup
// only when each ancestor passes it on.
Result<void> enable_controllers(const std::string& mount, const std::string& rel,
                                const std::set<std::string>& needed,
                                const std::vector<CgroupWrite>& writes) {
  if (needed.empty()) return {};
  auto parts = split(rel, '/');
  std::string dir = mount;
  for (size_t i = 0; i < parts.size(); ++i) {
    BW_ASSIGN_OR_RETURN(std::string text, read_file(dir + "/cgroup.subtree_control"));
    auto enabled = split_words(text);
    for (const auto& c : needed) {
      if (enabled.count(c)) continue;
      if (auto r = write_existing(dir + "/cgroup.subtree_control", "+" + c); !r) {
        auto w = std::find_if(writes.begin(), writes.end(),
                              [&](const CgroupWrite& w) { return w.controller == c; });
        return Unexpected(
            r.error().prefix(strf("%s: enabling the %s controller", w->field.c_str(), c.c_str())));
      }
    }
    dir += "/" + parts[i];
  }
  return {};
}

Result<void> apply_writes(int dirfd, const std::string& dir,
                          const std::vector<CgroupWrite>& writes) {
  for (const auto& w : writes) {
    int fd = ::openat(dirfd, w.file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      if (w.skip_if_missing) continue;
      return make_error(EOPNOTSUPP, "%s: '%s/%s' does not exist (not supported by this kernel?)",
                        w.field.c_str(), dir.c_str(), w.file.c_str());
    }
    if (fd < 0) return sys_error("%s: open '%s/%s'", w.field.c_str(), dir.c_str(), w.file.c_str());
    UniqueFd owned(fd);
    ssize_t n;
    do {
      n = ::write(fd, w.value.data(), w.value.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0)
      return sys_error("%s: writing '%s' to '%s/%s'", w.field.c_str(), w.value.c_str(), dir.c_str(),
                       w.file.c_str());
  }
  return {};
}

}  // namespace

Result<Cgroup> Cgroup::create(const std::string& id, const std::string& cgroups_path,
                              const std::optional<oci::Resources>& resources) {
  BW_ASSIGN_OR_RETURN(std::string rel, cgroup_relative_path(id, cgroups_path));
  std::vector<CgroupWrite> writes;
  if (resources) {
    BW_ASSIGN_OR_RETURN(writes, cgroup2_writes(*resources));
  }
  BW_ASSIGN_OR_RETURN(std::string mountinfo, read_file("/proc/self/mountinfo"));
  BW_ASSIGN_OR_RETURN(Cgroup2Mount mnt, parse_cgroup2_mount(mountinfo));
  BW_ASSIGN_OR_RETURN(auto needed, check_controllers(writes, mnt));

  CreatedDirs created;
  BW_RETURN_IF_ERROR(make_path(mnt.path, rel, created));
  BW_RETURN_IF_ERROR(enable_controllers(mnt.path, rel, needed, writes));
  Cgroup cg;
  cg.dir_ = mnt.path + "/" + rel;
  BW_ASSIGN_OR_RETURN(cg.fd_, open_at(AT_FDCWD, cg.dir_, O_PATH | O_DIRECTORY));
  BW_RETURN_IF_ERROR(apply_writes(cg.fd_.get(), cg.dir_, writes));
  created.dismiss();
  return cg;
}

Result<Cgroup> Cgroup::open(const std::string& dir) {
  Cgroup cg;
  BW_ASSIGN_OR_RETURN(cg.fd_, open_at(AT_FDCWD, dir, O_PATH | O_DIRECTORY));
  struct statfs sfs {};
  if (::fstatfs(cg.fd_.get(), &sfs) < 0) return sys_error("statfs '%s'", dir.c_str());
  if (sfs.f_type != CGROUP2_SUPER_MAGIC)
    return make_error(EINVAL, "'%s' is not a cgroup2 directory", dir.c_str());
  cg.dir_ = dir;
  return cg;
}

Result<void> Cgroup::add_process(pid_t pid) const {
  return write_at(fd_.get(), dir_, "cgroup.procs", std::to_string(pid));
}

Result<std::vector<pid_t>> Cgroup::processes() const {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(fd_.get(), "cgroup.procs", O_RDONLY));
  BW_ASSIGN_OR_RETURN(
      std::string text,
      with_context(read_fd(fd.get()), strf("reading '%s/cgroup.procs'", dir_.c_str())));
  return parse_pids(text, dir_ + "/cgroup.procs");
}

namespace {

// The "frozen" value of a cgroup.events fd, read from the start (which also
// re-arms its POLLPRI notification).
Result<bool> read_frozen(int events_fd, const std::string& dir) {
  char buf[256];
  ssize_t n;
  do {
    n = ::pread(events_fd, buf, sizeof buf - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("reading '%s/cgroup.events'", dir.c_str());
  for (auto& line : split(std::string_view(buf, static_cast<size_t>(n)), '\n')) {
    if (line == "frozen 0") return false;
    if (line == "frozen 1") return true;
  }
  return make_error(EINVAL, "'%s/cgroup.events' has no 'frozen' line", dir.c_str());
}

}  // namespace

Result<bool> Cgroup::frozen() const {
  BW_ASSIGN_OR_RETURN(UniqueFd events, open_at(fd_.get(), "cgroup.events", O_RDONLY));
  return read_frozen(events.get(), dir_);
}

Result<void> Cgroup::freeze(bool frozen) const {
  // cgroup.events wakes poll() with POLLPRI when a value in it changes, but
  // the kernel sends at most one such notification per file every 10 ms, so a
  // freeze soon after a thaw would wait for it: the 1 ms poll cap keeps the
  // wait short either way. (inotify has the same limit, and closing an
  // inotify fd waits for an RCU grace period, ~10 ms here.)
  BW_ASSIGN_OR_RETURN(UniqueFd events, open_at(fd_.get(), "cgroup.events", O_RDONLY));
  BW_RETURN_IF_ERROR(read_frozen(events.get(), dir_));  // arm the notification
  BW_RETURN_IF_ERROR(write_at(fd_.get(), dir_, "cgroup.freeze", frozen ? "1" : "0"));
  int64_t deadline = now_ms() + kFreezeTimeoutMs;
  for (;;) {
    BW_ASSIGN_OR_RETURN(bool state, read_frozen(events.get(), dir_));
    if (state == frozen) return {};
    int64_t left = deadline - now_ms();
    if (left <= 0) break;
    struct pollfd p = {events.get(), POLLPRI, 0};
    (void)::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1)));
  }
  // Processes in uninterruptible sleep can hold a freeze off; do not leave the
  // container half-frozen.
  if (frozen) (void)write_at(fd_.get(), dir_, "cgroup.freeze", "0");
  return make_error(ETIMEDOUT, "cgroup '%s' did not become %s within %d ms", dir_.c_str(),
                    frozen ? "frozen" : "thawed", kFreezeTimeoutMs);
}

Result<void> Cgroup::kill_all(int sig) const {
  if (sig == SIGKILL) {
    // cgroup.kill (Linux 5.14) kills the whole subtree atomically, including
    // processes forked while it runs.
    int fd = ::openat(fd_.get(), "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      UniqueFd owned(fd);
      if (::write(fd, "1", 1) < 0)
        return sys_error("writing '1' to '%s/cgroup.kill'", dir_.c_str());
      return {};
    }
    if (errno != ENOENT) return sys_error("open '%s/cgroup.kill'", dir_.c_str());
  }
  // Pin each process with a pidfd, then signal only those still in the cgroup,
  // so that a pid reused by an unrelated process in between is not signalled.
  BW_ASSIGN_OR_RETURN(auto pids, pids_recursive(dir_));
  std::vector<std::pair<pid_t, UniqueFd>> pinned;
  for (pid_t pid : pids) {
    int pfd = sys::pidfd_open(pid, 0);
    if (pfd >= 0) pinned.emplace_back(pid, UniqueFd(pfd));
  }
  BW_ASSIGN_OR_RETURN(auto still, pids_recursive(dir_));
  for (auto& [pid, pfd] : pinned) {
    if (std::find(still.begin(), still.end(), pid) == still.end()) continue;
    if (sys::pidfd_send_signal(pfd.get(), sig, nullptr, 0) < 0 && errno != ESRCH)
      return sys_error("signal %d to pid %d in '%s'", sig, pid, dir_.c_str());
  }
  return {};
}

Result<void> Cgroup::remove() const {
  int64_t deadline = now_ms() + kRemoveTimeoutMs;
  BW_RETURN_IF_ERROR(rmdir_tree(dir_, deadline));
  // Parents that create() made (and marked) go too once they are empty; the
  // first one that is not ours, or not empty, ends the walk.
  for (std::string p = parent_dir(dir_); p != "/" && has_created_marker(p); p = parent_dir(p)) {
    if (::rmdir(p.c_str()) < 0) break;
  }
  return {};
}

}  // namespace bw::sandbox
