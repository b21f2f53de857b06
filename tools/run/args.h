// A small runc-compatible argument parser: "--name value", "--name=value",
// short aliases ("-b DIR"), boolean flags, and positional arguments. Unknown
// options are errors naming the option.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/child.h"
#include "base/result.h"

namespace bw::run {

struct OptionSpec {
  std::string name;           // "bundle"
  std::string alias;          // "b" or ""
  bool takes_value = false;
  bool repeatable = false;    // --env A --env B
};

struct Args {
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;
  std::vector<std::string> positional;

  bool has(const std::string& n) const { return flags.count(n) || values.count(n); }
  std::string get(const std::string& n, const std::string& def = "") const {
    auto it = values.find(n);
    return it == values.end() || it->second.empty() ? def : it->second.back();
  }
  const std::vector<std::string>& all(const std::string& n) const {
    static const std::vector<std::string> none;
    auto it = values.find(n);
    return it == values.end() ? none : it->second;
  }
};

// Parses argv[first..]; stops treating words as options after "--" or, when
// `stop_at_positional`, after the first positional word (for exec's command).
Result<Args> parse_args(const std::vector<std::string>& words, const std::vector<OptionSpec>& specs,
                        bool stop_at_positional);

// Everything a verb needs from the global options.
struct Globals {
  std::string root = "/run/bulwark";
  std::string log_file;
  bool log_json = false;
  bool debug = false;
  bool systemd_cgroup = false;
  // Re-executes from a sealed copy of the binary (CVE-2019-5736); the
  // launcher calls it only for containers that could reach the binary.
  std::function<Result<void>()> protect_exe;
};

using VerbFn = int (*)(const Globals&, const std::vector<std::string>& words);

int cmd_create(const Globals&, const std::vector<std::string>&);
int cmd_start(const Globals&, const std::vector<std::string>&);
int cmd_run(const Globals&, const std::vector<std::string>&);
int cmd_exec(const Globals&, const std::vector<std::string>&);
int cmd_state(const Globals&, const std::vector<std::string>&);
int cmd_list(const Globals&, const std::vector<std::string>&);
int cmd_kill(const Globals&, const std::vector<std::string>&);
int cmd_delete(const Globals&, const std::vector<std::string>&);
int cmd_pause(const Globals&, const std::vector<std::string>&);
int cmd_resume(const Globals&, const std::vector<std::string>&);
int cmd_ps(const Globals&, const std::vector<std::string>&);
int cmd_spec(const Globals&, const std::vector<std::string>&);
int cmd_features(const Globals&, const std::vector<std::string>&);

// Waits for `child` to end, forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT,
// SIGUSR1/2, SIGWINCH and SIGCONT to it.
Result<ExitStatus> wait_forwarding_signals(ChildProcess& child);

// Prints the error (and logs it) and returns the exit status for failures.
int fail(const Error& e);
// Seccomp BPF cache used by create/run/exec.
std::string seccomp_cache_dir(const Globals& g);

}  // namespace bw::run
