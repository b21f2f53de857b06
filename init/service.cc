// Service definitions: TOML files -> ServiceDef, with every error naming the
// file, the line and the field. The schema is documented in
// examples/services/README.md; keep the two in step.
#include "init/service.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdarg>
#include <functional>
#include <set>

#include <toml++/toml.h>

#include "base/file.h"
#include "base/strings.h"
#include "sandbox/container.h"

namespace bw::init {

namespace {

// Where each dependency was named, for errors found after parsing (an
// unknown service, a cycle).
struct DepLines {
  std::map<std::string, int> requires_;
  std::map<std::string, int> after;
};

struct Parsed {
  ServiceDef def;
  DepLines lines;
};

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

bool valid_service_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n == "." || n == "..") return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool valid_env_name(const std::string& n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// One user or group entry from /etc/passwd or /etc/group: name:x:id:gid...
// Read directly rather than through NSS, which a static PID 1 cannot load.
struct IdEntry {
  unsigned id = 0;
  unsigned gid = 0;  // the primary group, for passwd entries
};
std::optional<IdEntry> lookup_id_file(const char* path, const std::string& name_or_id, bool by_id) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  for (const auto& line : split(*text, '\n')) {
    auto f = split(line, ':');
    if (f.size() < 3) continue;
    auto id = parse_int(f[2]);
    if (!id || *id < 0) continue;
    if (by_id ? (f[2] != name_or_id) : (f[0] != name_or_id)) continue;
    IdEntry e;
    e.id = static_cast<unsigned>(*id);
    if (f.size() > 3)
      if (auto g = parse_int(f[3]); g && *g >= 0) e.gid = static_cast<unsigned>(*g);
    return e;
  }
  return std::nullopt;
}

class ServiceParser {
 public:
  ServiceParser(const std::string& name, const std::string& file) : file_(file) { out_.def.name = name; out_.def.file = file; }

  Result<Parsed> parse(const std::string& text) {
    if (!valid_service_name(out_.def.name))
      return fail(1, "name", "the file name '%s.toml' is not a valid service name (letters, digits, '_', '.', '-')",
                  out_.def.name.c_str());
    toml::table root;
    try {
      root = toml::parse(text, file_);
    } catch (const toml::parse_error& e) {
      return make_error(0, "%s:%d: %s", file_.c_str(), static_cast<int>(e.source().begin.line),
                        std::string(e.description()).c_str());
    }
    const toml::node* user_node = nullptr;
    const toml::node* group_node = nullptr;
    for (auto&& [key, node] : root) {
      std::string k(key.str());
      int line = static_cast<int>(key.source().begin.line);
      if (line <= 0) line = line_of(node);
      Result<void> r;
      if (k == "description") r = string_field(node, k, &out_.def.description, true);
      else if (k == "exec") r = exec_field(node);
      else if (k == "bundle") r = bundle_field(node);
      else if (k == "environment") r = environment_field(node);
      else if (k == "working_directory") r = path_field(node, k, &out_.def.working_directory);
      else if (k == "user") user_node = &node;
      else if (k == "group") group_node = &node;
      else if (k == "requires") r = names_field(node, k, &out_.def.requires_, &out_.lines.requires_);
      else if (k == "after") r = names_field(node, k, &out_.def.after, &out_.lines.after);
      else if (k == "restart") r = restart_field(node);
      else if (k == "restart_delay_ms") r = int_field(node, k, 0, 3600000, &out_.def.restart_delay_ms);
      else if (k == "restart_max_delay_ms") r = int_field(node, k, 0, 3600000, &out_.def.restart_max_delay_ms);
      else if (k == "crash_loop_restarts") r = int_field(node, k, 0, 10000, &out_.def.crash_loop_restarts);
      else if (k == "crash_loop_window_ms") r = int_field(node, k, 1, 86400000, &out_.def.crash_loop_window_ms);
      else if (k == "ready") r = ready_field(node);
      else if (k == "watchdog_ms") r = int_field(node, k, 0, 86400000, &out_.def.watchdog_ms);
      else if (k == "stop_signal") r = signal_field(node);
      else if (k == "stop_timeout_ms") r = int_field(node, k, 1, 3600000, &out_.def.stop_timeout_ms);
      else if (k == "required_for_boot") r = bool_field(node, k, &out_.def.required_for_boot);
      else if (k == "health") r = health_field(node);
      else r = fail(line, k, "unknown key (see examples/services/README.md for the schema)");
      if (!r) return Unexpected(r.error());
    }
    BW_RETURN_IF_ERROR(check_kind(root));
    BW_RETURN_IF_ERROR(identity_fields(user_node, group_node));
    if (out_.def.restart_max_delay_ms < out_.def.restart_delay_ms) {
      const toml::node* n = root.get("restart_max_delay_ms");
      return fail(n ? line_of(*n) : 1, "restart_max_delay_ms", "%d is less than restart_delay_ms (%d)",
                  out_.def.restart_max_delay_ms, out_.def.restart_delay_ms);
    }
    return std::move(out_);
  }

 private:
  Unexpected fail(int line, const std::string& field, const char* fmt, ...) __attribute__((format(printf, 4, 5))) {
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return make_error(0, "%s:%d: %s: %s", file_.c_str(), line, field.c_str(), buf);
  }
  Unexpected wrong_type(const toml::node& n, const std::string& field, const char* expected) {
    return fail(line_of(n), field, "expected %s, found %s", expected, type_name(n));
  }

  Result<void> string_field(const toml::node& n, const std::string& field, std::string* out, bool allow_empty) {
    const auto* s = n.as_string();
    if (!s) return wrong_type(n, field, "a string");
    if (!allow_empty && s->get().empty()) return fail(line_of(n), field, "must not be empty");
    if (s->get().find('\0') != std::string::npos) return fail(line_of(n), field, "contains a NUL byte");
    *out = s->get();
    return {};
  }

  Result<void> path_field(const toml::node& n, const std::string& field, std::string* out) {
    BW_RETURN_IF_ERROR(string_field(n, field, out, false));
    if ((*out)[0] != '/') return fail(line_of(n), field, "'%s' is not an absolute path", out->c_str());
    return {};
  }

  Result<void> int_field(const toml::node& n, const std::string& field, long long min, long long max, int* out) {
    const auto* i = n.as_integer();
    if (!i) return wrong_type(n, field, "an integer");
    long long v = i->get();
    if (v < min || v > max) return fail(line_of(n), field, "%lld is out of range (%lld to %lld)", v, min, max);
    *out = static_cast<int>(v);
    return {};
  }

  Result<void> bool_field(const toml::node& n, const std::string& field, bool* out) {
    const auto* b = n.as_boolean();
    if (!b) return wrong_type(n, field, "true or false");
    *out = b->get();
    return {};
  }

  Result<void> strings_field(const toml::node& n, const std::string& field, std::vector<std::string>* out,
                             std::vector<int>* lines = nullptr) {
    const auto* a = n.as_array();
    if (!a) return wrong_type(n, field, "an array of strings");
    out->clear();
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      std::string v;
      BW_RETURN_IF_ERROR(string_field(e, strf("%s[%zu]", field.c_str(), i), &v, true));
      out->push_back(std::move(v));
      if (lines) lines->push_back(line_of(e) > 0 ? line_of(e) : line_of(n));
    }
    return {};
  }

  Result<void> exec_field(const toml::node& n) {
    BW_RETURN_IF_ERROR(strings_field(n, "exec", &out_.def.exec));
    if (out_.def.exec.empty()) return fail(line_of(n), "exec", "must name a program (an empty array)");
    if (out_.def.exec[0].empty() || out_.def.exec[0][0] != '/')
      return fail(line_of(n), "exec[0]", "'%s' is not an absolute path", out_.def.exec[0].c_str());
    return {};
  }

  // A relative bundle path is taken relative to the directory of the file
  // that names it, so a services directory can carry its bundles along.
  Result<void> bundle_field(const toml::node& n) {
    BW_RETURN_IF_ERROR(string_field(n, "bundle", &out_.def.bundle, false));
    if (out_.def.bundle[0] != '/') {
      size_t slash = file_.rfind('/');
      std::string dir = slash == std::string::npos ? "." : file_.substr(0, slash);
      out_.def.bundle = dir + "/" + out_.def.bundle;
    }
    bundle_line_ = line_of(n);
    return {};
  }

  Result<void> environment_field(const toml::node& n) {
    const auto* t = n.as_table();
    if (!t) return wrong_type(n, "environment", "a table of strings");
    for (auto&& [key, value] : *t) {
      std::string k(key.str());
      std::string field = "environment." + k;
      if (!valid_env_name(k))
        return fail(line_of(value), field, "'%s' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)", k.c_str());
      std::string v;
      BW_RETURN_IF_ERROR(string_field(value, field, &v, true));
      out_.def.environment[k] = v;
    }
    return {};
  }

  Result<void> names_field(const toml::node& n, const std::string& field, std::vector<std::string>* out,
                           std::map<std::string, int>* lines) {
    std::vector<int> at;
    BW_RETURN_IF_ERROR(strings_field(n, field, out, &at));
    std::set<std::string> seen;
    for (size_t i = 0; i < out->size(); ++i) {
      const std::string& dep = (*out)[i];
      std::string f = strf("%s[%zu]", field.c_str(), i);
      if (!valid_service_name(dep)) return fail(at[i], f, "'%s' is not a valid service name", dep.c_str());
      if (dep == out_.def.name) return fail(at[i], f, "a service cannot depend on itself");
      if (!seen.insert(dep).second) return fail(at[i], f, "'%s' is listed twice", dep.c_str());
      (*lines)[dep] = at[i];
    }
    return {};
  }

  Result<void> restart_field(const toml::node& n) {
    std::string v;
    BW_RETURN_IF_ERROR(string_field(n, "restart", &v, true));
    if (v == "no") out_.def.restart = RestartPolicy::no;
    else if (v == "on-failure") out_.def.restart = RestartPolicy::on_failure;
    else if (v == "always") out_.def.restart = RestartPolicy::always;
    else return fail(line_of(n), "restart", "expected \"no\", \"on-failure\" or \"always\", found \"%s\"", v.c_str());
    return {};
  }

  Result<void> ready_field(const toml::node& n) {
    std::string v;
    BW_RETURN_IF_ERROR(string_field(n, "ready", &v, true));
    if (v == "started") out_.def.ready = Readiness::started;
    else if (v == "notify") out_.def.ready = Readiness::notify;
    else return fail(line_of(n), "ready", "expected \"started\" or \"notify\", found \"%s\"", v.c_str());
    return {};
  }

  Result<void> signal_field(const toml::node& n) {
    std::string text;
    if (const auto* i = n.as_integer()) {
      text = std::to_string(i->get());
    } else if (const auto* s = n.as_string()) {
      text = s->get();
    } else {
      return wrong_type(n, "stop_signal", "a signal name (\"SIGTERM\") or number");
    }
    auto sig = sandbox::parse_signal(text);
    if (!sig) return fail(line_of(n), "stop_signal", "'%s' is not a signal", text.c_str());
    if (*sig == SIGSTOP) return fail(line_of(n), "stop_signal", "SIGSTOP cannot stop a service");
    out_.def.stop_signal = *sig;
    return {};
  }

  Result<void> health_field(const toml::node& n) {
    const auto* t = n.as_table();
    if (!t) return wrong_type(n, "health", "a table");
    HealthCheck h;
    bool have_command = false;
    for (auto&& [key, value] : *t) {
      std::string k(key.str());
      std::string field = "health." + k;
      Result<void> r;
      if (k == "command") {
        r = strings_field(value, field, &h.command);
        if (r && h.command.empty()) r = fail(line_of(value), field, "must name a program (an empty array)");
        if (r && h.command[0].empty()) r = fail(line_of(value), field + "[0]", "must not be empty");
        have_command = true;
      } else if (k == "interval_ms") {
        r = int_field(value, field, 100, 86400000, &h.interval_ms);
      } else if (k == "timeout_ms") {
        r = int_field(value, field, 1, 3600000, &h.timeout_ms);
      } else if (k == "retries") {
        r = int_field(value, field, 1, 1000, &h.retries);
      } else {
        r = fail(line_of(value), field, "unknown key (expected command, interval_ms, timeout_ms, retries)");
      }
      if (!r) return Unexpected(r.error());
    }
    if (!have_command) return fail(line_of(n), "health.command", "required when [health] is given");
    health_line_ = line_of(n);
    out_.def.health = std::move(h);
    return {};
  }

  // exec (a host process) or bundle (a container), never both; the keys that
  // only make sense for a host process are refused for a container.
  Result<void> check_kind(const toml::table& root) {
    bool has_exec = root.contains("exec");
    bool has_bundle = root.contains("bundle");
    if (has_exec && has_bundle)
      return fail(bundle_line_, "bundle", "a service is either a process (exec) or a container (bundle), not both");
    if (!has_exec && !has_bundle)
      return fail(1, "exec", "one of exec (a host process) or bundle (a container) is required");
    out_.def.kind = has_bundle ? ServiceKind::container : ServiceKind::process;
    if (has_bundle) {
      for (const char* k : {"environment", "working_directory", "user", "group"})
        if (const toml::node* n = root.get(k))
          return fail(line_of(*n), k, "only for process services; a container takes it from its config.json");
      if (out_.def.health && !out_.def.health->command.empty() && out_.def.health->command[0][0] != '/')
        return fail(health_line_, "health.command[0]", "'%s' is not an absolute path in the container",
                    out_.def.health->command[0].c_str());
    } else if (out_.def.health && out_.def.health->command[0][0] != '/') {
      return fail(health_line_, "health.command[0]", "'%s' is not an absolute path",
                  out_.def.health->command[0].c_str());
    }
    return {};
  }

  // user and group: a name (looked up in /etc/passwd and /etc/group) or a
  // number. A user without a group runs with the user's primary group from
  // /etc/passwd, or with gid = uid when it has no entry there.
  Result<void> identity_fields(const toml::node* user, const toml::node* group) {
    std::optional<unsigned> primary_gid;
    if (user) {
      if (const auto* i = user->as_integer()) {
        if (i->get() < 0 || i->get() > 0xfffffffe) return fail(line_of(*user), "user", "%lld is not a valid uid", static_cast<long long>(i->get()));
        out_.def.user = static_cast<uid_t>(i->get());
        if (auto e = lookup_id_file("/etc/passwd", std::to_string(i->get()), true)) primary_gid = e->gid;
      } else if (const auto* s = user->as_string()) {
        auto e = lookup_id_file("/etc/passwd", s->get(), false);
        if (!e) return fail(line_of(*user), "user", "no user '%s' in /etc/passwd", s->get().c_str());
        out_.def.user = e->id;
        primary_gid = e->gid;
      } else {
        return wrong_type(*user, "user", "a user name or uid");
      }
    }
    if (group) {
      if (const auto* i = group->as_integer()) {
        if (i->get() < 0 || i->get() > 0xfffffffe) return fail(line_of(*group), "group", "%lld is not a valid gid", static_cast<long long>(i->get()));
        out_.def.group = static_cast<gid_t>(i->get());
      } else if (const auto* s = group->as_string()) {
        auto e = lookup_id_file("/etc/group", s->get(), false);
        if (!e) return fail(line_of(*group), "group", "no group '%s' in /etc/group", s->get().c_str());
        out_.def.group = e->id;
      } else {
        return wrong_type(*group, "group", "a group name or gid");
      }
    } else if (out_.def.user) {
      out_.def.group = primary_gid ? *primary_gid : *out_.def.user;
    }
    return {};
  }

  std::string file_;
  Parsed out_;
  int bundle_line_ = 1, health_line_ = 1;
};

Result<Parsed> parse_with_lines(const std::string& name, const std::string& file, const std::string& text) {
  return ServiceParser(name, file).parse(text);
}

// An empty file (or a symlink to /dev/null) masks a service of the same name
// from an earlier directory, as systemd's masking does.
bool is_mask(const std::string& text) { return trim(text).empty(); }

// Finds a cycle among `names` (each edge: a service -> a dependency of it),
// returned as a, b, ..., a; empty when there is none.
std::vector<std::string> find_cycle(const std::map<std::string, std::vector<std::string>>& deps) {
  std::map<std::string, int> color;  // 0 new, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::vector<std::string> cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& n) {
    color[n] = 1;
    stack.push_back(n);
    auto it = deps.find(n);
    if (it != deps.end()) {
      for (const auto& d : it->second) {
        if (!deps.count(d)) continue;
        if (color[d] == 1) {
          auto from = std::find(stack.begin(), stack.end(), d);
          cycle.assign(from, stack.end());
          cycle.push_back(d);
          return true;
        }
        if (color[d] == 0 && visit(d)) return true;
      }
    }
    stack.pop_back();
    color[n] = 2;
    return false;
  };
  for (const auto& [n, _] : deps)
    if (color[n] == 0 && visit(n)) return cycle;
  return {};
}

std::map<std::string, std::vector<std::string>> dependency_map(const std::vector<ServiceDef>& services) {
  std::map<std::string, std::vector<std::string>> deps;
  for (const auto& s : services) {
    auto& d = deps[s.name];
    d = s.requires_;
    d.insert(d.end(), s.after.begin(), s.after.end());
  }
  return deps;
}

}  // namespace

Result<ServiceDef> parse_service(const std::string& name, const std::string& file, const std::string& text) {
  BW_ASSIGN_OR_RETURN(Parsed p, parse_with_lines(name, file, text));
  return std::move(p.def);
}

Result<std::vector<ServiceDef>> load_services(const std::vector<std::string>& dirs) {
  std::map<std::string, Parsed> found;
  for (const auto& dir : dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno == ENOENT) continue;  // a vendor or local directory that does not exist is fine
      return sys_error("opening services directory '%s'", dir.c_str());
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".toml") == 0 && n[0] != '.') names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::string path = dir + "/" + n;
      std::string name = n.substr(0, n.size() - 5);
      auto text = read_file(path);
      if (!text) return Unexpected(text.error().prefix(strf("reading '%s'", path.c_str())));
      if (is_mask(*text)) {
        found.erase(name);
        continue;
      }
      BW_ASSIGN_OR_RETURN(Parsed p, parse_with_lines(name, path, *text));
      found[name] = std::move(p);
    }
  }
  // Every dependency names a service that exists.
  for (const auto& [name, p] : found) {
    for (const auto& [field, lines] : {std::pair<const char*, const std::map<std::string, int>*>{"requires", &p.lines.requires_},
                                       {"after", &p.lines.after}}) {
      for (const auto& [dep, line] : *lines)
        if (!found.count(dep))
          return make_error(0, "%s:%d: %s: unknown service '%s'", p.def.file.c_str(), line, field, dep.c_str());
    }
  }
  std::vector<ServiceDef> out;
  for (auto& [name, p] : found) out.push_back(p.def);
  auto cycle = find_cycle(dependency_map(out));
  if (!cycle.empty()) {
    const Parsed& p = found.at(cycle[0]);
    const std::string& next = cycle[1];
    bool req = p.lines.requires_.count(next) > 0;
    int line = req ? p.lines.requires_.at(next) : p.lines.after.at(next);
    return make_error(0, "%s:%d: %s: dependency cycle: %s", p.def.file.c_str(), line, req ? "requires" : "after",
                      join(cycle, " -> ").c_str());
  }
  return out;
}

Result<std::vector<std::string>> start_order(const std::vector<ServiceDef>& services) {
  auto deps = dependency_map(services);
  for (const auto& [name, d] : deps)
    for (const auto& dep : d)
      if (!deps.count(dep)) return make_error(0, "service '%s' depends on unknown service '%s'", name.c_str(), dep.c_str());
  // Kahn's algorithm; among services ready at the same time, by name, so the
  // order is the same on every boot.
  std::map<std::string, int> pending;
  std::map<std::string, std::vector<std::string>> dependents;
  for (const auto& [name, d] : deps) {
    std::set<std::string> unique(d.begin(), d.end());
    pending[name] = static_cast<int>(unique.size());
    for (const auto& dep : unique) dependents[dep].push_back(name);
  }
  std::set<std::string> ready;
  for (const auto& [name, n] : pending)
    if (n == 0) ready.insert(name);
  std::vector<std::string> order;
  while (!ready.empty()) {
    std::string n = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(n);
    for (const auto& dep : dependents[n])
      if (--pending[dep] == 0) ready.insert(dep);
  }
  if (order.size() != deps.size())
    return make_error(0, "dependency cycle: %s", join(find_cycle(deps), " -> ").c_str());
  return order;
}

int backoff_delay_ms(const ServiceDef& s, int attempt) {
  long long d = s.restart_delay_ms;
  for (int i = 0; i < attempt && d < s.restart_max_delay_ms; ++i) d *= 2;
  return static_cast<int>(std::min<long long>(d, s.restart_max_delay_ms));
}

}  // namespace bw::init
