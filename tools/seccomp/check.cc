// `check --profile PROFILE [--caps LIST] -- COMMAND ARGS...`: runs the
// command under the profile with every denying return (ERRNO, KILL*, TRAP,
// TRACE) turned into a user notification that this process records and lets
// through, and lists each system call that would have been denied, with a
// count and the first call's caller and arguments. Allowed calls run at the
// profile's own cost and never reach this process.
//
// Rules that hand calls to a seccomp agent (SCMP_ACT_NOTIFY) count as
// allowed: no agent is attached here.
//
// One denial is enforced, not reported: ERRNO(ENOSYS), the answer for "this
// kernel has no such call", which callers handle by falling back (glibc
// retries clone3 as clone; Bulwark's generator gives it for calls newer than
// the profile). Letting those calls through would hide the fallback path
// from the check; they are listed separately and do not fail it.
#include <linux/seccomp.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "seccomp/bpf.h"
#include "seccomp/minimize.h"
#include "seccomp/profile_input.h"
#include "seccomp/seccomp.h"
#include "seccomp/supervise.h"
#include "seccomp/supervised.h"
#include "seccomp/verbs.h"

namespace bw::seccomp_tool {

namespace {

constexpr const char* kHelp =
    "usage: bulwark-seccomp check --profile PROFILE [--caps LIST] [--json]\n"
    "                             -- COMMAND ARGS...\n"
    "\n"
    "Runs COMMAND (and every process and thread it starts) under PROFILE with\n"
    "denials reported instead of enforced: each call the profile would deny\n"
    "(errno, kill, trap, trace) runs anyway and is listed with a count, the\n"
    "first caller and that call's arguments. Allowed calls run at full speed.\n"
    "Calls the profile answers with ENOSYS (\"no such call\", which callers\n"
    "handle by falling back, as glibc does for clone3) get ENOSYS and are\n"
    "listed apart; they do not count as denials.\n"
    "\n"
    "  --profile PROFILE  an OCI section, a config.json or a Docker profile\n"
    "  --caps LIST        capabilities to resolve a Docker-format PROFILE for\n"
    "  --json             the findings on stdout as JSON\n"
    "\n"
    "exit status: 0 nothing would have been denied and the command succeeded;\n"
    "1 some call would have been denied, or the command failed or could not be\n"
    "run; 2 a usage error or an unreadable profile.\n";

struct Caller {
  std::string comm;  // of the first caller
  uint32_t ret = 0;  // what the profile returns for the first call
};

uint64_t key_of(uint32_t arch, int nr) {
  return (static_cast<uint64_t>(arch) << 32) | static_cast<uint32_t>(nr);
}

}  // namespace

int cmd_check(const Common& common_in, const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  Common common = common_in;
  auto cl = parse_command_line(args, {{"profile", 'p', true}, {"caps", 0, true}});
  if (cl) {
    common.json = common.json || cl->has("json");
    common.strict = common.strict || cl->has("strict");
  }
  if (!cl) return fail(common, "check: " + cl.error().message + " (see check --help)", 2);
  if (!cl->has("profile")) return fail(common, "check: --profile is required (see check --help)", 2);
  const std::string file = cl->get("profile");

  Target target;
  if (cl->has("caps")) {
    auto caps = parse_caps(cl->get("caps"));
    if (!caps) return fail(common, "check: " + caps.error().message, 2);
    target.caps = std::move(*caps);
    target.caps_given = true;
  }
  auto profile = load_profile(file, target);
  if (!profile) return fail(common, "check: " + profile.error().text(), 2);
  oci::Seccomp section = profile->section;
  section.listener_path.clear();
  section.listener_metadata.clear();
  for (auto& rule : section.syscalls)
    if (rule.action == "SCMP_ACT_NOTIFY") rule.action = "SCMP_ACT_ALLOW";
  auto filter = seccomp::compile(section, "");
  if (!filter) return fail(common, "check: " + profile->locate(filter.error().text()), 2);
  if (!filter->unknown_names.empty()) {
    std::string msg = strf("%s names calls libseccomp does not know (%s); they are left out, "
                           "as when the profile is loaded",
                           file.c_str(), join(filter->unknown_names, ", ").c_str());
    if (common.strict) return fail(common, "check: " + msg, 1);
    std::fprintf(stderr, "check: warning: %s\n", msg.c_str());
  }

  // The profile's own answer to each reported call, from the program the
  // launcher would load: ERRNO(ENOSYS) is enforced (see the file comment),
  // everything else is recorded and let through.
  const std::vector<struct sock_filter> original = filter->program;
  seccomp::Recording denied, enosys;
  std::map<uint64_t, Caller> first;
  seccomp::SuperviseOptions sopts;
  sopts.argv = cl->command;
  sopts.program = seccomp::report_denials_program(filter->program);
  sopts.filter_flags = filter->flags;
  auto run = seccomp::supervise(sopts, [&](const seccomp::Notification& n) {
    auto decided = seccomp::run_filter(original, n.data);
    uint32_t ret = decided ? decided->ret : SECCOMP_RET_KILL_PROCESS;
    if ((ret & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO && (ret & SECCOMP_RET_DATA) == ENOSYS) {
      enosys.add(n.data.arch, n.data.nr, n.data.args, n.pid);
      return ENOSYS;
    }
    denied.add(n.data.arch, n.data.nr, n.data.args, n.pid);
    auto [it, fresh] = first.try_emplace(key_of(n.data.arch, n.data.nr));
    if (fresh) it->second = Caller{seccomp::task_name(n).value_or(""), ret};
    return 0;
  });
  if (!run) return fail(common, "check: " + run.error().text(), 1);
  const bool command_ok = !run->status.signaled && run->status.code == 0;
  auto calls = denied.sorted();

  if (common.json) {
    auto list = nlohmann::ordered_json::array();
    for (const seccomp::SyscallUse* u : calls) {
      const Caller& c = first[key_of(u->audit_arch, u->nr)];
      nlohmann::ordered_json who = {{"pid", u->first_pid}, {"comm", c.comm}, {"args", u->first_args}};
      list.push_back({{"name", u->name}, {"arch", u->arch}, {"nr", u->nr}, {"count", u->count},
                      {"action", seccomp::describe_action(c.ret)}, {"ret", c.ret},
                      {"first", who}});
    }
    auto answered = nlohmann::ordered_json::array();
    for (const seccomp::SyscallUse* u : enosys.sorted())
      answered.push_back({{"name", u->name}, {"arch", u->arch}, {"nr", u->nr}, {"count", u->count}});
    nlohmann::ordered_json j = {
        {"command", cl->command},
        {"profile", file},
        {"form", form_name(profile->source.form)},
        {"exit", {{"signaled", run->status.signaled}, {"code", run->status.code}}},
        {"denied_calls", denied.calls()},
        {"denied", list},
        {"enosys", answered},
    };
    std::printf("%s\n", j.dump(2).c_str());
    return calls.empty() && command_ok ? 0 : 1;
  }

  std::fprintf(stderr, "check: %s %s\n", command_text(cl->command).c_str(),
               describe_exit(run->status).c_str());
  if (!enosys.empty()) {
    std::vector<std::string> names;
    for (const seccomp::SyscallUse* u : enosys.sorted())
      names.push_back(strf("%s (%llu x)", u->name.empty() ? strf("#%d", u->nr).c_str() : u->name.c_str(),
                           static_cast<unsigned long long>(u->count)));
    std::fprintf(stderr, "check: answered ENOSYS, as the profile says: %s\n", join(names, ", ").c_str());
  }
  if (calls.empty()) {
    std::printf("no call would have been denied by %s\n", file.c_str());
    if (!command_ok) std::fprintf(stderr, "check: the command failed, but not because of a denial\n");
    return command_ok ? 0 : 1;
  }
  std::printf("%zu system call%s would have been denied by %s (%llu calls):\n", calls.size(),
              calls.size() == 1 ? "" : "s", file.c_str(),
              static_cast<unsigned long long>(denied.calls()));
  for (const seccomp::SyscallUse* u : calls) {
    std::string name = u->name.empty() ? strf("#%d", u->nr) : u->name;
    const Caller& c = first[key_of(u->audit_arch, u->nr)];
    std::string who = c.comm.empty() ? strf("pid %d", u->first_pid)
                                     : strf("pid %d (%s)", u->first_pid, c.comm.c_str());
    std::printf("  %-20s %6llu x  %s  %s; first: %s, args %s\n", name.c_str(),
                static_cast<unsigned long long>(u->count), u->arch.c_str(),
                seccomp::describe_action(c.ret).c_str(), who.c_str(), args_text(u->first_args).c_str());
  }
  return 1;
}

}  // namespace bw::seccomp_tool
