// Kernel command line parsing: the kernel's own word splitting and quote
// removal (kernel/params.c), and the lookups bulwark-init makes.
#include <gtest/gtest.h>
#include <unistd.h>

#include "init/cmdline.h"

namespace bw::init {
namespace {

TEST(KernelCmdline, KeysValuesAndFlags) {
  auto c = KernelCmdline::parse("BOOT_IMAGE=/vmlinuz root=LABEL=bulwark-root ro quiet console=ttyS0,115200n8\n");
  EXPECT_EQ(c.get("BOOT_IMAGE"), "/vmlinuz");
  // Only the first '=' separates key and value.
  EXPECT_EQ(c.get("root"), "LABEL=bulwark-root");
  EXPECT_EQ(c.get("console"), "ttyS0,115200n8");
  EXPECT_TRUE(c.has("ro"));
  EXPECT_TRUE(c.has("quiet"));
  EXPECT_EQ(c.get("ro"), std::nullopt);  // a bare flag has no value
  EXPECT_FALSE(c.has("rw"));
  EXPECT_EQ(c.params().size(), 5u);
}

TEST(KernelCmdline, EmptyValueIsNotAFlag) {
  auto c = KernelCmdline::parse("init= x");
  ASSERT_TRUE(c.get("init").has_value());
  EXPECT_EQ(*c.get("init"), "");
}

TEST(KernelCmdline, QuotedValuesKeepBlanks) {
  auto c = KernelCmdline::parse(R"(a="hello world" "b=two words" c=x"y z" plain)");
  EXPECT_EQ(c.get("a"), "hello world");
  EXPECT_EQ(c.get("b"), "two words");
  // Like the kernel: quotes are removed only around a whole word or value;
  // elsewhere they group blanks and stay.
  EXPECT_EQ(c.get("c"), "x\"y z\"");
  EXPECT_TRUE(c.has("plain"));
  EXPECT_EQ(c.params().size(), 4u);
}

TEST(KernelCmdline, QuotedFlagAndTabs) {
  auto c = KernelCmdline::parse("\t\"quoted flag\"\t\tk=v\n");
  ASSERT_EQ(c.params().size(), 2u);
  EXPECT_EQ(c.params()[0].key, "quoted flag");
  EXPECT_EQ(c.get("k"), "v");
}

TEST(KernelCmdline, UnterminatedQuoteRunsToTheEnd) {
  auto c = KernelCmdline::parse("a=\"open ended value");
  ASSERT_EQ(c.params().size(), 1u);
  EXPECT_EQ(c.get("a"), "open ended value");
}

TEST(KernelCmdline, LastOccurrenceWins) {
  auto c = KernelCmdline::parse("root=/dev/sda1 root=/dev/vda2");
  EXPECT_EQ(c.get("root"), "/dev/vda2");
}

TEST(KernelCmdline, DoubleDashEndsKernelParameters) {
  auto c = KernelCmdline::parse("root=/dev/vda ro -- single \"two words\" x=1");
  EXPECT_EQ(c.get("root"), "/dev/vda");
  EXPECT_FALSE(c.has("single"));
  EXPECT_FALSE(c.has("x"));
  EXPECT_EQ(c.init_args(), (std::vector<std::string>{"single", "two words", "x=1"}));
}

TEST(KernelCmdline, ListsAreSplitMergedAndDeduplicated) {
  auto c = KernelCmdline::parse("bulwark.modules=virtio_pci,virtio_blk bulwark.modules=,ext4,virtio_pci, other=x");
  EXPECT_EQ(c.list("bulwark.modules"), (std::vector<std::string>{"virtio_pci", "virtio_blk", "ext4"}));
  EXPECT_TRUE(c.list("missing").empty());
}

TEST(KernelCmdline, Prefix) {
  auto c = KernelCmdline::parse("virtio_blk.queue_depth=64 virtio_blkx=1 virtio_blk.flag virtio_blk.=z");
  auto p = c.with_prefix("virtio_blk.");  // "virtio_blk." alone names no parameter
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, "virtio_blk.queue_depth");
  EXPECT_EQ(p[1].key, "virtio_blk.flag");
  EXPECT_FALSE(p[1].value.has_value());
}

TEST(KernelCmdline, EmptyAndBlankLines) {
  EXPECT_TRUE(KernelCmdline::parse("").params().empty());
  EXPECT_TRUE(KernelCmdline::parse(" \n\t ").params().empty());
}

TEST(KernelCmdline, ReadsAFile) {
  char path[] = "/tmp/bw-cmdline-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "root=UUID=abc bulwark.hostname=\"box 1\"\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto c = KernelCmdline::read(path);
  unlink(path);
  ASSERT_TRUE(c) << c.error().text();
  EXPECT_EQ(c->get("root"), "UUID=abc");
  EXPECT_EQ(c->get("bulwark.hostname"), "box 1");
  auto missing = KernelCmdline::read("/nonexistent/cmdline");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST(ParseSeconds, AcceptsRangeAndNamesTheKey) {
  EXPECT_EQ(*parse_seconds("bulwark.watchdog", "30", 3600), 30);
  EXPECT_EQ(*parse_seconds("bulwark.watchdog", "0", 3600), 0);
  for (const char* bad : {"-1", "3601", "10s", "", " 5"}) {
    auto r = parse_seconds("bulwark.watchdog", bad, 3600);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("bulwark.watchdog"), std::string::npos);
  }
}

}  // namespace
}  // namespace bw::init
