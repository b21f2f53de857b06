// Per-service logs: line assembly, the bounded ring, truncation of long
// lines, size-based rotation of the files, and live subscribers.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/file.h"
#include "base/strings.h"
#include "init/logbuf.h"

namespace bw::init {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bw-logbuf-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (!made) ADD_FAILURE() << "mkdtemp failed";
    path_ = made ? made : "/nonexistent";
  }
  ~TempDir() { (void)remove_tree_at(AT_FDCWD, path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void put(ServiceLog& log, const std::string& s) { log.append(s.data(), s.size()); }

// The text of a stored line, without its timestamp
// ("2026-11-28T10:31:03.123456789Z ", checked digit by digit).
std::string text_of(const std::string& line) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddddddddZ ";
  bool ok = line.size() >= shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i)
    ok = shape[i] == 'd' ? (line[i] >= '0' && line[i] <= '9') : line[i] == shape[i];
  if (!ok) {
    ADD_FAILURE() << "line without a timestamp: " << line;
    return line;
  }
  return line.substr(shape.size());
}

std::vector<std::string> texts(const ServiceLog& log) {
  std::vector<std::string> out;
  for (const auto& l : log.lines()) out.push_back(text_of(l));
  return out;
}

std::vector<std::string> file_lines(const std::string& path) {
  auto text = read_file(path);
  if (!text) return {};
  std::vector<std::string> out;
  for (const auto& l : split(*text, '\n'))
    if (!l.empty()) out.push_back(text_of(l));
  return out;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

using Lines = std::vector<std::string>;

TEST(ServiceLog, AssemblesLinesAcrossAppends) {
  ServiceLog log("svc", "", {});
  put(log, "hel");
  EXPECT_TRUE(log.lines().empty());  // nothing complete yet
  put(log, "lo\nwor");
  put(log, "ld\r\n\nlast");
  EXPECT_EQ(texts(log), (Lines{"hello", "world", ""}));
  log.flush();  // the service ended mid-line
  EXPECT_EQ(texts(log), (Lines{"hello", "world", "", "last"}));
  log.flush();  // nothing pending: no empty line
  EXPECT_EQ(log.lines().size(), 4u);
}

TEST(ServiceLog, RingKeepsTheNewestLinesWithinItsBound) {
  LogLimits limits;
  limits.ring_bytes = 1000;
  ServiceLog log("svc", "", limits);
  for (int i = 0; i < 200; ++i) put(log, strf("line %03d with some padding text\n", i));
  auto lines = log.lines();
  size_t total = 0;
  for (const auto& l : lines) total += l.size();
  EXPECT_LE(total, 1000u);
  EXPECT_GT(total, 1000u - 80);  // about full: only whole lines are evicted
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(text_of(lines.back()), "line 199 with some padding text");
  // Oldest first and contiguous.
  int first = std::stoi(text_of(lines.front()).substr(5, 3));
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(text_of(lines[i]), strf("line %03d with some padding text", first + static_cast<int>(i)));
}

TEST(ServiceLog, LineLongerThanTheRingIsTruncatedWithAMarker) {
  LogLimits limits;
  limits.ring_bytes = 200;
  ServiceLog log("svc", "", limits);
  put(log, std::string(1000, 'x') + "\n");
  auto lines = log.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size(), 200u);  // exactly fills the ring
  std::string t = text_of(lines[0]);
  EXPECT_EQ(t.substr(0, 10), "xxxxxxxxxx");
  EXPECT_TRUE(t.ends_with(kTruncatedMarker)) << t;
  put(log, "next\n");  // the ring has no room for both
  EXPECT_EQ(texts(log), (Lines{"next"}));

  // A long line arriving in pieces: cut once, the rest up to its newline dropped.
  ServiceLog pieces("svc", "", limits);
  Lines seen;
  pieces.subscribe([&](const std::string& l) { seen.push_back(text_of(l)); });
  for (int i = 0; i < 10; ++i) put(pieces, std::string(100, 'y'));
  put(pieces, "tail of the long line\nafter\n");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::string(200 - 31 - std::string(kTruncatedMarker).size(), 'y') + kTruncatedMarker);
  EXPECT_EQ(seen[1], "after");
}

TEST(ServiceLog, WritesTimestampedLinesToItsFile) {
  TempDir dir;
  ServiceLog log("web", dir / "log", {});  // the directory is created
  put(log, "one\ntwo\n");
  EXPECT_EQ(log.file_path(), dir / "log/web.log");
  EXPECT_EQ(file_lines(dir / "log/web.log"), (Lines{"one", "two"}));
  auto text = read_file(dir / "log/web.log");
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, log.lines()[0] + "\n" + log.lines()[1] + "\n");

  // A new log for the same service (bulwark-init restarted) appends.
  ServiceLog again("web", dir / "log", {});
  put(again, "three\n");
  EXPECT_EQ(file_lines(dir / "log/web.log"), (Lines{"one", "two", "three"}));
}

TEST(ServiceLog, FileIsOpenAppendAndCloseOnExec) {
  TempDir dir;
  ServiceLog log("fdcheck", dir.path(), {});
  put(log, "x\n");
  bool found = false;
  DIR* d = ::opendir("/proc/self/fd");
  ASSERT_NE(d, nullptr);
  while (struct dirent* de = ::readdir(d)) {
    char target[4096];
    std::string link = std::string("/proc/self/fd/") + de->d_name;
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::string(target) != dir / "fdcheck.log") continue;
    found = true;
    int fd = std::stoi(de->d_name);
    int fl = ::fcntl(fd, F_GETFL);
    EXPECT_TRUE(fl & O_APPEND);
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }
  ::closedir(d);
  EXPECT_TRUE(found);
}

TEST(ServiceLog, RotationKeepsNFilesAndTheNewestContent) {
  TempDir dir;
  LogLimits limits;
  limits.file_bytes = 400;
  limits.files = 2;
  ServiceLog log("svc", dir.path(), limits);
  // Each stored line is 31 + 8 + 1 = 40 bytes: 10 per file.
  for (int i = 0; i < 100; ++i) put(log, strf("line %03d\n", i));
  EXPECT_TRUE(exists(dir / "svc.log"));
  EXPECT_TRUE(exists(dir / "svc.log.1"));
  EXPECT_TRUE(exists(dir / "svc.log.2"));
  EXPECT_FALSE(exists(dir / "svc.log.3"));  // the oldest is dropped
  Lines all;
  for (const char* name : {"svc.log.2", "svc.log.1", "svc.log"}) {
    auto text = read_file(dir / name);
    ASSERT_TRUE(text);
    EXPECT_LE(text->size(), 400u) << name;
    for (auto& l : file_lines(dir / name)) all.push_back(l);
  }
  // The kept files hold the newest lines, whole, in order, none missing.
  ASSERT_EQ(all.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], strf("line %03d", 70 + i));
}

TEST(ServiceLog, RotationInOneAppendNeverSplitsOrLosesALine) {
  TempDir dir;
  LogLimits limits;
  limits.file_bytes = 100;  // two 40-byte lines per file
  limits.files = 5;
  ServiceLog log("svc", dir.path(), limits);
  std::string burst;
  for (int i = 0; i < 5; ++i) burst += strf("line %03d\n", i);
  put(log, burst);  // crosses the rotation size twice within one call
  Lines all;
  for (const char* name : {"svc.log.2", "svc.log.1", "svc.log"})
    for (auto& l : file_lines(dir / name)) all.push_back(l);
  EXPECT_EQ(all, (Lines{"line 000", "line 001", "line 002", "line 003", "line 004"}));
  EXPECT_FALSE(exists(dir / "svc.log.3"));
}

TEST(ServiceLog, RotationWithNoFilesKeptStartsOver) {
  TempDir dir;
  LogLimits limits;
  limits.file_bytes = 100;
  limits.files = 0;
  ServiceLog log("svc", dir.path(), limits);
  for (int i = 0; i < 7; ++i) put(log, strf("line %03d\n", i));
  EXPECT_FALSE(exists(dir / "svc.log.1"));
  EXPECT_EQ(file_lines(dir / "svc.log"), (Lines{"line 006"}));
}

TEST(ServiceLog, SubscribersSeeEachNewLineUntilRemoved) {
  ServiceLog log("svc", "", {});
  Lines seen, once;
  int id = log.subscribe([&](const std::string& l) { seen.push_back(text_of(l)); });
  int once_id = 0;
  once_id = log.subscribe([&](const std::string& l) {
    once.push_back(text_of(l));
    log.unsubscribe(once_id);  // removing itself while it runs
  });
  put(log, "a\nb");
  put(log, "\n");
  EXPECT_EQ(seen, (Lines{"a", "b"}));
  EXPECT_EQ(once, (Lines{"a"}));
  log.unsubscribe(id);
  put(log, "c\n");
  EXPECT_EQ(seen, (Lines{"a", "b"}));

  // Copies share the log: a copy's subscriber sees the original's lines.
  ServiceLog copy = log;
  Lines via_copy;
  copy.subscribe([&](const std::string& l) { via_copy.push_back(text_of(l)); });
  put(log, "d\n");
  EXPECT_EQ(via_copy, (Lines{"d"}));
  EXPECT_EQ(copy.lines().size(), 4u);
}

}  // namespace
}  // namespace bw::init
