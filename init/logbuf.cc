#include "init/logbuf.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <string_view>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"

namespace bw::init {

namespace {
// "2026-11-28T10:31:03.123456789Z " — now_rfc3339() is fixed-width.
constexpr size_t kStampBytes = 31;
constexpr std::string_view kMarker = kTruncatedMarker;
}  // namespace

struct ServiceLog::Impl {
  std::string service;
  std::string dir;
  LogLimits limits;

  // Memory.
  std::deque<std::string> ring;
  size_t ring_used = 0;
  std::string partial;     // the line being assembled
  bool discarding = false;  // a too-long line was cut; drop until its newline

  // File. The directory is opened on first use: /var/log may be mounted
  // after the supervisor starts.
  UniqueFd dir_fd;
  UniqueFd file_fd;
  size_t file_size = 0;
  bool file_failed = false;  // a failure was reported; stay quiet until one succeeds

  std::map<int, std::function<void(const std::string&)>> subscribers;
  int next_id = 1;

  std::string name() const { return service + ".log"; }
  size_t max_text() const {
    size_t overhead = kStampBytes + kMarker.size();
    return limits.ring_bytes > overhead + 1 ? limits.ring_bytes - overhead : 1;
  }

  void report_file_error(const Error& e) {
    if (file_failed) return;
    file_failed = true;
    log::warning(strf("log of '%s': %s; keeping it in memory only, ignoring", service.c_str(),
                      e.text().c_str()));
  }

  Result<void> open_file() {
    if (!dir_fd) {
      if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) return sys_error("mkdir '%s'", dir.c_str());
      BW_ASSIGN_OR_RETURN(dir_fd, open_at(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY));
    }
    BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(dir_fd.get(), name(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0640));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return sys_error("fstat '%s/%s'", dir.c_str(), name().c_str());
    file_fd = std::move(fd);
    file_size = static_cast<size_t>(st.st_size);
    return {};
  }

  // service.log.(N-1) -> .N (replacing the oldest), ..., service.log ->
  // .log.1, then a fresh service.log. Each step is one rename(), so a crash
  // at any point leaves every line in some file. If the new file cannot be
  // opened, writing continues through the old fd (into .log.1): nothing is lost.
  Result<void> rotate() {
    std::string base = name();
    if (limits.files <= 0) {
      if (::unlinkat(dir_fd.get(), base.c_str(), 0) < 0 && errno != ENOENT)
        return sys_error("unlink '%s/%s'", dir.c_str(), base.c_str());
    } else {
      for (int i = limits.files - 1; i >= 1; --i) {
        std::string from = strf("%s.%d", base.c_str(), i), to = strf("%s.%d", base.c_str(), i + 1);
        if (::renameat(dir_fd.get(), from.c_str(), dir_fd.get(), to.c_str()) < 0 && errno != ENOENT)
          return sys_error("rename '%s' -> '%s'", from.c_str(), to.c_str());
      }
      std::string first = base + ".1";
      if (::renameat(dir_fd.get(), base.c_str(), dir_fd.get(), first.c_str()) < 0 && errno != ENOENT)
        return sys_error("rename '%s' -> '%s'", base.c_str(), first.c_str());
    }
    return open_file();
  }

  void write_file(const std::string& text) {
    if (dir.empty() || text.empty()) return;
    if (!file_fd) {
      if (auto r = open_file(); !r) return report_file_error(r.error());
    }
    if (file_size > 0 && file_size + text.size() > limits.file_bytes) {
      if (auto r = rotate(); !r) {
        report_file_error(r.error().prefix("rotating"));
        // Try again only after another file's worth, rather than shifting
        // the rotated files down on every write while the fault lasts.
        file_size = 0;
      }
    }
    if (auto r = write_all(file_fd.get(), text); !r) {
      report_file_error(r.error().prefix(strf("writing '%s/%s'", dir.c_str(), name().c_str())));
      struct stat st {};
      if (::fstat(file_fd.get(), &st) == 0) file_size = static_cast<size_t>(st.st_size);
      return;
    }
    file_size += text.size();
    file_failed = false;
  }

  void store(std::string text, std::string* file_batch) {
    std::string line = now_rfc3339() + " " + text;
    ring_used += line.size();
    ring.push_back(line);
    while (ring_used > limits.ring_bytes && !ring.empty()) {
      ring_used -= ring.front().size();
      ring.pop_front();
    }
    // A batch goes to the file in one write, unless it would cross the
    // rotation size: lines are never split across files.
    if (!dir.empty()) {
      if (!file_batch->empty() && file_size + file_batch->size() + line.size() + 1 > limits.file_bytes) {
        write_file(*file_batch);
        file_batch->clear();
      }
      *file_batch += line;
      *file_batch += '\n';
    }
    notify(line);
  }

  void notify(const std::string& line) {
    std::vector<int> ids;
    for (const auto& [id, fn] : subscribers) ids.push_back(id);
    for (int id : ids) {
      auto it = subscribers.find(id);
      if (it == subscribers.end()) continue;  // removed by an earlier callback
      auto fn = it->second;                    // the callback may remove itself
      fn(line);
    }
  }
};

ServiceLog::ServiceLog(std::string service, std::string log_dir, LogLimits limits)
    : impl_(std::make_shared<Impl>()) {
  impl_->service = std::move(service);
  impl_->dir = std::move(log_dir);
  impl_->limits = limits;
}

void ServiceLog::append(const char* data, size_t len) {
  Impl& m = *impl_;
  std::string batch;
  std::string_view in(data, len);
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view chunk = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    bool complete = nl != std::string_view::npos;
    if (!m.discarding) {
      size_t room = m.max_text() - m.partial.size();
      if (chunk.size() > room) {
        m.partial.append(chunk.substr(0, room));
        m.partial += kMarker;
        m.store(std::move(m.partial), &batch);
        m.partial.clear();
        m.discarding = !complete;
        continue;
      }
      m.partial.append(chunk);
    }
    if (complete) {
      if (!m.discarding) {
        if (!m.partial.empty() && m.partial.back() == '\r') m.partial.pop_back();
        m.store(std::move(m.partial), &batch);
      }
      m.partial.clear();
      m.discarding = false;
    }
  }
  m.write_file(batch);
}

void ServiceLog::flush() {
  Impl& m = *impl_;
  if (m.partial.empty()) {
    m.discarding = false;
    return;
  }
  std::string batch;
  m.store(std::move(m.partial), &batch);
  m.partial.clear();
  m.discarding = false;
  m.write_file(batch);
}

std::vector<std::string> ServiceLog::lines() const {
  return {impl_->ring.begin(), impl_->ring.end()};
}

int ServiceLog::subscribe(std::function<void(const std::string&)> on_line) {
  int id = impl_->next_id++;
  impl_->subscribers.emplace(id, std::move(on_line));
  return id;
}

void ServiceLog::unsubscribe(int id) { impl_->subscribers.erase(id); }

const std::string& ServiceLog::service() const { return impl_->service; }

std::string ServiceLog::file_path() const {
  return impl_->dir.empty() ? std::string() : impl_->dir + "/" + impl_->name();
}

}  // namespace bw::init
