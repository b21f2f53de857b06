// Namespaces: which to create, which to join by path, the user namespace's
// id maps, time namespace offsets, and the loopback interface of a new
// network namespace.
#pragma once

#include <sys/types.h>

#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "oci/spec.h"

namespace bw::sandbox {

struct NamespaceJoin {
  int flag;  // CLONE_NEW*
  UniqueFd fd;
  std::string field;  // "linux.namespaces[2]" for messages
};

struct NamespacePlan {
  int unshare_flags = 0;  // created by unshare() in the first child (user excluded)
  bool new_user = false;
  bool new_pid = false;
  bool new_cgroup = false;  // created by the container init once placed in its cgroup
  bool new_net = false;
  bool new_time = false;
  bool new_uts = false;
  bool new_mount = false;
  std::vector<NamespaceJoin> joins;  // user namespace first
};

// Opens every namespace path up front (in the runtime, before any fork) and
// checks that each is a namespace of the declared type.
Result<NamespacePlan> plan_namespaces(const oci::Spec& spec);
// In the first child: setns() into each joined namespace.
Result<void> join_namespaces(const NamespacePlan& plan);
// From the runtime: writes /proc/<pid>/uid_map and gid_map.
Result<void> write_id_maps(pid_t pid, const oci::Linux& linux);
// In the first child, after unshare(CLONE_NEWTIME) and before any child exists.
Result<void> write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets);
// Brings "lo" up in the current network namespace.
Result<void> loopback_up();

}  // namespace bw::sandbox
