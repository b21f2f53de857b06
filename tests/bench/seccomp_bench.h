// Shared by the two halves of bw-bench-seccomp: seccomp_cost.cc (per-syscall
// cost, and main) and seccomp_tool_bench.cc (compile, loop, time, supervise).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include "base/file.h"
#include "oci/spec.h"
#include "seccomp/bpf.h"
#include "seccomp/seccomp.h"
#include "seccomp/supervise.h"
extern char** environ;

namespace bw_bench {


namespace sc = bw::seccomp;

#if defined(__x86_64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_X86_64;
constexpr uint32_t kCompatArch = AUDIT_ARCH_I386;
constexpr const char* kNativeName = "x86_64";
constexpr const char* kCompatName = "x86";
#elif defined(__aarch64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
constexpr uint32_t kCompatArch = AUDIT_ARCH_ARM;
constexpr const char* kNativeName = "aarch64";
constexpr const char* kCompatName = "arm";
#else
constexpr uint32_t kNativeArch = 0;  // the instruction view is skipped
constexpr uint32_t kCompatArch = 0;
constexpr const char* kNativeName = "native";
constexpr const char* kCompatName = "compat";
#endif

// moby's default bounding set (oci/caps/defaults.go), as `bulwark-seccomp`
// resolves Docker profiles without --caps.
const std::vector<std::string> kDockerDefaultCaps = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",  "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

constexpr sc::Engine kEngines[] = {sc::Engine::bulwark, sc::Engine::libseccomp_linear,
                                   sc::Engine::libseccomp_tree};
constexpr size_t kBulwark = 0, kLinear = 1, kTree = 2;

inline int usage() {
  std::fputs(
      "usage: bw-bench-seccomp cost --profile DOCKER_PROFILE [--rounds R] [--bursts B]\n"
      "                             [--calls C] [--tolerance PCT] [--cpu N] [--raw FILE]\n"
      "       bw-bench-seccomp compile --profile DOCKER_PROFILE [--runs N] [--cache-dir DIR]...\n"
      "       bw-bench-seccomp loop N [getppid|mount]\n"
      "       bw-bench-seccomp supervise N [--rounds R]\n"
      "       bw-bench-seccomp time OUT STATUS CMD [ARG...]\n",
      stderr);
  return 2;
}

inline int fail(const std::string& what) {
  std::fprintf(stderr, "bw-bench-seccomp: %s\n", what.c_str());
  return 1;
}

inline double now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// "--name value" options after the subcommand; positional words are kept.
struct Args {
  std::vector<std::pair<std::string, std::string>> opts;
  std::vector<std::string> words;
  bool ok = true;

  Args(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        if (i + 1 >= argc) {
          ok = false;
          return;
        }
        opts.emplace_back(a.substr(2), argv[++i]);
      } else {
        words.push_back(a);
      }
    }
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : opts)
      if (k == name) out.push_back(v);
    return out;
  }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    for (const auto& [k, v] : opts)
      if (k == name) return v;
    return fallback;
  }
  bool only(std::initializer_list<const char*> known) const {
    for (const auto& [k, v] : opts) {
      bool found = false;
      for (const char* n : known) found |= k == n;
      if (!found) return false;
    }
    return true;
  }
};

// A positive integer, or -1.
inline long parse_count(const std::string& s) {
  if (s.empty() || s.size() > 12) return -1;
  for (char c : s)
    if (c < '0' || c > '9') return -1;
  long v = std::atol(s.c_str());
  return v > 0 ? v : -1;
}

inline bw::Result<bw::oci::Seccomp> docker_section(const std::string& path) {
  BW_ASSIGN_OR_RETURN(std::string text, bw::read_file(path));
  return bw::with_context(sc::from_docker_profile(text, kDockerDefaultCaps, ""), path);
}

inline std::string arch_list(const bw::oci::Seccomp& s) {
  std::string out;
  for (const std::string& a : s.architectures) {
    std::string n = a.rfind("SCMP_ARCH_", 0) == 0 ? a.substr(10) : a;
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (out.empty() ? "" : "+") + n;
  }
  return out.empty() ? "native only" : out;
}

inline std::string fmt(double v, int prec = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

// Paired differences d (bulwark - tree, one per round): a distribution-free
// 95% confidence interval for their median, from the order statistics the
// sign test allows (the whole range when there are too few rounds).
inline std::pair<double, double> median_ci(std::vector<double> d) {
  std::sort(d.begin(), d.end());
  size_t n = d.size();
  if (n == 0) return {0, 0};
  // Largest k with P(Binomial(n, 1/2) <= k - 1) <= 0.025.
  size_t k = 0;
  double cdf = 0, p = std::pow(0.5, static_cast<double>(n));  // P(X = 0)
  for (size_t j = 0; j < n; ++j) {
    cdf += p;
    if (cdf > 0.025) break;
    k = j + 1;
    p = p * static_cast<double>(n - j) / static_cast<double>(j + 1);
  }
  if (k == 0) return {d.front(), d.back()};
  return {d[k - 1], d[n - k]};
}


// The rows of the cost table; `loop` makes the same calls.
enum Row : size_t { kAllowedCached, kAllowedBpf, kArgPersonality, kArgSocket, kDenied, kRows };

struct RowInfo {
  const char* name;
  const char* call;
  long nr;
  std::array<uint64_t, 6> args;
};

inline const RowInfo kRowInfo[kRows] = {
    {"allowed (cached)", "getppid()", SYS_getppid, {}},
    {"allowed (BPF)", "getppid(), cache off", SYS_getppid, {}},
    {"arg personality", "personality(0xffffffff)", SYS_personality, {0xffffffffULL}},
    // An invalid type: the kernel answers EINVAL at once, after the filter
    // has checked the domain.
    {"arg socket", "socket(AF_UNIX, 0xff, 0)", SYS_socket, {AF_UNIX, 0xff}},
    {"denied", "mount(0, 0, 0, 0, 0)", SYS_mount, {}},
};

inline long raw_call(const RowInfo& r) {
  return ::syscall(r.nr, r.args[0], r.args[1], r.args[2], r.args[3], r.args[4], r.args[5]);
}

// The verbs (seccomp_tool_bench.cc).
int cmd_compile(const Args& a);
int cmd_loop(const Args& a);
int cmd_time(int argc, char** argv);
int cmd_supervise(const Args& a);
int cmd_cost(const Args& a);

}  // namespace bw_bench
