#include <cstdio>

#include "base/strings.h"
#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

int cmd_state(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {}, false);
  if (!a) return fail(a.error().prefix("state"));
  if (a->positional.size() != 1) return fail(Error{EINVAL, "state: expected one container id"});
  auto s = sandbox::container_state(g.root, a->positional[0]);
  if (!s) return fail(s.error());
  printf("%s\n", oci::state_to_json(*s, 2).c_str());
  return 0;
}

int cmd_list(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {{"format", "f", true}, {"quiet", "q", false}}, false);
  if (!a) return fail(a.error().prefix("list"));
  auto store = sandbox::Store::open(g.root);
  if (!store) return fail(store.error());
  auto ids = store->list();
  if (!ids) return fail(ids.error());
  bool json = a->get("format") == "json";
  if (json) printf("[");
  else if (!a->has("quiet")) printf("%-24s %-8s %-10s %s\n", "ID", "PID", "STATUS", "BUNDLE");
  bool first = true;
  for (const auto& id : *ids) {
    auto s = sandbox::container_state(g.root, id);
    if (!s) continue;
    if (json) {
      printf("%s%s", first ? "" : ",", oci::state_to_json(*s).c_str());
    } else if (a->has("quiet")) {
      printf("%s\n", id.c_str());
    } else {
      printf("%-24s %-8d %-10s %s\n", id.c_str(), s->pid, s->status.c_str(), s->bundle.c_str());
    }
    first = false;
  }
  if (json) printf("]\n");
  return 0;
}

}  // namespace bw::run
