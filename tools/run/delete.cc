#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

int cmd_delete(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {{"force", "f", false}}, false);
  if (!a) return fail(a.error().prefix("delete"));
  if (a->positional.size() != 1) return fail(Error{EINVAL, "delete: expected one container id"});
  if (auto r = sandbox::delete_container(g.root, a->positional[0], a->has("force")); !r) return fail(r.error());
  return 0;
}

}  // namespace bw::run
