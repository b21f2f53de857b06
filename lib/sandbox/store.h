// The state directory of each container: <root>/<id>/ holding state.json (the
// runtime's record), config.json (the config as created), and exec.fifo
// (present between create and start). Every change is an atomic rename; the
// directory is locked (flock) by each command working on the container.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::sandbox {

// What the runtime remembers about a container between commands.
struct Record {
  std::string id;
  std::string bundle;
  pid_t pid = 0;
  unsigned long long start_time = 0;  // /proc/<pid>/stat field 22: guards against pid reuse
  std::string cgroup_dir;             // absolute path, "" when none
  std::string created;                // RFC 3339 time
  std::map<std::string, std::string> annotations;
  bool started = false;               // `start` ran (exec.fifo consumed)
  bool exe_sealed = false;            // the init was set up from a binary nobody can write
  bool ptrace_granted = false;        // some exec'd process may hold CAP_SYS_PTRACE (exe_guard.h)
};

// Container ids: 1-1024 of [A-Za-z0-9_+.-], not "." or "..".
Result<void> validate_id(const std::string& id);

class Store {
 public:
  // Opens (creating, mode 0700) the state root.
  static Result<Store> open(const std::string& root);

  const std::string& root() const { return root_; }
  std::string dir_of(const std::string& id) const { return root_ + "/" + id; }

  // Creates the container's directory; fails with "already exists" when the id is taken.
  Result<UniqueFd> create_dir(const std::string& id) const;
  // Opens an existing container's directory and takes its lock (held while the fd lives).
  Result<UniqueFd> lock(const std::string& id) const;
  Result<void> save(int dirfd, const Record& r) const;
  Result<Record> load(int dirfd, const std::string& id) const;
  Result<void> remove(const std::string& id) const;
  Result<std::vector<std::string>> list() const;

 private:
  std::string root_;
  UniqueFd fd_;
};

// Start time of a process (for pid-reuse checks); 0 when it does not exist.
unsigned long long process_start_time(pid_t pid);
// True while the process exists and is not a zombie.
bool process_alive(pid_t pid, unsigned long long start_time);

}  // namespace bw::sandbox
