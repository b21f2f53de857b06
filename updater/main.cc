// bulwark-update: the publisher's verbs (keygen, commit, sign, verify,
// publish) and the appliance agent's (status, check, upgrade, rollback,
// boot-verdict, metrics, daemon). See updater/README.md.
// Exit status: 0 done, 1 failed or refused (the reason on stderr), 2 bad usage.
#include <signal.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/strings.h"
#include "base/unix_socket.h"
#include "updater/agent.h"
#include "updater/metrics.h"
#include "updater/publish.h"
#include "updater/remote.h"
#include "updater/signature.h"

namespace bw::update {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: bulwark-update [--sysroot DIR] [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "Appliance (agent):\n"
    "  status [--json]              deployments, state, last check\n"
    "  check [--json]               is a newer signed version published?\n"
    "  upgrade [--reboot]           pull, verify and deploy it; reboot if asked or by policy\n"
    "  rollback                     make the previous deployment the default\n"
    "  boot-verdict good|bad [WHY]  called by bulwark-init once per boot\n"
    "  metrics [--output FILE]      the state in Prometheus text format\n"
    "  daemon                       check periodically (with jitter) and upgrade by policy\n"
    "\n"
    "Publisher:\n"
    "  keygen --secret FILE --public FILE\n"
    "  commit --repo REPO --branch REF --tree DIR --version V [--sequence N] [--os OS]\n"
    "         [--key SECRET]... [--subject TEXT]\n"
    "  sign --repo REPO --key SECRET [--key SECRET]... COMMIT\n"
    "  verify --repo REPO --keys DIR COMMIT\n"
    "  publish --repo REPO [--static-delta] [--key SECRET]...\n"
    "\n"
    "  --sysroot DIR   the sysroot to manage (default /); paths in the config are inside it\n"
    "  --config FILE   the configuration (default /etc/bulwark/update.toml of the system;\n"
    "                  with --sysroot, that of the deployment that boots next)\n";

int usage_error(const std::string& m) {
  fprintf(stderr, "bulwark-update: %s\nTry 'bulwark-update --help' for usage.\n", m.c_str());
  return kExitUsage;
}
int failed(const Error& e) {
  fprintf(stderr, "bulwark-update: %s\n", e.text().c_str());
  return kExitFailed;
}

// Options with a value (--name VALUE or --name=VALUE), repeatable ones kept
// in order, flags, and operands.
struct Args {
  std::map<std::string, std::vector<std::string>> opts;
  std::map<std::string, bool> flags;
  std::vector<std::string> operands;
  std::string get(const std::string& k) const {
    auto it = opts.find(k);
    return it == opts.end() || it->second.empty() ? "" : it->second.back();
  }
  bool flag(const std::string& k) const { return flags.count(k) > 0; }
};

const std::map<std::string, bool> kOptions = {
    // name -> takes a value
    {"sysroot", true}, {"config", true},   {"secret", true},   {"public", true},  {"repo", true},
    {"branch", true},  {"tree", true},     {"version", true},  {"sequence", true}, {"os", true},
    {"key", true},     {"subject", true},  {"keys", true},     {"output", true},   {"json", false},
    {"reboot", false}, {"static-delta", false}, {"help", false}, {"debug", false},
};

Result<std::pair<std::string, Args>> parse_args(int argc, char** argv) {
  Args a;
  std::string command;
  bool done = false;
  for (int i = 1; i < argc; ++i) {
    std::string w = argv[i];
    if (!done && w == "--") {
      done = true;
      continue;
    }
    if (!done && w.starts_with("--")) {
      std::string name = w.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      auto it = kOptions.find(name);
      if (it == kOptions.end()) return make_error(0, "unknown option --%s", name.c_str());
      if (it->second) {
        if (!has_value) {
          if (i + 1 >= argc) return make_error(0, "--%s needs a value", name.c_str());
          value = argv[++i];
        }
        a.opts[name].push_back(value);
      } else {
        if (has_value) return make_error(0, "--%s takes no value", name.c_str());
        a.flags[name] = true;
      }
      continue;
    }
    if (command.empty()) command = w;
    else a.operands.push_back(w);
  }
  return std::pair{command, a};
}

std::string rfc3339(int64_t t) {
  if (t <= 0) return "never";
  time_t tt = t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::vector<SecretKey>> secret_keys(const Args& a) {
  std::vector<SecretKey> out;
  auto it = a.opts.find("key");
  if (it == a.opts.end()) return out;
  for (const auto& f : it->second) {
    BW_ASSIGN_OR_RETURN(auto ks, read_secret_keys(f));
    out.insert(out.end(), ks.begin(), ks.end());
  }
  return out;
}

Result<void> need(const Args& a, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (a.get(n).empty()) return make_error(0, "--%s is required", n);
  return {};
}

// --- publisher ---

int cmd_keygen(const Args& a) {
  if (auto r = need(a, {"secret", "public"}); !r) return usage_error(r.error().message);
  auto k = generate_key();
  if (!k) return failed(k.error());
  // The secret key never exists with a looser mode, even for a moment.
  if (auto r = write_file_atomic(a.get("secret"), format_secret_key(*k), 0600); !r) return failed(r.error());
  if (auto r = write_file_atomic(a.get("public"), format_public_key(k->pub), 0644); !r) return failed(r.error());
  printf("%s", format_public_key(k->pub).c_str());
  return 0;
}

int cmd_commit(const Args& a) {
  if (auto r = need(a, {"repo", "branch", "tree", "version"}); !r) return usage_error(r.error().message);
  CommitRequest req;
  req.repo = a.get("repo");
  req.branch = a.get("branch");
  req.tree = a.get("tree");
  req.version = a.get("version");
  req.os = a.get("os");
  req.subject = a.get("subject");
  if (!a.get("sequence").empty()) {
    auto n = parse_int(a.get("sequence"));
    if (!n || *n < 1) return usage_error("--sequence: expected a positive integer, found '" + a.get("sequence") + "'");
    req.sequence = static_cast<uint64_t>(*n);
  }
  auto keys = secret_keys(a);
  if (!keys) return failed(keys.error());
  req.keys = *keys;
  auto csum = commit_tree(req);
  if (!csum) return failed(csum.error());
  printf("%s\n", csum->c_str());
  return 0;
}

int cmd_sign(const Args& a) {
  if (auto r = need(a, {"repo", "key"}); !r) return usage_error(r.error().message);
  if (a.operands.size() != 1) return usage_error("sign: expected one COMMIT");
  auto keys = secret_keys(a);
  if (!keys) return failed(keys.error());
  auto repo = open_repo(a.get("repo"));
  if (!repo) return failed(repo.error());
  auto resolved = resolve_commit(repo->get(), a.operands[0]);
  if (!resolved) return failed(resolved.error());
  const std::string& checksum = *resolved;
  if (auto r = sign_commit(repo->get(), checksum, *keys); !r) return failed(r.error());
  printf("%s\n", checksum.c_str());
  return 0;
}

int cmd_verify(const Args& a) {
  if (auto r = need(a, {"repo", "keys"}); !r) return usage_error(r.error().message);
  if (a.operands.size() != 1) return usage_error("verify: expected one COMMIT");
  auto keys = load_trusted_keys({a.get("keys")});
  if (!keys) return failed(keys.error());
  auto repo = open_repo(a.get("repo"));
  if (!repo) return failed(repo.error());
  auto resolved = resolve_commit(repo->get(), a.operands[0]);
  if (!resolved) return failed(resolved.error());
  const std::string& checksum = *resolved;
  auto k = verify_commit(repo->get(), checksum, *keys);
  if (!k) return failed(k.error());
  auto info = read_commit_info(repo->get(), checksum);
  printf("%s: good signature by key %s", checksum.c_str(), key_id(*k).c_str());
  if (info) printf("; version %s, sequence %llu, os %s", info->version.c_str(),
                   static_cast<unsigned long long>(info->sequence), info->os.c_str());
  printf("\n");
  return 0;
}

int cmd_publish(const Args& a) {
  if (auto r = need(a, {"repo"}); !r) return usage_error(r.error().message);
  auto keys = secret_keys(a);
  if (!keys) return failed(keys.error());
  if (auto r = publish_repo(a.get("repo"), a.flag("static-delta"), *keys); !r) return failed(r.error());
  return 0;
}

// --- agent ---

Result<Config> agent_config(const Args& a) {
  return load_agent_config(a.get("sysroot").empty() ? "/" : a.get("sysroot"), a.get("config"));
}

void draw_progress(const PullProgress& p) {
  fprintf(stderr, "\rReceiving objects: %u/%u, %.1f MB   ", p.fetched, p.requested, p.bytes / 1e6);
  fflush(stderr);
}

Result<std::unique_ptr<Agent>> open_agent(const Args& a, bool read_only = false) {
  BW_ASSIGN_OR_RETURN(auto cfg, agent_config(a));
  AgentOptions o;
  o.sysroot = a.get("sysroot").empty() ? "/" : a.get("sysroot");
  o.config = std::move(cfg);
  if (isatty(STDERR_FILENO)) o.progress = draw_progress;
  o.read_only = read_only;
  return Agent::open(std::move(o));
}

void print_status_text(const Status& s) {
  const auto& st = s.state;
  printf("OS:          %s (%s)\n", s.os.c_str(), s.booted_from_ostree ? "booted from ostree" : "sysroot not booted");
  if (st.since == 0) printf("State:       %s\n", state_name(st.state));
  else printf("State:       %s since %s: %s\n", state_name(st.state), rfc3339(st.since).c_str(), st.reason.c_str());
  if (st.state == State::failed && !st.error.empty()) printf("Error:       %s\n", st.error.c_str());
  printf("Deployments:\n");
  if (s.deployments.empty()) printf("  (none)\n");
  for (const auto& d : s.deployments)
    printf("  %-9s %-12s sequence %-6llu %s%s\n", d.role.c_str(),
           d.commit.version.empty() ? "-" : d.commit.version.c_str(),
           static_cast<unsigned long long>(d.commit.sequence), d.commit.checksum.c_str(), d.staged ? " (staged)" : "");
  const auto& c = st.last_check;
  if (c.time == 0) printf("Last check:  never\n");
  else if (!c.ok) printf("Last check:  %s failed: %s\n", rfc3339(c.time).c_str(), c.error.c_str());
  else
    printf("Last check:  %s: %s %s (sequence %llu)\n", rfc3339(c.time).c_str(),
           c.available ? "update available," : "up to date,", c.candidate.version.c_str(),
           static_cast<unsigned long long>(c.candidate.sequence));
  printf("Anti-rollback floor: sequence %llu\n", static_cast<unsigned long long>(st.highest_sequence));
  for (const auto& f : st.failed)
    printf("Failed:      %s (sequence %llu) at %s: %s\n", f.commit.version.c_str(),
           static_cast<unsigned long long>(f.commit.sequence), rfc3339(f.time).c_str(), f.reason.c_str());
}

int cmd_status(const Args& a) {
  auto agent = open_agent(a, true);
  if (!agent) return failed(agent.error());
  auto s = (*agent)->status();
  if (!s) return failed(s.error());
  if (a.flag("json")) printf("%s\n", status_json(*s).c_str());
  else print_status_text(*s);
  return 0;
}

int cmd_check(const Args& a) {
  auto agent = open_agent(a);
  if (!agent) return failed(agent.error());
  auto rec = (*agent)->check();
  if (!rec) return failed(rec.error());
  const auto& c = rec->candidate;
  if (a.flag("json")) {
    nlohmann::json j = {{"available", rec->available},
                        {"checksum", c.checksum},
                        {"version", c.version},
                        {"sequence", c.sequence},
                        {"os", c.os}};
    printf("%s\n", j.dump().c_str());
  } else if (rec->available) {
    printf("update available: %s (sequence %llu, commit %s)\n", c.version.c_str(),
           static_cast<unsigned long long>(c.sequence), c.checksum.c_str());
  } else {
    printf("no update: %s (sequence %llu) is deployed%s\n", c.version.c_str(),
           static_cast<unsigned long long>(c.sequence), rec->error.empty() ? "" : (" (" + rec->error + ")").c_str());
  }
  return 0;
}

Result<void> request_reboot() {
  BW_ASSIGN_OR_RETURN(auto fd, connect_unix(paths::kControlSocket));
  BW_RETURN_IF_ERROR(write_all(fd.get(), "{\"cmd\":\"reboot\"}\n"));
  std::string reply;
  char buf[512];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("reading the reply of %s", paths::kControlSocket);
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.find('\n') != std::string::npos) break;
  }
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(0, "bulwark-init answered the reboot request with '%s'", reply.c_str());
  if (j.contains("error")) return make_error(0, "bulwark-init refused the reboot: %s", j["error"].dump().c_str());
  return {};
}

int cmd_upgrade(const Args& a) {
  auto agent = open_agent(a);
  if (!agent) return failed(agent.error());
  bool reboot = a.flag("reboot") || (*agent)->config().auto_reboot;
  if (a.flag("reboot") && !(*agent)->booted_from_ostree())
    return usage_error("--reboot: " + (a.get("sysroot").empty() ? std::string("/") : a.get("sysroot")) +
                       " is not the running system's sysroot");
  auto res = (*agent)->upgrade();
  if (isatty(STDERR_FILENO)) fprintf(stderr, "\n");
  if (!res) return failed(res.error());
  printf("%s\n", res->message.c_str());
  if (res->deployed && reboot && (*agent)->booted_from_ostree()) {
    agent->reset();  // release the sysroot lock before shutdown finalizes the deployment
    printf("rebooting\n");
    if (auto r = request_reboot(); !r) return failed(r.error());
  }
  return 0;
}

int cmd_rollback(const Args& a) {
  auto agent = open_agent(a);
  if (!agent) return failed(agent.error());
  auto msg = (*agent)->rollback();
  if (!msg) return failed(msg.error());
  printf("%s\n", msg->c_str());
  return 0;
}

int cmd_boot_verdict(const Args& a) {
  if (a.operands.empty() || (a.operands[0] != "good" && a.operands[0] != "bad"))
    return usage_error("boot-verdict: expected good or bad");
  auto agent = open_agent(a);
  if (!agent) return failed(agent.error());
  std::string reason = a.operands.size() > 1 ? a.operands[1] : "no reason given";
  auto res = (*agent)->boot_verdict(a.operands[0] == "good", reason);
  if (!res) return failed(res.error());
  printf("%s\n", res->message.c_str());
  if (res->reboot) {
    agent->reset();
    if (auto r = request_reboot(); !r) return failed(r.error());
  }
  return 0;
}

int cmd_metrics(const Args& a) {
  auto agent = open_agent(a, true);
  if (!agent) return failed(agent.error());
  auto s = (*agent)->status();
  if (!s) return failed(s.error());
  std::string text = render_metrics(*s, static_cast<int64_t>(time(nullptr)));
  if (a.get("output").empty()) {
    fputs(text.c_str(), stdout);
    return 0;
  }
  if (auto r = write_file_atomic(a.get("output"), text, 0644, Durability::volatile_); !r) return failed(r.error());
  return 0;
}

// One round of the daemon: check, upgrade by policy, reboot by policy.
void daemon_round(const Args& a) {
  auto agent = open_agent(a);
  if (!agent) {
    log::error(agent.error().text());
    return;
  }
  if (!(*agent)->config().auto_upgrade) {
    if (auto rec = (*agent)->check(); !rec) log::error("check: " + rec.error().text());
    return;
  }
  auto res = (*agent)->upgrade();
  if (!res) {
    log::error("upgrade: " + res.error().text());
    return;
  }
  log::info(res->message);
  if (res->deployed && (*agent)->config().auto_reboot && (*agent)->booted_from_ostree()) {
    agent->reset();
    log::info("rebooting into the new deployment (policy.auto_reboot)");
    if (auto r = request_reboot(); !r) log::error(r.error().text());
  }
}

uint32_t random_below(uint32_t n) {
  if (n == 0) return 0;
  uint32_t r = 0;
  if (getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(getpid());
  return r % n;
}

int cmd_daemon(const Args& a) {
  auto cfg = agent_config(a);
  if (!cfg) return failed(cfg.error());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // The first check waits for a random part of the jitter, so that a fleet
  // rebooted at once does not reach the server at once.
  uint32_t wait_s = random_below(static_cast<uint32_t>(cfg->jitter_s) + 1);
  log::info(strf("checking %s every %d s (+ up to %d s of jitter); first check in %u s", cfg->url.c_str(),
                 cfg->check_interval_s, cfg->jitter_s, wait_s));
  for (;;) {
    struct timespec ts = {static_cast<time_t>(wait_s), 0};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      log::info("stopping");
      return 0;
    }
    daemon_round(a);
    wait_s = static_cast<uint32_t>(cfg->check_interval_s) + random_below(static_cast<uint32_t>(cfg->jitter_s) + 1);
  }
}

}  // namespace
}  // namespace bw::update

int main(int argc, char** argv) {
  using namespace bw::update;
  // The agent's own network worker (see updater/remote.h), not for people.
  if (argc > 1 && std::string(argv[1]) == "fetch-worker") {
    bw::log::configure("bulwark-update", "", false, false);
    return fetch_worker_main(std::vector<std::string>(argv + 2, argv + argc));
  }
  auto parsed = parse_args(argc, argv);
  if (!parsed) return usage_error(parsed.error().message);
  auto& [command, args] = *parsed;
  bw::log::configure("bulwark-update", "", false, args.flag("debug"));
  // libostree prints progress notes ("Freed objects: ...") with g_print;
  // they belong in the debug log, not in the command's output.
  g_set_print_handler([](const gchar* text) { bw::log::debug(std::string(bw::trim(text))); });
  if (args.flag("help") || command == "help") {
    fputs(kUsage, stdout);
    return 0;
  }
  static const std::map<std::string, int (*)(const Args&)> verbs = {
      {"keygen", cmd_keygen},   {"commit", cmd_commit},     {"sign", cmd_sign},
      {"verify", cmd_verify},   {"publish", cmd_publish},   {"status", cmd_status},
      {"check", cmd_check},     {"upgrade", cmd_upgrade},   {"rollback", cmd_rollback},
      {"boot-verdict", cmd_boot_verdict}, {"metrics", cmd_metrics}, {"daemon", cmd_daemon},
  };
  if (command.empty()) return usage_error("no command");
  auto it = verbs.find(command);
  if (it == verbs.end()) return usage_error("unknown command '" + command + "'");
  return it->second(args);
}
