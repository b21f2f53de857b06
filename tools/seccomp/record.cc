// `record [-o OUT] [--base PROFILE] [--caps LIST] [-v] -- COMMAND ARGS...`:
// runs the command with every system call of it and its descendants sent to
// this process (seccomp user notification, see lib/seccomp/supervise.h) and
// writes the smallest profile that lets it run (lib/seccomp/minimize.h).
//
// The recorder's own calls are never in the profile: the filter is installed
// in the child just before its execve, and the first call recorded is that
// execve. That is also the only call Bulwark's runtime makes after loading a
// container's filter (with noNewPrivileges), so a profile recorded by running
// `bulwark-seccomp record` as a container's process fits that container.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "seccomp/minimize.h"
#include "seccomp/profile_input.h"
#include "seccomp/supervise.h"
#include "seccomp/supervised.h"
#include "seccomp/verbs.h"

namespace bw::seccomp_tool {

namespace {

constexpr const char* kHelp =
    "usage: bulwark-seccomp record [-o OUT] [--base PROFILE] [--caps LIST] [-v] [--json]\n"
    "                              -- COMMAND ARGS...\n"
    "\n"
    "Runs COMMAND, following every process and thread it starts, and writes the\n"
    "smallest OCI linux.seccomp section that lets it do what it did: each system\n"
    "call it made, on each architecture it used, and nothing else (EPERM).\n"
    "clone is limited to the namespace flags seen (usually none), socket,\n"
    "personality and prctl to the first-argument values seen (up to 4 each);\n"
    "clone3 gets ENOSYS so that the C library falls back to clone.\n"
    "Every call is seen (seccomp user notification, no sampling); the command\n"
    "runs unhindered, at the cost of a round trip to the recorder per call.\n"
    "\n"
    "  -o OUT          write the profile to OUT (\"-\": stdout, the default\n"
    "                  without --json)\n"
    "  --base PROFILE  take defaultAction, defaultErrnoRet, architectures, flags\n"
    "                  and the rules that do not allow (errno, kill, trap, log,\n"
    "                  notify) from PROFILE, dropping from those rules the calls\n"
    "                  the command made; PROFILE's allow rules are not used\n"
    "  --caps LIST     capabilities to resolve a Docker-format PROFILE for\n"
    "  -v              list the calls made, with counts, on stderr\n"
    "  --json          a report on stdout: the calls with counts and the values\n"
    "                  of checked arguments, notes, and the profile unless -o\n"
    "\n"
    "exit status: 0 the command succeeded and the profile was written; 1 the\n"
    "command failed (the profile is written and covers what it did) or could\n"
    "not be run; 2 a usage error or an unreadable --base.\n";

nlohmann::ordered_json syscalls_json(const seccomp::Recording& rec) {
  auto list = nlohmann::ordered_json::array();
  for (const seccomp::SyscallUse* u : rec.sorted()) {
    nlohmann::ordered_json e = {{"name", u->name}, {"arch", u->arch}, {"nr", u->nr},
                                {"count", u->count}};
    if (u->rule_index >= 0) e["arg_values"] = u->values;
    list.push_back(std::move(e));
  }
  return list;
}

void print_table(const seccomp::Recording& rec) {
  for (const seccomp::SyscallUse* u : rec.sorted()) {
    std::string name = u->name.empty() ? strf("#%d", u->nr) : u->name;
    std::fprintf(stderr, "  %-22s %10llu  %s\n", name.c_str(),
                 static_cast<unsigned long long>(u->count), u->arch.c_str());
  }
}

}  // namespace

int cmd_record(const Common& common_in, const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  Common common = common_in;
  auto cl = parse_command_line(
      args, {{"output", 'o', true}, {"base", 0, true}, {"caps", 0, true}, {"verbose", 'v', false}});
  if (cl) {
    common.json = common.json || cl->has("json");
    common.strict = common.strict || cl->has("strict");
  }
  if (!cl) return fail(common, "record: " + cl.error().message + " (see record --help)", 2);
  const std::string output = cl->get("output", common.json ? "" : "-");

  seccomp::ProfileOptions popts;
  if (cl->has("base")) {
    Target target;
    if (cl->has("caps")) {
      auto caps = parse_caps(cl->get("caps"));
      if (!caps) return fail(common, "record: " + caps.error().message, 2);
      target.caps = std::move(*caps);
      target.caps_given = true;
    }
    auto base = load_profile(cl->get("base"), target);
    if (!base) return fail(common, "record: --base: " + base.error().text(), 2);
    popts.base = std::move(base->section);
  }

  seccomp::Recording rec;
  seccomp::SuperviseOptions sopts;
  sopts.argv = cl->command;
  auto run = seccomp::supervise(sopts, [&rec](const seccomp::Notification& n) {
    rec.add(n.data.arch, n.data.nr, n.data.args, n.pid);
    return 0;
  });
  if (!run) return fail(common, "record: " + run.error().text(), 1);
  auto profile = seccomp::minimal_profile(rec, popts);
  if (!profile) return fail(common, "record: " + profile.error().text(), 1);
  std::string text = seccomp::profile_to_json(profile->profile);
  if (!output.empty()) {
    if (auto w = write_output(output, text); !w)
      return fail(common, "record: " + w.error().text(), 1);
  }
  const bool ok = !run->status.signaled && run->status.code == 0;

  if (common.json) {
    nlohmann::ordered_json j = {
        {"command", cl->command},
        {"exit", {{"signaled", run->status.signaled}, {"code", run->status.code}}},
        {"calls", run->notifications},
        {"tasks", run->tasks},
        {"architectures", rec.architectures()},
        {"allowed_syscalls", profile->allowed_names},
        {"syscalls", syscalls_json(rec)},
        {"notes", profile->notes},
    };
    if (!output.empty())
      j["output"] = output;
    else
      j["profile"] = nlohmann::ordered_json::parse(text);
    std::printf("%s\n", j.dump(2).c_str());
    return ok ? 0 : 1;
  }
  if (cl->has("verbose")) print_table(rec);
  std::fprintf(stderr, "record: %s %s after %llu calls from %llu tasks on %s\n",
               command_text(cl->command).c_str(), describe_exit(run->status).c_str(),
               static_cast<unsigned long long>(run->notifications),
               static_cast<unsigned long long>(run->tasks),
               join(rec.architectures(), ", ").c_str());
  for (const auto& note : profile->notes) std::fprintf(stderr, "record: note: %s\n", note.c_str());
  std::fprintf(stderr, "record: %zu system calls allowed%s%s\n", profile->allowed_names,
               output == "-" ? "" : "; profile written to ", output == "-" ? "" : output.c_str());
  if (!ok) std::fprintf(stderr, "record: the command failed; the profile covers only what it did\n");
  return ok ? 0 : 1;
}

}  // namespace bw::seccomp_tool
