// OCI linux.seccomp -> BPF with the chosen engine, in front of the program
// cache; the libseccomp engines live here, Bulwark's generator in codegen.cc.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "seccomp/internal.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp {

namespace {

using detail::ScmpCtx;
using detail::scmp_error;

// An errno in SECCOMP_RET_DATA has 16 bits; libseccomp would silently mask more.
constexpr uint32_t kMaxErrno = 0xFFFF;

Result<uint32_t> parse_action(const std::string& name, std::optional<uint32_t> errno_ret,
                              const char* errno_field) {
  if (errno_ret && *errno_ret > kMaxErrno)
    return make_error(0, "%s %u is out of range (0-%u)", errno_field, *errno_ret, kMaxErrno);
  struct Known {
    const char* name;
    uint32_t action;   // with the errno bits zero
    bool takes_errno;  // SECCOMP_RET_DATA carries the errno
  };
  static constexpr Known kActions[] = {
      {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
      {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
      {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
      {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},
      {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
      {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
      {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
      {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
      {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false},
  };
  const Known* known = nullptr;
  for (const Known& k : kActions)
    if (name == k.name) known = &k;
  if (!known)
    return make_error(0,
                      "unknown action '%s' (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
                      "SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, "
                      "SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG or SCMP_ACT_NOTIFY)",
                      name.c_str());
  // The runtime spec says a runtime MUST fail when errnoRet is given for an
  // action that has no errno.
  if (errno_ret && !known->takes_errno)
    return make_error(0,
                      "%s is set but action '%s' takes no errno (only SCMP_ACT_ERRNO and "
                      "SCMP_ACT_TRACE do)",
                      errno_field, name.c_str());
  if (!known->takes_errno) return known->action;
  return known->action | errno_ret.value_or(EPERM);
}

Result<scmp_compare> parse_op(const std::string& op) {
  static constexpr std::pair<const char*, scmp_compare> kOps[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE},
      {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},
      {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (const auto& [name, value] : kOps)
    if (op == name) return value;
  return make_error(0,
                    "unknown op '%s' (expected SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, "
                    "SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT or SCMP_CMP_MASKED_EQ)",
                    op.c_str());
}

std::string rule_context(size_t i, const oci::SeccompSyscall& sc) {
  if (sc.names.empty()) return strf("linux.seccomp.syscalls[%zu]", i);
  return strf("linux.seccomp.syscalls[%zu] (name '%s')", i, sc.names.front().c_str());
}

Result<detail::TranslatedRule> translate_rule(size_t i, const oci::SeccompSyscall& sc) {
  detail::TranslatedRule r;
  if (sc.names.empty()) return make_error(0, "%s: names is empty", rule_context(i, sc).c_str());
  auto action = parse_action(sc.action, sc.errno_ret, "errnoRet");
  if (!action) return Unexpected(action.error().prefix(rule_context(i, sc)));
  r.action = *action;

  std::vector<scmp_arg_cmp> conds;
  std::array<int, 6> per_index{};
  for (size_t j = 0; j < sc.args.size(); ++j) {
    const oci::SeccompArg& a = sc.args[j];
    std::string where =
        strf("linux.seccomp.syscalls[%zu].args[%zu] (name '%s')", i, j, sc.names.front().c_str());
    if (a.index >= per_index.size())
      return make_error(0, "%s: index %u is out of range (a syscall has arguments 0-5)",
                        where.c_str(), a.index);
    auto op = parse_op(a.op);
    if (!op) return Unexpected(op.error().prefix(where));
    ++per_index[a.index];
    // For SCMP_CMP_MASKED_EQ the OCI convention is value = mask and
    // valueTwo = the expected result, which is libseccomp's datum_a/datum_b.
    conds.push_back(scmp_arg_cmp{a.index, *op, a.value, a.value_two});
  }
  bool repeated_index = false;
  for (int n : per_index) repeated_index |= n > 1;
  if (repeated_index) {
    // libseccomp rejects two comparisons of the same argument in one rule.
    // Like runc, such a rule becomes one rule per comparison, which turns the
    // AND into an OR; profiles use this for "arg0 == A or arg0 == B".
    for (const scmp_arg_cmp& c : conds) r.cond_sets.push_back({c});
  } else {
    r.cond_sets.push_back(std::move(conds));
  }
  return r;
}

Result<std::vector<struct sock_filter>> export_program(void* ctx) {
  // libseccomp 2.5 can only export to an fd (seccomp_export_bpf_mem is 2.6).
  int raw = memfd_create("bw-seccomp-bpf", MFD_CLOEXEC);
  if (raw < 0) return sys_error("memfd_create('bw-seccomp-bpf')");
  UniqueFd fd(raw);
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0)
    return scmp_error(rc, "exporting the BPF program (seccomp_export_bpf)");
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return sys_error("fstat of the exported BPF program");
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % sizeof(struct sock_filter) != 0)
    return make_error(EIO, "libseccomp exported %zu bytes, not a whole number of BPF instructions",
                      size);
  std::vector<struct sock_filter> program(size / sizeof(struct sock_filter));
  auto* dst = reinterpret_cast<char*>(program.data());
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd.get(), dst + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("reading back the exported BPF program");
    if (n == 0) return make_error(EIO, "short read of the exported BPF program");
    done += static_cast<size_t>(n);
  }
  if (program.size() > BPF_MAXINSNS)
    return make_error(E2BIG,
                      "the compiled filter has %zu BPF instructions; the kernel accepts at most "
                      "%d per filter",
                      program.size(), BPF_MAXINSNS);
  return program;
}

}  // namespace

namespace detail {

Result<unsigned> parse_flags(const std::vector<std::string>& names) {
  static constexpr std::pair<const char*, unsigned> kFlags[] = {
      {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
      {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
      {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
      {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
  };
  unsigned flags = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    bool found = false;
    for (const auto& [name, bit] : kFlags) {
      if (names[i] == name) {
        flags |= bit;
        found = true;
      }
    }
    if (!found)
      return make_error(0,
                        "linux.seccomp.flags[%zu]: unknown flag '%s' (expected "
                        "SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, "
                        "SECCOMP_FILTER_FLAG_SPEC_ALLOW or SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)",
                        i, names[i].c_str());
  }
  return flags;
}

bool uses_notify(const oci::Seccomp& s) {
  for (const auto& sc : s.syscalls)
    if (sc.action == "SCMP_ACT_NOTIFY") return true;
  return false;
}

Result<TranslatedSection> translate_section(const oci::Seccomp& s) {
  TranslatedSection t;
  if (s.default_action.empty()) return make_error(0, "linux.seccomp.defaultAction is missing");
  auto def = parse_action(s.default_action, s.default_errno_ret, "defaultErrnoRet");
  if (!def) return Unexpected(def.error().prefix("linux.seccomp.defaultAction"));
  // A default of NOTIFY would send every syscall the runtime makes between
  // loading the filter and exec to a listener that is not connected yet.
  if (*def == SCMP_ACT_NOTIFY)
    return make_error(0, "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default");
  t.default_action = *def;

  for (size_t i = 0; i < s.architectures.size(); ++i) {
    const std::string& name = s.architectures[i];
    uint32_t token = arch_token(name);
    if (token == 0)
      return make_error(0, "linux.seccomp.architectures[%zu]: unknown architecture '%s'", i,
                        name.c_str());
    bool seen = false;
    for (uint32_t have : t.arch_tokens) seen |= have == token;
    if (!seen) t.arch_tokens.push_back(token);
  }

  t.rules.reserve(s.syscalls.size());
  for (size_t i = 0; i < s.syscalls.size(); ++i) {
    BW_ASSIGN_OR_RETURN(TranslatedRule r, translate_rule(i, s.syscalls[i]));
    t.rules.push_back(std::move(r));
  }
  return t;
}

namespace {

Result<void> run_libseccomp(const oci::Seccomp& s, bool binary_tree, Filter& out) {
  BW_ASSIGN_OR_RETURN(TranslatedSection t, translate_section(s));
  ScmpCtx ctx(seccomp_init(t.default_action));
  if (!ctx)
    return make_error(EINVAL, "linux.seccomp.defaultAction: libseccomp refused '%s'",
                      s.default_action.c_str());
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1); rc < 0)
    return scmp_error(rc, "setting SCMP_FLTATR_API_SYSRAWRC");

  for (uint32_t token : t.arch_tokens) {
    int rc = seccomp_arch_add(ctx.get(), token);
    if (rc < 0 && rc != -EEXIST) {
      size_t i = 0;
      while (i < s.architectures.size() && arch_token(s.architectures[i]) != token) ++i;
      return scmp_error(
          rc, strf("linux.seccomp.architectures[%zu]: adding '%s'", i, s.architectures[i].c_str()));
    }
  }
  if (binary_tree) {
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
      return scmp_error(rc, "setting SCMP_FLTATR_CTL_OPTIMIZE to 2 (binary tree)");
  }

  for (size_t i = 0; i < t.rules.size(); ++i) {
    const oci::SeccompSyscall& sc = s.syscalls[i];
    for (const std::string& name : sc.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        bool seen = false;
        for (const auto& u : out.unknown_names) seen |= u == name;
        if (!seen) out.unknown_names.push_back(name);
        continue;
      }
      // libseccomp refuses a rule whose action is the default one; it would
      // change nothing anyway.
      if (t.rules[i].action == t.default_action) continue;
      for (const auto& conds : t.rules[i].cond_sets) {
        int rc = seccomp_rule_add_array(ctx.get(), t.rules[i].action, nr,
                                        static_cast<unsigned>(conds.size()), conds.data());
        if (rc < 0)
          return scmp_error(rc, strf("linux.seccomp.syscalls[%zu] (name '%s'): adding the rule", i,
                                     name.c_str()));
      }
    }
  }
  BW_ASSIGN_OR_RETURN(out.program, export_program(ctx.get()));
  return {};
}

}  // namespace

Result<void> compile_program(const oci::Seccomp& s, Engine engine, Filter& out) {
  switch (engine) {
    case Engine::bulwark:
      return generate_program(s, out);
    case Engine::libseccomp_linear:
      return run_libseccomp(s, false, out);
    case Engine::libseccomp_tree:
      return run_libseccomp(s, true, out);
  }
  return make_error(EINVAL, "unknown seccomp engine %d", static_cast<int>(engine));
}

}  // namespace detail

const char* engine_name(Engine e) {
  switch (e) {
    case Engine::bulwark:
      return "bulwark";
    case Engine::libseccomp_linear:
      return "libseccomp-linear";
    case Engine::libseccomp_tree:
      return "libseccomp-tree";
  }
  return "unknown";
}

Result<Filter> compile(const oci::Seccomp& s, const std::string& cache_dir, Engine engine) {
  Filter f;
  f.engine = engine;
  BW_ASSIGN_OR_RETURN(f.flags, detail::parse_flags(s.flags));
  f.uses_notify = detail::uses_notify(s);
  f.key = detail::cache_key(s, engine);
  if (cache_dir.empty()) {
    BW_RETURN_IF_ERROR(detail::compile_program(s, engine, f));
    return f;
  }

  std::string why;
  UniqueFd dir = detail::open_cache_dir(cache_dir, why);
  if (dir && detail::read_cached(dir.get(), f.key, f, why)) {
    f.from_cache = true;
    return f;
  }
  BW_RETURN_IF_ERROR(detail::compile_program(s, engine, f));
  if (dir) {
    if (auto w = detail::write_cached(dir.get(), f); !w)
      why = strf("storing the compiled filter in '%s': %s", cache_dir.c_str(),
                 w.error().text().c_str());
  }
  f.cache_warning = std::move(why);
  return f;
}

}  // namespace bw::seccomp
