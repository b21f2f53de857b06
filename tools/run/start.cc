#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

int cmd_start(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {}, false);
  if (!a) return fail(a.error().prefix("start"));
  if (a->positional.size() != 1) return fail(Error{EINVAL, "start: expected one container id"});
  if (auto r = sandbox::start_container(g.root, a->positional[0]); !r) return fail(r.error());
  return 0;
}

}  // namespace bw::run
