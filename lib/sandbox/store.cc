#include "sandbox/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/strings.h"

namespace bw::sandbox {

Result<void> validate_id(const std::string& id) {
  if (id.empty() || id.size() > 1024)
    return make_error(EINVAL, "container id must be 1 to 1024 characters long");
  if (id == "." || id == "..") return make_error(EINVAL, "invalid container id '%s'", id.c_str());
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '.' || c == '-';
    if (!ok)
      return make_error(EINVAL, "invalid container id '%s': only [A-Za-z0-9_+.-] are allowed",
                        id.c_str());
  }
  return {};
}

Result<Store> Store::open(const std::string& root) {
  if (root.empty() || root[0] != '/')
    return make_error(EINVAL, "--root must be an absolute path, got '%s'", root.c_str());
  // Create each missing component; the last one private to root.
  std::string partial;
  for (auto& part : split(root.substr(1), '/')) {
    if (part.empty()) continue;
    partial += "/" + part;
    if (::mkdir(partial.c_str(), 0700) < 0 && errno != EEXIST)
      return sys_error("mkdir '%s'", partial.c_str());
  }
  Store s;
  s.root_ = root;
  BW_ASSIGN_OR_RETURN(s.fd_, open_at(AT_FDCWD, root, O_RDONLY | O_DIRECTORY));
  return s;
}

Result<UniqueFd> Store::create_dir(const std::string& id) const {
  BW_RETURN_IF_ERROR(validate_id(id));
  if (::mkdirat(fd_.get(), id.c_str(), 0700) < 0) {
    if (errno == EEXIST) return make_error(EEXIST, "container '%s' already exists", id.c_str());
    return sys_error("mkdir '%s/%s'", root_.c_str(), id.c_str());
  }
  BW_ASSIGN_OR_RETURN(UniqueFd dfd, open_at(fd_.get(), id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (::flock(dfd.get(), LOCK_EX) < 0) return sys_error("lock '%s'", id.c_str());
  return dfd;
}

Result<UniqueFd> Store::lock(const std::string& id) const {
  BW_RETURN_IF_ERROR(validate_id(id));
  int fd = ::openat(fd_.get(), id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ENOENT, "container '%s' does not exist", id.c_str());
    return sys_error("open '%s/%s'", root_.c_str(), id.c_str());
  }
  UniqueFd dfd(fd);
  if (::flock(dfd.get(), LOCK_EX) < 0) return sys_error("lock '%s'", id.c_str());
  return dfd;
}

Result<void> Store::save(int dirfd, const Record& r) const {
  nlohmann::json j = {{"id", r.id},           {"bundle", r.bundle},
                      {"pid", r.pid},         {"start_time", r.start_time},
                      {"cgroup_dir", r.cgroup_dir}, {"created", r.created},
                      {"annotations", r.annotations}, {"started", r.started},
                      {"exe_sealed", r.exe_sealed},   {"ptrace_granted", r.ptrace_granted}};
  return with_context(write_file_atomic(dirfd, "state.json", j.dump(), 0600, Durability::volatile_),
                      strf("saving state of '%s'", r.id.c_str()));
}

Result<Record> Store::load(int dirfd, const std::string& id) const {
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(dirfd, "state.json", O_RDONLY | O_NOFOLLOW));
  BW_ASSIGN_OR_RETURN(std::string text, read_fd(fd.get()));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(EINVAL, "state of container '%s' is corrupt", id.c_str());
  Record r;
  try {
    r.id = j.at("id").get<std::string>();
    r.bundle = j.at("bundle").get<std::string>();
    r.pid = j.at("pid").get<pid_t>();
    r.start_time = j.at("start_time").get<unsigned long long>();
    r.cgroup_dir = j.at("cgroup_dir").get<std::string>();
    r.created = j.at("created").get<std::string>();
    r.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
    r.started = j.at("started").get<bool>();
    r.exe_sealed = j.at("exe_sealed").get<bool>();
    r.ptrace_granted = j.at("ptrace_granted").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    return make_error(EINVAL, "state of container '%s' is corrupt: %s", id.c_str(), e.what());
  }
  return r;
}

Result<void> Store::remove(const std::string& id) const {
  BW_RETURN_IF_ERROR(validate_id(id));
  return remove_tree_at(fd_.get(), id);
}

Result<std::vector<std::string>> Store::list() const {
  std::vector<std::string> ids;
  int fd = ::openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open '%s'", root_.c_str());
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return sys_error("opendir '%s'", root_.c_str());
  }
  while (auto* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != ".." && de->d_type == DT_DIR) ids.push_back(n);
  }
  ::closedir(d);
  return ids;
}

unsigned long long process_start_time(pid_t pid) {
  auto text = read_file(strf("/proc/%d/stat", pid));
  if (!text) return 0;
  // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
  auto close = text->rfind(')');
  if (close == std::string::npos) return 0;
  auto fields = split(trim(std::string_view(*text).substr(close + 2)), ' ');
  // fields[0] is field 3 (state); start time is field 22.
  if (fields.size() < 20) return 0;
  auto v = parse_int(fields[19]);
  return v ? static_cast<unsigned long long>(*v) : 0;
}

bool process_alive(pid_t pid, unsigned long long start_time) {
  if (pid <= 0) return false;
  auto text = read_file(strf("/proc/%d/stat", pid));
  if (!text) return false;
  auto close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size()) return false;
  char state = (*text)[close + 2];
  if (state == 'Z' || state == 'X') return false;
  return start_time == 0 || process_start_time(pid) == start_time;
}

}  // namespace bw::sandbox
