#pragma once

#include <map>
#include <string>

#include "base/result.h"

namespace bw::sandbox {

// Writes linux.sysctl through /proc/sys. The values land in the namespaces of
// the calling process (validation already refused non-namespaced keys).
Result<void> apply_sysctls(const std::map<std::string, std::string>& sysctls);

}  // namespace bw::sandbox
