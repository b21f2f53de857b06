#include "sandbox/namespaces.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"

namespace bw::sandbox {

Result<NamespacePlan> plan_namespaces(const oci::Spec& spec) {
  NamespacePlan plan;
  if (!spec.linux) return plan;
  for (size_t i = 0; i < spec.linux->namespaces.size(); ++i) {
    const auto& ns = spec.linux->namespaces[i];
    int flag = oci::namespace_clone_flag(ns.type);
    std::string field = strf("linux.namespaces[%zu]", i);
    if (!ns.path.empty()) {
      int fd = ::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return sys_error("%s.path: cannot open '%s'", field.c_str(), ns.path.c_str());
      UniqueFd owned(fd);
      int type = ::ioctl(fd, NS_GET_NSTYPE);
      if (type < 0)
        return make_error(EINVAL, "%s.path: '%s' is not a namespace file", field.c_str(), ns.path.c_str());
      if (type != flag)
        return make_error(EINVAL, "%s.path: '%s' is not a %s namespace", field.c_str(), ns.path.c_str(),
                          oci::namespace_type_name(ns.type));
      NamespaceJoin j{flag, std::move(owned), field};
      if (flag == CLONE_NEWUSER)
        plan.joins.insert(plan.joins.begin(), std::move(j));
      else
        plan.joins.push_back(std::move(j));
      continue;
    }
    switch (ns.type) {
      case oci::NamespaceType::user: plan.new_user = true; break;
      case oci::NamespaceType::cgroup: plan.new_cgroup = true; break;
      default: plan.unshare_flags |= flag; break;
    }
    if (ns.type == oci::NamespaceType::pid) plan.new_pid = true;
    if (ns.type == oci::NamespaceType::network) plan.new_net = true;
    if (ns.type == oci::NamespaceType::time) plan.new_time = true;
    if (ns.type == oci::NamespaceType::uts) plan.new_uts = true;
    if (ns.type == oci::NamespaceType::mount) plan.new_mount = true;
  }
  return plan;
}

Result<void> join_namespaces(const NamespacePlan& plan) {
  for (const auto& j : plan.joins)
    if (::setns(j.fd.get(), j.flag) < 0) return sys_error("%s: setns", j.field.c_str());
  return {};
}

namespace {
std::string map_text(const std::vector<oci::IdMapping>& maps) {
  std::string out;
  for (const auto& m : maps) out += strf("%u %u %u\n", m.container_id, m.host_id, m.size);
  return out;
}
}  // namespace

Result<void> write_id_maps(pid_t pid, const oci::Linux& linux) {
  BW_RETURN_IF_ERROR(with_context(write_existing(strf("/proc/%d/uid_map", pid), map_text(linux.uid_mappings)),
                                  "linux.uidMappings"));
  BW_RETURN_IF_ERROR(with_context(write_existing(strf("/proc/%d/gid_map", pid), map_text(linux.gid_mappings)),
                                  "linux.gidMappings"));
  return {};
}

Result<void> write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets) {
  for (const auto& [clock, off] : offsets) {
    std::string line = strf("%s %lld %u\n", clock.c_str(), static_cast<long long>(off.secs), off.nanosecs);
    BW_RETURN_IF_ERROR(with_context(write_existing("/proc/self/timens_offsets", line),
                                    strf("linux.timeOffsets.%s", clock.c_str())));
  }
  return {};
}

Result<void> loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return sys_error("socket");
  UniqueFd sock(s);
  struct ifreq ifr {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return sys_error("SIOCGIFFLAGS lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) < 0) return sys_error("bringing up lo");
  return {};
}

}  // namespace bw::sandbox
