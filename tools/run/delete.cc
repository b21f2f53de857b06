#include <fcntl.h>
#include <unistd.h>

#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

int cmd_delete(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, {{"force", "f", false}}, false);
  if (!a) return fail(a.error().prefix("delete"));
  if (a->positional.size() != 1) return fail(Error{EINVAL, "delete: expected one container id"});
  const std::string& id = a->positional[0];
  bool force = a->has("force");
  if (auto r = sandbox::delete_container(g.root, id, force); !r) {
    // As runc and crun: forcing the deletion of a container that does not
    // exist succeeds. Podman does it after every failed create, where the
    // runtime has already cleaned up, and would otherwise log a second error.
    // (An invalid id fails before this with EINVAL, so the path is safe.)
    std::string dir = g.root + "/" + id;
    if (force && r.error().code == ENOENT && ::faccessat(AT_FDCWD, dir.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
        errno == ENOENT)
      return 0;
    return fail(r.error());
  }
  return 0;
}

}  // namespace bw::run
