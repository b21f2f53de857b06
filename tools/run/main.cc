// bulwark-run: an OCI runtime with runc's command line.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "base/log.h"
#include "run/args.h"
#include "sandbox/exe_guard.h"

namespace bw::run {

Result<Args> parse_args(const std::vector<std::string>& words, const std::vector<OptionSpec>& specs,
                        bool stop_at_positional) {
  Args out;
  bool options_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (options_done || w.size() < 2 || w[0] != '-') {
      out.positional.push_back(w);
      if (stop_at_positional) options_done = true;
      continue;
    }
    if (w == "--") {
      options_done = true;
      continue;
    }
    std::string name = w.substr(w[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name || (!s.alias.empty() && s.alias == name)) spec = &s;
    if (!spec) return make_error(EINVAL, "unknown option '%s'", w.c_str());
    if (!spec->takes_value) {
      // Accept runc's "--flag=true|false".
      if (!has_value || value == "true") out.flags.insert(spec->name);
      else if (value != "false") return make_error(EINVAL, "option '--%s' takes no value", spec->name.c_str());
      continue;
    }
    if (!has_value) {
      if (i + 1 >= words.size()) return make_error(EINVAL, "option '--%s' needs a value", spec->name.c_str());
      value = words[++i];
    }
    out.values[spec->name].push_back(value);
  }
  return out;
}

int fail(const Error& e) {
  log::error(e.text());
  return 1;
}

std::string seccomp_cache_dir(const Globals&) {
  // Compiled filters depend on the kernel, so the cache lives in /run and
  // starts empty at every boot. Its parent is created here; the cache code
  // checks ownership and mode before trusting it.
  (void)::mkdir("/run/bulwark", 0700);
  return "/run/bulwark/seccomp-cache";
}

namespace {

const std::map<std::string, VerbFn>& verbs() {
  static const std::map<std::string, VerbFn> m = {
      {"create", cmd_create}, {"start", cmd_start},   {"run", cmd_run},       {"exec", cmd_exec},
      {"state", cmd_state},   {"list", cmd_list},     {"kill", cmd_kill},     {"delete", cmd_delete},
      {"pause", cmd_pause},   {"resume", cmd_resume}, {"ps", cmd_ps},         {"spec", cmd_spec},
      {"features", cmd_features},
  };
  return m;
}

void usage(FILE* out) {
  fprintf(out,
          "usage: bulwark-run [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...\n"
          "commands:\n"
          "  create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] ID\n"
          "  start ID\n"
          "  run [--bundle DIR] [--pid-file F] [--detach] [--console-socket S] ID\n"
          "  exec [--process FILE] [--tty] [--detach] [--pid-file F] [--env K=V] [--cwd D] [--user U[:G]] ID [CMD...]\n"
          "  state ID | list | kill [--all] ID [SIGNAL] | delete [--force] ID\n"
          "  pause ID | resume ID | ps [--format table|json] ID | spec [--bundle DIR] | features\n");
}

}  // namespace

}  // namespace bw::run

int main(int argc, char** argv) {
  using namespace bw::run;
  std::vector<std::string> words(argv + 1, argv + argc);
  Globals g;
  size_t i = 0;
  // Global options come before the command, as runc's.
  for (; i < words.size(); ++i) {
    std::string w = words[i];
    if (w.empty() || w[0] != '-') break;
    auto value = [&](const std::string& name) -> std::string {
      auto eq = w.find('=');
      if (eq != std::string::npos) return w.substr(eq + 1);
      if (i + 1 >= words.size()) {
        fprintf(stderr, "bulwark-run: option '%s' needs a value\n", name.c_str());
        exit(2);
      }
      return words[++i];
    };
    std::string name = w.substr(0, w.find('='));
    if (name == "--root") g.root = value(name);
    else if (name == "--log") g.log_file = value(name);
    else if (name == "--log-format") g.log_json = value(name) == "json";
    else if (name == "--debug") g.debug = true;
    else if (name == "--systemd-cgroup") g.systemd_cgroup = true;
    else if (name == "--cgroup-manager") {
      // crun's spelling, which podman uses for `--cgroups=disabled`.
      std::string manager = value(name);
      if (manager == "systemd") g.systemd_cgroup = true;
      else if (manager != "cgroupfs") {
        fprintf(stderr,
                "bulwark-run: --cgroup-manager %s: only 'cgroupfs' is supported (every container gets its own "
                "cgroup)\n",
                manager.c_str());
        return 2;
      }
    }
    else if (name == "--rootless") (void)value(name);
    else if (name == "--criu") (void)value(name);
    else if (name == "--help" || name == "-h") {
      usage(stdout);
      return 0;
    } else if (name == "--version" || name == "-v") {
      printf("bulwark-run version 0.1.0\nspec: 1.2.0\n");
      return 0;
    } else {
      fprintf(stderr, "bulwark-run: unknown global option '%s'\n", w.c_str());
      usage(stderr);
      return 2;
    }
  }
  bw::log::configure("bulwark-run", g.log_file, g.log_json, g.debug);
  if (i >= words.size()) {
    usage(stderr);
    return 2;
  }
  std::string verb = words[i];
  auto it = verbs().find(verb);
  if (it == verbs().end()) {
    fprintf(stderr, "bulwark-run: unknown command '%s'\n", verb.c_str());
    usage(stderr);
    return 2;
  }
  if (g.systemd_cgroup) {
    bw::log::error("--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs paths");
    return 1;
  }
  g.protect_exe = [argc, argv] { return bw::sandbox::ensure_protected_exe(argc, argv); };
  std::vector<std::string> rest(words.begin() + static_cast<long>(i) + 1, words.end());
  return it->second(g, rest);
}
