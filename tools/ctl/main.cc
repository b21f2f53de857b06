// bulwarkctl: asks bulwark-init, over its control socket, for the state of
// the services, to start, stop or restart one, for a service's log, or to
// reboot or power off. Exit status: 0 done, 1 refused or failed (the
// server's reason on stderr), 2 bad usage.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/strings.h"
#include "client.h"
#include "base/paths.h"
#include "status.h"

namespace bw::ctl {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: bulwarkctl [--socket PATH] COMMAND\n"
    "\n"
    "  status [SERVICE] [--json]   state of all services, or of one\n"
    "  start SERVICE               start a service (operator)\n"
    "  stop SERVICE                stop a service (operator)\n"
    "  restart SERVICE             restart a service (operator)\n"
    "  logs [-f] SERVICE           a service's recent output; -f keeps following it\n"
    "  reboot                      reboot the machine (admin)\n"
    "  poweroff                    power the machine off (admin)\n"
    "\n"
    "  --socket PATH               the control socket (default /run/bulwark/control.sock)\n";

struct Args {
  std::string socket = paths::kControlSocket;
  std::string command;
  std::vector<std::string> operands;
  bool json = false;
  bool follow = false;
  bool help = false;
};

int usage_error(const std::string& message) {
  fprintf(stderr, "bulwarkctl: %s\nTry 'bulwarkctl --help' for usage.\n", message.c_str());
  return kExitUsage;
}

int failed(const Error& e) {
  fprintf(stderr, "bulwarkctl: %s\n", e.text().c_str());
  return kExitFailed;
}

// Options may come before or after the command; "--" ends them.
Result<Args> parse_args(int argc, char** argv) {
  Args a;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string w = argv[i];
    if (options_done || w.empty() || w[0] != '-' || w == "-") {
      if (a.command.empty()) a.command = w;
      else a.operands.push_back(w);
      continue;
    }
    if (w == "--") options_done = true;
    else if (w == "-h" || w == "--help") a.help = true;
    else if (w == "--json") a.json = true;
    else if (w == "-f" || w == "--follow") a.follow = true;
    else if (w == "--socket") {
      if (++i >= argc) return make_error(0, "option '--socket' needs a path");
      a.socket = argv[i];
    } else if (w.starts_with("--socket=")) {
      a.socket = w.substr(9);
    } else {
      return make_error(0, "unknown option '%s'", w.c_str());
    }
  }
  return a;
}

int run(const Args& a) {
  const std::string& cmd = a.command;
  bool takes_service = cmd == "start" || cmd == "stop" || cmd == "restart" || cmd == "logs";
  if (cmd == "status") {
    if (a.operands.size() > 1) return usage_error("'status' takes at most one service");
  } else if (takes_service) {
    if (a.operands.size() != 1) return usage_error(strf("'%s' needs exactly one service", cmd.c_str()));
  } else if (cmd == "reboot" || cmd == "poweroff") {
    if (!a.operands.empty()) return usage_error(strf("'%s' takes no arguments", cmd.c_str()));
  } else {
    return usage_error(strf("unknown command '%s'", cmd.c_str()));
  }
  if (a.json && cmd != "status") return usage_error("'--json' applies only to 'status'");
  if (a.follow && cmd != "logs") return usage_error("'-f' applies only to 'logs'");

  nlohmann::json request = {{"cmd", cmd}};
  if (!a.operands.empty()) request["service"] = a.operands[0];
  if (a.follow) request["follow"] = true;

  auto conn = Connection::open(a.socket);
  if (!conn) return failed(conn.error());
  auto result = conn->call(request);
  if (!result) return failed(result.error());

  if (cmd == "status") {
    const auto& services = (*result)["services"];
    if (a.json) printf("%s\n", result->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    else {
      fputs(format_status_table(services).c_str(), stdout);
      if (a.operands.empty()) fputs(format_boot_verdict(*result).c_str(), stdout);
    }
    return 0;
  }
  if (cmd != "logs") return 0;
  for (const auto& line : (*result)["lines"])
    if (line.is_string()) printf("%s\n", line.get<std::string>().c_str());
  if (!a.follow) return 0;
  fflush(stdout);
  for (;;) {
    auto message = conn->next();
    if (!message) return failed(message.error());
    if (!*message) return failed(Error{0, "bulwark-init closed the connection"});
    const auto& j = **message;
    if (auto it = j.find("line"); it != j.end() && it->is_string()) {
      printf("%s\n", it->get<std::string>().c_str());
      fflush(stdout);
    }
  }
}

}  // namespace
}  // namespace bw::ctl

int main(int argc, char** argv) {
  auto args = bw::ctl::parse_args(argc, argv);
  if (!args) return bw::ctl::usage_error(args.error().text());
  if (args->help) {
    fputs(bw::ctl::kUsage, stdout);
    return 0;
  }
  if (args->command.empty()) {
    fputs(bw::ctl::kUsage, stderr);
    return bw::ctl::kExitUsage;
  }
  return bw::ctl::run(*args);
}
