// cgroup v2: where a container's processes live, its resource limits, freezing
// and killing. Bulwark targets pure cgroup v2; on a host where cgroup2 has no
// controllers (hybrid hosts), a config that asks for limits gets a clear error
// while everything that needs no controller (placement, freeze, kill, listing)
// still works.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"

namespace bw::sandbox {

class Cgroup {
 public:
  // Finds the cgroup2 mount (from /proc/self/mountinfo: a "cgroup2" filesystem;
  // /sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones).
  // Returns an error with code ENOENT when none is mounted.
  static Result<std::string> find_mount();

  // Creates the container's cgroup at <mount>/<path> (path: linux.cgroupsPath,
  // or "bulwark/<id>" when empty; a "slice:prefix:name" systemd-style path is
  // refused with a clear error). Validates and applies `resources` BEFORE any
  // process is placed: a limit whose controller is not available is an error
  // naming the field and the controller (e.g. "linux.resources.memory.limit:
  // the memory controller is not available in cgroup2 at /sys/fs/cgroup/unified
  // (cgroup v1/v2 hybrid host?)"); on error the directory it created is removed.
  // Parent directories it creates are enabled for the controllers needed
  // (cgroup.subtree_control) when available.
  static Result<Cgroup> create(const std::string& id, const std::string& cgroups_path,
                               const std::optional<oci::Resources>& resources);
  // Re-opens an existing cgroup by absolute directory path (from the state file).
  static Result<Cgroup> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // O_PATH|O_DIRECTORY fd of the cgroup, usable with CLONE_INTO_CGROUP.
  int fd() const { return fd_.get(); }

  Result<void> add_process(pid_t pid) const;      // writes cgroup.procs
  Result<std::vector<pid_t>> processes() const;   // reads cgroup.procs
  Result<void> freeze(bool frozen) const;         // cgroup.freeze, waits for cgroup.events frozen state
  Result<bool> frozen() const;
  Result<void> kill_all(int sig) const;           // cgroup.kill for SIGKILL, else signal each pid
  // Removes the cgroup (rmdir, retried briefly while processes exit) and any
  // parent directories this program created that are now empty.
  Result<void> remove() const;

 private:
  std::string dir_;
  UniqueFd fd_;
};

// The pieces of Cgroup::create that need no kernel, public so that they can be
// unit-tested.

// One write to a cgroup interface file, with the OCI field it comes from.
struct CgroupWrite {
  std::string field;       // JSON path for messages: "linux.resources.memory.limit"
  std::string controller;  // "memory", ...; "" for core files (cgroup.*)
  std::string file;        // "memory.max"
  std::string value;       // written as one write() call
  // The value a new cgroup already has ("max"): when the controller is missing
  // the write is dropped instead of failing, so that a config that asks for
  // "no limit" still runs on a host without that controller.
  bool is_default = false;
  // Dropped when the file does not exist (memory.swap.max without swap
  // accounting, for "max" or "0", as runc does).
  bool skip_if_missing = false;
};

// Maps linux.resources to cgroup v2 files, with runc's conversions. Errors name
// the field (values out of range, settings cgroup v2 cannot express, device
// rules that need eBPF).
Result<std::vector<CgroupWrite>> cgroup2_writes(const oci::Resources& resources);

// The cgroup's path relative to the cgroup2 mount: linux.cgroupsPath without its
// leading '/', or "bulwark/<id>" when empty. Refuses "..", "." and
// systemd-style "slice:prefix:name" paths.
Result<std::string> cgroup_relative_path(const std::string& id, const std::string& cgroups_path);

struct Cgroup2Mount {
  std::string path;     // "/sys/fs/cgroup" or "/sys/fs/cgroup/unified"
  bool hybrid = false;  // cgroup v1 hierarchies are mounted as well
};
// Picks the cgroup2 mount out of /proc/self/mountinfo text; ENOENT when none.
Result<Cgroup2Mount> parse_cgroup2_mount(const std::string& mountinfo);

}  // namespace bw::sandbox
