// bw::seccomp without loading anything: compiling, the program cache, Docker
// profile conversion, and the listener hand-off over a unix socket.
#include "seccomp/seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/file.h"
#include "seccomp/bpf.h"

#ifndef BULWARK_SOURCE_DIR
#define BULWARK_SOURCE_DIR "."
#endif

namespace bw::seccomp {
namespace {

const char* const kDockerProfile = "/work/shared/compat/docker-default-seccomp.json";
const char* const kCommonProfile = "/work/shared/compat/containers-common-seccomp.json";
const std::string kDefaultProfile =
    std::string(BULWARK_SOURCE_DIR) + "/seccomp-profiles/default.json";

const std::vector<std::string> kDockerCaps = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

std::string slurp(const std::string& path) {
  auto r = read_file(path);
  EXPECT_TRUE(r) << path << ": " << r.error().text();
  return r ? *r : std::string();
}

bool same_program(const Filter& a, const Filter& b) {
  return a.program.size() == b.program.size() &&
         std::memcmp(a.program.data(), b.program.data(),
                     a.program.size() * sizeof(struct sock_filter)) == 0;
}

// Whether some rule with `action` lists `name` (with or without arguments).
bool has_rule(const oci::Seccomp& s, const std::string& name, const std::string& action,
              bool with_args = false) {
  for (const auto& sc : s.syscalls) {
    if (sc.action != action || sc.args.empty() == with_args) continue;
    if (std::find(sc.names.begin(), sc.names.end(), name) != sc.names.end()) return true;
  }
  return false;
}

oci::SeccompSyscall rule(std::vector<std::string> names, const char* action,
                         std::optional<uint32_t> errno_ret = std::nullopt,
                         std::vector<oci::SeccompArg> args = {}) {
  oci::SeccompSyscall sc;
  sc.names = std::move(names);
  sc.action = action;
  sc.errno_ret = errno_ret;
  sc.args = std::move(args);
  return sc;
}

oci::SeccompArg arg(uint32_t index, uint64_t value, const char* op) {
  oci::SeccompArg a;
  a.index = index;
  a.value = value;
  a.op = op;
  return a;
}

oci::Seccomp small_section() {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"};
  s.syscalls.push_back(rule({"mkdir", "mkdirat"}, "SCMP_ACT_ERRNO", 13));
  s.syscalls.push_back(
      rule({"getpid"}, "SCMP_ACT_ERRNO", std::nullopt, {arg(0, 1, "SCMP_CMP_EQ")}));
  return s;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bw-seccomp-test.XXXXXX";
    const char* p = mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "/nonexistent";
  }
  ~TempDir() { (void)remove_tree_at(AT_FDCWD, path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(SeccompCompile, SmallProfile) {
  oci::Seccomp s = small_section();
  s.flags = {"SECCOMP_FILTER_FLAG_LOG"};
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
  EXPECT_FALSE(f->program.empty());
  EXPECT_FALSE(f->from_cache);
  EXPECT_FALSE(f->uses_notify);
  EXPECT_EQ(f->flags, 2u);  // SECCOMP_FILTER_FLAG_LOG
  EXPECT_EQ(f->key.size(), 64u);
  EXPECT_TRUE(f->unknown_names.empty());
}

TEST(SeccompCompile, KeyFollowsTheSection) {
  oci::Seccomp a = small_section(), b = small_section();
  b.syscalls[0].errno_ret = 1;
  auto fa = compile(a, ""), fb = compile(b, "");
  ASSERT_TRUE(fa && fb);
  EXPECT_NE(fa->key, fb->key);
  EXPECT_FALSE(same_program(*fa, *fb));
  // The listener settings do not change the program, so they do not change the key.
  b = small_section();
  b.listener_path = "/run/agent.sock";
  b.listener_metadata = "per-container";
  auto fc = compile(b, "");
  ASSERT_TRUE(fc);
  EXPECT_EQ(fa->key, fc->key);
}

TEST(SeccompCompile, UnknownNamesAreReportedNotFatal) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.syscalls.push_back(
      rule({"read", "no_such_syscall_bw", "write", "no_such_syscall_bw"}, "SCMP_ACT_ALLOW"));
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
  EXPECT_EQ(f->unknown_names, std::vector<std::string>{"no_such_syscall_bw"});
}

TEST(SeccompCompile, RuleWithTheDefaultActionIsSkipped) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";  // EPERM
  s.syscalls.push_back(rule({"read"}, "SCMP_ACT_ALLOW"));
  s.syscalls.push_back(rule({"mount"}, "SCMP_ACT_ERRNO", 1));
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
  // A different errno is a different action and is kept.
  s.syscalls[1].errno_ret = 13;
  auto g = compile(s, "");
  ASSERT_TRUE(g) << g.error().text();
  SeccompData mount;
  mount.arch = seccomp_arch_native();  // libseccomp tokens are AUDIT_ARCH_* values
  mount.nr = seccomp_syscall_resolve_name("mount");
  auto rf = run_filter(f->program, mount), rg = run_filter(g->program, mount);
  ASSERT_TRUE(rf && rg);
  EXPECT_EQ(rf->ret, SCMP_ACT_ERRNO(1));
  EXPECT_EQ(rg->ret, SCMP_ACT_ERRNO(13));
}

TEST(SeccompCompile, RepeatedArgumentIndexIsSplit) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.syscalls.push_back(rule({"personality"}, "SCMP_ACT_ALLOW", std::nullopt,
                            {arg(0, 0, "SCMP_CMP_EQ"), arg(0, 8, "SCMP_CMP_EQ")}));
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
}

TEST(SeccompCompile, NotifyIsDetectedAndRefusedAsDefault) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(rule({"mkdir"}, "SCMP_ACT_NOTIFY"));
  auto f = compile(s, "");
  ASSERT_TRUE(f) << f.error().text();
  EXPECT_TRUE(f->uses_notify);
  s.default_action = "SCMP_ACT_NOTIFY";
  s.syscalls[0].action = "SCMP_ACT_ALLOW";
  auto g = compile(s, "");
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("defaultAction"), std::string::npos) << g.error().text();
}

// Each broken section fails with a message naming the field.
TEST(SeccompCompile, BadInputIsAnError) {
  struct Case {
    const char* what;
    void (*edit)(oci::Seccomp&);
    const char* expect;
  };
  const Case cases[] = {
      {"op", [](oci::Seccomp& s) { s.syscalls[1].args[0].op = "SCMP_CMP_FOO"; },
       "linux.seccomp.syscalls[1].args[0] (name 'getpid'): unknown op 'SCMP_CMP_FOO'"},
      {"index", [](oci::Seccomp& s) { s.syscalls[1].args[0].index = 6; },
       "index 6 is out of range"},
      {"action", [](oci::Seccomp& s) { s.syscalls[0].action = "SCMP_ACT_MAYBE"; },
       "linux.seccomp.syscalls[0] (name 'mkdir'): unknown action 'SCMP_ACT_MAYBE'"},
      {"errno on allow", [](oci::Seccomp& s) { s.syscalls[0].action = "SCMP_ACT_ALLOW"; },
       "takes no errno"},
      {"default", [](oci::Seccomp& s) { s.default_action = ""; }, "defaultAction is missing"},
      {"arch", [](oci::Seccomp& s) { s.architectures.push_back("SCMP_ARCH_VAX"); },
       "linux.seccomp.architectures[2]: unknown architecture 'SCMP_ARCH_VAX'"},
      {"flag", [](oci::Seccomp& s) { s.flags = {"SECCOMP_FILTER_FLAG_FAST"}; },
       "linux.seccomp.flags[0]: unknown flag"},
      {"names", [](oci::Seccomp& s) { s.syscalls[1].names.clear(); },
       "linux.seccomp.syscalls[1]: names is empty"},
      {"errno range", [](oci::Seccomp& s) { s.syscalls[0].errno_ret = 70000; }, "out of range"},
  };
  for (const Case& c : cases) {
    oci::Seccomp s = small_section();
    c.edit(s);
    auto f = compile(s, "");
    ASSERT_FALSE(f) << c.what;
    EXPECT_NE(f.error().message.find(c.expect), std::string::npos)
        << c.what << ": " << f.error().message;
  }
}

TEST(SeccompCache, SecondCompileComesFromTheCache) {
  TempDir tmp;
  std::string dir = tmp.path() + "/cache";  // does not exist yet
  oci::Seccomp s = small_section();
  s.syscalls[0].names.push_back("no_such_syscall_bw");
  auto a = compile(s, dir);
  ASSERT_TRUE(a) << a.error().text();
  EXPECT_FALSE(a->from_cache);
  EXPECT_EQ(a->cache_warning, "");
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((dir + "/" + a->key + ".bpf").c_str(), &st), 0);

  auto b = compile(s, dir);
  ASSERT_TRUE(b) << b.error().text();
  EXPECT_TRUE(b->from_cache);
  EXPECT_TRUE(same_program(*a, *b));
  EXPECT_EQ(b->key, a->key);
  EXPECT_EQ(b->unknown_names, std::vector<std::string>{"no_such_syscall_bw"});
  EXPECT_EQ(b->flags, a->flags);
}

TEST(SeccompCache, DamagedFileIsRebuilt) {
  TempDir tmp;
  oci::Seccomp s = small_section();
  auto a = compile(s, tmp.path());
  ASSERT_TRUE(a) << a.error().text();
  std::string file = tmp.path() + "/" + a->key + ".bpf";
  std::string good = slurp(file);
  ASSERT_GT(good.size(), 120u);

  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x10;  // inside the last BPF instruction
  std::string other_key = good;
  other_key[30] = other_key[30] == 'a' ? 'b' : 'a';  // inside the key field
  const std::pair<const char*, std::string> damage[] = {
      {"garbage", "this is not a BPF program at all"},
      {"truncated", good.substr(0, good.size() - 4)},
      {"flipped bit", flipped},
      {"wrong key", other_key},
      {"empty", ""},
  };
  for (const auto& [what, content] : damage) {
    ASSERT_TRUE(write_file_atomic(file, content, 0600)) << what;
    auto b = compile(s, tmp.path());
    ASSERT_TRUE(b) << what << ": " << b.error().text();
    EXPECT_FALSE(b->from_cache) << what;
    EXPECT_NE(b->cache_warning, "") << what;
    EXPECT_TRUE(same_program(*a, *b)) << what;
    auto c = compile(s, tmp.path());
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->from_cache) << what << ": not rebuilt";
    EXPECT_TRUE(same_program(*a, *c)) << what;
  }
}

TEST(SeccompCache, WritableDirectoryIsNotUsed) {
  TempDir tmp;
  ASSERT_EQ(chmod(tmp.path().c_str(), 0777), 0);
  oci::Seccomp s = small_section();
  for (int i = 0; i < 2; ++i) {
    auto f = compile(s, tmp.path());
    ASSERT_TRUE(f) << f.error().text();
    EXPECT_FALSE(f->from_cache);
    EXPECT_NE(f->cache_warning.find("world writable"), std::string::npos) << f->cache_warning;
  }
  struct stat st {};
  EXPECT_NE(stat((tmp.path() + "/" + compile(s, "")->key + ".bpf").c_str(), &st), 0);
}

TEST(SeccompDocker, BothCompatProfilesConvertAndCompile) {
  for (const char* path : {kDockerProfile, kCommonProfile}) {
    auto s = from_docker_profile(slurp(path), kDockerCaps, "6.1.0-18-amd64", "SCMP_ARCH_X86_64");
    ASSERT_TRUE(s) << path << ": " << s.error().text();
    EXPECT_EQ(s->architectures,
              (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
    EXPECT_EQ(s->default_action, "SCMP_ACT_ERRNO");
    auto f = compile(*s, "");
    ASSERT_TRUE(f) << path << ": " << f.error().text();
    EXPECT_GT(f->program.size(), 100u);
    std::string unknown;
    for (const auto& n : f->unknown_names) unknown += " " + n;
    // Docker's profile lists syscalls newer than libseccomp 2.5; they are
    // reported, not fatal.
    bool lists_mseal = has_rule(*s, "mseal", "SCMP_ACT_ALLOW");
    bool knows_mseal = seccomp_syscall_resolve_name("mseal") != __NR_SCMP_ERROR;
    bool reported = std::find(f->unknown_names.begin(), f->unknown_names.end(), "mseal") !=
                    f->unknown_names.end();
    EXPECT_EQ(reported, lists_mseal && !knows_mseal) << path;
    printf("%s: %zu rules, %zu instructions, unknown to libseccomp:%s\n", path, s->syscalls.size(),
           f->program.size(), unknown.c_str());
  }
  // containers/common's ENOSYS default is given both ways; the name must agree.
  auto c = from_docker_profile(slurp(kCommonProfile), kDockerCaps, "6.1.0", "SCMP_ARCH_X86_64");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->default_errno_ret, 38u);
}

TEST(SeccompDocker, CapabilitiesSelectRules) {
  std::string text = slurp(kDockerProfile);
  auto without = from_docker_profile(text, kDockerCaps, "6.1.0", "SCMP_ARCH_X86_64");
  std::vector<std::string> admin_caps = kDockerCaps;
  admin_caps.push_back("CAP_SYS_ADMIN");
  auto with = from_docker_profile(text, admin_caps, "6.1.0", "SCMP_ARCH_X86_64");
  ASSERT_TRUE(without && with);
  EXPECT_FALSE(has_rule(*without, "mount", "SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has_rule(*with, "mount", "SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has_rule(*without, "unshare", "SCMP_ACT_ALLOW"));
  // Without CAP_SYS_ADMIN clone is allowed only without namespace flags and
  // clone3 gets ENOSYS (excludes.caps); with it, both are plainly allowed.
  EXPECT_TRUE(has_rule(*without, "clone", "SCMP_ACT_ALLOW", /*with_args=*/true));
  EXPECT_FALSE(has_rule(*without, "clone", "SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has_rule(*without, "clone3", "SCMP_ACT_ERRNO"));
  EXPECT_TRUE(has_rule(*with, "clone", "SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has_rule(*with, "clone", "SCMP_ACT_ALLOW", /*with_args=*/true));
  EXPECT_FALSE(has_rule(*with, "clone3", "SCMP_ACT_ERRNO"));
  EXPECT_TRUE(compile(*with, ""));
}

TEST(SeccompDocker, IncludesNeedAllCapsExcludesAnyCap) {
  const std::string text = R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [
      {"names": ["a_both"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_A", "CAP_B"]}},
      {"names": ["a_unless"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_A", "CAP_B"]}}
    ]})";
  auto only_b = from_docker_profile(text, {"CAP_B"}, "6.1", "SCMP_ARCH_X86_64");
  auto both = from_docker_profile(text, {"CAP_A", "CAP_B"}, "6.1", "SCMP_ARCH_X86_64");
  auto none = from_docker_profile(text, {}, "6.1", "SCMP_ARCH_X86_64");
  ASSERT_TRUE(only_b && both && none);
  EXPECT_FALSE(has_rule(*only_b, "a_both", "SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has_rule(*only_b, "a_unless", "SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has_rule(*both, "a_both", "SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has_rule(*both, "a_unless", "SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has_rule(*none, "a_both", "SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has_rule(*none, "a_unless", "SCMP_ACT_ALLOW"));
}

TEST(SeccompDocker, ArchitecturesAndKernelVersion) {
  std::string text = slurp(kDockerProfile);
  auto x86 = from_docker_profile(text, kDockerCaps, "6.1.0", "SCMP_ARCH_X86_64");
  auto arm = from_docker_profile(text, kDockerCaps, "6.1.0", "SCMP_ARCH_AARCH64");
  auto s390 = from_docker_profile(text, kDockerCaps, "6.1.0", "SCMP_ARCH_S390X");
  ASSERT_TRUE(x86 && arm && s390);
  EXPECT_TRUE(has_rule(*x86, "arch_prctl", "SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has_rule(*arm, "arch_prctl", "SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has_rule(*arm, "cacheflush", "SCMP_ACT_ALLOW"));
  EXPECT_EQ(arm->architectures, (std::vector<std::string>{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  // s390 passes clone's flags in the second argument.
  auto clone_index = [](const oci::Seccomp& s) {
    for (const auto& sc : s.syscalls)
      if (sc.names == std::vector<std::string>{"clone"} && !sc.args.empty())
        return static_cast<int>(sc.args[0].index);
    return -1;
  };
  EXPECT_EQ(clone_index(*x86), 0);
  EXPECT_EQ(clone_index(*s390), 1);

  // ptrace is allowed from 4.8 on (includes.minKernel).
  auto old_kernel = from_docker_profile(text, kDockerCaps, "4.4.0-210-generic", "SCMP_ARCH_X86_64");
  auto new_kernel = from_docker_profile(text, kDockerCaps, "4.8.0", "SCMP_ARCH_X86_64");
  ASSERT_TRUE(old_kernel && new_kernel);
  EXPECT_FALSE(has_rule(*old_kernel, "ptrace", "SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has_rule(*new_kernel, "ptrace", "SCMP_ACT_ALLOW"));
}

TEST(SeccompDocker, ErrnoNamesAndBadProfiles) {
  auto ok = from_docker_profile(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS",
      "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
                   {"name": "umount2", "action": "SCMP_ACT_ALLOW", "args": null}]})",
                                {}, "6.1", "SCMP_ARCH_X86_64");
  ASSERT_TRUE(ok) << ok.error().text();
  EXPECT_EQ(ok->default_errno_ret, 38u);
  ASSERT_EQ(ok->syscalls.size(), 2u);
  EXPECT_EQ(ok->syscalls[0].errno_ret, 13u);
  EXPECT_EQ(ok->syscalls[1].names, std::vector<std::string>{"umount2"});

  const std::pair<const char*, const char*> bad[] = {
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOTANERRNO"})",
       "defaultErrno: unknown errno name 'ENOTANERRNO'"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "defaultErrno": "ENOSYS"})",
       "disagree"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO",
          "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
          "args": [{"index": 0, "value": "seven", "op": "SCMP_CMP_EQ"}]}]})",
       "syscalls[0].args[0].value: expected an unsigned integer, found string"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO",
          "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
          "includes": {"minKernel": "four"}}]})",
       "syscalls[0].includes.minKernel: 'four' is not a kernel version"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"],
          "action": "SCMP_ACT_ALLOW"}]})",
       "both 'name' and 'names'"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
          "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]})",
       "both 'architectures' and 'archMap'"},
      {R"({"syscalls": []})", "defaultAction is missing"},
      {R"({"defaultAction": )", "invalid JSON"},
  };
  for (const auto& [json, expect] : bad) {
    auto r = from_docker_profile(json, {}, "6.1", "SCMP_ARCH_X86_64");
    ASSERT_FALSE(r) << json;
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  }
}

TEST(SeccompDefaultProfile, LeavesOutWhatTheReadmeSays) {
  auto s = from_docker_profile(slurp(kDefaultProfile), {}, "", "");
  ASSERT_TRUE(s) << s.error().text();
  EXPECT_EQ(s->default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(s->default_errno_ret, 1u);
  EXPECT_EQ(s->architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  for (const char* name :
       {"io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
        "userfaultfd", "bpf", "perf_event_open", "unshare", "setns", "clone3", "mount"}) {
    EXPECT_FALSE(has_rule(*s, name, "SCMP_ACT_ALLOW")) << name;
    EXPECT_FALSE(has_rule(*s, name, "SCMP_ACT_ALLOW", true)) << name;
  }
  EXPECT_TRUE(has_rule(*s, "clone", "SCMP_ACT_ALLOW", /*with_args=*/true));
  EXPECT_FALSE(has_rule(*s, "clone", "SCMP_ACT_ALLOW"));
  bool clone3_enosys = false;
  for (const auto& sc : s->syscalls)
    clone3_enosys |= sc.names == std::vector<std::string>{"clone3"} &&
                     sc.action == "SCMP_ACT_ERRNO" && sc.errno_ret == 38u;
  EXPECT_TRUE(clone3_enosys);
  EXPECT_TRUE(has_rule(*s, "read", "SCMP_ACT_ALLOW"));
  auto f = compile(*s, "");
  ASSERT_TRUE(f) << f.error().text();
}

TEST(SeccompCache, WarmCompileTime) {
  auto s = from_docker_profile(slurp(kDockerProfile), kDockerCaps, "", "");
  ASSERT_TRUE(s) << s.error().text();
  TempDir tmp;
  auto t0 = std::chrono::steady_clock::now();
  auto cold = compile(*s, tmp.path());
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(cold) << cold.error().text();
  ASSERT_FALSE(cold->from_cache);
  constexpr int kRounds = 2000;
  for (int i = 0; i < kRounds; ++i) {
    auto warm = compile(*s, tmp.path());
    ASSERT_TRUE(warm && warm->from_cache);
  }
  auto t2 = std::chrono::steady_clock::now();
  using us = std::chrono::duration<double, std::micro>;
  printf("Docker profile (%zu arches, %zu instructions): cold compile %.0f us, warm %.1f us\n",
         s->architectures.size(), cold->program.size(), us(t1 - t0).count(),
         us(t2 - t1).count() / kRounds);
}

struct Received {
  std::string payload;
  UniqueFd fd;
};

// Accepts one connection and reads it to the end, keeping the first SCM_RIGHTS fd.
Received receive_one(int lsock) {
  Received r;
  UniqueFd conn(accept4(lsock, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return r;
  for (;;) {
    char buf[65536];
    union {
      char b[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } control{};
    struct iovec iov {
      buf, sizeof buf
    };
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.b;
    msg.msg_controllen = sizeof control.b;
    ssize_t n = recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) break;
    r.payload.append(buf, static_cast<size_t>(n));
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      if (r.fd)
        (void)close(got);
      else
        r.fd.reset(got);
    }
  }
  return r;
}

TEST(SeccompListener, SendsFdAndState) {
  TempDir tmp;
  std::string path = tmp.path() + "/agent.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  auto dir = open_at(AT_FDCWD, tmp.path(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir);

  std::string small = R"({"ociVersion":"1.0.2","fds":["seccompFd"]})";
  std::string large = "{" + std::string(1 << 20, 'x') + "}";  // more than a socket buffer
  for (const std::string* state : {&small, &large}) {
    Received got;
    std::thread reader([&] { got = receive_one(listener.get()); });
    auto sent = send_listener_fd(path, dir->get(), *state);
    reader.join();
    ASSERT_TRUE(sent) << sent.error().text();
    EXPECT_EQ(got.payload.size(), state->size());
    EXPECT_TRUE(got.payload == *state);
    ASSERT_TRUE(got.fd);
    struct stat a {
    }, b{};
    ASSERT_EQ(fstat(dir->get(), &a), 0);
    ASSERT_EQ(fstat(got.fd.get(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_dev, b.st_dev);
  }

  auto missing = send_listener_fd(tmp.path() + "/nobody.sock", dir->get(), small);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_FALSE(send_listener_fd(std::string(200, 'a'), dir->get(), small));
}

}  // namespace
}  // namespace bw::seccomp
