#include <signal.h>

#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

int cmd_kill(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {{"all", "a", false}}, false);
  if (!a) return fail(a.error().prefix("kill"));
  if (a->positional.empty() || a->positional.size() > 2)
    return fail(Error{EINVAL, "kill: expected ID [SIGNAL]"});
  int sig = SIGTERM;
  if (a->positional.size() == 2) {
    auto s = sandbox::parse_signal(a->positional[1]);
    if (!s) return fail(s.error().prefix("kill"));
    sig = *s;
  }
  if (auto r = sandbox::kill_container(g.root, a->positional[0], sig, a->has("all")); !r) return fail(r.error());
  return 0;
}

}  // namespace bw::run
