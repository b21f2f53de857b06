#include <cstdio>

#include "base/file.h"
#include "base/strings.h"
#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

int cmd_ps(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {{"format", "f", true}}, false);
  if (!a) return fail(a.error().prefix("ps"));
  if (a->positional.empty()) return fail(Error{EINVAL, "ps: expected a container id"});
  auto pids = sandbox::container_processes(g.root, a->positional[0]);
  if (!pids) return fail(pids.error());
  if (a->get("format", "table") == "json") {
    std::vector<std::string> parts;
    for (pid_t p : *pids) parts.push_back(std::to_string(p));
    printf("[%s]\n", join(parts, ",").c_str());
    return 0;
  }
  printf("%-8s %s\n", "PID", "CMD");
  for (pid_t p : *pids) {
    auto cmd = read_file(strf("/proc/%d/cmdline", p));
    std::string c = cmd ? *cmd : "";
    for (auto& ch : c)
      if (ch == '\0') ch = ' ';
    printf("%-8d %s\n", p, std::string(trim(c)).c_str());
  }
  return 0;
}

}  // namespace bw::run
