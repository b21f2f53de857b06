#include "updater/grubenv.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "base/file.h"
#include "base/strings.h"
#include "base/unique_fd.h"

namespace bw::update {

namespace {

// GRUB reads a name up to the first '=' of its line and a value up to the
// first unescaped newline; values are C strings to it.
bool valid_name(std::string_view name) {
  return !name.empty() && name.front() != '#' &&
         name.find_first_of(std::string_view("=\n\0", 3)) == std::string_view::npos;
}

// A short, printable excerpt of bad input for an error message.
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    if (c == '\n') break;
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (s.size() > 40) out += "...";
  return out;
}

}  // namespace

std::optional<std::string> GrubEnv::get(std::string_view name) const {
  for (const auto& [n, v] : vars_) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Result<void> GrubEnv::set(std::string_view name, std::string_view value) {
  if (!valid_name(name)) {
    return make_error(0, "invalid GRUB environment variable name '%s'", excerpt(name).c_str());
  }
  if (value.find('\0') != std::string_view::npos) {
    return make_error(0, "value of GRUB environment variable '%.*s' holds a NUL byte",
                      static_cast<int>(name.size()), name.data());
  }
  for (auto& [n, v] : vars_) {
    if (n == name) {
      v = value;
      return {};
    }
  }
  vars_.emplace_back(name, value);
  return {};
}

bool GrubEnv::unset(std::string_view name) {
  auto it = std::find_if(vars_.begin(), vars_.end(), [&](const Var& v) { return v.first == name; });
  if (it == vars_.end()) return false;
  vars_.erase(it);
  return true;
}

Result<std::string> GrubEnv::serialize() const {
  std::string out(kGrubEnvHeader);
  for (const auto& [name, value] : vars_) {
    out += name;
    out += '=';
    for (char c : value) {
      if (c == '\\' || c == '\n') out += '\\';
      out += c;
    }
    out += '\n';
  }
  if (out.size() > kGrubEnvSize) {
    return make_error(ENOSPC, "the variables need %zu bytes, a GRUB environment block holds %zu",
                      out.size(), kGrubEnvSize);
  }
  out.resize(kGrubEnvSize, '#');
  return out;
}

Result<GrubEnv> parse_grubenv(std::string_view data, const std::string& origin) {
  const char* o = origin.c_str();
  if (data.size() != kGrubEnvSize) {
    return make_error(0, "'%s': %zu bytes, a GRUB environment block is %zu", o, data.size(),
                      kGrubEnvSize);
  }
  if (!data.starts_with(kGrubEnvHeader)) {
    return make_error(0, "'%s': not a GRUB environment block: the first line is '%s', expected '%.*s'",
                      o, excerpt(data).c_str(), static_cast<int>(kGrubEnvHeader.size() - 1),
                      kGrubEnvHeader.data());
  }
  GrubEnv env;
  size_t pos = kGrubEnvHeader.size();
  int line = 2;
  while (pos < data.size()) {
    std::string_view rest = data.substr(pos);
    if (rest.front() == '#') {  // a comment, or the padding (which has no newline)
      size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) break;
      pos += nl + 1;
      ++line;
      continue;
    }
    size_t eq = rest.find('=');
    size_t nl = rest.find('\n');
    if (eq == std::string_view::npos || (nl != std::string_view::npos && nl < eq)) {
      return make_error(0, "'%s': line %d: expected NAME=VALUE or a '#' comment, found '%s'", o,
                        line, excerpt(rest).c_str());
    }
    std::string_view name = rest.substr(0, eq);
    if (name.find('\0') != std::string_view::npos) {
      return make_error(0, "'%s': line %d: variable name holds a NUL byte", o, line);
    }
    std::string value;
    size_t i = eq + 1;
    int lines = 1;
    bool terminated = false;
    while (i < rest.size()) {
      char c = rest[i];
      if (c == '\n') {
        terminated = true;
        ++i;
        break;
      }
      if (c == '\\') {
        if (i + 1 == rest.size()) break;
        c = rest[++i];
        if (c == '\n') ++lines;
      }
      if (c == '\0') {
        return make_error(0, "'%s': line %d: value of '%.*s' holds a NUL byte", o, line,
                          static_cast<int>(name.size()), name.data());
      }
      value += c;
      ++i;
    }
    if (!terminated) {
      return make_error(0, "'%s': line %d: variable '%s' runs past the end of the %zu-byte block",
                        o, line, excerpt(name).c_str(), kGrubEnvSize);
    }
    if (auto r = env.set(name, value); !r) {
      return Unexpected(r.error().prefix(strf("'%s': line %d", o, line)));
    }
    pos += i;
    line += lines;
  }
  return env;
}

Result<GrubEnv> read_grubenv(const std::string& path) {
  auto fd = open_at(AT_FDCWD, path, O_RDONLY);
  if (!fd) {
    if (fd.error().code == ENOENT) return GrubEnv{};
    return Unexpected(fd.error().prefix("reading GRUB environment block"));
  }
  // Check the size before reading, so that a wrong path (a device, a huge
  // file) is refused without reading it.
  struct stat st;
  if (::fstat(fd->get(), &st) < 0) return sys_error("fstat '%s'", path.c_str());
  if (!S_ISREG(st.st_mode)) {
    return make_error(0, "'%s': not a regular file", path.c_str());
  }
  if (st.st_size != static_cast<off_t>(kGrubEnvSize)) {
    return make_error(0, "'%s': %lld bytes, a GRUB environment block is %zu", path.c_str(),
                      static_cast<long long>(st.st_size), kGrubEnvSize);
  }
  BW_ASSIGN_OR_RETURN(std::string data,
                      with_context(read_fd(fd->get()), strf("reading '%s'", path.c_str())));
  return parse_grubenv(data, path);
}

Result<void> write_grubenv(const std::string& path, const GrubEnv& env) {
  auto block = env.serialize();
  if (!block) return Unexpected(block.error().prefix(strf("writing '%s'", path.c_str())));
  // Keep the mode of the file being replaced.
  mode_t mode = 0644;
  if (struct stat st; ::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  return with_context(write_file_atomic(path, *block, mode), strf("writing '%s'", path.c_str()));
}

// --- Boot counting ---

namespace {

// Reads, edits and writes back the block; skips the write when no variable
// changed (a missing file stays missing).
template <class Edit>
Result<void> edit_grubenv(const std::string& path, Edit edit) {
  BW_ASSIGN_OR_RETURN(GrubEnv env, read_grubenv(path));
  GrubEnv before = env;
  BW_RETURN_IF_ERROR(edit(env));
  if (env.vars() == before.vars()) return {};
  return write_grubenv(path, env);
}

}  // namespace

Result<void> arm_boot_counter(const std::string& path, int attempts) {
  if (attempts < 1 || attempts > kMaxBootAttempts) {
    return make_error(0, "boot attempts %d: must be 1 to %d (GRUB's script counts down from 9 at most)",
                      attempts, kMaxBootAttempts);
  }
  return with_context(edit_grubenv(path,
                                   [&](GrubEnv& env) -> Result<void> {
                                     BW_RETURN_IF_ERROR(env.set(kBootCounterVar, std::to_string(attempts)));
                                     return env.set(kBootSuccessVar, "0");
                                   }),
                      "arming the boot counter");
}

Result<void> mark_boot_good(const std::string& path) {
  return with_context(edit_grubenv(path,
                                   [](GrubEnv& env) -> Result<void> {
                                     (void)env.unset(kBootCounterVar);
                                     return env.set(kBootSuccessVar, "1");
                                   }),
                      "marking the boot good");
}

Result<void> disarm_boot_counter(const std::string& path) {
  return with_context(edit_grubenv(path,
                                   [](GrubEnv& env) -> Result<void> {
                                     (void)env.unset(kBootCounterVar);
                                     return {};
                                   }),
                      "disarming the boot counter");
}

Result<BootCounterState> boot_counter_state(const std::string& path) {
  BW_ASSIGN_OR_RETURN(GrubEnv env, read_grubenv(path));
  BootCounterState state;
  state.success = env.get(kBootSuccessVar) == "1";
  if (auto counter = env.get(kBootCounterVar)) {
    auto n = parse_int(*counter);
    if (!n || *n < 0 || *n > kMaxBootAttempts) {
      return make_error(0, "'%s': %.*s='%s': expected a number from 0 to %d", path.c_str(),
                        static_cast<int>(kBootCounterVar.size()), kBootCounterVar.data(),
                        excerpt(*counter).c_str(), kMaxBootAttempts);
    }
    state.counter = static_cast<int>(*n);
  }
  return state;
}

}  // namespace bw::update
