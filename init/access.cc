// Who may do what on the control socket: roles, the access.toml policy, and
// the peer credentials the kernel reports for a connection.
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <toml++/toml.h>

#include "base/file.h"
#include "base/strings.h"
#include "init/control.h"

namespace bw::init {

const char* role_name(Role r) {
  switch (r) {
    case Role::none: return "none";
    case Role::viewer: return "viewer";
    case Role::operator_: return "operator";
    case Role::admin: return "admin";
  }
  return "none";
}

std::optional<Role> required_role(std::string_view cmd) {
  if (cmd == "status" || cmd == "logs") return Role::viewer;
  if (cmd == "start" || cmd == "stop" || cmd == "restart") return Role::operator_;
  if (cmd == "reboot" || cmd == "poweroff") return Role::admin;
  return std::nullopt;
}

Role AccessPolicy::role_for(uid_t uid, gid_t gid, const std::vector<gid_t>& peer_groups) const {
  if (uid == 0) return Role::admin;
  Role best = Role::none;
  for (const auto& [u, role] : users)
    if (u == uid) best = std::max(best, role);
  for (const auto& [g, role] : groups) {
    if (g == gid || std::find(peer_groups.begin(), peer_groups.end(), g) != peer_groups.end())
      best = std::max(best, role);
  }
  return best;
}

namespace {

// uid_t and gid_t are the same type on Linux, so one parser serves both tables.
static_assert(std::is_same_v<uid_t, gid_t>);
using IdMap = std::map<std::string, uid_t>;

// name:password:id:... lines of passwd(5) and group(5); the first entry of
// a name wins, as with getpwnam().
Result<IdMap> read_id_file(const std::string& path) {
  IdMap out;
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return out;
    return Unexpected(text.error());
  }
  for (const std::string& line : split(*text, '\n')) {
    if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
    auto fields = split(line, ':');
    if (fields.size() < 3 || fields[0].empty()) continue;
    auto id = parse_int(fields[2]);
    if (!id || *id < 0 || *id >= 0xffffffffLL) continue;
    out.emplace(fields[0], static_cast<uid_t>(*id));
  }
  return out;
}

std::optional<Role> parse_role(std::string_view s) {
  if (s == "viewer") return Role::viewer;
  if (s == "operator") return Role::operator_;
  if (s == "admin") return Role::admin;
  return std::nullopt;
}

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

// toml::table iterates in key order; checks and messages go in file order,
// so that the first problem in the file is the one reported.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& tbl) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : tbl) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first->source().begin < b.first->source().begin; });
  return entries;
}

struct Section {
  const char* table;  // "users" or "groups"
  const char* id_kind;  // "uid" or "gid"
  const IdMap* names;
  const char* names_file;
  std::vector<std::pair<uid_t, Role>>* out;
};

Result<void> parse_section(const std::string& file, const toml::table& tbl, const Section& s) {
  std::map<uid_t, unsigned> line_of;  // id -> line that gave it a role
  for (const auto& [key_ptr, node_ptr] : in_file_order(tbl)) {
    const toml::key& key = *key_ptr;
    const toml::node& node = *node_ptr;
    unsigned line = key.source().begin.line;
    std::string field = strf("%s.%s", s.table, std::string(key.str()).c_str());
    auto fail = [&](const std::string& what) {
      return make_error(0, "%s:%u: %s: %s", file.c_str(), line, field.c_str(), what.c_str());
    };
    const std::string* role_text = node.as_string() ? &node.as_string()->get() : nullptr;
    if (!role_text) return fail(strf("expected a role as a string (\"viewer\", \"operator\" or \"admin\"), found %s",
                                     type_name(node.type())));
    auto role = parse_role(*role_text);
    if (!role)
      return fail(strf("unknown role '%s' (expected viewer, operator or admin)", role_text->c_str()));
    uid_t id;
    std::string name(key.str());
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      auto n = parse_int(name);
      if (!n || *n >= 0xffffffffLL) return fail(strf("%s %s is out of range", s.id_kind, name.c_str()));
      id = static_cast<uid_t>(*n);
    } else {
      auto it = s.names->find(name);
      if (it == s.names->end())
        return fail(strf("no %s named '%s' in %s", s.table[0] == 'u' ? "user" : "group", name.c_str(), s.names_file));
      id = it->second;
    }
    if (auto prev = line_of.find(id); prev != line_of.end())
      return fail(strf("%s %u already has a role (line %u)", s.id_kind, id, prev->second));
    line_of.emplace(id, line);
    s.out->emplace_back(id, *role);
  }
  return {};
}

}  // namespace

Result<Accounts> Accounts::read(const std::string& passwd_file, const std::string& group_file) {
  Accounts a;
  BW_ASSIGN_OR_RETURN(a.users, with_context(read_id_file(passwd_file), "reading user names"));
  BW_ASSIGN_OR_RETURN(a.groups, with_context(read_id_file(group_file), "reading group names"));
  return a;
}

Result<AccessPolicy> parse_access_policy(const std::string& file, const std::string& text,
                                         const Accounts& accounts) {
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return make_error(0, "%s:%u: %s", file.c_str(), e.source().begin.line, std::string(e.description()).c_str());
  }
  AccessPolicy p;
  for (const auto& [key, node] : in_file_order(doc)) {
    unsigned line = key->source().begin.line;
    std::string name(key->str());
    const toml::table* tbl = node->as_table();
    Section s;
    if (name == "users") {
      s = {"users", "uid", &accounts.users, "/etc/passwd", &p.users};
    } else if (name == "groups") {
      s = {"groups", "gid", &accounts.groups, "/etc/group", &p.groups};
    } else {
      return make_error(0, "%s:%u: %s: unknown table (expected [users] or [groups])", file.c_str(), line,
                        name.c_str());
    }
    if (!tbl) return make_error(0, "%s:%u: %s: expected a table", file.c_str(), line, name.c_str());
    BW_RETURN_IF_ERROR(parse_section(file, *tbl, s));
  }
  return p;
}

Result<AccessPolicy> load_access_policy(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return AccessPolicy{};
    return Unexpected(text.error());
  }
  BW_ASSIGN_OR_RETURN(Accounts accounts, Accounts::read());
  return parse_access_policy(path, *text, accounts);
}

Result<PeerCredentials> peer_credentials(int socket_fd) {
  PeerCredentials p;
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return sys_error("getsockopt(SO_PEERCRED)");
  p.pid = cred.pid;
  p.uid = cred.uid;
  p.gid = cred.gid;
  // SO_PEERGROUPS (Linux 4.13) gives the supplementary groups the kernel
  // recorded at connect(), like SO_PEERCRED: unlike reading
  // /proc/<pid>/status, it cannot race with the peer exiting and its pid
  // being reused, or with the peer changing its groups after connecting.
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      break;
    }
    if (errno == ERANGE && glen > groups.size() * sizeof(gid_t)) {
      groups.resize(glen / sizeof(gid_t));
      continue;
    }
    // Without the groups the peer gets only what its uid and gid grant:
    // failing closed, never open.
    if (errno == ENODATA || errno == ENOPROTOOPT) {
      groups.clear();
      break;
    }
    return sys_error("getsockopt(SO_PEERGROUPS)");
  }
  p.groups = std::move(groups);
  return p;
}

}  // namespace bw::init
