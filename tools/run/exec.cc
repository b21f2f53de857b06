// exec: run a process in a running container (`--process FILE` as runc, or
// the command on the command line based on the container's own process).
#include "base/file.h"
#include "base/strings.h"
#include "oci/spec.h"
#include "run/args.h"
#include "sandbox/exec.h"

namespace bw::run {

namespace {

const std::vector<OptionSpec> kExecOptions = {
    {"process", "p", true},      {"tty", "t", false},         {"detach", "d", false},
    {"pid-file", "", true},      {"console-socket", "", true}, {"cwd", "", true},
    {"env", "e", true, true},    {"user", "u", true},          {"additional-gids", "g", true, true},
    {"cap", "c", true, true},    {"no-new-privs", "", false},  {"preserve-fds", "", true},
    {"process-label", "", true}, {"apparmor", "", true},       {"ignore-paused", "", false},
    {"cgroup", "", true},
};

// Reads a process.json by wrapping it in a minimal config, so it goes
// through the same parser and validation as config.json's process.
Result<oci::Process> load_process_file(const std::string& path) {
  BW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  std::string wrapped = "{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"/\"},\"process\":" + text + "}";
  BW_ASSIGN_OR_RETURN(oci::Spec s, with_context(oci::parse_spec(wrapped), path));
  BW_RETURN_IF_ERROR(with_context(oci::validate_spec(s), path));
  return *s.process;
}

Result<oci::Process> process_from_args(const Globals& g, const Args& a) {
  oci::Process p;
  if (a.has("process")) {
    BW_ASSIGN_OR_RETURN(p, load_process_file(a.get("process")));
  } else {
    BW_ASSIGN_OR_RETURN(p, sandbox::container_process(g.root, a.positional[0]));
    p.args.assign(a.positional.begin() + 1, a.positional.end());
    if (p.args.empty()) return make_error(EINVAL, "exec: no command given");
    p.terminal = a.has("tty");
  }
  if (a.has("cwd")) p.cwd = a.get("cwd");
  for (const auto& e : a.all("env")) p.env.push_back(e);
  if (a.has("user")) {
    auto parts = split(a.get("user"), ':');
    auto uid = parse_int(parts[0]);
    if (!uid || *uid < 0) return make_error(EINVAL, "--user: expected UID[:GID], got '%s'", a.get("user").c_str());
    p.user.uid = static_cast<uint32_t>(*uid);
    if (parts.size() > 1) {
      auto gid = parse_int(parts[1]);
      if (!gid || *gid < 0) return make_error(EINVAL, "--user: bad gid in '%s'", a.get("user").c_str());
      p.user.gid = static_cast<uint32_t>(*gid);
    }
  }
  for (const auto& g2 : a.all("additional-gids")) {
    auto gid = parse_int(g2);
    if (!gid || *gid < 0) return make_error(EINVAL, "--additional-gids: bad gid '%s'", g2.c_str());
    p.user.additional_gids.push_back(static_cast<uint32_t>(*gid));
  }
  if (!a.all("cap").empty()) {
    oci::Capabilities caps = p.capabilities.value_or(oci::Capabilities{});
    for (const auto& c : a.all("cap")) {
      for (auto* set : {&caps.bounding, &caps.effective, &caps.permitted}) set->push_back(c);
    }
    p.capabilities = caps;
  }
  if (a.has("no-new-privs")) p.no_new_privileges = true;
  if (a.has("apparmor") || a.has("process-label"))
    return make_error(EINVAL, "exec: LSM labels are not supported on this system");
  return p;
}


}  // namespace

int cmd_exec(const Globals& g, const std::vector<std::string>& words) {
  auto a = parse_args(words, kExecOptions, true);
  if (!a) return fail(a.error().prefix("exec"));
  if (a->positional.empty()) return fail(Error{EINVAL, "exec: expected a container id"});
  auto process = process_from_args(g, *a);
  if (!process) return fail(process.error());
  sandbox::ExecOptions o;
  o.state_root = g.root;
  o.id = a->positional[0];
  o.pid_file = a->get("pid-file");
  o.console_socket = a->get("console-socket");
  o.seccomp_cache = seccomp_cache_dir(g);
  o.protect_exe = g.protect_exe;
  if (a->has("ignore-paused"))
    return fail(Error{EINVAL, "exec: --ignore-paused is not supported: a process cannot start in a frozen "
                              "container; resume it first"});
  if (a->has("preserve-fds")) {
    auto n = parse_int(a->get("preserve-fds"));
    if (!n || *n < 0 || *n > 1000) return fail(Error{EINVAL, "exec: --preserve-fds: invalid count"});
    o.preserve_fds = static_cast<int>(*n);
  }
  auto child = sandbox::exec_in_container(o, *process);
  if (!child) return fail(child.error());
  if (a->has("detach")) {
    child->release();
    return 0;
  }
  auto st = wait_forwarding_signals(*child);
  if (!st) return fail(st.error());
  return st->shell_code();
}

}  // namespace bw::run
