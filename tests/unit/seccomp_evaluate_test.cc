// evaluate(): decisions and their reasons, each checked against what the
// compiled programs return (Bulwark's always; libseccomp's linear and tree
// programs wherever libseccomp means the same), so that the rule semantics
// it states are libseccomp's, verified rather than assumed.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>

#include <string>

#include "seccomp/evaluate.h"
#include "seccomp_testing.h"

namespace bw::seccomp {
namespace {

using namespace testing;

constexpr uint32_t kErrno = SECCOMP_RET_ERRNO;
constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
using Args = std::array<uint64_t, 6>;

uint32_t number_of(const std::string& arch, const std::string& name) {
  const SyscallTable& t = table_of(token_of(arch));
  auto it = t.numbers.find(name);
  EXPECT_NE(it, t.numbers.end()) << name << " on " << arch;
  return it == t.numbers.end() ? 0 : it->second;
}

// Asks evaluate() and every engine's program about one call; expects `ret`
// from all of them (libseccomp's only when with_libseccomp), and returns the
// decision for its reason.
Decision expect_all(const oci::Seccomp& s, const std::string& arch, const std::string& name,
                    const Args& args, uint32_t ret, bool with_libseccomp = true) {
  auto d = evaluate(s, arch, name, args);
  EXPECT_TRUE(d) << name << ": " << (d ? "" : d.error().text());
  if (!d) return {};
  EXPECT_EQ(d->ret, ret) << arch << " " << name << ": " << describe_action(d->ret) << " ("
                         << d->reason << ")";
  uint32_t nr = name[0] == '#' ? static_cast<uint32_t>(std::stoul(name.substr(1), nullptr, 0))
                               : number_of(arch, name);
  uint32_t audit = audit_arch(arch);
  std::vector<Engine> engines = {Engine::bulwark};
  if (with_libseccomp)
    engines = {Engine::bulwark, Engine::libseccomp_linear, Engine::libseccomp_tree};
  for (Engine e : engines) {
    uint32_t got = run(program_of(s, e), audit, nr, args).ret;
    EXPECT_EQ(got, ret) << engine_name(e) << " for " << arch << " " << name << " ("
                        << args_text(args) << "): " << describe_action(got);
  }
  return *d;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const std::string kX86_64 = "SCMP_ARCH_X86_64";
const std::string kX86 = "SCMP_ARCH_X86";
const std::string kX32 = "SCMP_ARCH_X32";

TEST(SeccompEvaluate, DockerProfile) {
  oci::Seccomp s = load_profile(kDockerProfile, kDockerCaps, kX86_64);
  Decision d = expect_all(s, kX86_64, "read", {}, kAllow);
  EXPECT_GE(d.rule, 0);
  EXPECT_TRUE(d.reason.starts_with("syscalls[")) << d.reason;
  EXPECT_TRUE(contains(d.reason, "(read)")) << d.reason;

  d = expect_all(s, kX86_64, "personality", {0}, kAllow);
  EXPECT_TRUE(contains(d.reason, "(personality): arg0 == 0")) << d.reason;
  d = expect_all(s, kX86_64, "personality", {0xFFFFFFFF}, kAllow);
  EXPECT_TRUE(contains(d.reason, "arg0 == 0xffffffff")) << d.reason;
  d = expect_all(s, kX86_64, "personality", {1}, kErrno | EPERM);
  EXPECT_EQ(d.rule, -1);
  EXPECT_EQ(d.reason, "default action (no rule for 'personality' matches)");
  // The high word counts on x86_64.
  expect_all(s, kX86_64, "personality", {0x100000000ull}, kErrno | EPERM);

  d = expect_all(s, kX86_64, "socket", {2 /* AF_INET */}, kAllow);
  EXPECT_TRUE(contains(d.reason, "arg0 < 38")) << d.reason;
  expect_all(s, kX86_64, "socket", {38}, kErrno | EPERM);
  expect_all(s, kX86_64, "socket", {39}, kAllow);
  expect_all(s, kX86_64, "socket", {40}, kErrno | EPERM);
  expect_all(s, kX86_64, "socket", {0x100000026ull}, kAllow);  // > 40

  d = expect_all(s, kX86_64, "clone", {17 /* SIGCHLD */}, kAllow);
  EXPECT_TRUE(contains(d.reason, "arg0 & 0x7e020000 == 0")) << d.reason;
  expect_all(s, kX86_64, "clone", {0x20000 /* CLONE_NEWNS */ | 17}, kErrno | EPERM);
  d = expect_all(s, kX86_64, "clone3", {}, kErrno | ENOSYS);
  EXPECT_GE(d.rule, 0) << "clone3's ENOSYS is the profile's own rule";

  d = expect_all(s, kX86_64, "mount", {}, kErrno | EPERM);
  EXPECT_EQ(d.reason, "default action (no rule names 'mount')");
  d = expect_all(s, kX86_64, "#1000", {}, kErrno | ENOSYS, false);
  EXPECT_TRUE(contains(d.reason, "newer than it")) << d.reason;
  // libseccomp has no ENOSYS rule: its programs give the default there.
  EXPECT_EQ(run(program_of(s, Engine::libseccomp_tree), AUDIT_ARCH_X86_64, 1000).ret,
            kErrno | EPERM);

  // The compat architectures of archMap.
  expect_all(s, kX86, "read", {}, kAllow);
  d = expect_all(s, kX86, "socket", {2}, kAllow);  // the direct syscall, 359
  expect_all(s, kX86, "socket", {40}, kErrno | EPERM);
  expect_all(s, kX86, "socketcall", {1, 0x1234}, kAllow);
  expect_all(s, kX32, "read", {}, kAllow);
  EXPECT_EQ(number_of(kX32, "read"), 0x40000000u);

  // An architecture outside the filter.
  d = expect_all(s, "SCMP_ARCH_AARCH64", "read", {}, SECCOMP_RET_KILL_THREAD);
  EXPECT_TRUE(contains(d.reason, "not in the profile")) << d.reason;

  auto bad = evaluate(s, kX86_64, "no_such_call", {});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "unknown syscall 'no_such_call'"));
  EXPECT_FALSE(evaluate(s, "SCMP_ARCH_VAX", "read", {}));
  auto by_hex = evaluate(s, kX86_64, "#0x0", {});
  ASSERT_TRUE(by_hex);
  EXPECT_EQ(by_hex->ret, kAllow);
}

TEST(SeccompEvaluate, DockerProfileWithSysAdmin) {
  oci::Seccomp s = load_profile(kDockerProfile, with_cap(kDockerCaps, "CAP_SYS_ADMIN"), kX86_64);
  expect_all(s, kX86_64, "mount", {}, kAllow);
  expect_all(s, kX86_64, "unshare", {}, kAllow);
  Decision d = expect_all(s, kX86_64, "clone", {0x20000 | 17}, kAllow);
  EXPECT_FALSE(contains(d.reason, "&")) << "unconditional with CAP_SYS_ADMIN: " << d.reason;
  expect_all(s, kX86_64, "clone3", {}, kAllow);
}

oci::Seccomp section(const char* default_action, std::optional<uint32_t> default_errno,
                     std::vector<oci::SeccompSyscall> rules, std::vector<std::string> arches = {}) {
  oci::Seccomp s;
  s.default_action = std::string("SCMP_ACT_") + default_action;
  s.default_errno_ret = default_errno;
  s.syscalls = std::move(rules);
  s.architectures = std::move(arches);
  return s;
}

// How rules for one syscall combine; every case is also asked of libseccomp.
TEST(SeccompEvaluate, RulesForOneSyscallCombineAsInLibseccomp) {
  // The first unconditional rule wins, even over conditional rules before it.
  oci::Seccomp s = section("ALLOW", std::nullopt,
                           {rule({"getpid"}, "ERRNO", {arg(0, "EQ", 1)}, 3),
                            rule({"getpid"}, "ERRNO", {}, 5), rule({"getpid"}, "TRAP")});
  Decision d = expect_all(s, kX86_64, "getpid", {1}, kErrno | 5);
  EXPECT_EQ(d.rule, 1);
  EXPECT_EQ(d.reason, "syscalls[1] (getpid)");

  // Conditional rules: a comparison of a higher argument is tried first.
  s = section("ALLOW", std::nullopt,
              {rule({"getpid"}, "ERRNO", {arg(0, "EQ", 1)}, 2),
               rule({"getpid"}, "ERRNO", {arg(1, "EQ", 2)}, 3)});
  d = expect_all(s, kX86_64, "getpid", {1, 2}, kErrno | 3);
  EXPECT_EQ(d.reason, "syscalls[1] (getpid): arg1 == 2");
  expect_all(s, kX86_64, "getpid", {1, 0}, kErrno | 2);

  // On one argument: the larger value first for == and != ...
  s = section("ALLOW", std::nullopt,
              {rule({"getpid"}, "ERRNO", {arg(0, "EQ", 5)}, 2),
               rule({"getpid"}, "ERRNO", {arg(0, "NE", 7)}, 3)});
  expect_all(s, kX86_64, "getpid", {5}, kErrno | 3);
  s.syscalls[1].args[0].value = 3;
  expect_all(s, kX86_64, "getpid", {5}, kErrno | 2);
  // ... and ==/!= before < and >.
  s = section("ALLOW", std::nullopt,
              {rule({"getpid"}, "ERRNO", {arg(0, "GT", 1)}, 2),
               rule({"getpid"}, "ERRNO", {arg(0, "LT", 9)}, 3),
               rule({"getpid"}, "ERRNO", {arg(0, "EQ", 5)}, 4)});
  expect_all(s, kX86_64, "getpid", {5}, kErrno | 4);
  expect_all(s, kX86_64, "getpid", {6}, kErrno | 3);
  expect_all(s, kX86_64, "getpid", {10}, kErrno | 2);

  // A rule that is a prefix of a later one shadows it.
  s = section("ALLOW", std::nullopt,
              {rule({"getpid"}, "ERRNO", {arg(0, "EQ", 1)}, 5),
               rule({"getpid"}, "ERRNO", {arg(0, "EQ", 1), arg(1, "EQ", 2)}, 6)});
  expect_all(s, kX86_64, "getpid", {1, 2}, kErrno | 5);

  // Same action: any rule that holds.
  s = section("ERRNO", 1,
              {rule({"kill"}, "ALLOW", {arg(0, "EQ", 1), arg(1, "EQ", 9)}),
               rule({"kill"}, "ALLOW", {arg(1, "EQ", 15)})});
  expect_all(s, kX86_64, "kill", {1, 9}, kAllow);
  expect_all(s, kX86_64, "kill", {7, 15}, kAllow);
  expect_all(s, kX86_64, "kill", {7, 9}, kErrno | 1);
}

TEST(SeccompEvaluate, ComparisonsAndTranslation) {
  // SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the expected bits.
  oci::Seccomp s =
      section("ERRNO", 1, {rule({"kill"}, "ALLOW", {arg(1, "MASKED_EQ", 0xF0, 0x30)})});
  expect_all(s, kX86_64, "kill", {0, 0x3F}, kAllow);
  expect_all(s, kX86_64, "kill", {0, 0x4F}, kErrno | 1);
  // A zero mask always holds: the rule is unconditional.
  s.syscalls[0].args[0] = arg(1, "MASKED_EQ", 0, 0x30);
  Decision d = expect_all(s, kX86_64, "kill", {0, 0x4F}, kAllow);
  EXPECT_EQ(d.reason, "syscalls[0] (kill)");

  // 64-bit comparisons on x86_64, the low word only on x86.
  s = section("ERRNO", 1, {rule({"kill"}, "ALLOW", {arg(0, "EQ", 0x100000005ull)})}, {kX86});
  expect_all(s, kX86_64, "kill", {0x100000005ull}, kAllow);
  expect_all(s, kX86_64, "kill", {5}, kErrno | 1);
  expect_all(s, kX86, "kill", {5}, kAllow);
  s.syscalls[0].args[0] = arg(0, "GT", 0xFFFFFFFFull);
  expect_all(s, kX86_64, "kill", {0x100000000ull}, kAllow);
  expect_all(s, kX86_64, "kill", {0xFFFFFFFFull}, kErrno | 1);
  expect_all(s, kX86, "kill", {0x100000000ull}, kErrno | 1);  // 0 > 0xffffffff on x86

  // Comparing one argument twice: either comparison (as runc does).
  s = section("ERRNO", 1, {rule({"personality"}, "ALLOW", {arg(0, "EQ", 0), arg(0, "EQ", 8)})});
  expect_all(s, kX86_64, "personality", {8}, kAllow);
  expect_all(s, kX86_64, "personality", {0}, kAllow);
  expect_all(s, kX86_64, "personality", {4}, kErrno | 1);

  // A rule with the default action is dropped, so a later one decides.
  s = section("ERRNO", 1, {rule({"mount"}, "ERRNO", {}, 1), rule({"mount"}, "ALLOW")});
  expect_all(s, kX86_64, "mount", {}, kAllow);

  // x86 multiplexes socket calls: a rule for socket also allows
  // socketcall(SYS_SOCKET, ...) with its argument 0 replaced, besides the
  // direct socket syscall with the rule's own comparison.
  s = section("ERRNO", 1, {rule({"socket"}, "ALLOW", {arg(0, "EQ", 2)})}, {kX86});
  d = expect_all(s, kX86, "socketcall", {1, 0}, kAllow);
  EXPECT_EQ(d.reason, "syscalls[0] (socket, via socketcall): arg0 == 1");
  expect_all(s, kX86, "socketcall", {2, 0}, kErrno | 1);  // SYS_BIND
  EXPECT_EQ(number_of(kX86, "socket"), 359u);
  expect_all(s, kX86, "socket", {2}, kAllow);
  expect_all(s, kX86, "socket", {10}, kErrno | 1);
  expect_all(s, kX86_64, "socket", {10}, kErrno | 1);

  // Names that exist on some architectures only.
  s = section("ERRNO", 1, {rule({"_llseek", "arch_prctl"}, "ALLOW")}, {kX86});
  expect_all(s, kX86, "_llseek", {}, kAllow);
  expect_all(s, kX86_64, "arch_prctl", {}, kAllow);
  expect_all(s, kX86, "arch_prctl", {}, kAllow);
}

TEST(SeccompEvaluate, EnosysForSyscallsNewerThanTheProfile) {
  // Default KILL_PROCESS: numbers above the highest named one get ENOSYS.
  oci::Seccomp s =
      section("KILL_PROCESS", std::nullopt, {rule({"read", "write", "getpid"}, "ALLOW")}, {kX32});
  uint32_t getpid = number_of(kX86_64, "getpid");
  Decision d = expect_all(s, kX86_64, "#" + std::to_string(getpid + 1), {}, kErrno | ENOSYS, false);
  EXPECT_TRUE(contains(d.reason, "newer than it")) << d.reason;
  expect_all(s, kX86_64, "#" + std::to_string(getpid - 1), {}, SECCOMP_RET_KILL_PROCESS);
  expect_all(s, kX86_64, "#4294967295", {}, SECCOMP_RET_KILL_PROCESS);  // -1
  // x32 has its own highest number.
  uint32_t x32_getpid = number_of(kX32, "getpid");
  EXPECT_EQ(Evaluator::create(s)->decide(AUDIT_ARCH_X86_64, x32_getpid + 1, {}).ret,
            kErrno | ENOSYS);
  EXPECT_EQ(Evaluator::create(s)->decide(AUDIT_ARCH_X86_64, x32_getpid - 1, {}).ret,
            SECCOMP_RET_KILL_PROCESS);

  // Rules with the default action and conditional rules count as named.
  s = section("ERRNO", 1,
              {rule({"read"}, "ALLOW"), rule({"mount"}, "ERRNO", {}, 1),
               rule({"kill"}, "ALLOW", {arg(0, "EQ", 0)})});
  uint32_t highest = std::max(number_of(kX86_64, "mount"), number_of(kX86_64, "kill"));
  expect_all(s, kX86_64, "#" + std::to_string(highest), {}, kErrno | 1);
  expect_all(s, kX86_64, "#" + std::to_string(highest + 1), {}, kErrno | ENOSYS, false);

  // Permissive defaults, TRAP, and ERRNO(ENOSYS) itself: no ENOSYS rule.
  for (const char* def : {"ALLOW", "LOG", "TRAP"}) {
    s = section(def, std::nullopt, {rule({"read"}, "ERRNO", {}, 1)});
    d = *evaluate(s, kX86_64, "#1000", {});
    EXPECT_FALSE(contains(d.reason, "newer")) << def;
  }
  s = section("ERRNO", ENOSYS, {rule({"read"}, "ALLOW")});
  d = *evaluate(s, kX86_64, "#1000", {});
  EXPECT_EQ(d.ret, kErrno | ENOSYS);
  EXPECT_FALSE(contains(d.reason, "newer")) << d.reason;
}

TEST(SeccompEvaluate, X32AndForeignArchitectures) {
  oci::Seccomp s = section("ALLOW", std::nullopt, {rule({"mount"}, "ERRNO", {}, 1)});
  // Without SCMP_ARCH_X32 an x32 call is a bad architecture, except -1.
  Decision d = expect_all(s, kX86_64, "#1073741824", {}, SECCOMP_RET_KILL_THREAD);
  EXPECT_TRUE(contains(d.reason, "x32")) << d.reason;
  expect_all(s, kX86_64, "#4294967295", {}, kAllow);
  s.architectures = {kX32};
  expect_all(s, kX86_64, "#1073741824", {}, kAllow);
  expect_all(s, kX32, "mount", {}, kErrno | 1);
  auto ev = Evaluator::create(s);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->decide(AUDIT_ARCH_I386, 0, {}).ret, SECCOMP_RET_KILL_THREAD);
}

TEST(SeccompEvaluate, UnknownNamesAreListed) {
  oci::Seccomp s = section("ERRNO", 1,
                           {rule({"read", "no_such_bw_call"}, "ALLOW"),
                            rule({"no_such_bw_call", "mount"}, "ERRNO", {}, 1)});
  auto ev = Evaluator::create(s);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->unknown_names(), std::vector<std::string>{"no_such_bw_call"});
  for (Engine e : {Engine::bulwark, Engine::libseccomp_linear, Engine::libseccomp_tree}) {
    auto f = compile(s, "", e);
    ASSERT_TRUE(f) << f.error().text();
    EXPECT_EQ(f->unknown_names, ev->unknown_names()) << engine_name(e);
  }
  expect_all(s, kX86_64, "read", {}, kAllow);
}

}  // namespace
}  // namespace bw::seccomp
