// Loading PROFILE arguments and the options that steer how they resolve.
#include "seccomp/profile_input.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cctype>

#include "base/file.h"
#include "base/strings.h"
#include "oci/spec.h"
#include "seccomp/export.h"
#include "seccomp/seccomp.h"

namespace bw::seccomp_tool {

using json = nlohmann::json;

namespace {


// "sys_admin" -> "CAP_SYS_ADMIN"; "" when unknown.
std::string cap_name(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!s.starts_with("CAP_")) s = "CAP_" + s;
  for (std::string_view known : oci::capability_names())
    if (s == known) return s;
  return {};
}

bool has_key(const json& obj, std::initializer_list<const char*> keys) {
  if (!obj.is_object()) return false;
  for (const char* k : keys)
    if (obj.contains(k)) return true;
  return false;
}

// Docker's own fields; an OCI section has none of them.
bool looks_like_docker(const json& section) {
  if (has_key(section, {"archMap", "defaultErrno"})) return true;
  auto it = section.find("syscalls");
  if (it == section.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(), [](const json& rule) {
    return has_key(rule, {"includes", "excludes", "name", "errno"});
  });
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 3, column
// 5: syntax error ..." without the bracketed tag; raw bytes as \xNN.
std::string parse_error_text(const json::parse_error& e) {
  std::string_view what(e.what());
  if (auto close = what.find("] "); what.starts_with("[") && close != std::string_view::npos)
    what.remove_prefix(close + 2);
  std::string out;
  for (unsigned char c : what) out += c < 0x20 || c >= 0x7f ? strf("\\x%02x", c) : std::string(1, static_cast<char>(c));
  return out;
}

std::vector<std::string> rule_names(const json& rule) {
  std::vector<std::string> out;
  if (!rule.is_object()) return out;
  if (auto n = rule.find("name"); n != rule.end() && n->is_string()) out.push_back(*n);
  if (auto ns = rule.find("names"); ns != rule.end() && ns->is_array())
    for (const json& n : *ns)
      if (n.is_string()) out.push_back(n);
  return out;
}

// Docker resolution keeps a subsequence of the file's rules, in order; the
// first file rule with the same names and action from where the last match
// left off is the origin.
std::vector<size_t> match_origins(const json& section, const oci::Seccomp& s) {
  std::vector<size_t> out;
  const json* rules = nullptr;
  if (auto it = section.find("syscalls"); it != section.end() && it->is_array()) rules = &*it;
  size_t next = 0;
  for (size_t j = 0; j < s.syscalls.size(); ++j) {
    size_t found = j;
    for (size_t i = next; rules && i < rules->size(); ++i) {
      const json& r = (*rules)[i];
      auto action = r.find("action");
      if (rule_names(r) == s.syscalls[j].names && action != r.end() && action->is_string() &&
          *action == s.syscalls[j].action) {
        found = i;
        next = i + 1;
        break;
      }
    }
    out.push_back(found);
  }
  return out;
}

}  // namespace

Result<VerbArgs> parse_verb_args(const std::vector<std::string>& words, const Common& common,
                                 std::initializer_list<const char*> value_options) {
  VerbArgs out;
  out.common = common;
  bool options_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    bool negative_number = w.size() > 1 && w[0] == '-' && std::isdigit(static_cast<unsigned char>(w[1]));
    if (options_done || w.size() < 2 || w[0] != '-' || negative_number) {
      out.positional.push_back(w);
      continue;
    }
    if (w == "--") {
      options_done = true;
      continue;
    }
    std::string name = w.substr(w[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if ((name == "json" || name == "strict") && !has_value) {
      (name == "json" ? out.common.json : out.common.strict) = true;
      continue;
    }
    bool known = std::any_of(value_options.begin(), value_options.end(),
                             [&](const char* o) { return name == o; });
    if (!known) return make_error(EINVAL, "unknown option '%s'", w.c_str());
    if (!has_value) {
      if (i + 1 >= words.size()) return make_error(EINVAL, "option '%s' needs a value", w.c_str());
      value = words[++i];
    }
    out.values[name] = value;
  }
  return out;
}

const std::vector<std::string>& docker_default_caps() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",     "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",  "CAP_SETFCAP",    "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return caps;
}

Result<std::vector<std::string>> parse_caps(const std::string& list) {
  std::vector<std::string> items;
  for (const std::string& item : split(list, ','))
    if (!trim(item).empty()) items.emplace_back(trim(item));
  bool changes = !items.empty() && std::all_of(items.begin(), items.end(), [](const std::string& s) {
    return s[0] == '+' || s[0] == '-';
  });
  std::vector<std::string> caps = changes ? docker_default_caps() : std::vector<std::string>();
  for (const std::string& item : items) {
    bool remove = item[0] == '-';
    std::string name = cap_name(changes ? item.substr(1) : item);
    if (name.empty())
      return make_error(EINVAL, "--caps: unknown capability '%s'", item.c_str());
    auto it = std::find(caps.begin(), caps.end(), name);
    if (remove && it != caps.end()) caps.erase(it);
    if (!remove && it == caps.end()) caps.push_back(name);
  }
  return caps;
}

const char* form_name(ProfileForm f) {
  switch (f) {
    case ProfileForm::oci_section: return "oci-section";
    case ProfileForm::oci_config: return "oci-config";
    case ProfileForm::docker: return "docker";
  }
  return "?";
}

Result<Target> target_from(const VerbArgs& args) {
  Target t;
  if (args.values.count("caps")) {
    BW_ASSIGN_OR_RETURN(t.caps, parse_caps(args.get("caps")));
    t.caps_given = true;
  }
  return t;
}

Result<std::string> arch_option(const VerbArgs& args) {
  if (!args.values.count("arch")) return std::string();
  std::string arch = seccomp::normalize_arch(args.get("arch"));
  if (arch.empty())
    return make_error(EINVAL, "--arch: unknown architecture '%s' (e.g. x86_64, SCMP_ARCH_AARCH64)",
                      args.get("arch").c_str());
  return arch;
}

Result<seccomp::Engine> engine_option(const VerbArgs& args) {
  std::string name = args.values.count("engine") ? args.get("engine") : "bulwark";
  for (auto e : {seccomp::Engine::bulwark, seccomp::Engine::libseccomp_linear,
                 seccomp::Engine::libseccomp_tree})
    if (name == seccomp::engine_name(e)) return e;
  return make_error(EINVAL, "--engine: expected bulwark, libseccomp-linear or libseccomp-tree, "
                            "found '%s'", name.c_str());
}

std::string ProfileSource::path(const std::string& rel) const {
  if (base.empty()) return rel.empty() ? "(top level)" : rel;
  return rel.empty() ? base : base + "." + rel;
}

std::string file_message(const std::string& file, const std::string& message) {
  return (file == "-" ? std::string("<stdin>") : file) + ": " + message;
}

Result<ProfileSource> read_profile(const std::string& file) {
  ProfileSource src;
  src.file = file;
  auto text = file == "-" ? read_fd(STDIN_FILENO) : read_file(file);
  if (!text) return Unexpected(text.error().prefix(strf("reading '%s'", file.c_str())));
  src.text = std::move(*text);
  json doc;
  try {
    doc = json::parse(src.text);
  } catch (const json::parse_error& e) {
    return make_error(0, "%s", file_message(file, "invalid JSON: " + parse_error_text(e)).c_str());
  }
  if (!doc.is_object())
    return make_error(0, "%s", file_message(file, strf("(top level): expected an object, found %s",
                                                       doc.type_name())).c_str());
  if (has_key(doc, {"ociVersion", "linux", "process", "root", "mounts", "hooks"})) {
    src.form = ProfileForm::oci_config;
    src.base = "linux.seccomp";
    const json* linux = doc.contains("linux") ? &doc["linux"] : nullptr;
    if (!linux || !linux->is_object() || !linux->contains("seccomp") || (*linux)["seccomp"].is_null())
      return make_error(0, "%s", file_message(file, "linux.seccomp: missing; this config.json has "
                                                    "no seccomp section").c_str());
    src.section = (*linux)["seccomp"];
  } else {
    src.section = std::move(doc);
    src.form = looks_like_docker(src.section) ? ProfileForm::docker : ProfileForm::oci_section;
  }
  return src;
}

std::string Profile::rule_path(int i) const {
  if (i < 0) return source.path("defaultAction");
  size_t origin = static_cast<size_t>(i) < rule_origin.size() ? rule_origin[static_cast<size_t>(i)]
                                                              : static_cast<size_t>(i);
  return source.path(strf("syscalls[%zu]", origin));
}

std::string Profile::locate(const std::string& message) const {
  static const std::string kRule = "linux.seccomp.syscalls[";
  static const std::string kSection = "linux.seccomp";
  std::string out;
  size_t pos = 0;
  while (pos < message.size()) {
    if (message.compare(pos, kRule.size(), kRule) == 0) {
      size_t end = message.find(']', pos + kRule.size());
      auto index = end == std::string::npos
                       ? std::nullopt
                       : parse_int(std::string_view(message).substr(pos + kRule.size(),
                                                                    end - pos - kRule.size()));
      if (index && *index >= 0) {
        out += rule_path(static_cast<int>(*index));
        pos = end + 1;
        continue;
      }
    }
    if (message.compare(pos, kSection.size(), kSection) == 0) {
      pos += kSection.size();
      bool field = pos < message.size() && message[pos] == '.';
      if (field && source.base.empty()) {
        ++pos;  // "linux.seccomp.flags[0]" -> "flags[0]"
      } else {
        out += source.base.empty() ? "(top level)" : source.base;
      }
      continue;
    }
    out += message[pos++];
  }
  return out;
}

std::string Profile::locate_reason(const std::string& reason) const {
  static const std::string kRule = "syscalls[";
  size_t end = reason.find(']');
  if (!reason.starts_with(kRule) || end == std::string::npos) return reason;
  auto index = parse_int(std::string_view(reason).substr(kRule.size(), end - kRule.size()));
  if (!index || *index < 0) return reason;
  return rule_path(static_cast<int>(*index)) + reason.substr(end + 1);
}

Result<Profile> resolve_profile(const ProfileSource& src, const Target& t) {
  Profile p;
  p.source = src;
  p.target = t;
  auto fail = [&](const std::string& message) {
    return make_error(0, "%s", file_message(src.file, message).c_str());
  };
  if (src.form == ProfileForm::docker) {
    auto s = seccomp::from_docker_profile(src.section.dump(), t.caps, "", t.machine);
    if (!s) {
      std::string m = s.error().message;
      if (m.starts_with("seccomp profile: ")) m = m.substr(17);
      return fail(m);
    }
    p.section = std::move(*s);
    p.rule_origin = match_origins(src.section, p.section);
    return p;
  }
  // The launcher's own parser: a bare section is parsed as the linux.seccomp
  // of a config, then its paths are given back relative to the file.
  std::string text = src.text;
  if (src.form == ProfileForm::oci_section) text = json{{"linux", {{"seccomp", src.section}}}}.dump();
  auto spec = oci::parse_spec(text);
  if (!spec) return fail(p.locate(spec.error().message));
  p.section = *spec->linux->seccomp;
  for (size_t i = 0; i < p.section.syscalls.size(); ++i) p.rule_origin.push_back(i);
  return p;
}

Result<Profile> load_profile(const std::string& file, const Target& t) {
  BW_ASSIGN_OR_RETURN(ProfileSource src, read_profile(file));
  return resolve_profile(src, t);
}

Result<std::string> place_on_arch(Profile& p, const std::string& arch) {
  const std::string here = seccomp::native_arch_name();
  auto covered = [&] {
    const auto& a = p.section.architectures;
    return arch == here || std::find(a.begin(), a.end(), arch) != a.end();
  };
  if (covered()) return std::string();
  std::string note;
  if (p.target.machine != arch) {
    note = strf("the profile does not cover %s on %s; evaluated as on a %s machine", arch.c_str(),
                here.c_str(), arch.c_str());
    if (p.source.form == ProfileForm::docker) {
      Target t = p.target;
      t.machine = arch;
      BW_ASSIGN_OR_RETURN(p, resolve_profile(p.source, t));
    }
  }
  // On a machine of that architecture it is the native one, which libseccomp
  // always filters.
  if (!covered()) p.section.architectures.push_back(arch);
  return note;
}

int fail(const Common& c, const std::string& message, int status) {
  if (c.json) printf("%s\n", nlohmann::json{{"error", message}}.dump(2).c_str());
  fprintf(stderr, "bulwark-seccomp: %s\n", message.c_str());
  return status;
}

}  // namespace bw::seccomp_tool
