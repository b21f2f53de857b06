#include "sandbox/sysctl.h"

#include "base/file.h"

namespace bw::sandbox {

Result<void> apply_sysctls(const std::map<std::string, std::string>& sysctls) {
  for (const auto& [key, value] : sysctls) {
    std::string path = "/proc/sys/" + key;
    for (size_t i = 10; i < path.size(); ++i)
      if (path[i] == '.') path[i] = '/';
    BW_RETURN_IF_ERROR(with_context(write_existing(path, value), strf("linux.sysctl.%s", key.c_str())));
  }
  return {};
}

}  // namespace bw::sandbox
