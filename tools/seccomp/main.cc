// bulwark-seccomp: a tool for engineers tuning seccomp profiles. Argument
// dispatch only; each verb lives in its own file (verbs.h).
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "seccomp/verbs.h"

namespace bw::seccomp_tool {

namespace {

using VerbFn = int (*)(const Common&, const std::vector<std::string>&);

const std::map<std::string, VerbFn>& verbs() {
  static const std::map<std::string, VerbFn> m = {
      {"validate", cmd_validate}, {"compile", cmd_compile}, {"explain", cmd_explain},
      {"diff", cmd_diff},         {"record", cmd_record},   {"check", cmd_check},
  };
  return m;
}

void usage(FILE* out) {
  fputs(
      "usage: bulwark-seccomp [--json] [--strict] COMMAND ...\n"
      "\n"
      "commands:\n"
      "  validate PROFILE [--caps LIST] [--arch ARCH]\n"
      "      Report every schema and semantic error with the JSON path of the field, and\n"
      "      warnings (names unknown to libseccomp, ignored fields). Refuses a profile\n"
      "      that denies execve or execveat: the workload could never start.\n"
      "  compile PROFILE [--arch ARCH] [--caps LIST] [--format bpf|asm|pfc] [-o OUT]\n"
      "          [--engine bulwark|libseccomp-linear|libseccomp-tree]\n"
      "      The filter bulwark-run would load: raw struct sock_filter bytes (bpf, the\n"
      "      default; not written to a terminal), a disassembly (asm) or libseccomp's\n"
      "      PFC text (pfc). --arch: as on a machine of that architecture (built with\n"
      "      libseccomp). --engine: another generator than bulwark-run's.\n"
      "  explain PROFILE SYSCALL [ARG...] [--arch ARCH] [--caps LIST]\n"
      "      Which rule decides the call and its action, from the profile and from the\n"
      "      compiled filter run on the call (they must agree; exit 1 if not). SYSCALL\n"
      "      is a name or a number; ARGs are decimal, 0x hex, or constants such as\n"
      "      CLONE_NEWUSER|SIGCHLD. --arch: a process of that architecture makes the call.\n"
      "  diff PROFILE_A PROFILE_B [--arch ARCH] [--caps LIST]\n"
      "      Syscalls and argument rules one profile allows and the other does not,\n"
      "      per architecture. Exit 0 when equal, 1 when different, 2 on trouble.\n"
      "  record [-o OUT] [--base PROFILE] [--caps LIST] [-v] -- COMMAND ARGS...\n"
      "  check --profile PROFILE [--caps LIST] -- COMMAND ARGS...\n"
      "      See `bulwark-seccomp record --help` and `bulwark-seccomp check --help`.\n"
      "\n"
      "PROFILE is an OCI linux.seccomp section, a whole config.json (its\n"
      "linux.seccomp is used), or a Docker/containers-common profile, which is\n"
      "resolved as moby does for the running kernel, this machine's architecture\n"
      "and the capabilities of --caps: \"CAP_A,CAP_B\" (the whole set),\n"
      "\"+CAP_SYS_ADMIN,-CAP_KILL\" (changes to Docker's default set, the default)\n"
      "or \"\" (none). \"-\" reads PROFILE from stdin.\n"
      "\n"
      "options (validate, compile, explain and diff also take them after the command):\n"
      "  --json    machine-readable output on stdout (keys are documented in\n"
      "            tools/seccomp/README.md)\n"
      "  --strict  warnings, such as syscall names unknown to libseccomp, are errors\n"
      "  --help    this text\n"
      "\n"
      "exit status: 0 success, 1 a finding (invalid profile, profiles differ,\n"
      "explain's two answers disagree), 2 a usage error or unreadable input.\n",
      out);
}

}  // namespace

}  // namespace bw::seccomp_tool

int main(int argc, char** argv) {
  using namespace bw::seccomp_tool;
  std::vector<std::string> words(argv + 1, argv + argc);
  Common common;
  size_t i = 0;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.empty() || w[0] != '-') break;
    if (w == "--json") {
      common.json = true;
    } else if (w == "--strict") {
      common.strict = true;
    } else if (w == "--help" || w == "-h") {
      usage(stdout);
      return 0;
    } else if (w == "--version") {
      printf("bulwark-seccomp version 0.1.0\n");
      return 0;
    } else {
      fprintf(stderr, "bulwark-seccomp: unknown option '%s'\n", w.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (i >= words.size()) {
    usage(stderr);
    return 2;
  }
  auto it = verbs().find(words[i]);
  if (it == verbs().end()) {
    fprintf(stderr, "bulwark-seccomp: unknown command '%s'\n", words[i].c_str());
    usage(stderr);
    return 2;
  }
  std::vector<std::string> rest(words.begin() + static_cast<long>(i) + 1, words.end());
  // `bulwark-seccomp COMMAND --help` for the verbs of this file's usage text;
  // record and check print their own.
  bool own_help = it->first != "record" && it->first != "check";
  if (own_help && (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h"))) {
    usage(stdout);
    return 0;
  }
  return it->second(common, rest);
}
