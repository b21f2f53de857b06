// Helpers shared by the seccomp BPF, evaluation and generator tests: the
// compat profiles, random profiles, and a differential check that runs
// every engine's program through the interpreter and compares it with
// evaluate().
#pragma once

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/file.h"
#include "seccomp/bpf.h"
#include "seccomp/evaluate.h"
#include "seccomp/seccomp.h"

#ifndef BULWARK_SOURCE_DIR
#define BULWARK_SOURCE_DIR "."
#endif

namespace bw::seccomp::testing {

inline const char* const kDockerProfile = "/work/shared/compat/docker-default-seccomp.json";
inline const char* const kCommonProfile = "/work/shared/compat/containers-common-seccomp.json";
inline const std::string kDefaultProfile =
    std::string(BULWARK_SOURCE_DIR) + "/seccomp-profiles/default.json";

// Docker's default bounding set (moby oci/caps/defaults.go).
inline const std::vector<std::string> kDockerCaps = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

// Runs `fn` in a forked child and returns its wait status, so that a filter
// it loads stays in the child.
inline int in_child(const std::function<int()>& fn) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(fn());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Installs `prog` on the calling thread with no_new_privs: 0 or an errno.
inline int install(const std::vector<struct sock_filter>& prog) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return errno;
  struct sock_fprog fp {};
  fp.len = static_cast<unsigned short>(prog.size());
  fp.filter = const_cast<struct sock_filter*>(prog.data());
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) return errno;
  return 0;
}

// Whether this kernel lets an unprivileged process install a filter.
inline bool seccomp_available() {
  std::vector<struct sock_filter> allow = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  int status = in_child([&] { return install(allow); });
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

inline oci::SeccompArg arg(uint32_t index, const char* op, uint64_t value, uint64_t value_two = 0) {
  oci::SeccompArg a;
  a.index = index;
  a.op = std::string("SCMP_CMP_") + op;
  a.value = value;
  a.value_two = value_two;
  return a;
}

inline oci::SeccompSyscall rule(std::vector<std::string> names, const char* action,
                                std::vector<oci::SeccompArg> args = {},
                                std::optional<uint32_t> errno_ret = std::nullopt) {
  oci::SeccompSyscall sc;
  sc.names = std::move(names);
  sc.action = std::string("SCMP_ACT_") + action;
  sc.args = std::move(args);
  sc.errno_ret = errno_ret;
  return sc;
}

inline oci::Seccomp load_profile(const std::string& path, std::vector<std::string> caps,
                                 const std::string& native = "") {
  auto text = read_file(path);
  EXPECT_TRUE(text) << path << ": " << (text ? "" : text.error().text());
  if (!text) return {};
  // A fixed kernel release keeps the profile the same on every machine.
  auto s = from_docker_profile(*text, caps, "6.8.0", native);
  EXPECT_TRUE(s) << path << ": " << (s ? "" : s.error().text());
  return s ? *s : oci::Seccomp{};
}

inline std::vector<std::string> with_cap(std::vector<std::string> caps, const std::string& cap) {
  caps.push_back(cap);
  return caps;
}

inline std::vector<struct sock_filter> program_of(const oci::Seccomp& s, Engine engine) {
  auto f = compile(s, "", engine);
  EXPECT_TRUE(f) << engine_name(engine) << ": " << (f ? "" : f.error().text());
  return f ? f->program : std::vector<struct sock_filter>{};
}

inline RunResult run(const std::vector<struct sock_filter>& prog, uint32_t audit, uint32_t nr,
                     const std::array<uint64_t, 6>& args = {}) {
  SeccompData d;
  d.nr = static_cast<int>(nr);
  d.arch = audit;
  d.args = args;
  auto r = run_filter(prog, d);
  EXPECT_TRUE(r) << (r ? "" : r.error().text());
  return r ? *r : RunResult{};
}

inline uint32_t token_of(const std::string& oci) {
  std::string name = oci.substr(10);  // after SCMP_ARCH_
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(name.c_str());
}

inline std::string native_oci() {
  uint32_t t = seccomp_arch_native();
  for (const char* n : {"x86_64", "aarch64", "x86", "arm", "riscv64", "ppc64le"})
    if (seccomp_arch_resolve_name(n) == t) {
      std::string s = "SCMP_ARCH_";
      for (const char* p = n; *p; ++p) s += static_cast<char>(std::toupper(*p));
      return s;
    }
  return "SCMP_ARCH_X86_64";
}

// libseccomp's syscall table for one architecture: number -> name.
struct SyscallTable {
  uint32_t base = 0;  // 0x40000000 for x32
  std::map<uint32_t, std::string> names;
  std::map<std::string, uint32_t> numbers;
  uint32_t max = 0;
};

inline const SyscallTable& table_of(uint32_t token) {
  static std::map<uint32_t, std::unique_ptr<SyscallTable>> cache;
  auto& slot = cache[token];
  if (!slot) {
    slot = std::make_unique<SyscallTable>();
    slot->base = token == SCMP_ARCH_X32                                           ? 0x40000000u
                 : token == SCMP_ARCH_MIPS || token == SCMP_ARCH_MIPSEL           ? 4000
                 : token == SCMP_ARCH_MIPS64 || token == SCMP_ARCH_MIPSEL64       ? 5000
                 : token == SCMP_ARCH_MIPS64N32 || token == SCMP_ARCH_MIPSEL64N32 ? 6000
                                                                                  : 0;
    for (uint32_t n = 0; n < 1200; ++n) {
      char* name = seccomp_syscall_resolve_num_arch(token, static_cast<int>(slot->base + n));
      if (!name) continue;
      slot->names[slot->base + n] = name;
      slot->numbers[name] = slot->base + n;
      slot->max = slot->base + n;
      free(name);
    }
  }
  return *slot;
}

// Values worth trying for an argument that rules compare: each value, its
// neighbours, the same low word with other high words, and for masks the
// expected value with the other bits flipped.
inline void interesting(const oci::SeccompArg& a, std::set<uint64_t>& out) {
  auto near = [&](uint64_t v) {
    for (uint64_t x :
         std::initializer_list<uint64_t>{v, v - 1, v + 1, v ^ (1ull << 32), v & 0xFFFFFFFFull,
                                         v | 0x100000000ull, v ^ (1ull << 63), ~v})
      out.insert(x);
  };
  if (a.op == "SCMP_CMP_MASKED_EQ") {
    uint64_t m = a.value, d = a.value_two;
    near(d);
    near(d & m);
    out.insert((d & m) | ~m);
    out.insert(m);
    if (m) out.insert((d & m) ^ (m & -m));
  } else {
    near(a.value);
  }
}

// What the accumulator holds: the seccomp_data offset last loaded and the
// mask applied since, or "anything else"; `known` once a jeq has matched the
// architecture (so comparing it again means the program forgot a load).
struct Acc {
  int64_t offset = -1;
  uint32_t mask = ~0u;
  bool known = false;
  bool operator<(const Acc& o) const {
    if (offset != o.offset) return offset < o.offset;
    if (mask != o.mask) return mask < o.mask;
    return known < o.known;
  }
};

// The comparisons of `prog` that compare something other than what they
// mean to. libseccomp 2.5 emits two kinds: a failed argument check that
// falls through to a sibling check of the word loaded before it (its
// accumulator tracking forgets the reload), so that the comparison sees
// different words on different paths; and, in linear filters for x86_64 with
// x32, syscall comparisons with no `ld [nr]` after the architecture check,
// which compare the architecture instead.
inline std::vector<bool> accumulator_hazards(const std::vector<struct sock_filter>& prog) {
  std::vector<std::set<Acc>> in(prog.size());
  std::vector<bool> hazard(prog.size(), false);
  if (!prog.empty()) in[0].insert(Acc{});
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const struct sock_filter& f = prog[pc];
    std::set<Acc> out;
    for (Acc a : in[pc]) {
      if (f.code == (BPF_LD | BPF_W | BPF_ABS))
        a = Acc{f.k, ~0u};
      else if (f.code == (BPF_ALU | BPF_AND | BPF_K))
        a.mask &= f.k;
      else if (BPF_CLASS(f.code) == BPF_LD || BPF_CLASS(f.code) == BPF_ALU ||
               BPF_CLASS(f.code) == BPF_MISC)
        a = Acc{-2, 0};
      out.insert(a);
    }
    if (BPF_CLASS(f.code) == BPF_JMP) {
      if (BPF_OP(f.code) == BPF_JA) {
        in[pc + 1 + f.k].insert(out.begin(), out.end());
        continue;
      }
      if (in[pc].size() > 1) hazard[pc] = true;
      for (const Acc& a : in[pc]) hazard[pc] = hazard[pc] || a.known;
      if (f.code == (BPF_JMP | BPF_JEQ | BPF_K)) {
        for (Acc a : out) {
          a.known = a.offset == 4;  // seccomp_data.arch
          in[pc + 1 + f.jt].insert(a);
        }
        in[pc + 1 + f.jf].insert(out.begin(), out.end());
        continue;
      }
      in[pc + 1 + f.jt].insert(out.begin(), out.end());
      in[pc + 1 + f.jf].insert(out.begin(), out.end());
    } else if (BPF_CLASS(f.code) != BPF_RET && pc + 1 < prog.size()) {
      in[pc + 1].insert(out.begin(), out.end());
    }
  }
  return hazard;
}

// A copy of `prog` whose hazardous comparisons return kHazard instead: a run
// that returns kHazard took a path through one.
constexpr uint32_t kHazard = SECCOMP_RET_TRACE | 0xBEEF;
inline std::vector<struct sock_filter> mark_hazards(std::vector<struct sock_filter> prog) {
  std::vector<bool> h = accumulator_hazards(prog);
  for (size_t pc = 0; pc < prog.size(); ++pc)
    if (h[pc]) prog[pc] = BPF_STMT(BPF_RET | BPF_K, kHazard);
  return prog;
}

// The instruction count in an E2BIG error of the generator.
inline size_t bw_size(const Error& e) {
  size_t at = e.message.find("has ");
  return at == std::string::npos ? 0 : std::strtoul(e.message.c_str() + at + 4, nullptr, 10);
}

struct DiffStats {
  size_t probes = 0;  // (arch, nr, args) triples run
  size_t libseccomp_compared = 0;
  size_t enosys = 0;      // decided by the ENOSYS rule (no libseccomp equivalent)
  size_t unreliable = 0;  // libseccomp's merged tree is wrong there (model.h)
  size_t libseccomp_refused = 0;
  size_t libseccomp_hazard = 0;   // libseccomp's path compared a stale accumulator
  size_t too_big = 0;             // over BPF_MAXINSNS for every engine
  size_t libseccomp_dropped = 0;  // libseccomp's answers are those without one rule
  size_t mismatches = 0;
};

// Whether libseccomp 2.5's tree for a 64-bit architecture may not mean what
// the rules say (model.h): two rules compare one argument with != (or both
// with <, <=, >, >=) against values with the same high word, and they differ
// in action or go on to compare more arguments. libseccomp then merges the
// high-word comparisons into one node, decides the high-word branch by the
// first rule, and lets the rest of one rule's comparisons run on the other
// rule's low-word branch: semget(0x100000006, 5) is allowed by
// "arg0 > 0x100000007 && arg1 == 5" or "arg0 > 0x100000005 && arg1 == 3".
inline bool libseccomp_unreliable(const std::vector<const oci::SeccompSyscall*>& rules) {
  auto cls = [](const std::string& op) {
    if (op == "SCMP_CMP_NE") return 1;
    if (op == "SCMP_CMP_LT" || op == "SCMP_CMP_LE" || op == "SCMP_CMP_GT" || op == "SCMP_CMP_GE")
      return 2;
    return 0;
  };
  auto goes_on = [](const oci::SeccompSyscall* r, uint32_t index) {
    for (const auto& a : r->args)
      if (a.index > index) return true;
    return false;
  };
  for (size_t i = 0; i < rules.size(); ++i)
    for (size_t j = i + 1; j < rules.size(); ++j) {
      bool same_action =
          rules[i]->action == rules[j]->action && rules[i]->errno_ret == rules[j]->errno_ret;
      for (const auto& a : rules[i]->args)
        for (const auto& b : rules[j]->args)
          if (a.index == b.index && cls(a.op) != 0 && cls(a.op) == cls(b.op) &&
              (a.value >> 32) == (b.value >> 32) &&
              (!same_action || goes_on(rules[i], a.index) || goes_on(rules[j], b.index)))
            return true;
    }
  return false;
}

inline std::string args_text(const std::array<uint64_t, 6>& a) {
  std::string s;
  for (uint64_t v : a)
    s += strf("%s%#llx", s.empty() ? "" : ",", static_cast<unsigned long long>(v));
  return s;
}

// Runs Bulwark's program, and libseccomp's linear and tree programs when
// compare_libseccomp, on every syscall number of every architecture of `s`
// (0..max+10, x32 too) and on argument values around every value the
// section compares; each must return what evaluate() says.
inline void differential(const oci::Seccomp& s, const std::string& label, bool compare_libseccomp,
                         DiffStats& st, std::mt19937_64& rng) {
  auto ev = Evaluator::create(s);
  ASSERT_TRUE(ev) << label << ": " << ev.error().text();
  auto bw = compile(s, "", Engine::bulwark);
  if (!bw && bw.error().code == E2BIG) {
    // Too big for one filter: libseccomp's programs must be too.
    for (Engine e : {Engine::libseccomp_linear, Engine::libseccomp_tree}) {
      auto f = compile(s, "", e);
      EXPECT_TRUE(!f || f->program.size() > bw_size(bw.error()))
          << label << ": " << engine_name(e) << " fits in " << (f ? f->program.size() : 0)
          << " instructions where Bulwark's generator needs more: " << bw.error().text();
    }
    ++st.too_big;
    return;
  }
  ASSERT_TRUE(bw) << label << ": " << bw.error().text();
  ASSERT_TRUE(check_filter(bw->program)) << label;
  {
    std::vector<bool> h = accumulator_hazards(bw->program);
    EXPECT_EQ(std::count(h.begin(), h.end(), true), 0)
        << label
        << ": a comparison of "
           "Bulwark's program sees different accumulator contents on different paths";
  }
  EXPECT_LE(bw->program.size(), static_cast<size_t>(BPF_MAXINSNS));
  EXPECT_EQ(bw->unknown_names, ev->unknown_names()) << label;
  std::vector<std::pair<Engine, std::vector<struct sock_filter>>> lib;
  if (compare_libseccomp) {
    for (Engine e : {Engine::libseccomp_linear, Engine::libseccomp_tree}) {
      auto f = compile(s, "", e);
      if (!f) {
        // libseccomp refuses some conflicting rules (EEXIST) that the plan orders.
        ++st.libseccomp_refused;
        if (getenv("BW_TEST_VERBOSE")) printf("%s: %s\n", label.c_str(), f.error().text().c_str());
        lib.clear();
        break;
      }
      EXPECT_EQ(f->unknown_names, bw->unknown_names) << label;
      lib.emplace_back(e, mark_hazards(f->program));
    }
  }

  std::vector<std::string> arches{native_oci()};
  for (const auto& a : s.architectures)
    if (std::find(arches.begin(), arches.end(), a) == arches.end()) arches.push_back(a);
  // An architecture outside the filter, and x32 calls when it is not in it.
  bool has_x32 = std::find(arches.begin(), arches.end(), "SCMP_ARCH_X32") != arches.end();
  std::vector<std::pair<uint32_t, uint32_t>> extra = {{AUDIT_ARCH_S390X, 0}, {AUDIT_ARCH_MIPS, 4}};
  if (!has_x32)
    for (uint32_t nr : {0x40000000u, 0x40000001u, 0x7FFFFFFFu, 0xFFFFFFFEu, 0xFFFFFFFFu})
      extra.emplace_back(AUDIT_ARCH_X86_64, nr);

  // libseccomp's answers for the calls of one syscall number, kept until
  // the number is done: a disagreement is only accepted when removing one
  // rule from the profile explains every answer (libseccomp silently drops
  // some rules, see model.h).
  struct Asked {
    size_t engine;
    std::array<uint64_t, 6> args;
    uint32_t want;
    Decision d;
  };
  std::vector<Asked> asked;
  size_t disagreements = 0;

  auto check = [&](uint32_t audit, uint32_t nr, const std::array<uint64_t, 6>& args,
                   bool compare_lib, bool unreliable) {
    ++st.probes;
    Decision d = ev->decide(audit, nr, args);
    uint32_t got = run_checked_filter(bw->program, {static_cast<int>(nr), audit, 0, args}).ret;
    if (got != d.ret && ++st.mismatches <= 20)
      ADD_FAILURE() << label << ": bulwark arch " << std::hex << audit << " nr " << std::dec << nr
                    << " args " << args_text(args) << ": program " << describe_action(got)
                    << ", evaluate " << describe_action(d.ret) << " (" << d.reason << ")";
    if (!compare_lib || lib.empty()) return;
    if (d.reason.find("newer than it") != std::string::npos) {
      ++st.enosys;
      return;
    }
    if (unreliable) {
      ++st.unreliable;
      return;
    }
    ++st.libseccomp_compared;
    for (size_t e = 0; e < lib.size(); ++e) {
      uint32_t want = run_checked_filter(lib[e].second, {static_cast<int>(nr), audit, 0, args}).ret;
      if (want == kHazard) {
        ++st.libseccomp_hazard;
        continue;
      }
      disagreements += want != d.ret;
      asked.push_back({e, args, want, d});
    }
  };

  // After the calls of one number: explain or report the disagreements.
  auto settle = [&](uint32_t audit, uint32_t nr, const std::vector<size_t>& candidates) {
    if (disagreements > 0) {
      bool explained = false;
      for (size_t r : candidates) {
        oci::Seccomp without = s;
        without.syscalls.erase(without.syscalls.begin() + static_cast<long>(r));
        auto ev2 = Evaluator::create(without);
        if (!ev2) continue;
        bool all = true;
        for (const Asked& a : asked) all = all && ev2->decide(audit, nr, a.args).ret == a.want;
        if (all) {
          explained = true;
          st.libseccomp_dropped += disagreements;
          break;
        }
      }
      if (!explained)
        for (const Asked& a : asked)
          if (a.want != a.d.ret && ++st.mismatches <= 20)
            ADD_FAILURE() << label << ": " << engine_name(lib[a.engine].first) << " arch "
                          << std::hex << audit << " nr " << std::dec << nr << " args "
                          << args_text(a.args) << ": libseccomp " << describe_action(a.want)
                          << ", evaluate " << describe_action(a.d.ret) << " (" << a.d.reason << ")";
    }
    asked.clear();
    disagreements = 0;
  };

  for (const auto& [audit, nr] : extra) {
    check(audit, nr, {}, true, false);
    settle(audit, nr, {});
  }

  std::vector<const oci::SeccompSyscall*> conditional;
  for (const auto& sc : s.syscalls)
    if (!sc.args.empty()) conditional.push_back(&sc);

  for (const std::string& arch : arches) {
    uint32_t token = token_of(arch);
    uint32_t audit = audit_arch(arch);
    const SyscallTable& t = table_of(token);
    bool is64 = (token & __AUDIT_ARCH_64BIT) && token != SCMP_ARCH_X32;
    int socketcall = seccomp_syscall_resolve_name_arch(token, "socketcall");
    int ipc = seccomp_syscall_resolve_name_arch(token, "ipc");
    std::vector<uint32_t> numbers;
    for (uint32_t n = t.base; n <= t.max + 10; ++n) numbers.push_back(n);
    numbers.push_back(0xFFFFFFFFu);
    for (uint32_t nr : numbers) {
      // The rules that may name this number (by name, or through a
      // multiplexer), to choose argument values.
      std::vector<const oci::SeccompSyscall*> rules;
      bool mux = static_cast<int>(nr) == socketcall || static_cast<int>(nr) == ipc;
      auto name = t.names.find(nr);
      for (const auto* sc : conditional) {
        bool names_it = mux;
        for (const auto& n : sc->names) names_it |= name != t.names.end() && n == name->second;
        if (names_it) rules.push_back(sc);
      }
      std::vector<const oci::SeccompSyscall*> all_rules;
      std::vector<size_t> all_indexes;
      for (size_t i = 0; i < s.syscalls.size(); ++i)
        for (const auto& n : s.syscalls[i].names)
          if (mux || (name != t.names.end() && n == name->second)) {
            all_rules.push_back(&s.syscalls[i]);
            all_indexes.push_back(i);
            break;
          }
      if (rules.empty()) {
        check(audit, nr, {}, true, false);
        check(audit, nr, {rng(), rng(), rng(), rng(), rng(), rng()}, true, false);
        settle(audit, nr, all_indexes);
        continue;
      }
      bool unreliable = is64 && libseccomp_unreliable(all_rules);
      std::array<std::set<uint64_t>, 6> values;
      for (auto& v : values) v = {0, 1, 0xFFFFFFFFull, 0x100000000ull, ~0ull, 1ull << 63};
      for (const auto* sc : rules)
        for (const auto& a : sc->args)
          if (a.index < 6) interesting(a, values[a.index]);
      if (mux)
        for (uint64_t sub = 0; sub <= 21; ++sub) values[0].insert(sub);
      // Every combination when there are few; else random ones plus each
      // argument varied alone.
      size_t combos = 1;
      std::array<std::vector<uint64_t>, 6> vals;
      std::vector<size_t> used;
      for (size_t i = 0; i < 6; ++i) {
        vals[i].assign(values[i].begin(), values[i].end());
        bool referenced = false;
        for (const auto* sc : rules)
          for (const auto& a : sc->args) referenced |= a.index == i;
        if (referenced) {
          used.push_back(i);
          combos *= vals[i].size();
        }
      }
      if (combos <= 4096) {
        std::array<uint64_t, 6> args{};
        std::function<void(size_t)> rec = [&](size_t k) {
          if (k == used.size()) {
            check(audit, nr, args, true, unreliable);
            return;
          }
          for (uint64_t v : vals[used[k]]) {
            args[used[k]] = v;
            rec(k + 1);
          }
        };
        rec(0);
      } else {
        for (size_t n = 0; n < 4096; ++n) {
          std::array<uint64_t, 6> args{};
          for (size_t i : used) args[i] = vals[i][rng() % vals[i].size()];
          check(audit, nr, args, true, unreliable);
        }
        for (size_t i : used)
          for (uint64_t v : vals[i]) {
            std::array<uint64_t, 6> args{};
            args[i] = v;
            check(audit, nr, args, true, unreliable);
          }
      }
      settle(audit, nr, all_indexes);
    }
  }
}

// A random section: a few syscalls named by several rules with every action
// and operator, values chosen to overlap, several architectures; sometimes
// hundreds of names.
inline oci::Seccomp random_profile(std::mt19937_64& rng) {
  auto pick = [&](auto const& v) { return v[rng() % v.size()]; };
  auto chance = [&](unsigned percent) { return rng() % 100 < percent; };
  static const std::vector<std::string> kNames = {
      "read",       "write",   "getpid",   "socket",  "connect",         "setsockopt",
      "semop",      "shmat",   "msgrcv",   "semget",  "personality",     "clone",
      "kill",       "futex",   "ioctl",    "_llseek", "socketcall",      "ipc",
      "arch_prctl", "mount",   "prctl",    "fcntl",   "no_such_bw_call", "openat2",
      "mmap",       "accept4", "recvmmsg", "sendto"};
  static const std::vector<uint64_t> kValues = {0,
                                                1,
                                                2,
                                                5,
                                                7,
                                                8,
                                                38,
                                                0x7e020000,
                                                0xFFFFFFFF,
                                                0x80000000,
                                                0x100000000ull,
                                                0x100000005ull,
                                                0x100000007ull,
                                                0x8000000000000000ull,
                                                ~0ull};
  static const std::vector<uint64_t> kMasks = {
      0, 1, 0xFF, 0x7e020000, 0xFFFFFFFF, 0xFFFFFFFF00000000ull, ~0ull, 0x100000001ull};
  static const std::vector<std::string> kOps = {"SCMP_CMP_NE",       "SCMP_CMP_LT", "SCMP_CMP_LE",
                                                "SCMP_CMP_EQ",       "SCMP_CMP_GE", "SCMP_CMP_GT",
                                                "SCMP_CMP_MASKED_EQ"};
  static const std::vector<std::string> kActions = {
      "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO",        "SCMP_ACT_ERRNO",
      "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
      "SCMP_ACT_LOG",   "SCMP_ACT_TRACE",        "SCMP_ACT_NOTIFY"};
  static const std::vector<std::string> kArches = {
      "SCMP_ARCH_X86",     "SCMP_ARCH_X32",     "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
      "SCMP_ARCH_RISCV64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_X86_64"};
  oci::Seccomp s;
  static const std::vector<std::string> kDefaults = {
      "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL",
      "SCMP_ACT_TRAP",  "SCMP_ACT_LOG",   "SCMP_ACT_ERRNO"};
  s.default_action = pick(kDefaults);
  if (s.default_action == "SCMP_ACT_ERRNO")
    s.default_errno_ret = pick(std::vector<uint32_t>{1, 1, 13, 38});
  size_t n_arches = rng() % 4;
  for (size_t i = 0; i < n_arches; ++i) {
    std::string a = pick(kArches);
    if (std::find(s.architectures.begin(), s.architectures.end(), a) == s.architectures.end())
      s.architectures.push_back(a);
  }
  // A handful of names most rules draw from, so that rules collide.
  std::vector<std::string> hot;
  for (int i = 0; i < 4; ++i) hot.push_back(pick(kNames));
  std::vector<std::string> all;
  if (chance(15)) {
    const SyscallTable& t = table_of(seccomp_arch_native());
    for (const auto& [n, nr] : t.numbers) all.push_back(n);
  }
  size_t n_rules = 3 + rng() % 25;
  for (size_t r = 0; r < n_rules; ++r) {
    oci::SeccompSyscall sc;
    size_t n_names = 1 + rng() % 3;
    for (size_t i = 0; i < n_names; ++i) sc.names.push_back(chance(70) ? pick(hot) : pick(kNames));
    if (!all.empty() && chance(30))
      for (int i = 0; i < 60; ++i) sc.names.push_back(pick(all));
    sc.action = pick(kActions);
    if (sc.action == "SCMP_ACT_ERRNO" || (sc.action == "SCMP_ACT_TRACE" && chance(50)))
      sc.errno_ret = pick(std::vector<uint32_t>{1, 2, 13, 38});
    size_t n_args = chance(35) ? 0 : 1 + rng() % 3;
    for (size_t i = 0; i < n_args; ++i) {
      oci::SeccompArg a;
      a.index = static_cast<uint32_t>(chance(70) ? rng() % 3 : rng() % 6);
      a.op = pick(kOps);
      if (a.op == "SCMP_CMP_MASKED_EQ") {
        a.value = pick(kMasks);
        a.value_two = pick(kValues);
      } else {
        a.value = pick(kValues);
      }
      sc.args.push_back(a);
    }
    s.syscalls.push_back(std::move(sc));
  }
  return s;
}

// `s` without the rules libseccomp refuses (EEXIST for some conflicting
// rules, which the plan accepts and orders), so that what remains can be
// compared with libseccomp.
inline oci::Seccomp libseccomp_acceptable(oci::Seccomp s) {
  for (int tries = 0; tries < 50; ++tries) {
    auto f = compile(s, "", Engine::libseccomp_linear);
    if (f) return s;
    const std::string& m = f.error().message;
    size_t at = m.find("syscalls[");
    if (at == std::string::npos || m.find("adding the rule") == std::string::npos) return s;
    size_t index = std::strtoul(m.c_str() + at + 9, nullptr, 10);
    if (index >= s.syscalls.size()) return s;
    s.syscalls.erase(s.syscalls.begin() + static_cast<long>(index));
  }
  return s;
}

}  // namespace bw::seccomp::testing
