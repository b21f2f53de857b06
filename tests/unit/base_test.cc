// The base library's string and file helpers.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/file.h"
#include "base/result.h"
#include "base/strings.h"

namespace bw {
namespace {

using Parts = std::vector<std::string>;

TEST(Strings, Split) {
  EXPECT_EQ(split("a,b,c", ','), (Parts{"a", "b", "c"}));
  EXPECT_EQ(split("", ','), (Parts{""}));
  EXPECT_EQ(split(",a,,", ','), (Parts{"", "a", "", ""}));
  EXPECT_EQ(split("/proc/../x", '/'), (Parts{"", "proc", "..", "x"}));
  EXPECT_EQ(split("no-sep", ','), (Parts{"no-sep"}));
}

TEST(Strings, JoinAndTrim) {
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join({}, ","), "");
  EXPECT_EQ(trim("  \t x y \r\n"), "x y");
  EXPECT_EQ(trim(" \n "), "");
}

TEST(Strings, ParseInt) {
  EXPECT_EQ(parse_int("0"), 0);
  EXPECT_EQ(parse_int("-42"), -42);
  EXPECT_EQ(parse_int("9223372036854775807"), 9223372036854775807LL);
  EXPECT_EQ(parse_int("9223372036854775808"), std::nullopt);  // overflow
  EXPECT_EQ(parse_int(""), std::nullopt);
  EXPECT_EQ(parse_int("12a"), std::nullopt);
  EXPECT_EQ(parse_int(" 12"), std::nullopt);
  EXPECT_EQ(parse_int("+1"), std::nullopt);
  EXPECT_EQ(parse_int("0x10"), std::nullopt);
}

TEST(Strings, JsonEscape) {
  EXPECT_EQ(json_escape("plain"), "plain");
  EXPECT_EQ(json_escape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(json_escape("l1\nl2\tx\r"), "l1\\nl2\\tx\\r");
  EXPECT_EQ(json_escape(std::string_view("\x01\x1f", 2)), "\\u0001\\u001f");
  EXPECT_EQ(json_escape(std::string_view("a\0b", 3)), "a\\u0000b");
  EXPECT_EQ(json_escape("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 passes through
}

TEST(Result, ErrorText) {
  errno = ENOENT;
  Result<int> r = sys_error("open '%s'", "/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().text(), "open '/x': No such file or directory");
  r = with_context(std::move(r), "loading bundle");
  EXPECT_EQ(r.error().message, "loading bundle: open '/x'");
  Result<void> e = make_error(0, "bad %d", 7);
  EXPECT_EQ(e.error().text(), "bad 7");
}

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bw-base-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)remove_tree_at(AT_FDCWD, dir_); }
  std::string dir_;
};

TEST_F(FileTest, WriteFileAtomicCreatesAndReplaces) {
  std::string path = dir_ + "/state.json";
  ASSERT_TRUE(write_file_atomic(path, "first", 0600));
  auto r = read_file(path);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(*r, "first");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_TRUE(write_file_atomic(path, std::string("second\0binary", 13)));
  r = read_file(path);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, std::string("second\0binary", 13));
  // No temporary file is left behind.
  EXPECT_NE(access((dir_ + "/.state.json.tmp").c_str(), F_OK), 0);
}

TEST_F(FileTest, WriteFileAtomicAtDirFd) {
  int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dfd, 0);
  UniqueFd owned(dfd);
  ASSERT_TRUE(write_file_atomic(dfd, "x", "data"));
  // A stale temporary from an interrupted write does not block the next one.
  ASSERT_TRUE(write_file_atomic(dfd, ".x.tmp", "stale"));
  ASSERT_TRUE(write_file_atomic(dfd, "x", "new"));
  auto r = read_file(dir_ + "/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "new");
}

TEST_F(FileTest, WriteFileAtomicReportsMissingDirectory) {
  auto r = write_file_atomic(dir_ + "/missing/f", "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find("missing"), std::string::npos) << r.error().text();
}

TEST_F(FileTest, ReadFileErrorsNameThePath) {
  auto r = read_file(dir_ + "/nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find(dir_ + "/nope"), std::string::npos);
}

}  // namespace
}  // namespace bw
