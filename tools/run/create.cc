#include "run/args.h"
#include "sandbox/container.h"

namespace bw::run {

namespace {
const std::vector<OptionSpec> kCreateOptions = {
    {"bundle", "b", true},          {"pid-file", "", true},  {"console-socket", "", true},
    {"preserve-fds", "", true},     {"no-pivot", "", false}, {"no-new-keyring", "", false},
    {"detach", "d", false},         {"keep", "", false},
};
}  // namespace

// Shared by create and run.
Result<sandbox::CreateOptions> create_options(const Globals& g, const Args& a) {
  if (a.positional.size() != 1)
    return make_error(EINVAL, "expected exactly one container id, got %zu arguments", a.positional.size());
  if (a.has("no-pivot")) return make_error(EINVAL, "--no-pivot is not supported: Bulwark always uses pivot_root");
  sandbox::CreateOptions o;
  o.id = a.positional[0];
  o.bundle = a.get("bundle", ".");
  o.state_root = g.root;
  o.pid_file = a.get("pid-file");
  o.console_socket = a.get("console-socket");
  o.seccomp_cache = seccomp_cache_dir(g);
  o.protect_exe = g.protect_exe;
  if (a.has("preserve-fds")) {
    char* end = nullptr;
    std::string v = a.get("preserve-fds");
    long n = strtol(v.c_str(), &end, 10);
    if (*end || n < 0 || n > 1000) return make_error(EINVAL, "--preserve-fds: invalid count '%s'", v.c_str());
    o.preserve_fds = static_cast<int>(n);
  }
  return o;
}

const std::vector<OptionSpec>& create_option_specs() { return kCreateOptions; }

int cmd_create(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, kCreateOptions, false);
  if (!a) return fail(a.error().prefix("create"));
  auto o = create_options(g, *a);
  if (!o) return fail(o.error().prefix("create"));
  auto c = sandbox::create_container(*o);
  if (!c) return fail(c.error());
  // The container's process lives on, waiting for `start`.
  c->init.release();
  return 0;
}

}  // namespace bw::run
