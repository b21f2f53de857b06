// run = create + start, then wait for the container's process, forwarding
// signals to it, and delete the container when it ends.
#include "base/log.h"
#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

Result<sandbox::CreateOptions> create_options(const Globals& g, const Args& a);
const std::vector<OptionSpec>& create_option_specs();


int cmd_run(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, create_option_specs(), false);
  if (!a) return fail(a.error().prefix("run"));
  auto o = create_options(g, *a);
  if (!o) return fail(o.error().prefix("run"));
  auto c = sandbox::create_container(*o);
  if (!c) return fail(c.error());
  if (auto r = sandbox::start_container(g.root, o->id); !r) {
    c->init = ChildProcess();  // kills it
    (void)sandbox::delete_container(g.root, o->id, true);
    return fail(r.error());
  }
  if (a->has("detach")) {
    c->init.release();
    return 0;
  }
  auto st = wait_forwarding_signals(c->init);
  if (auto r = sandbox::delete_container(g.root, o->id, true); !r)
    log::warning(r.error().text() + ", ignoring");
  if (!st) return fail(st.error());
  return st->shell_code();
}

}  // namespace bw::run
