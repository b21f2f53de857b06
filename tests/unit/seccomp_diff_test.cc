// bw::seccomp::diff_profiles and the libseccomp renderings of export.h:
// probes, rule descriptions, the differences found between small profiles
// and between Docker's profile and Bulwark's default, and that export_bpf
// builds exactly compile()'s program.
#include "seccomp/diff.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/file.h"
#include "seccomp/export.h"
#include "seccomp/seccomp.h"

#ifndef BULWARK_SOURCE_DIR
#define BULWARK_SOURCE_DIR "."
#endif

namespace bw::seccomp {
namespace {

const char* const kDockerProfile = "/work/shared/compat/docker-default-seccomp.json";
const std::string kDefaultProfile =
    std::string(BULWARK_SOURCE_DIR) + "/seccomp-profiles/default.json";

const std::vector<std::string> kDockerCaps = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

constexpr uint64_t kCloneNamespaces = 0x7e020000;  // every CLONE_NEW* bit
constexpr uint64_t kCloneNewUser = 0x10000000;

oci::SeccompArg arg(uint32_t index, uint64_t value, const char* op, uint64_t value_two = 0) {
  oci::SeccompArg a;
  a.index = index;
  a.value = value;
  a.value_two = value_two;
  a.op = op;
  return a;
}

oci::SeccompSyscall rule(std::vector<std::string> names, const char* action,
                         std::vector<oci::SeccompArg> args = {},
                         std::optional<uint32_t> errno_ret = std::nullopt) {
  oci::SeccompSyscall sc;
  sc.names = std::move(names);
  sc.action = action;
  sc.args = std::move(args);
  sc.errno_ret = errno_ret;
  return sc;
}

// Denies with EPERM what the rules do not allow, on this machine only.
oci::Seccomp profile(std::vector<oci::SeccompSyscall> rules) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.default_errno_ret = 1;
  s.syscalls = std::move(rules);
  return s;
}

oci::Seccomp docker_profile(const std::vector<std::string>& caps) {
  auto text = read_file(kDockerProfile);
  EXPECT_TRUE(text) << text.error().text();
  auto s = from_docker_profile(text ? *text : "{}", caps, "6.1.0", "SCMP_ARCH_X86_64");
  EXPECT_TRUE(s) << s.error().text();
  return s ? *s : oci::Seccomp{};
}

oci::Seccomp default_profile() {
  auto text = read_file(kDefaultProfile);
  EXPECT_TRUE(text) << text.error().text();
  auto s = from_docker_profile(text ? *text : "{}", {}, "6.1.0", "SCMP_ARCH_X86_64");
  EXPECT_TRUE(s) << s.error().text();
  return s ? *s : oci::Seccomp{};
}

const SyscallDiff* find(const ProfileDiff& d, const std::string& name) {
  for (const auto& e : d.differences)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::string> names_of(const ProfileDiff& d, DiffKind kind) {
  std::vector<std::string> out;
  for (const auto& e : d.differences)
    if (e.kind == kind) out.push_back(e.name);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(SeccompDiffText, DescribesConditionsAsTheyRead) {
  EXPECT_EQ(describe_conditions(rule({"clone"}, "SCMP_ACT_ALLOW",
                                     {arg(0, kCloneNamespaces, "SCMP_CMP_MASKED_EQ")})),
            "arg0&0x7e020000==0");
  EXPECT_EQ(describe_conditions(rule({"socket"}, "SCMP_ACT_ALLOW", {arg(0, 38, "SCMP_CMP_LT")})),
            "arg0<38");
  EXPECT_EQ(describe_conditions(rule({"x"}, "SCMP_ACT_ALLOW",
                                     {arg(1, 0x10, "SCMP_CMP_NE"), arg(2, 3, "SCMP_CMP_EQ")})),
            "arg1!=16 && arg2==3");
  // The same argument twice: compile() makes these alternatives.
  EXPECT_EQ(describe_conditions(rule({"x"}, "SCMP_ACT_ALLOW",
                                     {arg(0, 1, "SCMP_CMP_EQ"), arg(0, 2, "SCMP_CMP_EQ")})),
            "arg0==1 || arg0==2");
}

TEST(SeccompDiffProbes, CoverEachValueItsNeighboursAndEachMaskBit) {
  auto none = probe_arguments({});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0], (std::array<uint64_t, 6>{}));

  auto masked = rule({"clone"}, "SCMP_ACT_ALLOW", {arg(0, kCloneNamespaces, "SCMP_CMP_MASKED_EQ")});
  auto probes = probe_arguments({&masked});
  auto has_arg0 = [&](uint64_t v) {
    return std::any_of(probes.begin(), probes.end(), [v](const auto& p) { return p[0] == v; });
  };
  EXPECT_TRUE(has_arg0(0));
  EXPECT_TRUE(has_arg0(kCloneNewUser));
  EXPECT_TRUE(has_arg0(kCloneNamespaces));
  for (const auto& p : probes) EXPECT_EQ(p[1], 0u);

  auto eq = rule({"socket"}, "SCMP_ACT_ALLOW", {arg(0, 39, "SCMP_CMP_EQ")});
  probes = probe_arguments({&eq});
  EXPECT_TRUE(has_arg0(38) && has_arg0(39) && has_arg0(40));

  // Two compared arguments: every combination.
  auto two = rule({"x"}, "SCMP_ACT_ALLOW", {arg(0, 5, "SCMP_CMP_EQ"), arg(3, 7, "SCMP_CMP_GT")});
  probes = probe_arguments({&two});
  EXPECT_EQ(probes.size(), 4u * 4u);  // {0,4,5,6} x {0,6,7,8}
}

TEST(SeccompDiffProbes, ManyArgumentsAreProbedOneAtATime) {
  std::vector<oci::SeccompArg> args;
  for (uint32_t i = 0; i < 6; ++i)
    for (uint64_t v = 1; v <= 5; ++v) args.push_back(arg(i, v * 100, "SCMP_CMP_EQ"));
  auto wide = rule({"x"}, "SCMP_ACT_ALLOW", args);
  auto probes = probe_arguments({&wide});
  EXPECT_LT(probes.size(), 4097u);
  EXPECT_GT(probes.size(), 6u * 10u);
  for (const auto& p : probes)
    EXPECT_LE(std::count_if(p.begin(), p.end(), [](uint64_t v) { return v != 0; }), 1);
}

TEST(SeccompDiff, SameProfileIsEqual) {
  auto s = docker_profile(kDockerCaps);
  auto d = diff_profiles(s, s);
  ASSERT_TRUE(d) << d.error().text();
  EXPECT_TRUE(d->equal());
  EXPECT_GT(d->syscalls, 3u * 300u);  // three architectures
  EXPECT_EQ(d->arches.size(), 3u);
}

TEST(SeccompDiff, OnlyOneAllows) {
  auto a = profile({rule({"read", "write", "getpid"}, "SCMP_ACT_ALLOW")});
  auto b = profile({rule({"read", "getppid"}, "SCMP_ACT_ALLOW")});
  auto d = diff_profiles(a, b);
  ASSERT_TRUE(d) << d.error().text();
  EXPECT_FALSE(d->equal());
  auto only_a = names_of(*d, DiffKind::only_a);
  auto only_b = names_of(*d, DiffKind::only_b);
  EXPECT_EQ(only_a, (std::vector<std::string>{"getpid", "write"}));
  EXPECT_EQ(only_b, (std::vector<std::string>{"getppid"}));
  const SyscallDiff* w = find(*d, "write");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->a_rules, "allow");
  EXPECT_EQ(w->b_rules, "errno 1 (EPERM) (default action)");
  ASSERT_FALSE(w->examples.empty());
  EXPECT_EQ(w->examples[0].a, SECCOMP_RET_ALLOW);
  EXPECT_EQ(w->examples[0].b, SECCOMP_RET_ERRNO | 1u);
}

TEST(SeccompDiff, ArgumentRulesAndActions) {
  auto a = profile({rule({"clone"}, "SCMP_ACT_ALLOW",
                         {arg(0, kCloneNamespaces, "SCMP_CMP_MASKED_EQ")}),
                    rule({"getpid"}, "SCMP_ACT_ERRNO", {}, 38)});
  auto b = profile({rule({"clone"}, "SCMP_ACT_ALLOW")});
  auto d = diff_profiles(a, b);
  ASSERT_TRUE(d) << d.error().text();
  const SyscallDiff* clone = find(*d, "clone");
  ASSERT_NE(clone, nullptr);
  EXPECT_EQ(clone->kind, DiffKind::arguments);
  EXPECT_TRUE(clone->checks_args);
  EXPECT_EQ(clone->a_rules, "arg0&0x7e020000==0: allow; otherwise errno 1 (EPERM)");
  EXPECT_EQ(clone->b_rules, "allow");
  // Every example is a namespace flag A refuses and B lets through.
  ASSERT_FALSE(clone->examples.empty());
  for (const auto& e : clone->examples) {
    EXPECT_NE(e.args[0] & kCloneNamespaces, 0u);
    EXPECT_EQ(e.a, SECCOMP_RET_ERRNO | 1u);
    EXPECT_EQ(e.b, SECCOMP_RET_ALLOW);
  }
  const SyscallDiff* getpid = find(*d, "getpid");
  ASSERT_NE(getpid, nullptr);
  EXPECT_EQ(getpid->kind, DiffKind::actions);
  EXPECT_EQ(getpid->a_rules, "errno 38 (ENOSYS)");
  EXPECT_EQ(getpid->b_rules, "errno 1 (EPERM) (default action)");
  EXPECT_EQ(d->differences.size(), 2u);
}

// Syscalls newer than everything a profile names fail with ENOSYS rather
// than the default action (codegen.h), so a profile that names clone3 only
// to return ENOSYS decides it as one that does not name it.
TEST(SeccompDiff, NewerSyscallsGetEnosys) {
  auto a = profile({rule({"read"}, "SCMP_ACT_ALLOW"), rule({"clone3"}, "SCMP_ACT_ERRNO", {}, 38)});
  auto b = profile({rule({"read"}, "SCMP_ACT_ALLOW")});
  auto d = diff_profiles(a, b);
  ASSERT_TRUE(d) << d.error().text();
  EXPECT_EQ(find(*d, "clone3"), nullptr);
  // Only numbers between read's (0) and clone3's differ: EPERM in A, ENOSYS in B.
  const SyscallDiff* write = find(*d, "write");
  ASSERT_NE(write, nullptr);
  EXPECT_EQ(write->kind, DiffKind::actions);
  EXPECT_EQ(write->a_rules, "errno 1 (EPERM) (default action)");
  EXPECT_EQ(write->b_rules, "errno 38 (ENOSYS) (not named, newer than the profile)");
}

TEST(SeccompDiff, ArchitecturesAreComparedSeparately) {
  auto a = profile({rule({"read"}, "SCMP_ACT_ALLOW")});
  a.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"};
  auto b = profile({rule({"read"}, "SCMP_ACT_ALLOW")});
  b.architectures = {"SCMP_ARCH_X86_64"};
  auto d = diff_profiles(a, b);
  ASSERT_TRUE(d) << d.error().text();
  EXPECT_EQ(d->arches, (std::vector<std::string>{native_arch_name(), "SCMP_ARCH_X86"}));
  // On x86 B's filter kills every call: read differs there only.
  const SyscallDiff* read = find(*d, "read");
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->kind, DiffKind::only_a);
  EXPECT_EQ(read->arches, (std::vector<std::string>{"SCMP_ARCH_X86"}));
  EXPECT_EQ(read->examples.at(0).b & SECCOMP_RET_ACTION_FULL, SECCOMP_RET_KILL_THREAD);
  auto only_x86 = diff_profiles(a, b, {native_arch_name()});
  ASSERT_TRUE(only_x86);
  EXPECT_TRUE(only_x86->equal());
}

// Bulwark's default was derived from Docker's profile resolved for Docker's
// default capabilities on x86_64, minus ptrace and process_vm_readv/writev
// (the Docker profile of 2026 has itself dropped io_uring, keyrings and
// userfaultfd). With CAP_SYS_ADMIN Docker allows what the default never does.
TEST(SeccompDiff, DockerAgainstBulwarkDefault) {
  auto d = diff_profiles(docker_profile(kDockerCaps), default_profile());
  ASSERT_TRUE(d) << d.error().text();
  EXPECT_EQ(names_of(*d, DiffKind::only_a),
            (std::vector<std::string>{"process_vm_readv", "process_vm_writev", "ptrace"}));
  EXPECT_TRUE(names_of(*d, DiffKind::only_b).empty());
  EXPECT_EQ(d->differences.size(), 3u);

  auto admin_caps = kDockerCaps;
  admin_caps.push_back("CAP_SYS_ADMIN");
  auto admin = diff_profiles(docker_profile(admin_caps), default_profile());
  ASSERT_TRUE(admin) << admin.error().text();
  auto only_docker = names_of(*admin, DiffKind::only_a);
  for (const char* name : {"mount", "unshare", "setns", "bpf", "perf_event_open", "clone3"})
    EXPECT_TRUE(contains(only_docker, name)) << name;
  EXPECT_TRUE(names_of(*admin, DiffKind::only_b).empty());
  const SyscallDiff* clone = find(*admin, "clone");
  ASSERT_NE(clone, nullptr);
  EXPECT_EQ(clone->kind, DiffKind::arguments);
  EXPECT_EQ(clone->a_rules, "allow");
  EXPECT_EQ(clone->b_rules, "arg0&0x7e020000==0: allow; otherwise errno 1 (EPERM)");
  EXPECT_EQ(clone->arches.size(), 3u);
}

TEST(SeccompExport, NativeBpfIsTheLibseccompEnginesProgram) {
  for (const auto& s : {docker_profile(kDockerCaps), default_profile(),
                        profile({rule({"read"}, "SCMP_ACT_ALLOW")})}) {
    for (bool tree : {false, true}) {
      auto f = compile(s, "", tree ? Engine::libseccomp_tree : Engine::libseccomp_linear);
      ASSERT_TRUE(f) << f.error().text();
      auto b = export_bpf(s, native_arch_name(), tree);
      ASSERT_TRUE(b) << b.error().text();
      ASSERT_EQ(b->size(), f->program.size());
      EXPECT_EQ(std::memcmp(b->data(), f->program.data(), b->size() * sizeof(struct sock_filter)),
                0);
    }
  }
}

TEST(SeccompExport, OtherArchitectureReplacesTheNativeOne) {
  auto s = profile({rule({"read"}, "SCMP_ACT_ALLOW")});
  auto b = export_bpf(s, "SCMP_ARCH_AARCH64");
  ASSERT_TRUE(b) << b.error().text();
  auto checks = [&](uint32_t audit_arch) {
    return std::any_of(b->begin(), b->end(), [&](const sock_filter& i) {
      return BPF_CLASS(i.code) == BPF_JMP && i.k == audit_arch;
    });
  };
  EXPECT_TRUE(checks(AUDIT_ARCH_AARCH64));
  EXPECT_FALSE(checks(AUDIT_ARCH_X86_64));
  EXPECT_FALSE(export_bpf(s, "SCMP_ARCH_NOPE"));
}

TEST(SeccompExport, PfcShowsTheRules) {
  auto pfc = export_pfc(profile({rule({"getpid"}, "SCMP_ACT_ALLOW")}));
  ASSERT_TRUE(pfc) << pfc.error().text();
  EXPECT_NE(pfc->find("getpid"), std::string::npos) << *pfc;
  EXPECT_NE(pfc->find("ALLOW"), std::string::npos) << *pfc;
}

TEST(SeccompExport, SyscallTables) {
  auto nr = syscall_number("SCMP_ARCH_X86_64", "read");
  ASSERT_TRUE(nr);
  EXPECT_EQ(*nr, 0);
  EXPECT_EQ(syscall_name("SCMP_ARCH_X86_64", 0), "read");
  EXPECT_EQ(*syscall_number("SCMP_ARCH_AARCH64", "read"), 63);
  EXPECT_FALSE(syscall_number("SCMP_ARCH_X86_64", "no_such_syscall"));
  EXPECT_EQ(*syscall_number("SCMP_ARCH_AARCH64", "open"), -1);  // aarch64 has only openat
  EXPECT_EQ(*syscall_number("SCMP_ARCH_X86", "socket"), 359);  // the direct call
  const auto& names = known_syscall_names();
  EXPECT_GT(names.size(), 400u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_TRUE(contains(names, "arm_fadvise64_64"));  // not an x86_64 syscall, still known
  EXPECT_EQ(normalize_arch("amd64"), "SCMP_ARCH_X86_64");
  EXPECT_EQ(normalize_arch("arm64"), "SCMP_ARCH_AARCH64");
  EXPECT_EQ(normalize_arch("SCMP_ARCH_X32"), "SCMP_ARCH_X32");
  EXPECT_EQ(normalize_arch("vax"), "");
}

}  // namespace
}  // namespace bw::seccomp
