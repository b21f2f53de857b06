// bw-bench-seccomp's compile, loop, time and supervise verbs; see seccomp_cost.cc.

#include "seccomp_bench.h"

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

// ---------------------------------------------------------------------------
// compile

// Removes the regular files in dir (the cache's <key>.bpf and temporaries).
void empty_dir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
}

bool dir_is_empty(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") empty = false;
  }
  ::closedir(d);
  return empty;
}

// A cache directory for the benchmark: DIR (new, or empty) or a new one under
// $TMPDIR; emptied, and removed when made here, on destruction.
class ScratchDir {
 public:
  bw::Result<void> open(std::string dir) {
    if (dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/bw-bench-seccomp.XXXXXX";
      std::vector<char> buf(templ.begin(), templ.end());
      buf.push_back('\0');
      if (!::mkdtemp(buf.data())) return bw::sys_error("mkdtemp %s", templ.c_str());
      dir = buf.data();
      made_ = true;
    } else if (::mkdir(dir.c_str(), 0700) == 0) {
      made_ = true;
    } else if (errno != EEXIST || !dir_is_empty(dir)) {
      return bw::make_error(0, "--cache-dir %s: must be a new or empty directory", dir.c_str());
    }
    path_ = dir;
    return {};
  }
  ~ScratchDir() {
    if (path_.empty()) return;
    empty_dir(path_);
    if (made_) ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // "tmpfs", "ext4", ... for the report.
  std::string fs_type() const {
    struct statfs st {};
    if (::statfs(path_.c_str(), &st) < 0) return "?";
    switch (static_cast<unsigned long>(st.f_type)) {
      case 0x01021994: return "tmpfs";
      case 0xEF53: return "ext4";
      case 0x58465342: return "xfs";
      case 0x9123683E: return "btrfs";
      case 0x794c7630: return "overlay";
      default: return bw::strf("fs %#lx", static_cast<unsigned long>(st.f_type));
    }
  }

 private:
  std::string path_;
  bool made_ = false;
};

int cmd_compile(const Args& a) {
  if (!a.only({"profile", "runs", "cache-dir"}) || !a.words.empty()) return usage();
  const std::string profile = a.get("profile");
  const long runs = parse_count(a.get("runs", "50"));
  if (profile.empty() || runs < 1) return usage();
  // The cache directories: the first also serves the warm runs.
  std::vector<std::string> dir_args = a.all("cache-dir");
  if (dir_args.empty()) dir_args.push_back("");
  std::vector<std::unique_ptr<ScratchDir>> dirs;
  for (const std::string& d : dir_args) {
    dirs.push_back(std::make_unique<ScratchDir>());
    if (auto r = dirs.back()->open(d); !r) return fail(r.error().text());
  }

  // Reading and resolving the Docker profile, for scale; not part of compile().
  auto text = bw::read_file(profile);
  if (!text) return fail(text.error().text());
  std::vector<double> resolve;
  bw::oci::Seccomp section;
  for (long i = 0; i < runs; ++i) {
    double t0 = now_ns();
    auto s = sc::from_docker_profile(*text, kDockerDefaultCaps, "");
    resolve.push_back(now_ns() - t0);
    if (!s) return fail(profile + ": " + s.error().text());
    section = std::move(*s);
  }
  size_t names = 0;
  for (const auto& rule : section.syscalls) names += rule.names.size();

  // One warm-up compile per engine and directory (page faults, libseccomp's
  // tables), which also checks that the cache works there.
  size_t insns[3];
  for (const auto& dir : dirs) {
    for (size_t e = 0; e < 3; ++e) {
      auto f = sc::compile(section, dir->path(), kEngines[e]);
      if (!f) return fail(std::string("compile (") + sc::engine_name(kEngines[e]) + "): " + f.error().text());
      if (!f->cache_warning.empty()) return fail("the cache is not usable: " + f->cache_warning);
      auto again = sc::compile(section, dir->path(), kEngines[e]);
      bool same = again && again->program.size() == f->program.size() &&
                  std::memcmp(again->program.data(), f->program.data(),
                              f->program.size() * sizeof(struct sock_filter)) == 0;
      if (!again || !again->from_cache || !same)
        return fail(std::string("a second compile (") + sc::engine_name(kEngines[e]) +
                    ") did not come from the cache in " + dir->path());
      insns[e] = f->program.size();
    }
    empty_dir(dir->path());
  }

  // cold[e]: no cache; store[d][e]: into empty cache directory d (compile +
  // store); warm[e]: cache hit. Engines rotate from run to run.
  std::vector<double> cold[3], warm[3];
  std::vector<std::array<std::vector<double>, 3>> store(dirs.size());
  for (long i = 0; i < runs; ++i) {
    for (size_t k = 0; k < 3; ++k) {
      size_t e = (k + static_cast<size_t>(i)) % 3;
      double t0 = now_ns();
      auto f = sc::compile(section, "", kEngines[e]);
      cold[e].push_back(now_ns() - t0);
      if (!f) return fail(f.error().text());
    }
  }
  for (size_t d = 0; d < dirs.size(); ++d) {
    for (long i = 0; i < runs; ++i) {
      for (size_t k = 0; k < 3; ++k) {
        size_t e = (k + static_cast<size_t>(i)) % 3;
        empty_dir(dirs[d]->path());
        double t0 = now_ns();
        auto f = sc::compile(section, dirs[d]->path(), kEngines[e]);
        store[d][e].push_back(now_ns() - t0);
        if (!f || f->from_cache || !f->cache_warning.empty())
          return fail("compile into the empty cache " + dirs[d]->path() + " failed");
      }
    }
  }
  // Warm: all three programs in the first directory (the loop above left one).
  const std::string& warm_dir = dirs.front()->path();
  for (size_t e = 0; e < 3; ++e) {
    auto f = sc::compile(section, warm_dir, kEngines[e]);
    if (!f) return fail(f.error().text());
  }
  for (long i = 0; i < runs * 10; ++i) {
    for (size_t k = 0; k < 3; ++k) {
      size_t e = (k + static_cast<size_t>(i)) % 3;
      double t0 = now_ns();
      auto f = sc::compile(section, warm_dir, kEngines[e]);
      warm[e].push_back(now_ns() - t0);
      if (!f || !f->from_cache) return fail("the warm compile missed the cache");
    }
  }

  auto ms = [](double ns) { return fmt(ns / 1e6, 3); };
  std::printf("Compile time of Docker's default profile (%s; %zu rules naming %zu syscalls after\n"
              "resolution for Docker's default capabilities): seccomp::compile(), median of %ld runs\n"
              "per engine (warm: %ld), engines interleaved\n",
              arch_list(section).c_str(), section.syscalls.size(), names, runs, runs * 10);
  std::printf("Resolving the Docker profile (from_docker_profile, not part of compile): %s ms\n\n",
              ms(median(resolve)).c_str());
  std::printf("%-18s %6s %10s %9s", "engine", "insns", "no cache", "x bulwark");
  for (const auto& dir : dirs) std::printf(" %14s", ("store, " + dir->fs_type()).c_str());
  std::printf(" %9s\n", "warm");
  double b_cold = median(cold[kBulwark]);
  for (size_t e = 0; e < 3; ++e) {
    std::printf("%-18s %6zu %10s %9s", sc::engine_name(kEngines[e]), insns[e], ms(median(cold[e])).c_str(),
                fmt(median(cold[e]) / b_cold, 2).c_str());
    for (size_t d = 0; d < dirs.size(); ++d) std::printf(" %14s", ms(median(store[d][e])).c_str());
    std::printf(" %9s\n", ms(median(warm[e])).c_str());
  }
  std::printf("  (ms. no cache: the engine alone. store: into an empty cache directory on that\n"
              "   filesystem, the first container start with this profile (written and renamed,\n"
              "   no fsync). warm: later starts: key, read, checksum)\n");
  std::printf("\nTargets:\n");
  double w = median(warm[kBulwark]);
  std::printf("  target warm-cache compile() (bulwark) < 0.2 ms: %s ms  %s\n", ms(w).c_str(),
              w < 0.2e6 ? "PASS" : "MISS");
  return 0;
}

// ---------------------------------------------------------------------------
// loop and supervise

int cmd_loop(const Args& a) {
  if (!a.opts.empty() || a.words.empty() || a.words.size() > 2) return usage();
  long n = parse_count(a.words[0]);
  std::string what = a.words.size() > 1 ? a.words[1] : "getppid";
  if (n < 1 || (what != "getppid" && what != "mount")) return usage();
  const RowInfo& r = kRowInfo[what == "mount" ? kDenied : kAllowedCached];
  for (long i = 0; i < n; ++i) raw_call(r);
  return 0;
}

// fork + exec + wait, wall time in ns.
bw::Result<double> run_bare(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const std::string& s : argv) v.push_back(const_cast<char*>(s.c_str()));
  v.push_back(nullptr);
  std::fflush(nullptr);
  double t0 = now_ns();
  pid_t pid = ::fork();
  if (pid < 0) return bw::sys_error("fork");
  if (pid == 0) {
    ::execve(v[0], v.data(), environ);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  double t = now_ns() - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return bw::make_error(0, "%s failed (status %#x)", argv[0].c_str(), status);
  return t;
}

// `time OUT STATUS CMD...`: like bw-bench-time, but for commands whose
// expected exit status is not 0 (`check` exits 1 when it found denials), and
// without the resident-set figure.
int cmd_time(int argc, char** argv) {
  if (argc < 5) return usage();
  const std::string out = argv[2];
  const std::string want_text = argv[3];
  long want = want_text == "0" ? 0 : parse_count(want_text);
  if (want < 0 || want > 255) return usage();
  std::fflush(nullptr);
  double t0 = now_ns();
  pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::execvp(argv[4], argv + 4);
    std::fprintf(stderr, "bw-bench-seccomp: %s: %s\n", argv[4], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  double t = now_ns() - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
    return fail(bw::strf("%s %s (expected status %ld)", argv[4],
                         WIFEXITED(status) ? bw::strf("exited with status %d", WEXITSTATUS(status)).c_str()
                                           : bw::strf("was killed by signal %d", WTERMSIG(status)).c_str(),
                         want));
  std::FILE* f = std::fopen(out.c_str(), "ae");
  if (!f || std::fprintf(f, "%.0f\n", t) < 0 || std::fclose(f) != 0)
    return fail(out + ": " + std::strerror(errno));
  return 0;
}

int cmd_supervise(const Args& a) {
  if (!a.only({"rounds"}) || a.words.size() != 1) return usage();
  long n = parse_count(a.words[0]);
  long rounds = parse_count(a.get("rounds", "5"));
  if (n < 1 || rounds < 1) return usage();
  char self[4096];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return fail(std::string("readlink /proc/self/exe: ") + std::strerror(errno));
  self[len] = '\0';
  std::vector<std::string> argv = {self, "loop", std::to_string(n)};

  std::vector<double> bare, sup;
  uint64_t notified = 0;
  bool sync = false;
  for (long i = 0; i < rounds; ++i) {
    for (int k = 0; k < 2; ++k) {
      if ((k + i) % 2 == 0) {
        auto t = run_bare(argv);
        if (!t) return fail(t.error().text());
        bare.push_back(*t);
      } else {
        sc::SuperviseOptions opts;
        opts.argv = argv;
        uint64_t seen = 0;
        double t0 = now_ns();
        auto res = sc::supervise(opts, [&seen](const sc::Notification&) {
          ++seen;
          return 0;
        });
        sup.push_back(now_ns() - t0);
        if (!res) return fail("supervise: " + res.error().text());
        if (res->status.signaled || res->status.code != 0) return fail("the supervised loop failed");
        notified = res->notifications;
        sync = res->sync_wake_up;
      }
    }
  }
  double b = median(bare), s = median(sup);
  std::printf("seccomp::supervise() alone (observer does nothing), %ld rounds interleaved:\n", rounds);
  std::printf("  bw-bench-seccomp loop %ld: bare %s ms, supervised %s ms (%sx); %llu calls notified\n",
              n, fmt(b / 1e6, 2).c_str(), fmt(s / 1e6, 2).c_str(), fmt(s / b, 1).c_str(),
              static_cast<unsigned long long>(notified));
  std::printf("  per notification round trip: %s us; SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: %s\n",
              fmt((s - b) / 1e3 / static_cast<double>(notified ? notified : 1), 2).c_str(),
              sync ? "on" : "off (kernel before 6.6)");
  return 0;
}

}  // namespace bw_bench
