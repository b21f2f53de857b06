#include "updater/config.h"

#include <toml++/toml.h>

#include <functional>
#include <map>

#include "base/file.h"
#include "base/strings.h"

namespace bw::update {
namespace {

unsigned line_of(const toml::node& n) { return n.source().begin.line; }

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  Result<void> string(const toml::node& n, const std::string& field, std::string* out, bool nonempty = true) {
    auto v = n.value<std::string>();
    if (!n.is_string() || !v || (nonempty && v->empty())) return bad(n, field, "expected a non-empty string");
    *out = *v;
    return {};
  }
  Result<void> integer(const toml::node& n, const std::string& field, int* out, int64_t lo, int64_t hi) {
    auto v = n.value<int64_t>();
    if (!n.is_integer() || !v || *v < lo || *v > hi)
      return bad(n, field, strf("expected an integer from %lld to %lld", static_cast<long long>(lo),
                                static_cast<long long>(hi)));
    *out = static_cast<int>(*v);
    return {};
  }
  Result<void> boolean(const toml::node& n, const std::string& field, bool* out) {
    if (!n.is_boolean()) return bad(n, field, "expected true or false");
    *out = *n.value<bool>();
    return {};
  }
  Result<void> abs_path(const toml::node& n, const std::string& field, std::string* out, bool allow_empty) {
    auto v = n.value<std::string>();
    if (!n.is_string() || !v || (!allow_empty && v->empty()) || (!v->empty() && (*v)[0] != '/'))
      return bad(n, field, allow_empty ? "expected an absolute path or \"\"" : "expected an absolute path");
    *out = *v;
    return {};
  }
  Unexpected bad(const toml::node& n, const std::string& field, const std::string& why) {
    return make_error(0, "%s:%u: %s: %s", file_.c_str(), line_of(n), field.c_str(), why.c_str());
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

using KeyHandler = std::function<Result<void>(const toml::node&, const std::string&)>;

// ostree's ref grammar: components of [A-Za-z0-9._-] separated by '/'.
bool valid_ref(const std::string& ref) {
  if (ref.empty() || ref.front() == '/' || ref.back() == '/' || ref.find("//") != std::string::npos) return false;
  for (const auto& part : split(ref, '/'))
    if (part == "." || part == ".." || part.starts_with("-")) return false;
  for (char ch : ref)
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-' && ch != '/') return false;
  return true;
}

}  // namespace

Result<Config> parse_config(const std::string& file, const std::string& text) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return make_error(0, "%s:%u: %s", file.c_str(), e.source().begin.line,
                      std::string(e.description()).c_str());
  }
  Config c;
  c.file = file;
  Parser p(file);
  std::map<std::string, std::map<std::string, KeyHandler>> schema = {
      {"remote",
       {{"url",
         [&](const toml::node& n, const std::string& f) -> Result<void> {
           BW_RETURN_IF_ERROR(p.string(n, f, &c.url));
           if (!c.url.starts_with("http://") && !c.url.starts_with("https://") && !c.url.starts_with("file://"))
             return p.bad(n, f, "expected an http://, https:// or file:// URL, found '" + c.url + "'");
           return {};
         }},
        {"ref", [&](const toml::node& n, const std::string& f) { return p.string(n, f, &c.ref); }},
        {"os",
         [&](const toml::node& n, const std::string& f) -> Result<void> {
           BW_RETURN_IF_ERROR(p.string(n, f, &c.os));
           for (char ch : c.os)
             if (!isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
               return p.bad(n, f, "expected letters, digits, '-', '_' or '.', found '" + c.os + "'");
           return {};
         }},
        {"low_speed_bytes",
         [&](const toml::node& n, const std::string& f) { return p.integer(n, f, &c.low_speed_bytes, 1, 1 << 30); }},
        {"low_speed_seconds",
         [&](const toml::node& n, const std::string& f) { return p.integer(n, f, &c.low_speed_seconds, 1, 3600); }}}},
      {"trust",
       {{"keys",
         [&](const toml::node& n, const std::string& f) -> Result<void> {
           const auto* arr = n.as_array();
           if (!arr || arr->empty()) return p.bad(n, f, "expected a non-empty array of directories");
           c.key_dirs.clear();
           for (const auto& item : *arr) {
             std::string d;
             BW_RETURN_IF_ERROR(p.abs_path(item, f, &d, false));
             c.key_dirs.push_back(d);
           }
           return {};
         }}}},
      {"policy",
       {{"auto_reboot", [&](const toml::node& n, const std::string& f) { return p.boolean(n, f, &c.auto_reboot); }},
        {"auto_upgrade", [&](const toml::node& n, const std::string& f) { return p.boolean(n, f, &c.auto_upgrade); }},
        {"check_interval_s",
         [&](const toml::node& n, const std::string& f) { return p.integer(n, f, &c.check_interval_s, 10, 30 * 86400); }},
        {"jitter_s", [&](const toml::node& n, const std::string& f) { return p.integer(n, f, &c.jitter_s, 0, 86400); }},
        {"boot_attempts",
         [&](const toml::node& n, const std::string& f) { return p.integer(n, f, &c.boot_attempts, 1, 9); }}}},
      {"boot", {{"grubenv", [&](const toml::node& n, const std::string& f) { return p.abs_path(n, f, &c.grubenv, false); }}}},
      {"status",
       {{"metrics_textfile",
         [&](const toml::node& n, const std::string& f) { return p.abs_path(n, f, &c.metrics_textfile, true); }}}},
  };
  for (auto&& [section_key, section_node] : root) {
    std::string section(section_key.str());
    auto s = schema.find(section);
    if (s == schema.end())
      return make_error(0, "%s:%u: [%s]: unknown section (expected remote, trust, policy, boot or status)",
                        file.c_str(), section_key.source().begin.line, section.c_str());
    const auto* table = section_node.as_table();
    if (!table) return p.bad(section_node, section, "expected a table ([" + section + "])");
    for (auto&& [key, node] : *table) {
      std::string name(key.str());
      auto h = s->second.find(name);
      if (h == s->second.end())
        return make_error(0, "%s:%u: %s.%s: unknown key", file.c_str(), key.source().begin.line,
                          section.c_str(), name.c_str());
      BW_RETURN_IF_ERROR(h->second(node, section + "." + name));
    }
  }
  if (c.url.empty()) return make_error(0, "%s: remote.url: required", file.c_str());
  if (c.ref.empty()) return make_error(0, "%s: remote.ref: required", file.c_str());
  if (!valid_ref(c.ref)) return make_error(0, "%s: remote.ref: '%s' is not a valid ref name", file.c_str(), c.ref.c_str());
  return c;
}

Result<Config> load_config(const std::string& file) {
  auto text = read_file(file);
  if (!text) return Unexpected(text.error().prefix("reading the update configuration"));
  return parse_config(file, *text);
}

}  // namespace bw::update
