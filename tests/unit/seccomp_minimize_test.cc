// From recorded calls to a minimal profile (lib/seccomp/minimize.h), and the
// filter programs the supervisor installs (lib/seccomp/supervise.h).
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <sched.h>

#include "seccomp/minimize.h"
#include "seccomp/seccomp.h"
#include "seccomp/supervise.h"

namespace bw::seccomp {
namespace {

using Args = std::array<uint64_t, 6>;

constexpr int kX32 = 0x40000000;

const oci::SeccompSyscall* find_rule(const oci::Seccomp& s, const std::string& name,
                                     size_t nth = 0) {
  for (const auto& r : s.syscalls)
    if (std::find(r.names.begin(), r.names.end(), name) != r.names.end() && nth-- == 0) return &r;
  return nullptr;
}

size_t rules_for(const oci::Seccomp& s, const std::string& name) {
  size_t n = 0;
  while (find_rule(s, name, n)) ++n;
  return n;
}

bool has_note(const MinimalProfile& p, const std::string& fragment) {
  for (const auto& n : p.notes)
    if (n.find(fragment) != std::string::npos) return true;
  return false;
}

MinimalProfile minimal(const Recording& r, const ProfileOptions& o = {}) {
  auto p = minimal_profile(r, o);
  EXPECT_TRUE(p) << p.error().text();
  return p ? *p : MinimalProfile{};
}

TEST(SeccompRecording, CountsPerArchitectureAndNamesEachOne) {
  Recording r;
  for (int i = 0; i < 3; ++i) r.add(AUDIT_ARCH_X86_64, SYS_read, Args{}, 10);
  r.add(AUDIT_ARCH_I386, 20, Args{}, 11);               // getpid on i386
  r.add(AUDIT_ARCH_X86_64, kX32 | 39, Args{7}, 12);     // getpid on x32
  r.add(AUDIT_ARCH_X86_64, SYS_getpid, Args{}, 13);
  EXPECT_EQ(r.calls(), 6u);
  auto uses = r.sorted();
  ASSERT_EQ(uses.size(), 4u);
  EXPECT_EQ(uses[0]->name, "getpid");
  EXPECT_EQ(uses[0]->arch, "SCMP_ARCH_X32");
  EXPECT_EQ(uses[0]->first_pid, 12);
  EXPECT_EQ(uses[0]->first_args[0], 7u);
  EXPECT_EQ(uses[1]->arch, "SCMP_ARCH_X86");
  EXPECT_EQ(uses[2]->arch, "SCMP_ARCH_X86_64");
  EXPECT_EQ(uses[3]->name, "read");
  EXPECT_EQ(uses[3]->count, 3u);
  EXPECT_EQ(r.architectures(),
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_X86"}));
}

TEST(SeccompMinimize, AllowsWhatWasSeenAndDeniesTheRestWithEperm) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_write, Args{});
  r.add(AUDIT_ARCH_X86_64, SYS_execve, Args{});
  r.add(AUDIT_ARCH_I386, 20, Args{});
  r.add(AUDIT_ARCH_X86_64, SYS_getpid, Args{});
  MinimalProfile p = minimal(r);
  EXPECT_EQ(p.profile.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(p.profile.default_errno_ret, 1u);
  EXPECT_EQ(p.profile.architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
  ASSERT_EQ(p.profile.syscalls.size(), 1u);
  EXPECT_EQ(p.profile.syscalls[0].names,
            (std::vector<std::string>{"execve", "getpid", "write"}));  // sorted, merged
  EXPECT_EQ(p.profile.syscalls[0].action, "SCMP_ACT_ALLOW");
  EXPECT_TRUE(p.profile.syscalls[0].args.empty());
  EXPECT_EQ(p.allowed_names, 3u);
  EXPECT_TRUE(p.notes.empty());
}

TEST(SeccompMinimize, CloneWithoutNamespaceFlagsGetsDockersMaskRule) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_clone, Args{CLONE_VM | CLONE_FS | CLONE_THREAD | CLONE_SIGHAND});
  r.add(AUDIT_ARCH_X86_64, SYS_clone, Args{SIGCHLD | CLONE_CHILD_SETTID});
  MinimalProfile p = minimal(r);
  ASSERT_EQ(rules_for(p.profile, "clone"), 1u);
  const auto* rule = find_rule(p.profile, "clone");
  ASSERT_EQ(rule->args.size(), 1u);
  EXPECT_EQ(rule->args[0].index, 0u);
  EXPECT_EQ(rule->args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(rule->args[0].value, 0x7E020000u);
  EXPECT_EQ(rule->args[0].value_two, 0u);
  EXPECT_EQ(rule->names, std::vector<std::string>{"clone"});
  EXPECT_EQ(p.allowed_names, 1u);
}

TEST(SeccompMinimize, CloneThatCreatedNamespacesAllowsOnlyThoseSets) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_clone, Args{SIGCHLD});
  r.add(AUDIT_ARCH_X86_64, SYS_clone, Args{CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD});
  MinimalProfile p = minimal(r);
  ASSERT_EQ(rules_for(p.profile, "clone"), 2u);
  EXPECT_EQ(find_rule(p.profile, "clone", 0)->args[0].value_two, 0u);
  EXPECT_EQ(find_rule(p.profile, "clone", 1)->args[0].value_two,
            static_cast<uint64_t>(CLONE_NEWUSER | CLONE_NEWNS));
  EXPECT_TRUE(has_note(p, "clone created namespaces"));
}

TEST(SeccompMinimize, S390PassesCloneFlagsSecond) {
  Recording r;
  r.add(AUDIT_ARCH_S390X, 120, Args{0, CLONE_NEWNET});  // clone on s390x
  MinimalProfile p = minimal(r, {.base = std::nullopt, .native_arch = "SCMP_ARCH_S390X"});
  const auto* rule = find_rule(p.profile, "clone");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->args[0].index, 1u);
  EXPECT_EQ(rule->args[0].value_two, static_cast<uint64_t>(CLONE_NEWNET));
}

TEST(SeccompMinimize, FewSocketFamiliesGetOneRuleEachManyGetNone) {
  Recording few;
  few.add(AUDIT_ARCH_X86_64, SYS_socket, Args{AF_UNIX, SOCK_STREAM});
  few.add(AUDIT_ARCH_X86_64, SYS_socket, Args{AF_INET, SOCK_DGRAM});
  few.add(AUDIT_ARCH_X86_64, SYS_socket, Args{AF_UNIX, SOCK_DGRAM});
  MinimalProfile p = minimal(few);
  ASSERT_EQ(rules_for(p.profile, "socket"), 2u);
  EXPECT_EQ(find_rule(p.profile, "socket", 0)->args[0].value, static_cast<uint64_t>(AF_UNIX));
  EXPECT_EQ(find_rule(p.profile, "socket", 0)->args[0].op, "SCMP_CMP_EQ");
  EXPECT_EQ(find_rule(p.profile, "socket", 1)->args[0].value, static_cast<uint64_t>(AF_INET));

  Recording many;
  for (int family : {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET})
    many.add(AUDIT_ARCH_X86_64, SYS_socket, Args{static_cast<uint64_t>(family)});
  MinimalProfile q = minimal(many);
  ASSERT_EQ(rules_for(q.profile, "socket"), 1u);
  EXPECT_TRUE(find_rule(q.profile, "socket")->args.empty());
  EXPECT_TRUE(has_note(q, "socket was called with more than 4"));
}

TEST(SeccompMinimize, PrctlAndPersonalityValuesAreMergedAcrossArchitectures) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_prctl, Args{15});  // PR_SET_NAME
  r.add(AUDIT_ARCH_I386, 172, Args{16});          // prctl on i386: PR_GET_NAME
  r.add(AUDIT_ARCH_X86_64, SYS_personality, Args{0xffffffff});
  MinimalProfile p = minimal(r);
  ASSERT_EQ(rules_for(p.profile, "prctl"), 2u);
  EXPECT_EQ(find_rule(p.profile, "prctl", 0)->args[0].value, 15u);
  EXPECT_EQ(find_rule(p.profile, "prctl", 1)->args[0].value, 16u);
  ASSERT_EQ(rules_for(p.profile, "personality"), 1u);
  EXPECT_EQ(find_rule(p.profile, "personality")->args[0].value, 0xffffffffu);
}

TEST(SeccompMinimize, Clone3GetsEnosysAndCloneIsAllowedForTheFallback) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_clone3, Args{});
  MinimalProfile p = minimal(r);
  const auto* c3 = find_rule(p.profile, "clone3");
  ASSERT_NE(c3, nullptr);
  EXPECT_EQ(c3->action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(c3->errno_ret, 38u);  // ENOSYS
  const auto* clone = find_rule(p.profile, "clone");
  ASSERT_NE(clone, nullptr);
  EXPECT_EQ(clone->args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_TRUE(has_note(p, "clone3 is answered with ENOSYS"));
  EXPECT_EQ(p.allowed_names, 1u);  // clone; clone3 is not allowed
}

TEST(SeccompMinimize, NumbersLibseccompDoesNotKnowAreNotedNotAllowed) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, 999, Args{});
  r.add(AUDIT_ARCH_X86_64, SYS_read, Args{});
  MinimalProfile p = minimal(r);
  EXPECT_EQ(p.profile.syscalls.size(), 1u);
  EXPECT_EQ(p.profile.syscalls[0].names, std::vector<std::string>{"read"});
  EXPECT_TRUE(has_note(p, "call 999 on SCMP_ARCH_X86_64 is unknown"));
}

TEST(SeccompMinimize, BaseGivesSettingsAndItsDenyingRulesMinusRecordedNames) {
  oci::Seccomp base;
  base.default_action = "SCMP_ACT_KILL_PROCESS";
  base.architectures = {"SCMP_ARCH_X86_64"};
  base.flags = {"SECCOMP_FILTER_FLAG_LOG"};
  base.syscalls.push_back({{"read", "write", "mount"}, "SCMP_ACT_ALLOW", std::nullopt, {}});
  base.syscalls.push_back({{"ptrace", "getpid"}, "SCMP_ACT_ERRNO", 38, {}});
  base.syscalls.push_back({{"clone3"}, "SCMP_ACT_ERRNO", 1, {}});
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_getpid, Args{});
  r.add(AUDIT_ARCH_X86_64, SYS_clone3, Args{});
  r.add(AUDIT_ARCH_I386, 20, Args{});
  MinimalProfile p = minimal(r, {.base = base, .native_arch = ""});
  EXPECT_EQ(p.profile.default_action, "SCMP_ACT_KILL_PROCESS");
  EXPECT_FALSE(p.profile.default_errno_ret);
  EXPECT_EQ(p.profile.flags, base.flags);
  EXPECT_EQ(p.profile.architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
  EXPECT_TRUE(has_note(p, "added SCMP_ARCH_X86"));
  // The base's allow rule is gone: nothing recorded needed read, write or mount.
  EXPECT_EQ(find_rule(p.profile, "mount"), nullptr);
  EXPECT_EQ(find_rule(p.profile, "read"), nullptr);
  // getpid was used: allowed, and taken out of the base's errno rule.
  ASSERT_EQ(rules_for(p.profile, "getpid"), 1u);
  EXPECT_EQ(find_rule(p.profile, "getpid")->action, "SCMP_ACT_ALLOW");
  const auto* ptrace = find_rule(p.profile, "ptrace");
  ASSERT_NE(ptrace, nullptr);
  EXPECT_EQ(ptrace->names, std::vector<std::string>{"ptrace"});
  EXPECT_EQ(ptrace->errno_ret, 38u);
  EXPECT_TRUE(has_note(p, "no longer covers getpid"));
  // The recorder's own clone3 rule replaces the base's.
  ASSERT_EQ(rules_for(p.profile, "clone3"), 1u);
  EXPECT_EQ(find_rule(p.profile, "clone3")->errno_ret, 38u);
}

TEST(SeccompMinimize, JsonReadsBackAsTheSameSection) {
  Recording r;
  r.add(AUDIT_ARCH_X86_64, SYS_clone, Args{SIGCHLD});
  r.add(AUDIT_ARCH_X86_64, SYS_clone3, Args{});
  r.add(AUDIT_ARCH_X86_64, SYS_socket, Args{AF_INET});
  r.add(AUDIT_ARCH_X86_64, SYS_exit_group, Args{});
  MinimalProfile p = minimal(r);
  std::string text = profile_to_json(p.profile);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\"valueTwo\": 0"), std::string::npos) << text;
  auto back = from_docker_profile(text, {}, "");
  ASSERT_TRUE(back) << back.error().text();
  EXPECT_EQ(*back, p.profile) << text;
}

TEST(SeccompSupervisePrograms, NotifyAllIsOneReturn) {
  auto prog = notify_all_program();
  ASSERT_EQ(prog.size(), 1u);
  EXPECT_EQ(prog[0].code, BPF_RET | BPF_K);
  EXPECT_EQ(prog[0].k, SECCOMP_RET_USER_NOTIF);
}

TEST(SeccompSupervisePrograms, ReportDenialsTurnsEveryDenyingReturnIntoNotify) {
  const uint32_t rets[] = {SECCOMP_RET_ALLOW,        SECCOMP_RET_ERRNO | 1,
                           SECCOMP_RET_ERRNO | 38,   SECCOMP_RET_KILL_PROCESS,
                           SECCOMP_RET_KILL_THREAD,  SECCOMP_RET_TRAP | 3,
                           SECCOMP_RET_TRACE | 7,    SECCOMP_RET_LOG,
                           SECCOMP_RET_USER_NOTIF};
  std::vector<struct sock_filter> prog;
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0));
  for (uint32_t k : rets) prog.push_back(BPF_STMT(BPF_RET | BPF_K, k));
  auto out = report_denials_program(prog);
  ASSERT_EQ(out.size(), prog.size());
  EXPECT_EQ(out[0].code, prog[0].code);  // loads and jumps are left alone
  EXPECT_EQ(out[0].k, 0u);
  const uint32_t want[] = {SECCOMP_RET_ALLOW,      SECCOMP_RET_USER_NOTIF, SECCOMP_RET_USER_NOTIF,
                           SECCOMP_RET_USER_NOTIF, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_USER_NOTIF,
                           SECCOMP_RET_USER_NOTIF, SECCOMP_RET_LOG,        SECCOMP_RET_USER_NOTIF};
  for (size_t i = 0; i < std::size(want); ++i) EXPECT_EQ(out[i + 1].k, want[i]) << i;
}

}  // namespace
}  // namespace bw::seccomp
