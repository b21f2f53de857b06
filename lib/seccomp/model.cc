// Building the per-architecture plan of a linux.seccomp section (model.h):
// name resolution the way libseccomp does it, the socketcall()/ipc() copies,
// and the order in which rules for one syscall are tried.
#include "seccomp/model.h"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "seccomp/internal.h"

namespace bw::seccomp::detail {

namespace {

struct ArchTraits {
  bool is64;
  bool multiplexed;  // socketcall()/ipc() (libseccomp's abi_rule_add)
};

ArchTraits traits_of(uint32_t token) {
  // libseccomp's arch_def.size: x32 and mips n32 have 64-bit registers but
  // libseccomp compares only the low words there.
  bool is64 = (token & __AUDIT_ARCH_64BIT) != 0 && token != SCMP_ARCH_MIPS64N32 &&
              token != SCMP_ARCH_MIPSEL64N32;
  bool mux = token == SCMP_ARCH_X86 || token == SCMP_ARCH_MIPS || token == SCMP_ARCH_MIPSEL ||
             token == SCMP_ARCH_PPC || token == SCMP_ARCH_PPC64 || token == SCMP_ARCH_PPC64LE ||
             token == SCMP_ARCH_S390 || token == SCMP_ARCH_S390X;
  return {is64, mux};
}

bool little_endian_arch(uint32_t token) { return (token & __AUDIT_ARCH_LE) != 0; }

std::string resolve_num(uint32_t token, int nr) {
  std::unique_ptr<char, decltype(&free)> name(seccomp_syscall_resolve_num_arch(token, nr), &free);
  return name ? std::string(name.get()) : std::string();
}

// Where an architecture's syscall numbers start: mips o32, n64 and n32 count
// from 4000, 5000 and 6000 (libseccomp also names the numbers without that
// offset, so a search must start at the real one).
uint32_t number_base(uint32_t token) {
  switch (token) {
    case SCMP_ARCH_MIPS:
    case SCMP_ARCH_MIPSEL:
      return 4000;
    case SCMP_ARCH_MIPS64:
    case SCMP_ARCH_MIPSEL64:
      return 5000;
    case SCMP_ARCH_MIPS64N32:
    case SCMP_ARCH_MIPSEL64N32:
      return 6000;
    default:
      return 0;
  }
}

// Direct numbers of the multiplexed calls ("socket" -> 359 on x86), which
// libseccomp's name resolution hides behind pseudo numbers on these
// architectures. Found by asking for the name of each number once.
int direct_number(uint32_t token, const std::string& name) {
  static std::mutex mu;
  static std::map<uint32_t, std::map<std::string, int>> tables;
  std::lock_guard<std::mutex> lock(mu);
  auto it = tables.find(token);
  if (it == tables.end()) {
    std::map<std::string, int> t;
    int base = static_cast<int>(number_base(token));
    for (int nr = base; nr < base + 1024; ++nr) {
      std::string n = resolve_num(token, nr);
      if (!n.empty()) t.emplace(n, nr);
    }
    it = tables.emplace(token, std::move(t)).first;
  }
  auto found = it->second.find(name);
  return found == it->second.end() ? -1 : found->second;
}

// Where one profile name lands on one architecture.
struct Target {
  uint32_t nr;
  int subcall = -1;  // >= 0: the socketcall()/ipc() copy, with arg0 == subcall
};

std::vector<Target> targets_of(uint32_t token, uint32_t native, int native_nr,
                               const ArchTraits& t) {
  std::vector<Target> out;
  std::string name = resolve_num(native, native_nr);
  if (name.empty()) return out;
  int nr = token == native ? native_nr : seccomp_syscall_resolve_name_arch(token, name.c_str());
  if (nr >= 0) {
    out.push_back({static_cast<uint32_t>(nr)});
    return out;
  }
  if (!t.multiplexed) return out;
  const char* mux = nullptr;
  int sub = 0;
  if (nr <= -100 && nr >= -120) {
    mux = "socketcall";
    sub = (-nr) % 100;
  } else if (nr <= -200 && nr >= -224) {
    mux = "ipc";
    sub = (-nr) % 200;
  } else {
    return out;  // not on this architecture
  }
  int mux_nr = seccomp_syscall_resolve_name_arch(token, mux);
  if (mux_nr >= 0) out.push_back({static_cast<uint32_t>(mux_nr), sub});
  int direct = direct_number(token, name);
  if (direct >= 0) out.push_back({static_cast<uint32_t>(direct)});
  return out;
}

// libseccomp's conditions for one architecture: values cut to the
// architecture's width, masked values masked, always-true ones dropped.
std::vector<Cond> conds_for(const std::vector<scmp_arg_cmp>& in, bool is64, int subcall) {
  std::array<std::optional<Cond>, 6> by_arg;
  uint64_t width = is64 ? ~0ull : 0xFFFFFFFFull;
  for (const scmp_arg_cmp& a : in) {
    Cond c;
    c.arg = a.arg;
    c.op = a.op;
    if (a.op == SCMP_CMP_MASKED_EQ) {
      c.mask = a.datum_a & width;
      c.value = a.datum_b & c.mask;
      if (c.mask == 0) continue;
    } else {
      c.mask = width;
      c.value = a.datum_a & width;
    }
    by_arg[a.arg] = c;
  }
  if (subcall >= 0) by_arg[0] = Cond{0, SCMP_CMP_EQ, static_cast<uint64_t>(subcall), width};
  std::vector<Cond> out;
  for (const auto& c : by_arg)
    if (c) out.push_back(*c);
  return out;
}

// --- Tree order ---
// One step of a rule's comparison chain, as a node of libseccomp's tree.
struct Node {
  uint32_t level;  // arg * 2, + 1 for a high word
  int kind;        // what the node compares: 0 ==, 1 masked ==, 2 >, 3 >=
  uint32_t datum, mask;
  int cls;  // sibling priority by the rule's operator: ==/!=/masked 3, </<= 2, >/>= 1

  bool same(const Node& o) const {
    return level == o.level && kind == o.kind && datum == o.datum && mask == o.mask;
  }
  // Whether this node ranks below `o` among siblings (libseccomp's
  // _db_chain_lt): lower argument/word, then lower operator class, then the
  // smaller value (the larger for </<=).
  bool below(const Node& o) const {
    if (level != o.level) return level < o.level;
    if (cls != o.cls) return cls < o.cls;
    return cls == 2 ? datum > o.datum : datum < o.datum;
  }
};

int op_class(scmp_compare op) {
  switch (op) {
    case SCMP_CMP_LT:
    case SCMP_CMP_LE:
      return 2;
    case SCMP_CMP_GT:
    case SCMP_CMP_GE:
      return 1;
    default:
      return 3;
  }
}

std::vector<Node> chain_of(const PlannedRule& r, bool is64) {
  std::vector<Node> out;
  for (const Cond& c : r.conds) {
    int cls = op_class(c.op);
    int low_kind;
    switch (c.op) {
      case SCMP_CMP_MASKED_EQ:
        low_kind = 1;
        break;
      case SCMP_CMP_GT:
      case SCMP_CMP_LE:
        low_kind = 2;
        break;
      case SCMP_CMP_GE:
      case SCMP_CMP_LT:
        low_kind = 3;
        break;
      default:
        low_kind = 0;
        break;
    }
    if (is64) {
      // The high word is compared with ==, masked == or (for the ordering
      // operators) > first.
      int high_kind = c.op == SCMP_CMP_MASKED_EQ ? 1 : cls == 3 ? 0 : 2;
      out.push_back({c.arg * 2 + 1, high_kind, static_cast<uint32_t>(c.value >> 32),
                     static_cast<uint32_t>(c.mask >> 32), cls});
    }
    out.push_back(
        {c.arg * 2, low_kind, static_cast<uint32_t>(c.value), static_cast<uint32_t>(c.mask), cls});
  }
  return out;
}

// Appends the rules `idx` (in insertion order, all sharing their first
// `depth` nodes) to `out` in tree order. This replays how libseccomp inserts
// each rule's node into a level of its tree: walking the level from the
// front, it joins the first node that compares the same, or goes in front of
// the first node that ranks below it, or at the end. Equal nodes of
// different operator classes can therefore stay apart.
void tree_order(const std::vector<std::vector<Node>>& chains, const std::vector<size_t>& idx,
                size_t depth, std::vector<size_t>& out) {
  struct Group {
    Node node;
    std::vector<size_t> members;
  };
  std::vector<Group> level;
  for (size_t i : idx) {
    if (chains[i].size() == depth) {
      out.push_back(i);  // ends here: nothing after it is reached
      continue;
    }
    const Node& n = chains[i][depth];
    auto at = level.begin();
    for (; at != level.end(); ++at) {
      if (at->node.same(n)) break;
      if (at->node.below(n)) {
        at = level.insert(at, Group{n, {}});
        break;
      }
    }
    if (at == level.end()) at = level.insert(at, Group{n, {}});
    at->members.push_back(i);
  }
  for (const Group& g : level) tree_order(chains, g.members, depth + 1, out);
}

void order_rules(SyscallPlan& sp, bool is64) {
  for (const PlannedRule& r : sp.rules) {
    if (r.conds.empty()) {
      PlannedRule first = r;
      sp.rules.assign(1, first);
      return;
    }
  }
  std::vector<std::vector<Node>> chains;
  std::vector<size_t> idx;
  for (size_t i = 0; i < sp.rules.size(); ++i) {
    chains.push_back(chain_of(sp.rules[i], is64));
    idx.push_back(i);
  }
  std::vector<size_t> order;
  tree_order(chains, idx, 0, order);
  std::vector<PlannedRule> sorted;
  for (size_t i : order) sorted.push_back(std::move(sp.rules[i]));
  sp.rules = std::move(sorted);
}

bool enosys_applies(uint32_t def) {
  uint32_t action = def & SECCOMP_RET_ACTION_FULL;
  if (action == SECCOMP_RET_ERRNO) return (def & SECCOMP_RET_DATA) != ENOSYS;
  return action == SECCOMP_RET_KILL_THREAD || action == SECCOMP_RET_KILL_PROCESS;
}

std::string value_text(uint64_t v) {
  return v < 4096 ? strf("%llu", static_cast<unsigned long long>(v))
                  : strf("%#llx", static_cast<unsigned long long>(v));
}

}  // namespace

Result<Plan> build_plan(const oci::Seccomp& s) {
  BW_ASSIGN_OR_RETURN(TranslatedSection t, translate_section(s));
  Plan p;
  p.default_action = t.default_action;
  p.bad_arch_action = SECCOMP_RET_KILL_THREAD;
  p.enosys = enosys_applies(t.default_action);

  uint32_t native = seccomp_arch_native();
  std::vector<uint32_t> tokens{native};
  for (uint32_t tok : t.arch_tokens)
    if (std::find(tokens.begin(), tokens.end(), tok) == tokens.end()) tokens.push_back(tok);
  for (uint32_t tok : tokens) {
    if (little_endian_arch(tok) != little_endian_arch(native)) {
      size_t i = 0;
      while (i < s.architectures.size() && arch_token(s.architectures[i]) != tok) ++i;
      return make_error(EDOM,
                        "linux.seccomp.architectures[%zu]: '%s' has a different byte order from "
                        "this machine",
                        i, s.architectures[i].c_str());
    }
    ArchPlan a;
    a.token = tok;
    a.audit_arch = tok == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : tok;
    a.is64 = traits_of(tok).is64;
    for (const std::string& oci : s.architectures)
      if (arch_token(oci) == tok) a.oci_name = oci;
    if (a.oci_name.empty()) a.oci_name = native_arch();
    p.arches.push_back(std::move(a));
  }

  for (size_t i = 0; i < t.rules.size(); ++i) {
    const TranslatedRule& rule = t.rules[i];
    bool skipped = rule.action == t.default_action;
    for (const std::string& name : s.syscalls[i].names) {
      int native_nr = seccomp_syscall_resolve_name(name.c_str());
      if (native_nr == __NR_SCMP_ERROR) {
        if (std::find(p.unknown_names.begin(), p.unknown_names.end(), name) ==
            p.unknown_names.end())
          p.unknown_names.push_back(name);
        continue;
      }
      for (ArchPlan& a : p.arches) {
        ArchTraits traits = traits_of(a.token);
        for (const Target& tg : targets_of(a.token, native, native_nr, traits)) {
          a.max_named = std::max(a.max_named.value_or(0), tg.nr);
          if (skipped) continue;
          SyscallPlan& sp = a.syscalls[tg.nr];
          if (sp.name.empty()) sp.name = resolve_num(a.token, static_cast<int>(tg.nr));
          if (sp.name.empty()) sp.name = name;
          for (const auto& set : rule.cond_sets) {
            PlannedRule r;
            r.source = static_cast<int>(i);
            r.name = name;
            r.action = rule.action;
            r.conds = conds_for(set, traits.is64, tg.subcall);
            r.via_multiplexer = tg.subcall >= 0;
            sp.rules.push_back(std::move(r));
          }
        }
      }
    }
  }
  for (ArchPlan& a : p.arches)
    for (auto& [nr, sp] : a.syscalls) order_rules(sp, a.is64);
  return p;
}

int syscall_number(uint32_t token, const std::string& name) {
  int nr = seccomp_syscall_resolve_name_arch(token, name.c_str());
  if (nr >= 0) return nr;
  if (nr == __NR_SCMP_ERROR || !traits_of(token).multiplexed) return -1;
  return direct_number(token, name);
}

std::string syscall_name(uint32_t token, uint32_t nr) {
  return resolve_num(token, static_cast<int>(nr));
}

bool cond_holds(const Cond& c, uint64_t v, bool is64) {
  if (!is64) v &= 0xFFFFFFFFull;
  switch (c.op) {
    case SCMP_CMP_NE:
      return v != c.value;
    case SCMP_CMP_LT:
      return v < c.value;
    case SCMP_CMP_LE:
      return v <= c.value;
    case SCMP_CMP_EQ:
      return v == c.value;
    case SCMP_CMP_GE:
      return v >= c.value;
    case SCMP_CMP_GT:
      return v > c.value;
    case SCMP_CMP_MASKED_EQ:
      return (v & c.mask) == c.value;
    default:
      return false;
  }
}

Outcome decide(const Plan& p, uint32_t audit_arch, uint32_t nr,
               const std::array<uint64_t, 6>& args) {
  Outcome o;
  const ArchPlan* main = nullptr;
  const ArchPlan* x32 = nullptr;
  for (const ArchPlan& a : p.arches) {
    if (a.audit_arch != audit_arch) continue;
    if (a.token == SCMP_ARCH_X32)
      x32 = &a;
    else
      main = &a;
  }
  const ArchPlan* a = main;
  if (audit_arch == AUDIT_ARCH_X86_64) {
    // libseccomp: without x32 in the filter, x32 numbers are a bad
    // architecture (except -1, which tracers use to skip a call); with only
    // x32, the x86_64 numbers are.
    bool x32_call = (nr & kX32SyscallBit) != 0;
    if (x32_call)
      a = x32 ? x32 : (nr == 0xFFFFFFFFu ? main : nullptr);
    else if (!main)
      a = nullptr;
  }
  if (!a) {
    o.kind = Outcome::bad_arch;
    o.ret = p.bad_arch_action;
    return o;
  }
  o.arch = a;
  auto it = a->syscalls.find(nr);
  if (it != a->syscalls.end()) {
    o.syscall = &it->second;
    for (const PlannedRule& r : it->second.rules) {
      bool all = true;
      for (const Cond& c : r.conds) all = all && cond_holds(c, args[c.arg], a->is64);
      if (all) {
        o.kind = Outcome::rule;
        o.ret = r.action;
        o.matched = &r;
        return o;
      }
    }
  } else if (p.enosys && a->max_named && nr > *a->max_named && nr != 0xFFFFFFFFu) {
    o.kind = Outcome::enosys;
    o.ret = SECCOMP_RET_ERRNO | ENOSYS;
    return o;
  }
  o.kind = Outcome::default_action;
  o.ret = p.default_action;
  return o;
}

std::string cond_text(const Cond& c) {
  std::string arg = strf("arg%u", c.arg);
  const char* op = "==";
  switch (c.op) {
    case SCMP_CMP_NE:
      op = "!=";
      break;
    case SCMP_CMP_LT:
      op = "<";
      break;
    case SCMP_CMP_LE:
      op = "<=";
      break;
    case SCMP_CMP_GE:
      op = ">=";
      break;
    case SCMP_CMP_GT:
      op = ">";
      break;
    case SCMP_CMP_MASKED_EQ:
      return strf("%s & %#llx == %s", arg.c_str(), static_cast<unsigned long long>(c.mask),
                  value_text(c.value).c_str());
    default:
      break;
  }
  return strf("%s %s %s", arg.c_str(), op, value_text(c.value).c_str());
}

}  // namespace bw::seccomp::detail
