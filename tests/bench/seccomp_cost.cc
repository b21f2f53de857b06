// bw-bench-seccomp: the C++ side of tests/bench/seccomp_bench.sh, which
// documents the method and the targets. Needs no privileges of its own.
//
//   bw-bench-seccomp cost --profile DOCKER_PROFILE [--rounds R] [--bursts B]
//                         [--calls C] [--tolerance PCT] [--cpu N] [--raw FILE]
//       Per-syscall cost of Docker's default profile (resolved as moby does
//       for Docker's default capabilities on this machine) compiled by each
//       engine: Bulwark's generator, libseccomp's default (linear) output and
//       libseccomp's binary tree, against no filter. R rounds (default 15),
//       each a forked process with no_new_privs and one thread per column
//       (no filter, bulwark, linear, tree), each thread under its own filter.
//       The threads take turns: B times (default 7) for each row, each thread
//       times C (default 20000) raw syscall(2) calls on CLOCK_MONOTONIC, in an
//       order rotated from burst to burst. Rows:
//         allowed (cached)  getppid(): allowed by number, so the kernel's
//                           per-filter action bitmap (Linux 5.11+) allows it
//                           without running BPF
//         allowed (BPF)     getppid() after a 2-instruction filter reading
//                           args[0] is stacked on top: the kernel consults the
//                           newest filter's bitmap only, now empty, so every
//                           filter runs; the no-filter thread runs that
//                           filter alone
//         arg personality   personality(0xffffffff), allowed by one of
//                           Docker's five personality rules; changes nothing
//         arg socket        socket(AF_UNIX, 0xff, 0), allowed by Docker's
//                           rules on the domain, then EINVAL for the type
//         denied            mount(0, 0, 0, 0, 0): EPERM from the filter
//       Reports medians in ns/call, the cost over no filter, ratios, the
//       bulwark - tree difference paired burst by burst with a 95% interval
//       over the rounds (sign-test order statistics of the per-round
//       medians), the BPF instructions each program executes for the same
//       calls (seccomp::run_filter), the syscall numbers each program's
//       kernel bitmap covers (the kernel's load-time emulation redone here),
//       and the targets: bulwark no worse than the tree on every row (the
//       interval's low end at most PCT %, default 3, of the tree's time), and
//       better on the argument-checked and denied rows (the interval below 0).
//       --cpu N runs everything on CPU N; --raw FILE writes every burst's
//       figure ("round burst column row ns").
//   bw-bench-seccomp compile --profile DOCKER_PROFILE [--runs N] [--cache-dir DIR]...
//       seccomp::compile() for the same section, per engine, interleaved,
//       median of N runs (default 50): with no cache (the engine alone), into
//       an empty cache directory (compile and store), once per --cache-dir
//       (labelled with its filesystem), and with a warm cache (10 x N runs, in
//       the first directory; target < 0.2 ms). Each DIR (default: one new
//       directory under $TMPDIR) must be new or empty; what this puts there
//       is removed again, and DIR too when this made it.
//   bw-bench-seccomp loop N [getppid|mount]
//       Makes N raw syscalls (default getppid) and exits 0: the syscall-heavy
//       command for the record/check overhead.
//   bw-bench-seccomp supervise N [--rounds R]
//       The mechanism under `bulwark-seccomp record` without the tool around
//       it: `bw-bench-seccomp loop N` bare and under seccomp::supervise()
//       with an observer that does nothing, R rounds interleaved (default 5):
//       median wall times, calls notified, the cost per notification round
//       trip, and whether the kernel took SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP.
//   bw-bench-seccomp time OUT STATUS CMD [ARG...]
//       Runs CMD and, when it exits with STATUS, appends its wall time in ns
//       (fork to wait, CLOCK_MONOTONIC) to OUT; otherwise fails.
//
// Exit status: 0 done (also when a target is missed: the script decides),
// 1 a failure, 2 a usage error. The lines of `cost` and `compile` that start
// with "  target " carry PASS or MISS, for the script to count.

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
// cost


// A filter that reads args[0] is never constant for the kernel's emulator, so
// its bitmap is empty, and the bitmap of the newest filter is the only one
// the kernel looks at: with this on top, every filter runs for every call.
std::vector<struct sock_filter> cache_defeater() {
  return {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
}


// A warm-up, then `calls` timed calls; ns per call.
double time_row(const RowInfo& r, long calls) {
  for (long i = 0; i < calls / 10 + 100; ++i) raw_call(r);
  double t0 = now_ns();
  for (long i = 0; i < calls; ++i) raw_call(r);
  return (now_ns() - t0) / static_cast<double>(calls);
}

// One timing process (a "round"): a worker thread per column, each under its
// own filter (a filter loaded without TSYNC stays on the loading thread), and
// the main thread, under none, handing out bursts of calls to one worker at a
// time, so that the columns take turns every few milliseconds and share
// whatever else the machine is doing.
constexpr size_t kColumns = 4;  // no filter, then kEngines in order
constexpr size_t kBurstRows[] = {kAllowedCached, kArgPersonality, kArgSocket, kDenied};

struct Lab {
  std::mutex m;
  std::condition_variable cv;
  int turn = -1;  // the worker that is to act; -1 while the main thread waits
  bool defeat = false;  // the turn is: stack the cache defeater (else: a burst)
  bool quit = false;
  size_t row = 0;
  long calls = 0;
  double result = 0;
  int ready = 0;
  std::string error;  // the first failure of any worker
};

// Whether each row's call gets the answer it is named for; "" when it does.
std::string check_answers(bool filtered, const char* who) {
  if (raw_call(kRowInfo[kAllowedCached]) <= 0) return bw::strf("%s: getppid() failed", who);
  if (raw_call(kRowInfo[kArgPersonality]) < 0)
    return bw::strf("%s: personality(0xffffffff) failed: %s", who, std::strerror(errno));
  long r = raw_call(kRowInfo[kArgSocket]);
  if (r != -1 || errno != EINVAL)
    return bw::strf("%s: socket(AF_UNIX, 0xff, 0) gave %ld (%s), not EINVAL", who, r, std::strerror(errno));
  r = raw_call(kRowInfo[kDenied]);
  if (filtered && (r != -1 || errno != EPERM))
    return bw::strf("%s: mount(0, ...) gave %ld (%s), not EPERM", who, r, std::strerror(errno));
  return "";
}

void worker(Lab& lab, int id, const sc::Filter* filter) {
  const char* who = filter ? sc::engine_name(filter->engine) : "no filter";
  std::string err;
  if (filter) {
    if (auto loaded = sc::load(*filter); !loaded)
      err = bw::strf("loading the %s filter: %s", who, loaded.error().text().c_str());
  }
  if (err.empty()) err = check_answers(filter != nullptr, who);
  {
    std::lock_guard<std::mutex> lk(lab.m);
    if (!err.empty() && lab.error.empty()) lab.error = err;
    ++lab.ready;
  }
  lab.cv.notify_all();
  for (;;) {
    std::unique_lock<std::mutex> lk(lab.m);
    lab.cv.wait(lk, [&] { return lab.quit || lab.turn == id; });
    if (lab.quit) return;
    const bool defeat = lab.defeat;
    const size_t row = lab.row;
    const long calls = lab.calls;
    lk.unlock();
    double result = 0;
    err.clear();
    if (defeat) {
      sc::Filter d;
      d.program = cache_defeater();
      if (auto loaded = sc::load(d); !loaded)
        err = bw::strf("%s: loading the cache defeater: %s", who, loaded.error().text().c_str());
    } else {
      result = time_row(kRowInfo[row], calls);
    }
    lk.lock();
    lab.result = result;
    if (!err.empty() && lab.error.empty()) lab.error = err;
    lab.turn = -1;
    lk.unlock();
    lab.cv.notify_all();
  }
}

// Runs one round in the calling (forked) process; out[(col * kRows + row) * bursts + b].
std::string run_round(const std::vector<sc::Filter>& filters, long round, long bursts, long calls,
                      std::vector<double>& out) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return "prctl(PR_SET_NO_NEW_PRIVS) failed";
  Lab lab;
  std::vector<std::thread> threads;
  for (size_t c = 0; c < kColumns; ++c)
    threads.emplace_back(worker, std::ref(lab), static_cast<int>(c), c == 0 ? nullptr : &filters[c - 1]);
  auto order = [&](size_t k, long b) { return (k + static_cast<size_t>(b + round)) % kColumns; };
  auto act = [&](size_t col, bool defeat, size_t row) {
    std::unique_lock<std::mutex> lk(lab.m);
    lab.defeat = defeat;
    lab.row = row;
    lab.calls = calls;
    lab.turn = static_cast<int>(col);
    lab.cv.notify_all();
    lab.cv.wait(lk, [&] { return lab.turn == -1; });
    return lab.result;
  };
  std::string err;
  {
    std::unique_lock<std::mutex> lk(lab.m);
    lab.cv.wait(lk, [&] { return lab.ready == static_cast<int>(kColumns); });
    err = lab.error;
  }
  out.assign(kColumns * kRows * static_cast<size_t>(bursts), 0);
  auto slot = [&](size_t col, size_t row, long b) -> double& {
    return out[(col * kRows + row) * static_cast<size_t>(bursts) + static_cast<size_t>(b)];
  };
  for (long b = 0; err.empty() && b < bursts; ++b)
    for (size_t row : kBurstRows)
      for (size_t k = 0; k < kColumns; ++k) slot(order(k, b), row, b) = act(order(k, b), false, row);
  for (size_t c = 0; err.empty() && c < kColumns; ++c) act(c, true, 0);
  {
    std::lock_guard<std::mutex> lk(lab.m);
    err = lab.error;
  }
  for (long b = 0; err.empty() && b < bursts; ++b)
    for (size_t k = 0; k < kColumns; ++k)
      slot(order(k, b), kAllowedBpf, b) = act(order(k, b), false, kAllowedBpf);
  {
    std::lock_guard<std::mutex> lk(lab.m);
    if (err.empty()) err = lab.error;
    lab.quit = true;
  }
  lab.cv.notify_all();
  for (std::thread& t : threads) t.join();
  return err;
}

// Forks a process for one round and collects its samples.
bw::Result<std::vector<double>> fork_round(const std::vector<sc::Filter>& filters, long round,
                                           long bursts, long calls) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return bw::sys_error("pipe2");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return bw::sys_error("fork");
  if (pid == 0) {
    ::close(p[0]);
    std::vector<double> out;
    std::string err = run_round(filters, round, bursts, calls, out);
    // First a status byte, then either the samples or the message.
    char ok = err.empty() ? 1 : 0;
    const char* data = ok ? reinterpret_cast<const char*>(out.data()) : err.data();
    size_t left = ok ? out.size() * sizeof(double) : err.size();
    bool sent = ::write(p[1], &ok, 1) == 1;
    while (sent && left > 0) {
      ssize_t n = ::write(p[1], data, left);
      if (n <= 0) break;
      data += n;
      left -= static_cast<size_t>(n);
    }
    ::_exit(left == 0 && sent ? 0 : 1);
  }
  ::close(p[1]);
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!got.empty() && got[0] == 0) return bw::make_error(0, "round %ld: %s", round + 1, got.c_str() + 1);
  const size_t want = kColumns * kRows * static_cast<size_t>(bursts) * sizeof(double);
  if (got.size() != 1 + want || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return bw::make_error(0, "round %ld: the timing process died (status %#x)", round + 1, status);
  std::vector<double> out(want / sizeof(double));
  std::memcpy(out.data(), got.data() + 1, want);
  return out;
}

// The kernel's seccomp_is_const_allow() (kernel/seccomp.c): whether the
// program allows `nr` on `arch` whatever the arguments, judged the way the
// kernel judges it when it fills the per-filter bitmap at load time. Only
// loads of nr and arch, jumps with constants and `and` are followed; anything
// else means "run the filter".
bool kernel_const_allow(const std::vector<struct sock_filter>& prog, uint32_t nr, uint32_t arch) {
  uint32_t a = 0;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const struct sock_filter& in = prog[pc];
    switch (in.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (in.k == offsetof(struct seccomp_data, nr)) a = nr;
        else if (in.k == offsetof(struct seccomp_data, arch)) a = arch;
        else return false;
        break;
      case BPF_RET | BPF_K:
        return in.k == SECCOMP_RET_ALLOW;
      case BPF_JMP | BPF_JA:
        pc += in.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += a == in.k ? in.jt : in.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += a >= in.k ? in.jt : in.jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += a > in.k ? in.jt : in.jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (a & in.k) ? in.jt : in.jf;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        a &= in.k;
        break;
      default:
        return false;
    }
  }
  return false;
}

// Syscall numbers 0..limit-1 whose ALLOW the kernel caches. The kernel's
// bitmap is NR_syscalls long; 1024 covers every table, and the numbers past
// the table end are never allowed by these programs anyway.
int cached_numbers(const std::vector<struct sock_filter>& prog, uint32_t arch) {
  int n = 0;
  for (uint32_t nr = 0; nr < 1024; ++nr) n += kernel_const_allow(prog, nr, arch);
  return n;
}

int cmd_cost(const Args& a) {
  if (!a.only({"profile", "calls", "bursts", "rounds", "tolerance", "cpu", "raw"}) || !a.words.empty())
    return usage();
  auto number = [&](const char* name, const char* fallback) {
    std::string v = a.get(name, fallback);
    return v == "0" ? 0 : parse_count(v);
  };
  const std::string profile = a.get("profile");
  const long calls = number("calls", "20000");
  const long bursts = number("bursts", "7");
  const long rounds = number("rounds", "15");
  const long tol_pct = number("tolerance", "3");
  const std::string cpu_text = a.get("cpu");
  const std::string raw_path = a.get("raw");
  if (profile.empty() || calls < 1 || bursts < 1 || rounds < 1 || tol_pct < 0) return usage();
  if (!cpu_text.empty()) {
    long cpu = cpu_text == "0" ? 0 : parse_count(cpu_text);
    if (cpu < 0 || cpu >= CPU_SETSIZE) return usage();
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<int>(cpu), &set);
    if (::sched_setaffinity(0, sizeof set, &set) < 0)
      return fail("--cpu " + cpu_text + ": " + std::strerror(errno));
  }
  std::FILE* raw = nullptr;
  if (!raw_path.empty() && !(raw = std::fopen(raw_path.c_str(), "we")))
    return fail("--raw " + raw_path + ": " + std::strerror(errno));

  auto section = docker_section(profile);
  if (!section) return fail(section.error().text());
  std::vector<sc::Filter> filters;
  for (sc::Engine e : kEngines) {
    auto f = sc::compile(*section, "", e);
    if (!f) return fail(std::string("compiling with ") + sc::engine_name(e) + ": " + f.error().text());
    filters.push_back(std::move(*f));
  }

  // ns[col][row]: one sample per burst, rounds after one another; col 0 is
  // no filter, 1 + e engine e.
  std::vector<double> ns[kColumns][kRows];
  for (long round = 0; round < rounds; ++round) {
    auto res = fork_round(filters, round, bursts, calls);
    if (!res) return fail(res.error().text());
    for (size_t c = 0; c < kColumns; ++c) {
      for (size_t r = 0; r < kRows; ++r) {
        for (long b = 0; b < bursts; ++b) {
          double v = (*res)[(c * kRows + r) * static_cast<size_t>(bursts) + static_cast<size_t>(b)];
          ns[c][r].push_back(v);
          if (raw)
            std::fprintf(raw, "%ld %ld %s %s %.2f\n", round + 1, b + 1,
                         c == 0 ? "none" : sc::engine_name(kEngines[c - 1]), kRowInfo[r].name, v);
        }
      }
    }
  }
  if (raw) std::fclose(raw);
  const size_t samples = static_cast<size_t>(rounds * bursts);

  double med[kColumns][kRows];
  for (size_t c = 0; c < kColumns; ++c)
    for (size_t r = 0; r < kRows; ++r) med[c][r] = median(ns[c][r]);
  // bulwark - tree: paired burst by burst (a few milliseconds apart), the
  // median of each round's pairs, then a 95% interval over the rounds. The
  // rounds are the independent samples: each loads the programs afresh (new
  // JIT images, new thread placement), which moves a round's figures by more
  // than the bursts within it vary.
  int wins[kRows] = {};
  std::pair<double, double> ci[kRows];
  double dmed[kRows];
  for (size_t r = 0; r < kRows; ++r) {
    std::vector<double> per_round;
    for (size_t i = 0; i < static_cast<size_t>(rounds); ++i) {
      std::vector<double> d;
      for (size_t j = 0; j < static_cast<size_t>(bursts); ++j) {
        size_t at = i * static_cast<size_t>(bursts) + j;
        d.push_back(ns[1 + kBulwark][r][at] - ns[1 + kTree][r][at]);
      }
      per_round.push_back(median(d));
      wins[r] += per_round.back() < 0;
    }
    dmed[r] = median(per_round);
    ci[r] = median_ci(per_round);
  }

  // Instructions each program executes for each row's call.
  size_t insns[kRows][3] = {};
  const bool have_insns = kNativeArch != 0;
  for (size_t r = 0; have_insns && r < kRows; ++r) {
    sc::SeccompData d;
    d.nr = static_cast<int>(kRowInfo[r].nr);
    d.arch = kNativeArch;
    d.args = kRowInfo[r].args;
    for (size_t e = 0; e < 3; ++e) {
      auto res = sc::run_filter(filters[e].program, d);
      if (!res) return fail(std::string("run_filter: ") + res.error().text());
      insns[r][e] = res->instructions;
    }
  }

  std::string jit = "unknown";
  if (auto t = bw::read_file("/proc/sys/net/core/bpf_jit_enable"))
    jit = (!t->empty() && (*t)[0] != '0') ? "on" : "off (interpreted)";
  std::printf("Per-syscall cost under Docker's default profile (%s,\n"
              "resolved for Docker's default capabilities: %s)\n",
              profile.c_str(), arch_list(*section).c_str());
  std::printf("%ld rounds (processes) x %ld bursts of %ld calls per row and column; a thread per\n"
              "column (no filter, bulwark, linear, tree), taking turns burst by burst; medians over\n"
              "the %zu bursts in ns/call; BPF JIT %s%s\n",
              rounds, bursts, calls, samples, jit.c_str(),
              cpu_text.empty() ? "" : ("; pinned to CPU " + cpu_text).c_str());
  std::printf("Programs: bulwark %zu, libseccomp-linear %zu, libseccomp-tree %zu instructions\n\n",
              filters[kBulwark].program.size(), filters[kLinear].program.size(),
              filters[kTree].program.size());

  auto ratio = [](double x, double y) { return y > 0.5 ? fmt(x / y, 2) : std::string("-"); };
  std::printf("%-17s %-24s %9s %9s %9s %9s  %7s %7s\n", "row", "call", "no filter", "bulwark",
              "linear", "tree", "bw/tree", "bw/lin");
  for (size_t r = 0; r < kRows; ++r) {
    std::printf("%-17s %-24s %9s %9s %9s %9s  %7s %7s\n", kRowInfo[r].name, kRowInfo[r].call,
                fmt(med[0][r]).c_str(), fmt(med[1 + kBulwark][r]).c_str(),
                fmt(med[1 + kLinear][r]).c_str(), fmt(med[1 + kTree][r]).c_str(),
                ratio(med[1 + kBulwark][r], med[1 + kTree][r]).c_str(),
                ratio(med[1 + kBulwark][r], med[1 + kLinear][r]).c_str());
  }
  std::printf("  allowed (cached): getppid is allowed by number, so the kernel's action bitmap answers\n"
              "    and no BPF runs. allowed (BPF): a 2-instruction filter reading args[0] is stacked on\n"
              "    top, which empties the bitmap, so the program runs (as before Linux 5.11); the\n"
              "    no-filter column runs that filter alone.\n");
  std::printf("\nAdded over no filter (ns/call):\n");
  std::printf("%-17s %9s %9s %9s  %7s %7s\n", "row", "bulwark", "linear", "tree", "bw/tree", "bw/lin");
  for (size_t r = 0; r < kRows; ++r) {
    if (r == kDenied) {
      std::printf("%-17s %9s %9s %9s  (without a filter mount() runs up to its EFAULT, %s ns;\n"
                  "%-17s %9s %9s %9s   the filter's EPERM skips that work)\n",
                  kRowInfo[r].name, "-", "-", "-", fmt(med[0][r]).c_str(), "", "", "", "");
      continue;
    }
    double add[3];
    for (size_t e = 0; e < 3; ++e) add[e] = med[1 + e][r] - med[0][r];
    std::printf("%-17s %9s %9s %9s  %7s %7s\n", kRowInfo[r].name, fmt(add[kBulwark]).c_str(),
                fmt(add[kLinear]).c_str(), fmt(add[kTree]).c_str(), ratio(add[kBulwark], add[kTree]).c_str(),
                ratio(add[kBulwark], add[kLinear]).c_str());
  }

  std::printf("\nBulwark - tree (ns/call; below zero: bulwark faster): paired by burst, median per round,\n"
              "95%% interval over the rounds. 'allowed (cached)' runs no BPF in either, so its\n"
              "interval is this run's noise floor:\n");
  std::printf("%-17s %9s  %-22s %s\n", "row", "median", "95% interval", "bulwark faster in");
  for (size_t r = 0; r < kRows; ++r)
    std::printf("%-17s %9s  [%8s, %8s]   %d of %ld rounds\n", kRowInfo[r].name, fmt(dmed[r], 2).c_str(),
                fmt(ci[r].first, 2).c_str(), fmt(ci[r].second, 2).c_str(), wins[r], rounds);

  double slope = 0;  // ns per executed BPF instruction, from linear vs tree on the denied row
  if (have_insns) {
    std::printf("\nBPF instructions executed per call (seccomp::run_filter on %s; exact, no noise):\n",
                kNativeName);
    std::printf("%-17s %9s %9s %9s  %7s\n", "row", "bulwark", "linear", "tree", "bw/tree");
    for (size_t r = 0; r < kRows; ++r) {
      bool cached = r == kAllowedCached;
      auto cell = [&](size_t e) { return cached ? std::string("0") : std::to_string(insns[r][e]); };
      std::printf("%-17s %9s %9s %9s  %7s\n", kRowInfo[r].name, cell(kBulwark).c_str(),
                  cell(kLinear).c_str(), cell(kTree).c_str(),
                  cached ? "(bitmap)"
                         : ratio(static_cast<double>(insns[r][kBulwark]),
                                 static_cast<double>(insns[r][kTree])).c_str());
    }
    // Docker allows personality for five values; the row times the last one.
    // The rows time one argument value each; the others Docker's rules name:
    struct Sweep {
      const char* title;
      long nr;
      std::vector<uint64_t> values;
    };
    const Sweep sweeps[] = {
        {"personality(v), v = 0, 8, 0x20000, 0x20008, 0xffffffff (allowed), 1 (denied)",
         SYS_personality, {0, 8, 0x20000, 0x20008, 0xffffffff, 1}},
        {"socket(d, ...), d = AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_VSOCK (denied)", SYS_socket,
         {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, 40}},
    };
    for (const Sweep& sw : sweeps) {
      std::printf("  %s:\n", sw.title);
      for (size_t e = 0; e < 3; ++e) {
        std::string line;
        for (uint64_t v : sw.values) {
          sc::SeccompData d;
          d.nr = static_cast<int>(sw.nr);
          d.arch = kNativeArch;
          d.args[0] = v;
          auto res = sc::run_filter(filters[e].program, d);
          line += (line.empty() ? "" : ", ") + (res ? std::to_string(res->instructions) : "?");
        }
        std::printf("    %-18s %s\n", sc::engine_name(kEngines[e]), line.c_str());
      }
    }
    double di = static_cast<double>(insns[kDenied][kLinear]) - static_cast<double>(insns[kDenied][kTree]);
    if (di > 0) slope = (med[1 + kLinear][kDenied] - med[1 + kTree][kDenied]) / di;
    std::printf("  One executed instruction costs about %.3f ns here (denied row: linear - tree, over\n"
                "  %.0f instructions); at that rate bulwark's difference from the tree is worth\n",
                slope, di);
    for (size_t r : {kAllowedBpf, kArgPersonality, kArgSocket, kDenied})
      std::printf("    %-17s %+.1f ns/call (%+d instructions)\n", kRowInfo[r].name,
                  slope * (static_cast<double>(insns[r][kBulwark]) - static_cast<double>(insns[r][kTree])),
                  static_cast<int>(insns[r][kBulwark]) - static_cast<int>(insns[r][kTree]));

    std::printf("\nKernel action cache: syscall numbers each program's bitmap allows without running\n"
                "BPF (the kernel's load-time emulation, seccomp_is_const_allow(), redone here):\n");
    for (size_t e = 0; e < 3; ++e)
      std::printf("  %-18s %s %d, %s %d; getppid %s\n", sc::engine_name(kEngines[e]), kNativeName,
                  cached_numbers(filters[e].program, kNativeArch), kCompatName,
                  cached_numbers(filters[e].program, kCompatArch),
                  kernel_const_allow(filters[e].program, SYS_getppid, kNativeArch) ? "cached"
                                                                                   : "NOT cached");
    std::printf("  (x32 numbers have bit 30 set and fall outside the bitmap: x32 calls always run BPF)\n");
  }

  // Verdicts from the 95% interval of the paired difference: "no worse" fails
  // only when bulwark is shown slower than the tree by more than PCT %;
  // "better" needs bulwark shown faster (the whole interval below zero).
  std::printf("\nTargets (bulwark vs libseccomp-tree, from the paired 95%% intervals above):\n");
  int miss = 0;
  for (size_t r = 0; r < kRows; ++r) {
    double t = med[1 + kTree][r], limit = t * static_cast<double>(tol_pct) / 100.0;
    bool no_worse = ci[r].first <= limit;
    miss += !no_worse;
    std::printf("  target %-17s no worse (not shown slower by > %ld%% = %s ns): [%s, %s]  %s\n",
                kRowInfo[r].name, tol_pct, fmt(limit, 1).c_str(), fmt(ci[r].first, 2).c_str(),
                fmt(ci[r].second, 2).c_str(), no_worse ? "PASS" : "MISS");
  }
  for (size_t r : {kArgPersonality, kArgSocket, kDenied}) {
    bool better = ci[r].second < 0;
    miss += !better;
    const char* why = better ? "" : ci[r].first > 0 ? " (slower)" : " (not resolved: the interval holds 0)";
    std::printf("  target %-17s better (shown faster, interval below 0): [%s, %s]  %s%s\n",
                kRowInfo[r].name, fmt(ci[r].first, 2).c_str(), fmt(ci[r].second, 2).c_str(),
                better ? "PASS" : "MISS", why);
  }
  if (miss) std::printf("%d cost target(s) missed\n", miss);
  return 0;
}

}  // namespace bw_bench

using namespace bw_bench;

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "time") return cmd_time(argc, argv);
  Args a(argc, argv, 2);
  if (!a.ok) return usage();
  if (cmd == "cost") return cmd_cost(a);
  if (cmd == "compile") return cmd_compile(a);
  if (cmd == "loop") return cmd_loop(a);
  if (cmd == "supervise") return cmd_supervise(a);
  return usage();
}
