// libFuzzer target: seccomp profiles in every accepted form (OCI section,
// Docker, containers/common) through resolution and compilation. Never
// crashes or throws; a profile that compiles yields a loadable-sized program.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "seccomp/seccomp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> caps = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                                                "CAP_SYS_ADMIN"};
  std::string text(reinterpret_cast<const char*>(data), size);
  auto section = bw::seccomp::from_docker_profile(text, caps, "6.1.0");
  if (!section) return 0;
  auto filter = bw::seccomp::compile(*section, "");
  if (!filter) return 0;
  if (filter->program.empty() || filter->program.size() > 4096) abort();
  return 0;
}
