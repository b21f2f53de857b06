// `bulwark-seccomp explain PROFILE SYSCALL [ARG...]`: what the profile
// decides for one call and which rule decides it, from the profile itself
// (seccomp::evaluate) and from the compiled BPF run through an interpreter
// (seccomp::run_filter). The two must agree; when they do not, one of the
// compilers or the evaluator has a bug, and that is said loudly.
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include "base/strings.h"
#include "seccomp/bpf.h"
#include "seccomp/diff.h"
#include "seccomp/evaluate.h"
#include "seccomp/export.h"
#include "seccomp/profile_input.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp_tool {

namespace {

using json = nlohmann::json;

// Constants an argument may be given by, alone or or-ed: "CLONE_NEWUSER|SIGCHLD".
struct NamedValue {
  const char* name;
  uint64_t value;
};
#define BW_NAMED(x) {#x, static_cast<uint64_t>(x)}
constexpr NamedValue kNamedValues[] = {
    BW_NAMED(CLONE_VM),        BW_NAMED(CLONE_FS),           BW_NAMED(CLONE_FILES),
    BW_NAMED(CLONE_SIGHAND),   BW_NAMED(CLONE_PIDFD),        BW_NAMED(CLONE_PTRACE),
    BW_NAMED(CLONE_VFORK),     BW_NAMED(CLONE_PARENT),       BW_NAMED(CLONE_THREAD),
    BW_NAMED(CLONE_NEWNS),     BW_NAMED(CLONE_SYSVSEM),      BW_NAMED(CLONE_SETTLS),
    BW_NAMED(CLONE_PARENT_SETTID), BW_NAMED(CLONE_CHILD_CLEARTID), BW_NAMED(CLONE_DETACHED),
    BW_NAMED(CLONE_UNTRACED),  BW_NAMED(CLONE_CHILD_SETTID), BW_NAMED(CLONE_NEWCGROUP),
    BW_NAMED(CLONE_NEWUTS),    BW_NAMED(CLONE_NEWIPC),       BW_NAMED(CLONE_NEWUSER),
    BW_NAMED(CLONE_NEWPID),    BW_NAMED(CLONE_NEWNET),       BW_NAMED(CLONE_IO),
    BW_NAMED(CLONE_NEWTIME),   BW_NAMED(SIGCHLD),
    BW_NAMED(AF_UNIX),         BW_NAMED(AF_INET),            BW_NAMED(AF_INET6),
    BW_NAMED(AF_NETLINK),      BW_NAMED(AF_PACKET),          BW_NAMED(AF_ALG),
    BW_NAMED(AF_VSOCK),        BW_NAMED(AF_KCM),             BW_NAMED(AF_BLUETOOTH),
    BW_NAMED(SOCK_STREAM),     BW_NAMED(SOCK_DGRAM),         BW_NAMED(SOCK_RAW),
    BW_NAMED(SOCK_CLOEXEC),    BW_NAMED(SOCK_NONBLOCK),
    BW_NAMED(PER_LINUX),       BW_NAMED(PER_LINUX32),        BW_NAMED(UNAME26),
    BW_NAMED(ADDR_NO_RANDOMIZE),
};
#undef BW_NAMED

std::optional<uint64_t> parse_number(std::string_view s) {
  uint64_t v = 0;
  int base = 10;
  if (s.starts_with("0x") || s.starts_with("0X")) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "42", "0x10000000", "-1" (two's complement), "CLONE_NEWUSER|SIGCHLD".
Result<uint64_t> parse_arg(const std::string& text) {
  if (text.starts_with("-")) {
    if (auto n = parse_int(text)) return static_cast<uint64_t>(*n);
    return make_error(EINVAL, "argument '%s' is not a number", text.c_str());
  }
  uint64_t out = 0;
  for (const std::string& part : split(text, '|')) {
    if (auto n = parse_number(trim(part))) {
      out |= *n;
      continue;
    }
    bool found = false;
    for (const NamedValue& nv : kNamedValues)
      if (trim(part) == nv.name) {
        out |= nv.value;
        found = true;
      }
    if (!found)
      return make_error(EINVAL,
                        "argument '%s': '%s' is neither a number (decimal or 0x hex) nor a "
                        "known constant (CLONE_*, AF_*, SOCK_*, PER_*)",
                        text.c_str(), std::string(trim(part)).c_str());
  }
  return out;
}

std::string hex(uint64_t v) { return strf("%#llx", static_cast<unsigned long long>(v)); }

// "allow", "errno", "kill_process", ...: the `verdict` key of --json.
const char* verdict(uint32_t ret) {
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW: return "allow";
    case SECCOMP_RET_ERRNO: return "errno";
    case SECCOMP_RET_KILL_PROCESS: return "kill_process";
    case SECCOMP_RET_KILL_THREAD: return "kill_thread";
    case SECCOMP_RET_TRAP: return "trap";
    case SECCOMP_RET_TRACE: return "trace";
    case SECCOMP_RET_LOG: return "log";
    case SECCOMP_RET_USER_NOTIF: return "notify";
  }
  return "unknown";
}

json decision_json(uint32_t ret) {
  json j = {{"action", seccomp::describe_action(ret)}, {"verdict", verdict(ret)}, {"ret", ret}};
  uint32_t action = ret & SECCOMP_RET_ACTION_FULL;
  if (action == SECCOMP_RET_ERRNO || action == SECCOMP_RET_TRACE)
    j["data"] = ret & SECCOMP_RET_DATA;
  return j;
}

// The rules that name the syscall, whether or not they decided: the ones
// whose conditions did not hold explain a default-action answer.
struct RuleSummary {
  std::string path, conditions, action;
};

std::vector<RuleSummary> rules_naming(const Profile& p, const std::string& name) {
  std::vector<RuleSummary> out;
  for (size_t i = 0; i < p.section.syscalls.size(); ++i) {
    const auto& r = p.section.syscalls[i];
    if (std::find(r.names.begin(), r.names.end(), name) == r.names.end()) continue;
    auto ret = seccomp::action_ret(r.action, r.errno_ret);
    out.push_back({p.rule_path(static_cast<int>(i)), seccomp::describe_conditions(r),
                   ret ? seccomp::describe_action(*ret) : r.action});
  }
  return out;
}

}  // namespace

int cmd_explain(const Common& common, const std::vector<std::string>& words) {
  auto args = parse_verb_args(words, common, {"caps", "arch"});
  if (!args) return fail(common, args.error().message, 2);
  const Common& c = args->common;
  if (args->positional.size() < 2 || args->positional.size() > 8)
    return fail(c, "explain: expected PROFILE SYSCALL [ARG...] (at most 6 arguments)", 2);
  auto target = target_from(*args);
  if (!target) return fail(c, target.error().message, 2);
  auto arch_opt = arch_option(*args);
  if (!arch_opt) return fail(c, arch_opt.error().message, 2);
  std::string arch = arch_opt->empty() ? seccomp::native_arch_name() : *arch_opt;
  // The launcher's engine: evaluate() gives its meaning exactly (the
  // libseccomp engines lack its ENOSYS rule for newer syscalls).
  const seccomp::Engine engine = seccomp::Engine::bulwark;

  std::array<uint64_t, 6> call_args{};
  for (size_t i = 2; i < args->positional.size(); ++i) {
    auto v = parse_arg(args->positional[i]);
    if (!v) return fail(c, v.error().message, 2);
    call_args[i - 2] = *v;
  }
  // The syscall by name, or by number ("437" or "#437") on `arch`.
  std::string syscall = args->positional[1];
  int nr = 0;
  if (auto n = parse_int(syscall.starts_with("#") ? syscall.substr(1) : syscall)) {
    nr = static_cast<int>(*n);
    std::string name = seccomp::syscall_name(arch, nr);
    syscall = name.empty() ? "#" + std::to_string(nr) : name;
  } else {
    auto number = seccomp::syscall_number(arch, syscall);
    if (!number) return fail(c, "explain: " + number.error().message, 2);
    if (*number < 0)
      return fail(c, strf("explain: '%s' is not a syscall of its own on %s", syscall.c_str(),
                          arch.c_str()), 2);
    nr = *number;
  }

  auto profile = load_profile(args->positional[0], *target);
  if (!profile) return fail(c, profile.error().message, profile.error().code ? 2 : 1);
  Profile& p = *profile;
  auto note = place_on_arch(p, arch);
  if (!note) return fail(c, note.error().message, 1);
  auto decision = seccomp::evaluate(p.section, arch, syscall, call_args);
  if (!decision)
    return fail(c, file_message(p.source.file, p.locate(decision.error().message)), 1);
  auto filter = seccomp::compile(p.section, "", engine);
  if (!filter) return fail(c, file_message(p.source.file, p.locate(filter.error().message)), 1);
  seccomp::SeccompData data;
  data.nr = nr;
  data.arch = seccomp::audit_arch(arch);
  data.args = call_args;
  auto run = seccomp::run_filter(filter->program, data);
  if (!run) return fail(c, "running the compiled filter: " + run.error().text(), 1);
  bool agree = run->ret == decision->ret;

  std::string rule_path = decision->rule < 0 ? "" : p.rule_path(decision->rule);
  std::vector<RuleSummary> rules = rules_naming(p, syscall);
  if (c.json) {
    json j = {{"profile", p.source.file},
              {"form", form_name(p.source.form)},
              {"syscall", syscall},
              {"nr", nr},
              {"arch", arch},
              {"args", json::array()},
              {"profile_decision", decision_json(decision->ret)},
              {"filter_decision", decision_json(run->ret)},
              {"agree", agree}};
    for (uint64_t a : call_args) j["args"].push_back(a);
    j["profile_decision"]["rule"] =
        decision->rule < 0 ? json(nullptr)
                           : json(p.rule_origin.at(static_cast<size_t>(decision->rule)));
    j["profile_decision"]["rule_path"] = decision->rule < 0 ? json(nullptr) : json(rule_path);
    j["profile_decision"]["reason"] = p.locate_reason(decision->reason);
    j["rules"] = json::array();
    for (const auto& r : rules)
      j["rules"].push_back({{"path", r.path}, {"conditions", r.conditions}, {"action", r.action}});
    j["filter_decision"]["instructions"] = run->instructions;
    j["filter_decision"]["engine"] = seccomp::engine_name(engine);
    if (p.source.form == ProfileForm::docker) j["caps"] = p.target.caps;
    if (!note->empty()) j["note"] = *note;
    printf("%s\n", j.dump(2).c_str());
  } else {
    std::vector<std::string> shown;
    size_t last = 0;
    for (size_t i = 0; i < call_args.size(); ++i)
      if (call_args[i]) last = i + 1;
    for (size_t i = 0; i < last; ++i) shown.push_back(hex(call_args[i]));
    printf("%s(%s) on %s (nr %d):\n", syscall.c_str(), join(shown, ", ").c_str(), arch.c_str(), nr);
    if (!note->empty()) printf("  note:    %s\n", note->c_str());
    printf("  profile: %s\n", seccomp::describe_action(decision->ret).c_str());
    printf("      why: %s\n", p.locate_reason(decision->reason).c_str());
    for (size_t i = 0; i < rules.size(); ++i)
      printf("%s %s: %s%s\n", i == 0 ? "    rules:" : "          ", rules[i].path.c_str(),
             rules[i].conditions.empty() ? "" : (rules[i].conditions + " -> ").c_str(),
             rules[i].action.c_str());
    printf("  filter:  %s (%zu BPF instructions run, %s engine)\n",
           seccomp::describe_action(run->ret).c_str(), run->instructions,
           seccomp::engine_name(engine));
  }
  if (!agree) {
    fprintf(stderr,
            "bulwark-seccomp: BUG: the profile says %s (%#x) but its compiled filter returns %s "
            "(%#x) for %s on %s (%s engine); please report this with the profile\n",
            seccomp::describe_action(decision->ret).c_str(), decision->ret,
            seccomp::describe_action(run->ret).c_str(), run->ret, syscall.c_str(), arch.c_str(),
            seccomp::engine_name(engine));
    return 1;
  }
  return 0;
}

}  // namespace bw::seccomp_tool
