// bulwark-seccomp: the verbs, each in its own file. Each returns the process
// exit status: 0 success, 1 a finding (invalid profile, denials seen, profiles
// differ), 2 a usage error.
#pragma once

#include <string>
#include <vector>

namespace bw::seccomp_tool {

struct Common {
  bool json = false;    // --json: machine-readable output on stdout
  bool strict = false;  // --strict: names unknown to libseccomp are errors
};

int cmd_validate(const Common&, const std::vector<std::string>& args);
int cmd_compile(const Common&, const std::vector<std::string>& args);
int cmd_explain(const Common&, const std::vector<std::string>& args);
int cmd_diff(const Common&, const std::vector<std::string>& args);
int cmd_record(const Common&, const std::vector<std::string>& args);
int cmd_check(const Common&, const std::vector<std::string>& args);

}  // namespace bw::seccomp_tool
