#include "init/cmdline.h"

#include <algorithm>

#include "base/file.h"
#include "base/strings.h"

namespace bw::init {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// One word as kernel/params.c next_arg() takes it: starting at s[pos] (not a
// blank), up to the next blank outside quotes. Returns the raw word and moves pos.
std::string_view next_word(std::string_view s, size_t& pos) {
  size_t start = pos;
  bool in_quote = false;
  while (pos < s.size()) {
    char c = s[pos];
    if (is_blank(c) && !in_quote) break;
    if (c == '"') in_quote = !in_quote;
    ++pos;
  }
  return s.substr(start, pos - start);
}

// Splits a raw word into key and value and drops the quotes the kernel drops:
// a leading quote of the word and its last character when that is a quote,
// and a value's leading quote with the word's last character when that is one.
CmdlineParam split_word(std::string_view word) {
  bool quoted = !word.empty() && word.front() == '"';
  if (quoted) word.remove_prefix(1);
  CmdlineParam p;
  size_t eq = word.find('=');
  if (eq == std::string_view::npos) {
    if (quoted && !word.empty() && word.back() == '"') word.remove_suffix(1);
    p.key = std::string(word);
    return p;
  }
  p.key = std::string(word.substr(0, eq));
  std::string_view value = word.substr(eq + 1);
  bool value_quoted = !value.empty() && value.front() == '"';
  if (value_quoted) value.remove_prefix(1);
  if ((quoted || value_quoted) && !value.empty() && value.back() == '"') value.remove_suffix(1);
  p.value = std::string(value);
  return p;
}

}  // namespace

KernelCmdline KernelCmdline::parse(std::string_view text) {
  KernelCmdline out;
  size_t pos = 0;
  bool after_dashes = false;
  while (pos < text.size()) {
    if (is_blank(text[pos])) {
      ++pos;
      continue;
    }
    std::string_view word = next_word(text, pos);
    if (after_dashes) {
      CmdlineParam p = split_word(word);  // init sees the word with the kernel's quote removal
      out.init_args_.push_back(p.value ? p.key + "=" + *p.value : p.key);
      continue;
    }
    if (word == "--") {
      after_dashes = true;
      continue;
    }
    out.params_.push_back(split_word(word));
  }
  return out;
}

Result<KernelCmdline> KernelCmdline::read(const std::string& path) {
  BW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse(text);
}

std::optional<std::string> KernelCmdline::get(std::string_view key) const {
  for (auto it = params_.rbegin(); it != params_.rend(); ++it)
    if (it->key == key) return it->value;
  return std::nullopt;
}

bool KernelCmdline::has(std::string_view key) const {
  return std::any_of(params_.begin(), params_.end(), [&](const CmdlineParam& p) { return p.key == key; });
}

std::vector<std::string> KernelCmdline::list(std::string_view key, char sep) const {
  std::vector<std::string> out;
  for (const auto& p : params_) {
    if (p.key != key || !p.value) continue;
    for (const auto& item : split(*p.value, sep)) {
      std::string t(trim(item));
      if (!t.empty() && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
  }
  return out;
}

std::vector<CmdlineParam> KernelCmdline::with_prefix(std::string_view prefix) const {
  std::vector<CmdlineParam> out;
  for (const auto& p : params_)
    if (p.key.size() > prefix.size() && p.key.compare(0, prefix.size(), prefix) == 0) out.push_back(p);
  return out;
}

Result<int> parse_seconds(const std::string& what, const std::string& value, int max) {
  return parse_seconds(what, value, 0, max);
}

Result<int> parse_seconds(const std::string& what, const std::string& value, int min, int max) {
  auto n = parse_int(value);
  if (!n || *n < min || *n > max)
    return make_error(EINVAL, "%s: expected a whole number of seconds from %d to %d, found '%s'",
                      what.c_str(), min, max, value.c_str());
  return static_cast<int>(*n);
}

Result<std::optional<int>> boot_deadline_ms(const KernelCmdline& cmdline, int max_s) {
  constexpr const char* kKey = "bulwark.boot_deadline";
  if (!cmdline.has(kKey)) return std::optional<int>();
  auto v = cmdline.get(kKey);
  if (!v) return make_error(EINVAL, "%s: expected a whole number of seconds from 1 to %d, found no value", kKey, max_s);
  BW_ASSIGN_OR_RETURN(int s, parse_seconds(kKey, *v, 1, max_s));
  return std::optional<int>(s * 1000);
}

}  // namespace bw::init
