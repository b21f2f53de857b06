// Bulwark's BPF generator: the program means what evaluate() says on every
// syscall number and on argument values around every value a profile
// compares, for the compat profiles and 200 random ones; it means what
// libseccomp's programs mean (apart from the ENOSYS rule and libseccomp's
// own mistakes, see model.h); it costs fewer instructions than libseccomp's
// binary tree; and the kernel enforces it as evaluate() predicts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "base/file.h"
#include "seccomp/codegen.h"
#include "seccomp_testing.h"

namespace bw::seccomp {
namespace {

using namespace testing;

void print_stats(const char* what, const DiffStats& st) {
  printf(
      "%s: %zu calls; %zu also compared with libseccomp (%zu answers as if libseccomp had "
      "dropped a rule); not compared: %zu ENOSYS rule, %zu where libseccomp's tree is wrong, "
      "%zu on a stale accumulator in libseccomp's program; %zu profiles refused by "
      "libseccomp, %zu too big for every engine\n",
      what, st.probes, st.libseccomp_compared, st.libseccomp_dropped, st.enosys, st.unreliable,
      st.libseccomp_hazard, st.libseccomp_refused, st.too_big);
}

std::string describe(const oci::Seccomp& s) {
  std::string out = "default " + s.default_action;
  if (s.default_errno_ret) out += strf("(%u)", *s.default_errno_ret);
  for (const auto& a : s.architectures) out += " " + a;
  out += "\n";
  for (size_t i = 0; i < s.syscalls.size(); ++i) {
    const auto& sc = s.syscalls[i];
    out += strf("  [%zu] %s%s", i, sc.action.c_str(),
                sc.errno_ret ? strf("(%u)", *sc.errno_ret).c_str() : "");
    for (size_t n = 0; n < sc.names.size() && n < 8; ++n) out += " " + sc.names[n];
    if (sc.names.size() > 8) out += strf(" (+%zu)", sc.names.size() - 8);
    for (const auto& a : sc.args)
      out += strf(" | arg%u %s %#llx %#llx", a.index, a.op.c_str() + 9,
                  static_cast<unsigned long long>(a.value),
                  static_cast<unsigned long long>(a.value_two));
    out += "\n";
  }
  return out;
}

TEST(SeccompCodegen, CompatProfilesMeanWhatEvaluateSays) {
  struct Case {
    const char* label;
    oci::Seccomp s;
  };
  const std::vector<Case> cases = {
      {"docker", load_profile(kDockerProfile, kDockerCaps)},
      {"docker+CAP_SYS_ADMIN",
       load_profile(kDockerProfile, with_cap(kDockerCaps, "CAP_SYS_ADMIN"))},
      {"containers-common", load_profile(kCommonProfile, kDockerCaps)},
      {"containers-common+CAP_SYS_ADMIN",
       load_profile(kCommonProfile, with_cap(kDockerCaps, "CAP_SYS_ADMIN"))},
      {"seccomp-profiles/default.json", load_profile(kDefaultProfile, {})},
  };
  for (const Case& c : cases) {
    std::mt19937_64 rng(7);
    DiffStats st;
    differential(c.s, c.label, true, st, rng);
    print_stats(c.label, st);
    EXPECT_EQ(st.mismatches, 0u) << c.label;
    EXPECT_EQ(st.libseccomp_refused, 0u) << c.label;
    // Everything but the ENOSYS rule is compared with libseccomp.
    EXPECT_EQ(st.libseccomp_compared + st.enosys, st.probes) << c.label;
    EXPECT_GT(st.probes, 3000u) << c.label;
  }
}

TEST(SeccompCodegen, RandomProfilesMeanWhatEvaluateSays) {
  std::mt19937_64 rng(20261128);
  DiffStats st;
  for (int i = 0; i < 200 && !HasFatalFailure(); ++i) {
    oci::Seccomp s = random_profile(rng);
    // libseccomp refuses some profiles the generator accepts (conflicting
    // rules, EEXIST); without the rules it refuses, the rest is compared.
    oci::Seccomp accepted = libseccomp_acceptable(s);
    size_t before = st.mismatches;
    differential(s, strf("random[%d]", i), accepted == s, st, rng);
    if (!(accepted == s)) differential(accepted, strf("random[%d] reduced", i), true, st, rng);
    if (st.mismatches != before) {
      printf("random[%d]:\n%s", i, describe(s).c_str());
      if (!(accepted == s)) printf("reduced:\n%s", describe(accepted).c_str());
      break;
    }
  }
  print_stats("200 random profiles", st);
  EXPECT_EQ(st.mismatches, 0u);
  EXPECT_GT(st.libseccomp_compared, 1000000u);
}

// Instructions executed under Docker's default profile on x86_64, per engine.
TEST(SeccompCodegen, CostsLessThanLibseccompsBinaryTree) {
  oci::Seccomp s = load_profile(kDockerProfile, kDockerCaps);
  const SyscallTable& t = table_of(SCMP_ARCH_X86_64);
  struct Row {
    const char* label;
    const char* name;
    std::array<uint64_t, 6> args;
    bool checks_args;
  };
  const Row rows[] = {
      {"allowed: read", "read", {}, false},
      {"arg-checked: personality(0)", "personality", {0}, true},
      {"arg-checked: socket(AF_INET)", "socket", {2, 1, 0}, true},
      {"arg-checked: clone(SIGCHLD)", "clone", {17}, true},
      {"denied: mount", "mount", {}, false},
      {"denied: kexec_load", "kexec_load", {}, false},
  };
  std::vector<std::vector<struct sock_filter>> progs;
  const Engine engines[] = {Engine::bulwark, Engine::libseccomp_linear, Engine::libseccomp_tree};
  for (Engine e : engines) progs.push_back(program_of(s, e));
  printf("%-30s %10s %18s %16s\n", "instructions executed", "bulwark", "libseccomp-linear",
         "libseccomp-tree");
  printf("%-30s %10zu %18zu %16zu\n", "(program size)", progs[0].size(), progs[1].size(),
         progs[2].size());
  for (const Row& r : rows) {
    size_t n[3];
    uint32_t ret[3];
    for (size_t e = 0; e < 3; ++e) {
      RunResult rr = run(progs[e], AUDIT_ARCH_X86_64, t.numbers.at(r.name), r.args);
      n[e] = rr.instructions;
      ret[e] = rr.ret;
    }
    printf("%-30s %10zu %18zu %16zu\n", r.label, n[0], n[1], n[2]);
    EXPECT_EQ(ret[0], ret[1]) << r.label;
    EXPECT_EQ(ret[0], ret[2]) << r.label;
    EXPECT_LE(n[0], n[2]) << r.label;
    if (r.checks_args || ret[0] != SECCOMP_RET_ALLOW) {
      EXPECT_LT(n[0], n[2]) << r.label;
    }
  }
}

// Hundreds of syscalls with argument checks that differ: jumps past the
// 8-bit offsets go through trampolines, and the meaning survives.
TEST(SeccompCodegen, LongJumpsAndTheSizeLimit) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.architectures = {"SCMP_ARCH_X86"};
  const SyscallTable& t = table_of(SCMP_ARCH_X86_64);
  uint64_t v = 1;
  for (const auto& [name, nr] : t.numbers) {
    if (nr % 3 != 0) continue;
    s.syscalls.push_back(rule({name}, "ALLOW", {arg(0, "EQ", v), arg(2, "GT", v * 7)}));
    s.syscalls.push_back(rule({name}, "TRAP", {arg(1, "MASKED_EQ", 0xF0, v << 4)}));
    ++v;
  }
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
  EXPECT_GT(f->program.size(), 1000u);
  size_t long_jumps = 0;
  for (const auto& insn : f->program) long_jumps += insn.code == (BPF_JMP | BPF_JA);
  EXPECT_GT(long_jumps, 0u) << "expected some jumps beyond 255 instructions";
  std::mt19937_64 rng(3);
  DiffStats st;
  differential(s, "long jumps", false, st, rng);
  EXPECT_EQ(st.mismatches, 0u);

  // Twice as many distinct checks on every syscall and more architectures:
  // more than one filter can hold, which is an error, not a broken program.
  s.architectures = {"SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
  for (const auto& [name, nr] : t.numbers)
    s.syscalls.push_back(rule({name}, "LOG", {arg(3, "NE", v++), arg(4, "LE", v++)}));
  auto big = compile(s, "");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, E2BIG);
  EXPECT_NE(big.error().message.find("at most 4096"), std::string::npos) << big.error().text();
}

// Docker's profile in a real process: what the kernel does is what
// evaluate() says.
TEST(SeccompCodegen, KernelEnforcesWhatEvaluateSays) {
  if (!seccomp_available()) GTEST_SKIP() << "this kernel does not let a process install a filter";
  oci::Seccomp s = load_profile(kDockerProfile, kDockerCaps);
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
  auto ev = Evaluator::create(s);
  ASSERT_TRUE(ev);
  const uint32_t native = audit_arch(native_oci());
  // The first number above everything the profile names.
  uint32_t newer = 0;
  for (uint32_t nr = 0; nr < 2000 && !newer; ++nr) {
    Decision d = ev->decide(native, nr, {});
    if (d.reason.find("newer than it") != std::string::npos) newer = nr;
  }
  ASSERT_NE(newer, 0u);

  struct Call {
    const char* what;
    long nr;
    std::array<uint64_t, 6> args;
    int want_errno;  // 0: succeeds
  };
  const Call calls[] = {
      {"getpid", SYS_getpid, {}, 0},
      {"personality(query)", SYS_personality, {0xFFFFFFFF}, 0},
      {"personality(READ_IMPLIES_EXEC)", SYS_personality, {READ_IMPLIES_EXEC}, EPERM},
      {"unshare(CLONE_NEWNS)", SYS_unshare, {CLONE_NEWNS}, EPERM},
      {"mount", SYS_mount, {0, 0, 0, 0, 0, 0}, EPERM},
      {"a number newer than the profile", newer, {}, ENOSYS},
      {"clone3", SYS_clone3, {0, 0}, ENOSYS},
  };
  int status = in_child([&] {
    if (install(f->program) != 0) return 100;
    // fork() is clone(SIGCHLD): allowed by the argument check.
    pid_t pid = fork();
    if (pid < 0) return 101;
    if (pid == 0) _exit(0);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return 102;
    for (size_t i = 0; i < std::size(calls); ++i) {
      const Call& c = calls[i];
      long rc = syscall(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5]);
      int err = rc < 0 ? errno : 0;
      if (err != c.want_errno) return 110 + static_cast<int>(i);
    }
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  int code = WEXITSTATUS(status);
  EXPECT_EQ(code, 0) << (code >= 110 && code < 110 + static_cast<int>(std::size(calls))
                             ? std::string("wrong result for ") + calls[code - 110].what
                             : strf("child failed with %d", code));
  // And evaluate() predicted each of them.
  for (const Call& c : calls) {
    Decision d = ev->decide(native, static_cast<uint32_t>(c.nr), c.args);
    uint32_t want =
        c.want_errno ? SECCOMP_RET_ERRNO | static_cast<uint32_t>(c.want_errno) : SECCOMP_RET_ALLOW;
    EXPECT_EQ(d.ret, want) << c.what << ": " << d.reason;
  }
}

TEST(SeccompCodegen, CompileChoosesTheEngineAndCachesEachApart) {
  oci::Seccomp s = load_profile(kDefaultProfile, {});
  auto def = compile(s, "");
  auto bw = compile(s, "", Engine::bulwark);
  auto tree = compile(s, "", Engine::libseccomp_tree);
  auto linear = compile(s, "", Engine::libseccomp_linear);
  ASSERT_TRUE(def && bw && tree && linear);
  EXPECT_EQ(def->engine, Engine::bulwark);
  EXPECT_EQ(def->key, bw->key);
  EXPECT_NE(bw->key, tree->key);
  EXPECT_NE(tree->key, linear->key);
  EXPECT_NE(bw->program.size(), tree->program.size());

  char tmpl[] = "/tmp/bw-codegen-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  for (Engine e : {Engine::bulwark, Engine::libseccomp_tree}) {
    auto first = compile(s, dir, e);
    auto again = compile(s, dir, e);
    ASSERT_TRUE(first && again);
    EXPECT_FALSE(first->from_cache);
    EXPECT_TRUE(again->from_cache) << engine_name(e) << ": " << again->cache_warning;
    EXPECT_EQ(again->program.size(), first->program.size());
    EXPECT_EQ(again->engine, e);
  }
  (void)remove_tree_at(AT_FDCWD, dir);
}

}  // namespace
}  // namespace bw::seccomp
