// Bulwark's BPF generator (codegen.h): the plan of model.h compiled into a
// binary search over syscall-number ranges with merged argument checks.
//
// The program is written backwards, from its last instruction to its first,
// so that every jump target already has a position when the jump is written
// and its offset is known at once; a target out of the 8-bit reach gets a
// `ja` (or a copy of the `ret` it leads to) next to the jump.
#include "seccomp/codegen.h"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <algorithm>
#include <functional>
#include <map>

#include "seccomp/internal.h"
#include "seccomp/model.h"

namespace bw::seccomp {

namespace {

using detail::ArchPlan;
using detail::Cond;
using detail::Plan;
using detail::PlannedRule;
using detail::SyscallPlan;

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
constexpr uint32_t kOffNr = 0;
constexpr uint32_t kOffArch = 4;
constexpr uint32_t kMaxJump = 255;

uint32_t arg_offset(uint32_t arg, bool high) {
  return 16 + 8 * arg + ((high == kLittleEndian) ? 4 : 0);
}

class Emitter {
 public:
  // A position counted from the end of the program: the last instruction
  // is 0.
  using Label = uint32_t;

  Label ret(uint32_t k) {
    if (!rev_.empty() && is_ret(rev_.back(), k)) return top();
    push(BPF_STMT(BPF_RET | BPF_K, k));
    return top();
  }

  // A non-jump instruction followed by `next`.
  Label stmt(uint16_t code, uint32_t k, Label next) {
    if (rev_.empty() || next != top()) next = bring(next);
    push(BPF_STMT(code, k));
    return top();
  }

  Label jump(uint16_t code, uint32_t k, Label t, Label f) {
    if (t == f) return t;
    // 254 leaves room for the other target's trampoline.
    bool far_t = distance(t) > kMaxJump - 1;
    bool far_f = distance(f) > kMaxJump - 1;
    if (far_t) t = bring(t);
    if (far_f) f = bring(f);
    push(BPF_JUMP(code, k, static_cast<uint8_t>(distance(t)), static_cast<uint8_t>(distance(f))));
    return top();
  }

  size_t size() const { return rev_.size(); }

  std::vector<struct sock_filter> finish() const {
    return std::vector<struct sock_filter>(rev_.rbegin(), rev_.rend());
  }

 private:
  static bool is_ret(const struct sock_filter& f, uint32_t k) {
    return f.code == (BPF_RET | BPF_K) && f.k == k;
  }
  Label top() const { return static_cast<Label>(rev_.size() - 1); }
  // Offset from the next instruction written to `target`.
  uint32_t distance(Label target) const { return static_cast<uint32_t>(rev_.size()) - target - 1; }
  // An instruction here that leads to `target`: a copy of it when it is a
  // return, else a long jump.
  Label bring(Label target) {
    struct sock_filter f = rev_[target];  // a copy: push() may move the vector
    if (f.code == (BPF_RET | BPF_K))
      push(f);
    else
      push(BPF_JUMP(BPF_JMP | BPF_JA, distance(target), 0, 0));
    return top();
  }
  void push(const struct sock_filter& f) { rev_.push_back(f); }

  std::vector<struct sock_filter> rev_;
};

using Label = Emitter::Label;

// A range of 32-bit values with one outcome; equal outcomes have equal ids.
struct Seg {
  uint32_t lo, hi;
  int outcome;
};

void add_seg(std::vector<Seg>& segs, uint32_t lo, uint32_t hi, int outcome) {
  if (!segs.empty() && segs.back().outcome == outcome && segs.back().hi + 1 == lo) {
    segs.back().hi = hi;
    return;
  }
  segs.push_back({lo, hi, outcome});
}

// A balanced binary search over `segs` (sorted, covering every value in A).
Label search(Emitter& e, const std::vector<Seg>& segs, size_t i, size_t j,
             const std::function<Label(int)>& leaf) {
  if (i == j) return leaf(segs[i].outcome);
  if (j == i + 2 && segs[i + 1].lo == segs[i + 1].hi && segs[i].outcome == segs[j].outcome) {
    Label outer = leaf(segs[i].outcome);
    Label mid = leaf(segs[i + 1].outcome);
    return e.jump(BPF_JMP | BPF_JEQ | BPF_K, segs[i + 1].lo, mid, outer);
  }
  size_t m = (i + j + 1) / 2;
  Label lo, hi;
  // The half written last sits right after the comparison; keep the smaller
  // one there so that the other stays within reach.
  if (j - m + 1 >= m - i) {
    hi = search(e, segs, m, j, leaf);
    lo = search(e, segs, i, m - 1, leaf);
  } else {
    lo = search(e, segs, i, m - 1, leaf);
    hi = search(e, segs, m, j, leaf);
  }
  return e.jump(BPF_JMP | BPF_JGE | BPF_K, segs[m].lo, hi, lo);
}

// --- Argument checks ---
struct Interval {
  uint64_t lo, hi;
};

// The values of one comparison, as intervals of [0, max].
void cond_values(const Cond& c, uint64_t max, std::vector<Interval>& out) {
  uint64_t v = c.value;
  switch (c.op) {
    case SCMP_CMP_EQ:
      out.push_back({v, v});
      break;
    case SCMP_CMP_NE:
      if (v > 0) out.push_back({0, v - 1});
      if (v < max) out.push_back({v + 1, max});
      break;
    case SCMP_CMP_LT:
      if (v > 0) out.push_back({0, v - 1});
      break;
    case SCMP_CMP_LE:
      out.push_back({0, v});
      break;
    case SCMP_CMP_GT:
      if (v < max) out.push_back({v + 1, max});
      break;
    case SCMP_CMP_GE:
      out.push_back({v, max});
      break;
    default:
      break;
  }
}

std::vector<Interval> normalise(std::vector<Interval> v) {
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) { return a.lo < b.lo; });
  std::vector<Interval> out;
  for (const Interval& i : v) {
    if (!out.empty() && (out.back().hi == ~0ull || i.lo <= out.back().hi + 1)) {
      out.back().hi = std::max(out.back().hi, i.hi);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

// Segments of one 32-bit word: outcome 1 inside `in`, 0 outside.
std::vector<Seg> word_segs(const std::vector<std::pair<uint32_t, uint32_t>>& in) {
  std::vector<Seg> segs;
  uint64_t at = 0;
  for (const auto& [lo, hi] : in) {
    if (lo > at) add_seg(segs, static_cast<uint32_t>(at), lo - 1, 0);
    add_seg(segs, lo, hi, 1);
    at = static_cast<uint64_t>(hi) + 1;
  }
  if (at <= 0xFFFFFFFFull) add_seg(segs, static_cast<uint32_t>(at), 0xFFFFFFFFu, 0);
  return segs;
}

// Jumps to `yes` when argument `arg` is in `set` (normalised), else to `no`.
Label emit_value_set(Emitter& e, uint32_t arg, bool is64, const std::vector<Interval>& set,
                     Label yes, Label no) {
  uint64_t max = is64 ? ~0ull : 0xFFFFFFFFull;
  if (set.empty()) return no;
  if (set.size() == 1 && set[0].lo == 0 && set[0].hi == max) return yes;
  auto yes_no = [&](int o) { return o == 1 ? yes : no; };
  if (!is64) {
    std::vector<std::pair<uint32_t, uint32_t>> words;
    for (const Interval& i : set)
      words.emplace_back(static_cast<uint32_t>(i.lo), static_cast<uint32_t>(i.hi));
    std::vector<Seg> segs = word_segs(words);
    Label s = search(e, segs, 0, segs.size() - 1, yes_no);
    return e.stmt(BPF_LD | BPF_W | BPF_ABS, arg_offset(arg, false), s);
  }
  // By high word: every low word in, none, or some (outcome 2 + index into partial).
  std::map<uint32_t, std::vector<std::pair<uint32_t, uint32_t>>> partial;
  std::vector<std::pair<uint32_t, uint32_t>> full;
  for (const Interval& i : set) {
    uint32_t lh = static_cast<uint32_t>(i.lo >> 32), hh = static_cast<uint32_t>(i.hi >> 32);
    uint32_t ll = static_cast<uint32_t>(i.lo), hl = static_cast<uint32_t>(i.hi);
    if (lh == hh) {
      if (ll == 0 && hl == 0xFFFFFFFFu)
        full.emplace_back(lh, lh);
      else
        partial[lh].emplace_back(ll, hl);
      continue;
    }
    uint32_t first_full = lh, last_full = hh;
    if (ll != 0) {
      partial[lh].emplace_back(ll, 0xFFFFFFFFu);
      ++first_full;
    }
    if (hl != 0xFFFFFFFFu) {
      partial[hh].emplace_back(0, hl);
      --last_full;
    }
    if (first_full <= last_full) full.emplace_back(first_full, last_full);
  }
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> partial_sets;
  std::vector<std::tuple<uint32_t, uint32_t, int>> pieces;
  for (const auto& [lo, hi] : full) pieces.emplace_back(lo, hi, 1);
  for (auto& [h, words] : partial) {
    pieces.emplace_back(h, h, 2 + static_cast<int>(partial_sets.size()));
    partial_sets.push_back(words);
  }
  std::sort(pieces.begin(), pieces.end());
  std::vector<Seg> segs;
  uint64_t at = 0;
  for (const auto& [lo, hi, o] : pieces) {
    if (lo > at) add_seg(segs, static_cast<uint32_t>(at), lo - 1, 0);
    add_seg(segs, lo, hi, o);
    at = static_cast<uint64_t>(hi) + 1;
  }
  if (at <= 0xFFFFFFFFull) add_seg(segs, static_cast<uint32_t>(at), 0xFFFFFFFFu, 0);
  auto leaf = [&](int o) -> Label {
    if (o < 2) return yes_no(o);
    std::vector<Seg> low = word_segs(partial_sets[static_cast<size_t>(o - 2)]);
    Label s = search(e, low, 0, low.size() - 1, yes_no);
    return e.stmt(BPF_LD | BPF_W | BPF_ABS, arg_offset(arg, false), s);
  };
  Label s = search(e, segs, 0, segs.size() - 1, leaf);
  return e.stmt(BPF_LD | BPF_W | BPF_ABS, arg_offset(arg, true), s);
}

Label emit_masked(Emitter& e, const Cond& c, bool is64, Label yes, Label no) {
  Label next = yes;
  auto word = [&](bool high) {
    uint32_t mask = static_cast<uint32_t>(high ? c.mask >> 32 : c.mask);
    uint32_t value = static_cast<uint32_t>(high ? c.value >> 32 : c.value);
    if (mask == 0) return;
    Label j = e.jump(BPF_JMP | BPF_JEQ | BPF_K, value, next, no);
    if (mask != 0xFFFFFFFFu) j = e.stmt(BPF_ALU | BPF_AND | BPF_K, mask, j);
    next = e.stmt(BPF_LD | BPF_W | BPF_ABS, arg_offset(c.arg, high), j);
  };
  word(false);
  if (is64) word(true);
  return next;
}

Label emit_cond(Emitter& e, const Cond& c, bool is64, Label yes, Label no) {
  if (c.op == SCMP_CMP_MASKED_EQ) return emit_masked(e, c, is64, yes, no);
  std::vector<Interval> v;
  cond_values(c, is64 ? ~0ull : 0xFFFFFFFFull, v);
  return emit_value_set(e, c.arg, is64, normalise(v), yes, no);
}

// Rules [begin, end) share one action and each compare the same argument
// once with an ordering or (in)equality operator: one set of values.
bool mergeable(const std::vector<PlannedRule>& rules, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    const auto& conds = rules[i].conds;
    if (conds.size() != 1 || conds[0].op == SCMP_CMP_MASKED_EQ ||
        conds[0].arg != rules[begin].conds[0].arg)
      return false;
  }
  return true;
}

// The argument checks of one syscall; `fallback` when no rule holds.
Label emit_checks(Emitter& e, const SyscallPlan& sp, bool is64, uint32_t fallback) {
  const auto& rules = sp.rules;
  Label next = e.ret(fallback);
  size_t end = rules.size();
  while (end > 0) {
    size_t begin = end - 1;
    while (begin > 0 && rules[begin - 1].action == rules[end - 1].action) --begin;
    Label yes = e.ret(rules[begin].action);
    if (mergeable(rules, begin, end)) {
      std::vector<Interval> v;
      for (size_t i = begin; i < end; ++i)
        cond_values(rules[i].conds[0], is64 ? ~0ull : 0xFFFFFFFFull, v);
      next = emit_value_set(e, rules[begin].conds[0].arg, is64, normalise(v), yes, next);
    } else {
      for (size_t i = end; i-- > begin;) {
        Label r = yes;
        for (size_t c = rules[i].conds.size(); c-- > 0;)
          r = emit_cond(e, rules[i].conds[c], is64, r, next);
        next = r;
      }
    }
    end = begin;
  }
  return next;
}

// --- Syscall numbers ---
// Outcome ids from here on are argument checks; below, returns.
constexpr int kCheckId = 1 << 20;

struct Outcomes {
  std::vector<uint32_t> rets;              // outcome id i: return rets[i]
  std::vector<const SyscallPlan*> checks;  // outcome id kCheckId + j: checks[j]
  std::vector<bool> check_is64;
  std::vector<std::string> check_keys;   // what the code depends on
  std::map<std::string, int> check_ids;  // key -> id: identical checks share code

  int check(const SyscallPlan& sp, bool is64) {
    std::string key = is64 ? "64" : "32";
    for (const PlannedRule& r : sp.rules) {
      key += strf("|%#x", r.action);
      for (const Cond& c : r.conds)
        key +=
            strf(":%u,%d,%llx,%llx", c.arg, static_cast<int>(c.op),
                 static_cast<unsigned long long>(c.value), static_cast<unsigned long long>(c.mask));
    }
    auto [it, added] = check_ids.emplace(key, kCheckId + static_cast<int>(checks.size()));
    if (added) {
      checks.push_back(&sp);
      check_is64.push_back(is64);
      check_keys.push_back(key);
    }
    return it->second;
  }

  int ret(uint32_t k) {
    for (size_t i = 0; i < rets.size(); ++i)
      if (rets[i] == k) return static_cast<int>(i);
    rets.push_back(k);
    return static_cast<int>(rets.size() - 1);
  }
};

// Ranges of numbers without a rule, within [lo, hi], for the plan `a`
// (nullptr: the numbers belong to no architecture in the filter).
void unnamed(const Plan& p, const ArchPlan* a, uint32_t lo, uint32_t hi, Outcomes& o,
             std::vector<std::tuple<uint32_t, uint32_t, int>>& out) {
  int def = o.ret(p.default_action);
  if (!a) {
    // Only -1 escapes the bad-architecture action (libseccomp's x32 check).
    if (hi == 0xFFFFFFFFu) {
      if (lo < hi) out.emplace_back(lo, hi - 1, o.ret(p.bad_arch_action));
      out.emplace_back(hi, hi, def);
    } else {
      out.emplace_back(lo, hi, o.ret(p.bad_arch_action));
    }
    return;
  }
  if (!p.enosys || !a->max_named || *a->max_named >= hi) {
    out.emplace_back(lo, hi, def);
    return;
  }
  uint32_t from = std::max(lo, *a->max_named + 1);
  if (from > lo) out.emplace_back(lo, from - 1, def);
  int enosys = o.ret(SECCOMP_RET_ERRNO | ENOSYS);
  if (hi == 0xFFFFFFFFu) {
    if (from < hi) out.emplace_back(from, hi - 1, enosys);
    out.emplace_back(hi, hi, def);
  } else {
    out.emplace_back(from, hi, enosys);
  }
}

// The search segments of one AUDIT_ARCH_*: `main` and, under x86_64, `x32`.
std::vector<Seg> number_segs(const Plan& p, const ArchPlan* main, const ArchPlan* x32,
                             Outcomes& o) {
  std::vector<std::tuple<uint32_t, uint32_t, int>> base;
  bool x86_64 = (main ? main->audit_arch : x32->audit_arch) == AUDIT_ARCH_X86_64;
  if (x86_64) {
    unnamed(p, main, 0, detail::kX32SyscallBit - 1, o, base);
    unnamed(p, x32, detail::kX32SyscallBit, 0xFFFFFFFFu, o, base);
  } else {
    unnamed(p, main, 0, 0xFFFFFFFFu, o, base);
  }
  std::map<uint32_t, int> named;
  for (const ArchPlan* a : {main, x32}) {
    if (!a) continue;
    for (const auto& [nr, sp] : a->syscalls) {
      if (sp.rules.size() == 1 && sp.rules[0].conds.empty()) {
        named[nr] = o.ret(sp.rules[0].action);
      } else {
        named[nr] = o.check(sp, a->is64);
      }
    }
  }
  std::vector<Seg> segs;
  auto it = named.begin();
  for (const auto& [lo, hi, outcome] : base) {
    uint64_t at = lo;
    for (; it != named.end() && it->first <= hi; ++it) {
      if (it->first > at) add_seg(segs, static_cast<uint32_t>(at), it->first - 1, outcome);
      add_seg(segs, it->first, it->first, it->second);
      at = static_cast<uint64_t>(it->first) + 1;
    }
    if (at <= hi) add_seg(segs, static_cast<uint32_t>(at), hi, outcome);
  }
  return segs;
}

// Code already written that later jumps may reuse: returns by value, and
// argument checks by what they check.
struct Written {
  std::map<uint32_t, Label> rets;
  std::map<std::string, Label> checks;
};

Label emit_arch(Emitter& e, const Plan& p, const ArchPlan* main, const ArchPlan* x32,
                Written& written) {
  Outcomes o;
  std::vector<Seg> segs = number_segs(p, main, x32, o);
  auto leaf = [&](int id) -> Label {
    if (id >= kCheckId) {
      size_t j = static_cast<size_t>(id - kCheckId);
      auto found = written.checks.find(o.check_keys[j]);
      if (found != written.checks.end()) return found->second;
      Label l = emit_checks(e, *o.checks[j], o.check_is64[j], p.default_action);
      written.checks[o.check_keys[j]] = l;
      return l;
    }
    uint32_t k = o.rets[static_cast<size_t>(id)];
    auto found = written.rets.find(k);
    if (found != written.rets.end()) return found->second;
    Label l = e.ret(k);
    written.rets[k] = l;
    return l;
  };
  Label s = search(e, segs, 0, segs.size() - 1, leaf);
  return e.stmt(BPF_LD | BPF_W | BPF_ABS, kOffNr, s);
}

}  // namespace

Result<std::vector<struct sock_filter>> generate_bpf(const oci::Seccomp& s,
                                                     std::vector<std::string>* unknown_names) {
  BW_ASSIGN_OR_RETURN(Plan p, detail::build_plan(s));
  if (unknown_names) *unknown_names = p.unknown_names;

  // One block per AUDIT_ARCH_*, in the plan's order (native first).
  struct Block {
    const ArchPlan* main = nullptr;
    const ArchPlan* x32 = nullptr;
    uint32_t audit_arch = 0;
  };
  std::vector<Block> blocks;
  for (const ArchPlan& a : p.arches) {
    auto b = std::find_if(blocks.begin(), blocks.end(),
                          [&](const Block& b) { return b.audit_arch == a.audit_arch; });
    if (b == blocks.end()) {
      blocks.push_back({});
      b = blocks.end() - 1;
      b->audit_arch = a.audit_arch;
    }
    (a.token == SCMP_ARCH_X32 ? b->x32 : b->main) = &a;
  }

  Emitter e;
  Written written;
  Label next = e.ret(p.bad_arch_action);
  written.rets[p.bad_arch_action] = next;
  for (size_t i = blocks.size(); i-- > 0;) {
    Label body = emit_arch(e, p, blocks[i].main, blocks[i].x32, written);
    next = e.jump(BPF_JMP | BPF_JEQ | BPF_K, blocks[i].audit_arch, body, next);
  }
  e.stmt(BPF_LD | BPF_W | BPF_ABS, kOffArch, next);
  if (e.size() > BPF_MAXINSNS)
    return make_error(E2BIG,
                      "the generated filter has %zu BPF instructions; the kernel accepts at most "
                      "%d per filter",
                      e.size(), BPF_MAXINSNS);
  return e.finish();
}

namespace detail {

Result<void> generate_program(const oci::Seccomp& s, Filter& out) {
  BW_ASSIGN_OR_RETURN(out.program, generate_bpf(s, &out.unknown_names));
  return {};
}

}  // namespace detail

}  // namespace bw::seccomp
