#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

namespace {
int pause_or_resume(const Globals& g, const std::vector<std::string>& words, bool pause) {
  const char* verb = pause ? "pause" : "resume";
  auto a = parse_args(words, {}, false);
  if (!a) return fail(a.error().prefix(verb));
  if (a->positional.size() != 1) return fail(Error{EINVAL, std::string(verb) + ": expected one container id"});
  if (auto r = sandbox::pause_container(g.root, a->positional[0], pause); !r) return fail(r.error());
  return 0;
}
}  // namespace

int cmd_pause(const Globals& g, const std::vector<std::string>& w) { return pause_or_resume(g, w, true); }
int cmd_resume(const Globals& g, const std::vector<std::string>& w) { return pause_or_resume(g, w, false); }

}  // namespace bw::run
