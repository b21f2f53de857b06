// End-to-end: the bulwark-seccomp binary run as a person would run it:
// validate (every kind of bad input, each reported at its JSON path, exit 1),
// compile (three formats), explain (Docker's profile with and without
// CAP_SYS_ADMIN, checked against the compiled filter) and diff.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;

const char* const kDockerProfile = "/work/shared/compat/docker-default-seccomp.json";
const char* const kCommonProfile = "/work/shared/compat/containers-common-seccomp.json";
const std::string kDefaultProfile = std::string(BULWARK_SOURCE_DIR) + "/seccomp-profiles/default.json";

std::string tool_path() { return std::string(BULWARK_BUILD_DIR) + "/tools/seccomp/bulwark-seccomp"; }

RunResult tool(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), tool_path());
  return run_command(args, input, 120);
}

bool mentions(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

class SeccompToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(tool_path().c_str(), X_OK) != 0) GTEST_SKIP() << tool_path() << " is not built";
    char tmpl[] = "/tmp/bw-seccomp-tool-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // Writes `text` to a file in the test directory and returns its path.
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string write(const std::string& name, const json& j) { return write(name, j.dump(2)); }

  // A minimal valid OCI section: allows what a workload needs to start.
  static json base_section() {
    return json{{"defaultAction", "SCMP_ACT_ERRNO"},
                {"defaultErrnoRet", 1},
                {"syscalls",
                 {{{"names", {"execve", "execveat", "read", "write", "exit_group"}},
                   {"action", "SCMP_ACT_ALLOW"}}}}};
  }

  // validate must fail (exit 1) and name `path` on stderr.
  void expect_invalid(const std::string& file, const std::string& path,
                      const std::string& also = "") {
    RunResult r = tool({"validate", file});
    EXPECT_EQ(r.status, 1) << r.describe();
    EXPECT_TRUE(mentions(r.err, path)) << "stderr should name " << path << "\n" << r.describe();
    if (!also.empty()) {
      EXPECT_TRUE(mentions(r.err, also)) << also << "\n" << r.describe();
    }
    // The same finding in the JSON report, at the same path.
    RunResult j = tool({"--json", "validate", file});
    EXPECT_EQ(j.status, 1) << j.describe();
    auto doc = json::parse(j.out, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << j.describe();
    EXPECT_FALSE(doc["valid"].get<bool>());
    bool found = false;
    for (const auto& e : doc["errors"])
      found |= mentions(e["path"].get<std::string>() + ": " + e["message"].get<std::string>(), path);
    EXPECT_TRUE(found) << j.out;
  }

  std::string dir_;
};

TEST_F(SeccompToolTest, UsageErrors) {
  EXPECT_EQ(tool({}).status, 2);
  EXPECT_EQ(tool({"frobnicate"}).status, 2);
  EXPECT_EQ(tool({"validate"}).status, 2);
  EXPECT_EQ(tool({"validate", "--bogus", kDockerProfile}).status, 2);
  RunResult missing = tool({"validate", dir_ + "/nope.json"});
  EXPECT_EQ(missing.status, 2) << missing.describe();
  EXPECT_TRUE(mentions(missing.err, "nope.json")) << missing.describe();
  RunResult help = tool({"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* verb : {"validate", "compile", "explain", "diff"})
    EXPECT_TRUE(mentions(help.out, verb)) << help.out;
  EXPECT_EQ(tool({"compile", kDockerProfile, "--format", "elf"}).status, 2);
  EXPECT_EQ(tool({"explain", kDockerProfile, "no_such_syscall"}).status, 2);
  EXPECT_EQ(tool({"explain", kDockerProfile, "clone", "CLONE_BOGUS"}).status, 2);
  EXPECT_EQ(tool({"explain", kDockerProfile, "mount", "--caps", "CAP_BOGUS"}).status, 2);
}

TEST_F(SeccompToolTest, ValidProfilesInEachForm) {
  for (const std::string& file : {std::string(kDockerProfile), std::string(kCommonProfile), kDefaultProfile}) {
    RunResult r = tool({"validate", file});
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(mentions(r.out, "valid")) << r.describe();
  }
  std::string config = write("config.json", json{{"ociVersion", "1.0.2"},
                                                  {"linux", {{"seccomp", base_section()}}}});
  RunResult r = tool({"--json", "validate", config});
  EXPECT_EQ(r.status, 0) << r.describe();
  auto doc = json::parse(r.out);
  EXPECT_EQ(doc["form"], "oci-config");
  EXPECT_TRUE(doc["valid"].get<bool>());
  EXPECT_GT(doc["instructions"].get<int>(), 0);

  // A config.json without a seccomp section has nothing to validate.
  std::string bare = write("bare.json", json{{"ociVersion", "1.0.2"}, {"linux", json::object()}});
  RunResult none = tool({"validate", bare});
  EXPECT_EQ(none.status, 1) << none.describe();
  EXPECT_TRUE(mentions(none.err, "linux.seccomp")) << none.describe();
}

TEST_F(SeccompToolTest, MalformedJsonNamesLineAndColumn) {
  std::string f = write("broken.json", std::string("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n"));
  RunResult r = tool({"validate", f});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(mentions(r.err, "broken.json")) << r.describe();
  EXPECT_TRUE(mentions(r.err, "line 4")) << r.describe();
  EXPECT_EQ(tool({"compile", f, "--format", "asm"}).status, 1);
}

TEST_F(SeccompToolTest, WrongTypes) {
  json s = base_section();
  s["defaultAction"] = 5;
  expect_invalid(write("t1.json", s), "defaultAction", "expected a string");
  s = base_section();
  s["syscalls"][0]["names"] = "read";
  expect_invalid(write("t2.json", s), "syscalls[0].names", "expected an array");
  s = base_section();
  s["syscalls"].push_back({{"names", {"getpid"}}, {"action", "SCMP_ACT_ALLOW"},
                           {"args", {{{"index", 0}, {"value", "zero"}, {"op", "SCMP_CMP_EQ"}}}}});
  expect_invalid(write("t3.json", s), "syscalls[1].args[0].value");
  s = base_section();
  s["syscalls"][0]["errnoRet"] = -1;
  expect_invalid(write("t4.json", s), "syscalls[0].errnoRet");
}

TEST_F(SeccompToolTest, UnknownActionsAndOperators) {
  json s = base_section();
  s["syscalls"].push_back({{"names", {"getpid"}}, {"action", "SCMP_ACT_MAYBE"}});
  expect_invalid(write("a.json", s), "syscalls[1].action", "SCMP_ACT_MAYBE");
  s = base_section();
  s["defaultAction"] = "SCMP_ACT_DENY";
  expect_invalid(write("d.json", s), "defaultAction", "SCMP_ACT_DENY");
  s = base_section();
  s["syscalls"].push_back({{"names", {"getpid"}}, {"action", "SCMP_ACT_ALLOW"},
                           {"args", {{{"index", 0}, {"value", 1}, {"op", "SCMP_CMP_ABOUT"}}}}});
  expect_invalid(write("o.json", s), "syscalls[1].args[0].op", "SCMP_CMP_ABOUT");
}

TEST_F(SeccompToolTest, ArgumentIndexAndErrnoRanges) {
  json s = base_section();
  s["syscalls"].push_back({{"names", {"getpid"}}, {"action", "SCMP_ACT_ALLOW"},
                           {"args", {{{"index", 6}, {"value", 1}, {"op", "SCMP_CMP_EQ"}}}}});
  expect_invalid(write("i.json", s), "syscalls[1].args[0].index", "0-5");
  s = base_section();
  s["syscalls"].push_back({{"names", {"getpid"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 5000}});
  expect_invalid(write("e.json", s), "syscalls[1].errnoRet", "out of range");
  s = base_section();
  s["defaultErrnoRet"] = 70000;
  expect_invalid(write("de.json", s), "defaultErrnoRet", "out of range");
  // The same problem in a config.json is named at its path there.
  json config = {{"ociVersion", "1.0.2"}, {"linux", {{"seccomp", s}}}};
  expect_invalid(write("config.json", config), "linux.seccomp.defaultErrnoRet");
  // And in a Docker profile, in a rule that does not even apply here.
  json docker = base_section();
  docker["syscalls"].push_back({{"names", {"s390_runtime_instr"}}, {"action", "SCMP_ACT_ERRNO"},
                                {"errnoRet", 99999}, {"includes", {{"arches", {"s390x"}}}}});
  expect_invalid(write("docker.json", docker), "syscalls[1].errnoRet");
}

TEST_F(SeccompToolTest, ProfileThatBlocksTheWorkloadsExecve) {
  json s = base_section();
  s["syscalls"][0]["names"] = {"read", "write", "exit_group"};
  expect_invalid(write("noexec.json", s), "defaultAction", "execve");
  s = base_section();
  s["syscalls"][0]["names"] = {"execve", "read", "write", "exit_group"};
  s["syscalls"].push_back({{"names", {"execveat"}}, {"action", "SCMP_ACT_KILL_PROCESS"}});
  expect_invalid(write("killexec.json", s), "syscalls[1]", "execveat");
  // Allowing by default is fine, denying the rest is not the point.
  s = json{{"defaultAction", "SCMP_ACT_ALLOW"},
           {"syscalls", {{{"names", {"execve"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  expect_invalid(write("denyexec.json", s), "syscalls[0]", "execve");
}

// A rule libseccomp drops because an earlier rule decides the syscall
// without conditions is a warning at the dropped rule's path.
TEST_F(SeccompToolTest, RuleThatNeverApplies) {
  json s = base_section();
  s["syscalls"].push_back({{"names", {"read", "getpid"}}, {"action", "SCMP_ACT_LOG"}});
  RunResult r = tool({"validate", write("shadow.json", s)});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(mentions(r.err, "warning: syscalls[1]: never applies to read: syscalls[0]"))
      << r.describe();
  EXPECT_EQ(tool({"--strict", "validate", dir_ + "/shadow.json"}).status, 1);
}

TEST_F(SeccompToolTest, UnknownNamesWarnUnlessStrict) {
  json s = base_section();
  s["syscalls"][0]["names"].push_back("frobnicate_at");
  std::string f = write("unknown.json", s);
  RunResult r = tool({"validate", f});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(mentions(r.err, "warning")) << r.describe();
  EXPECT_TRUE(mentions(r.err, "syscalls[0].names[5]")) << r.describe();
  EXPECT_TRUE(mentions(r.err, "frobnicate_at")) << r.describe();
  RunResult strict = tool({"--strict", "validate", f});
  EXPECT_EQ(strict.status, 1) << strict.describe();
  EXPECT_TRUE(mentions(strict.err, "syscalls[0].names[5]")) << strict.describe();
  EXPECT_EQ(tool({"validate", "--strict", f}).status, 1);  // after the verb too
  // compile leaves the name out, and refuses under --strict.
  EXPECT_EQ(tool({"compile", f, "--format", "asm"}).status, 0);
  EXPECT_EQ(tool({"--strict", "compile", f, "--format", "asm"}).status, 1);
  // Docker's profile names a few syscalls this libseccomp does not know.
  RunResult docker = tool({"--json", "validate", kDockerProfile});
  EXPECT_EQ(docker.status, 0) << docker.describe();
  EXPECT_FALSE(json::parse(docker.out)["warnings"].empty()) << docker.out;
}

TEST_F(SeccompToolTest, CompileFormats) {
  std::string bpf = dir_ + "/docker.bpf";
  RunResult r = tool({"compile", kDockerProfile, "--format", "bpf", "-o", bpf});
  ASSERT_EQ(r.status, 0) << r.describe();
  struct stat st {};
  ASSERT_EQ(stat(bpf.c_str(), &st), 0);
  EXPECT_GT(st.st_size, 0);
  EXPECT_EQ(st.st_size % 8, 0);

  RunResult asm_ = tool({"compile", kDockerProfile, "--format", "asm"});
  ASSERT_EQ(asm_.status, 0) << asm_.describe();
  EXPECT_TRUE(mentions(asm_.out, "ret")) << asm_.out.substr(0, 400);
  // One line per instruction.
  EXPECT_EQ(static_cast<off_t>(split_lines(asm_.out).size()), st.st_size / 8);

  RunResult pfc = tool({"compile", kDockerProfile, "--format", "pfc"});
  ASSERT_EQ(pfc.status, 0) << pfc.describe();
  EXPECT_FALSE(pfc.out.empty());
  EXPECT_TRUE(mentions(pfc.out, "x86_64")) << pfc.out.substr(0, 400);

  RunResult j = tool({"--json", "compile", kDefaultProfile, "--format", "bpf"});
  ASSERT_EQ(j.status, 0) << j.describe();
  auto doc = json::parse(j.out);
  EXPECT_EQ(doc["instructions"].get<size_t>(), doc["program"].size());
  EXPECT_EQ(doc["bytes"].get<size_t>(), 8 * doc["program"].size());

  // Big-endian s390x cannot share a program with this machine, but a program
  // for an s390x machine can be built here.
  RunResult s390 = tool({"compile", kDockerProfile, "--arch", "s390x", "--format", "asm"});
  EXPECT_EQ(s390.status, 0) << s390.describe();
  EXPECT_TRUE(mentions(s390.out, "0x80000016")) << s390.out.substr(0, 300);  // AUDIT_ARCH_S390X
  RunResult arm = tool({"--json", "compile", kDockerProfile, "--arch", "arm64", "-o", dir_ + "/arm.bpf"});
  ASSERT_EQ(arm.status, 0) << arm.describe();
  auto arm_doc = json::parse(arm.out);
  EXPECT_EQ(arm_doc["arch"], "SCMP_ARCH_AARCH64");
  EXPECT_EQ(arm_doc["architectures"], json({"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));

  // An invalid profile compiles to nothing at all.
  json s = base_section();
  s["syscalls"][0]["action"] = "SCMP_ACT_NOPE";
  std::string out = dir_ + "/bad.bpf";
  RunResult bad = tool({"compile", write("bad.json", s), "-o", out});
  EXPECT_EQ(bad.status, 1) << bad.describe();
  EXPECT_TRUE(mentions(bad.err, "syscalls[0]")) << bad.describe();
  EXPECT_NE(access(out.c_str(), F_OK), 0) << "half-written output";
}

// Runs explain --json and returns the report; the profile's and the
// filter's decisions must agree.
json explain(std::vector<std::string> args) {
  args.insert(args.begin(), {"--json", "explain"});
  RunResult r = tool(args);
  EXPECT_EQ(r.status, 0) << r.describe();
  auto doc = json::parse(r.out, nullptr, false);
  if (!doc.is_object()) return json::object();
  EXPECT_TRUE(doc["agree"].get<bool>()) << r.out;
  EXPECT_EQ(doc["profile_decision"]["ret"], doc["filter_decision"]["ret"]) << r.out;
  return doc;
}

TEST_F(SeccompToolTest, ExplainDockerProfile) {
  json read = explain({kDockerProfile, "read"});
  EXPECT_EQ(read["profile_decision"]["verdict"], "allow") << read;

  json mount = explain({kDockerProfile, "mount"});
  EXPECT_EQ(mount["profile_decision"]["verdict"], "errno") << mount;
  EXPECT_EQ(mount["profile_decision"]["data"], 1) << mount;
  EXPECT_EQ(mount["profile_decision"]["rule"], nullptr) << mount;  // the default action

  json admin = explain({kDockerProfile, "mount", "--caps", "+CAP_SYS_ADMIN"});
  EXPECT_EQ(admin["profile_decision"]["verdict"], "allow") << admin;
  // Docker's rule for CAP_SYS_ADMIN is syscalls[17] of the file.
  EXPECT_EQ(admin["profile_decision"]["rule_path"], "syscalls[17]") << admin;
  json only_admin = explain({kDockerProfile, "mount", "--caps", "CAP_SYS_ADMIN"});
  EXPECT_EQ(only_admin["profile_decision"]["verdict"], "allow") << only_admin;

  // clone with CLONE_NEWUSER fails the masked comparison of Docker's clone rule.
  json newuser = explain({kDockerProfile, "clone", "0x10000000"});
  EXPECT_EQ(newuser["profile_decision"]["verdict"], "errno") << newuser;
  EXPECT_EQ(newuser["profile_decision"]["data"], 1) << newuser;
  EXPECT_EQ(newuser["args"][0], 0x10000000) << newuser;
  EXPECT_EQ(explain({kDockerProfile, "clone", "CLONE_NEWUSER"})["profile_decision"]["ret"],
            newuser["profile_decision"]["ret"]);
  // The clone rule whose condition fails is shown.
  EXPECT_EQ(newuser["rules"], json::parse(R"([{"path": "syscalls[18]",
      "conditions": "arg0&0x7e020000==0", "action": "allow"}])")) << newuser;
  json thread = explain({kDockerProfile, "clone", "CLONE_VM|CLONE_THREAD|CLONE_SIGHAND"});
  EXPECT_EQ(thread["profile_decision"]["verdict"], "allow") << thread;
  EXPECT_EQ(thread["profile_decision"]["rule_path"], "syscalls[18]") << thread;

  json clone3 = explain({kDockerProfile, "clone3"});
  EXPECT_EQ(clone3["profile_decision"]["data"], 38) << clone3;  // ENOSYS, so glibc falls back

  // Human output names the rule and both answers.
  RunResult r = tool({"explain", kDockerProfile, "clone", "0x10000000"});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(mentions(r.out, "profile: errno 1 (EPERM)")) << r.out;
  EXPECT_TRUE(mentions(r.out, "filter:  errno 1 (EPERM)")) << r.out;
  EXPECT_TRUE(mentions(r.out, "clone")) << r.out;

  // A 32-bit process on this machine, and an arm64 machine.
  EXPECT_EQ(explain({kDockerProfile, "read", "--arch", "x86"})["profile_decision"]["verdict"], "allow");
  json arm = explain({kDockerProfile, "read", "--arch", "aarch64"});
  EXPECT_EQ(arm["profile_decision"]["verdict"], "allow") << arm;
  EXPECT_EQ(arm["nr"], 63) << arm;
}

TEST_F(SeccompToolTest, DiffProfiles) {
  RunResult same = tool({"diff", kDockerProfile, kDockerProfile});
  EXPECT_EQ(same.status, 0) << same.describe();
  EXPECT_TRUE(mentions(same.out, "no differences")) << same.out;

  // Bulwark's default is Docker's resolved for its default capabilities,
  // minus the debugging calls (seccomp-profiles/README.md): it allows
  // nothing Docker's does not.
  RunResult def = tool({"diff", kDockerProfile, kDefaultProfile});
  EXPECT_EQ(def.status, 1) << def.describe();
  EXPECT_TRUE(mentions(def.out, "only A allows: process_vm_readv, process_vm_writev, ptrace")) << def.out;
  EXPECT_FALSE(mentions(def.out, "only B allows")) << def.out;

  // With CAP_SYS_ADMIN, Docker's profile allows mount, unshare, clone3 and
  // namespace flags on clone, which the default never allows.
  RunResult admin = tool({"diff", kDockerProfile, kDefaultProfile, "--caps", "+CAP_SYS_ADMIN"});
  EXPECT_EQ(admin.status, 1) << admin.describe();
  EXPECT_TRUE(mentions(admin.out, "only A allows:")) << admin.out;
  EXPECT_TRUE(mentions(admin.out, "mount")) << admin.out;
  EXPECT_TRUE(mentions(admin.out, "different argument rules")) << admin.out;
  EXPECT_TRUE(mentions(admin.out, "arg0&0x7e020000==0")) << admin.out;

  json a = base_section();
  a["syscalls"][0]["names"].push_back("getpid");
  a["syscalls"].push_back({{"names", {"clone"}}, {"action", "SCMP_ACT_ALLOW"},
                           {"args", {{{"index", 0}, {"value", 0x7e020000}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  json b = base_section();
  b["syscalls"][0]["names"].push_back("getppid");
  b["syscalls"][0]["names"].push_back("clone");
  RunResult r = tool({"--json", "diff", write("a.json", a), write("b.json", b)});
  EXPECT_EQ(r.status, 1) << r.describe();
  auto doc = json::parse(r.out);
  EXPECT_FALSE(doc["equal"].get<bool>());
  ASSERT_EQ(doc["only_a"].size(), 1u) << r.out;
  EXPECT_EQ(doc["only_a"][0]["syscall"], "getpid");
  ASSERT_EQ(doc["only_b"].size(), 1u) << r.out;
  EXPECT_EQ(doc["only_b"][0]["syscall"], "getppid");
  ASSERT_EQ(doc["arguments"].size(), 1u) << r.out;
  EXPECT_EQ(doc["arguments"][0]["syscall"], "clone");
  EXPECT_EQ(doc["arguments"][0]["b_rules"], "allow");
  EXPECT_TRUE(doc["actions"].empty());

  // An unreadable profile is trouble, not a difference.
  EXPECT_EQ(tool({"diff", kDockerProfile, dir_ + "/missing.json"}).status, 2);
}

}  // namespace
}  // namespace bw::test
