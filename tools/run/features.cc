// `features`: what this runtime supports, in the OCI features.json format.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "oci/spec.h"
#include "run/args.h"

namespace bw::run {

int cmd_features(const Globals&, const std::vector<std::string>&) {
  using nlohmann::json;
  json caps = json::array();
  for (std::string_view n : oci::capability_names()) caps.push_back(n);
  json f = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.2.0"},
      {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
      {"mountOptions", {"bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                        "noatime", "relatime", "strictatime", "nodiratime", "diratime", "nosymfollow",
                        "symfollow", "shared", "rshared", "slave", "rslave", "private", "rprivate",
                        "unbindable", "runbindable"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
        {"capabilities", caps},
        {"cgroup", {{"v1", false}, {"v2", true}, {"systemd", false}, {"systemdUser", false}, {"rdma", false}}},
        {"seccomp",
         {{"enabled", true},
          {"actions", {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                       "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                       "SCMP_ACT_TRAP"}},
          {"operators", {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                         "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
          {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}},
          {"supportedFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                              "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}},
        {"intelRdt", {{"enabled", false}}},
        {"mountExtensions", {{"idmap", {{"enabled", false}}}}}}},
      {"annotations", {{"org.opencontainers.runtime-spec.features.bulwark", "true"}}},
  };
  printf("%s\n", f.dump(2).c_str());
  return 0;
}

}  // namespace bw::run
