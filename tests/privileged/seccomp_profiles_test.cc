// The profiles in seccomp-profiles/examples/ against their workloads
// (examples/workloads/<name>/workload.sh), each run the way it ships: in a
// busybox container with `bulwark-run spec`'s defaults and the profile as
// linux.seccomp.
//
//  - Each workload succeeds under its profile.
//  - Removing any single rule breaks the workload (it fails, or complains on
//    stderr where it did not before), or the call is on
//    seccomp-profiles/examples/keep.list, which says why the profile keeps it
//    although the workload runs without it. A rule the workload does not
//    need and the list does not explain fails the test: the profile is not
//    minimal (scripts/record-profiles would have pruned it). Rules are the
//    names of the profile's allow list, one at a time, and each other rule
//    (argument-checked or not allowing).
//
// scripts/record-profiles regenerates the profiles; its make_rootfs and the
// WorkloadBundle here build the same container.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bundle.h"

namespace bw::test {
namespace {

const std::string kSource = BULWARK_SOURCE_DIR;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// seccomp-profiles/examples/keep.list: "WORKLOAD|* SYSCALL REASON..." lines.
struct Kept {
  std::string workload, syscall, reason;
};
std::vector<Kept> keep_list() {
  std::vector<Kept> out;
  std::istringstream in(read_text(kSource + "/seccomp-profiles/examples/keep.list"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    Kept k;
    words >> k.workload >> k.syscall >> std::ws;
    std::getline(words, k.reason);
    out.push_back(k);
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}


std::vector<std::string> workloads() {
  std::vector<std::string> out;
  std::string dir = kSource + "/examples/workloads";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      struct stat st {};
      if (name[0] != '.' && ::stat((dir + "/" + name + "/workload.sh").c_str(), &st) == 0)
        out.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "socket arg0 == 0x2", "clone arg0 & 0x7e020000 == 0"
std::string rule_label(const nlohmann::json& rule) {
  std::string label = rule["names"][0].get<std::string>();
  for (const auto& a : rule.value("args", nlohmann::json::array())) {
    char buf[96];
    unsigned idx = a["index"].get<unsigned>();
    auto value = a["value"].get<unsigned long long>();
    if (a["op"] == "SCMP_CMP_MASKED_EQ")
      snprintf(buf, sizeof buf, " arg%u & %#llx == %#llx", idx, value,
               a.value("valueTwo", 0ULL));
    else
      snprintf(buf, sizeof buf, " arg%u %s %#llx", idx,
               a["op"] == "SCMP_CMP_EQ" ? "==" : a["op"].get<std::string>().c_str(), value);
    label += buf;
  }
  return label;
}

// One way to take a single rule out of a profile.
struct Removal {
  std::string label;    // for messages: "socket arg0 == 0x2"
  std::string syscall;  // the name keep.list uses
  nlohmann::json profile;
};

std::vector<Removal> single_removals(const nlohmann::json& profile) {
  std::vector<Removal> out;
  const auto& rules = profile["syscalls"];
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& names = rules[i]["names"];
    if (names.size() > 1) {
      for (size_t n = 0; n < names.size(); ++n) {
        nlohmann::json p = profile;
        p["syscalls"][i]["names"].erase(n);
        out.push_back({names[n].get<std::string>(), names[n].get<std::string>(), std::move(p)});
      }
    } else {
      nlohmann::json p = profile;
      p["syscalls"].erase(i);
      out.push_back({rule_label(rules[i]), rules[i]["names"][0].get<std::string>(), std::move(p)});
    }
  }
  return out;
}

class WorkloadBundle {
 public:
  explicit WorkloadBundle(const std::string& name) : name_(name) {
    // The rootfs of scripts/record-profiles: busybox with every applet, and
    // the workload as /bin/workload.
    RunResult list = run_command({"/bin/busybox", "--list"});
    EXPECT_TRUE(list.ok()) << list.describe();
    for (const std::string& applet : split_lines(list.out)) {
      std::string link = bundle_.rootfs() + "/bin/" + applet;
      struct stat st {};
      if (!applet.empty() && ::lstat(link.c_str(), &st) != 0) {
        EXPECT_EQ(::symlink("busybox", link.c_str()), 0) << link;
      }
    }
    std::string script = read_text(kSource + "/examples/workloads/" + name + "/workload.sh");
    std::ofstream(bundle_.rootfs() + "/bin/workload") << script;
    EXPECT_EQ(::chmod((bundle_.rootfs() + "/bin/workload").c_str(), 0755), 0);
    // The config `bulwark-run spec` writes: what the workload ships with.
    std::string spec_dir = bundle_.base() + "/spec";
    EXPECT_EQ(::mkdir(spec_dir.c_str(), 0700), 0);
    RunResult spec = run_command({runtime_path(), "spec", "--bundle", spec_dir});
    EXPECT_TRUE(spec.ok()) << spec.describe();
    bundle_.config() = nlohmann::json::parse(read_text(spec_dir + "/config.json"));
    bundle_.config()["process"]["args"] = {"/bin/workload"};
  }

  // Runs the workload under `profile`; true when it exited 0, printed
  // "<name>: ok" and wrote `stderr` to stderr (when given): a call whose
  // failure makes a program complain is not one it can do without.
  bool runs_under(const nlohmann::json& profile, RunResult* result = nullptr,
                  const std::string* stderr_text = nullptr) {
    bundle_.config()["linux"]["seccomp"] = profile;
    bundle_.write();
    std::string id = bundle_.new_id();
    RunResult r = bundle_.start_runtime({"run", "--bundle", bundle_.path(), id}).wait(kTimeoutS);
    if (r.timed_out) (void)bundle_.run_runtime({"delete", "--force", id});
    bool ok = r.ok() && r.out.find(name_ + ": ok") != std::string::npos &&
              (!stderr_text || r.err == *stderr_text);
    if (result) *result = r;
    return ok;
  }

 private:
  // A workload takes well under a second; a removal that makes it hang
  // (a server that can no longer accept) is cut off here.
  static constexpr int kTimeoutS = 5;
  std::string name_;
  TestBundle bundle_;
};

class SeccompProfilesTest : public RuntimeTest {};

TEST_F(SeccompProfilesTest, EveryWorkloadHasARecordedProfile) {
  auto names = workloads();
  ASSERT_FALSE(names.empty()) << "no workloads under " << kSource << "/examples/workloads";
  for (const std::string& name : names) {
    std::string path = kSource + "/seccomp-profiles/examples/" + name + ".json";
    EXPECT_EQ(::access(path.c_str(), R_OK), 0)
        << path << " is missing: run scripts/record-profiles " << name;
  }
  // And every keep.list entry names a workload (or *) and a call its profile has.
  for (const Kept& k : keep_list()) {
    SCOPED_TRACE("keep.list: " + k.workload + " " + k.syscall);
    EXPECT_FALSE(k.reason.empty()) << "the entry gives no reason";
    bool found = false;
    for (const std::string& name : names) {
      if (k.workload != "*" && k.workload != name) continue;
      std::string text = read_text(kSource + "/seccomp-profiles/examples/" + name + ".json");
      if (text.empty()) continue;
      auto removals = single_removals(nlohmann::json::parse(text));
      found = found || std::any_of(removals.begin(), removals.end(),
                                   [&](const Removal& r) { return r.syscall == k.syscall; });
    }
    EXPECT_TRUE(found) << "no profile of workload '" << k.workload << "' has this call";
  }
}

TEST_F(SeccompProfilesTest, EachRuleIsNeededOrListedWithAReason) {
  auto start = std::chrono::steady_clock::now();
  for (const std::string& name : workloads()) {
    SCOPED_TRACE("workload " + name);
    std::string text = read_text(kSource + "/seccomp-profiles/examples/" + name + ".json");
    if (text.empty()) continue;  // reported by the test above
    nlohmann::json profile = nlohmann::json::parse(text);
    WorkloadBundle bundle(name);
    RunResult own;
    ASSERT_TRUE(bundle.runs_under(profile, &own))
        << "fails under its own profile: " << own.describe();

    std::map<std::string, std::string> kept;
    for (const Kept& k : keep_list())
      if (k.workload == "*" || k.workload == name) kept[k.syscall] = k.reason;
    std::vector<std::string> needed, unneeded;
    for (const Removal& r : single_removals(profile)) {
      bool ok = bundle.runs_under(r.profile, nullptr, &own.err);
      (ok ? unneeded : needed).push_back(r.label);
      if (ok && !kept.count(r.syscall))
        ADD_FAILURE() << "'" << r.label << "' is not needed by " << name
                      << ": the workload succeeds without it. Regenerate the profile "
                         "(scripts/record-profiles " << name << "), or add the call to "
                         "seccomp-profiles/examples/keep.list with the reason to keep it.";
    }
    std::cout << "[ info     ] " << name << ": " << needed.size() << " rules needed, "
              << unneeded.size() << " kept though not needed (" << join(unneeded) << ")\n";
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ info     ] ablation took " << secs << " s\n";
}

}  // namespace
}  // namespace bw::test
