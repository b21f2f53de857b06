// The rd stage's pure pieces: root= specs, the ext4 superblock reader (on
// images made by mkfs.ext4), finding the root among block devices, the
// module list, .modinfo parsing and dependency-ordered loading (with the
// finit_module call replaced), and the rd configuration.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "base/file.h"
#include "base/strings.h"
#include "init/blockdev.h"
#include "init/modules.h"
#include "init/rd.h"

namespace bw::init {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bw-init-rd-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "/nonexistent";
  }
  ~TempDir() { (void)remove_tree_at(AT_FDCWD, path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void mkdirs(const std::string& path) {
  std::string cur;
  for (const auto& part : split(path, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    (void)::mkdir(cur.c_str(), 0755);
  }
}

void put(const std::string& path, const std::string& data) {
  mkdirs(path.substr(0, path.rfind('/')));
  auto r = write_file_atomic(path, data, 0644, Durability::volatile_);
  ASSERT_TRUE(r) << r.error().text();
}

// Runs a command; returns its exit status (127 when it could not run).
int run(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

bool have_mkfs() { return run({"mkfs.ext4", "-V"}) == 0; }

// An ext4 image of 4 MiB with `label` and `uuid`.
void make_ext4(const std::string& path, const std::string& label, const std::string& uuid) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4 << 20), 0);
  close(fd);
  ASSERT_EQ(run({"mkfs.ext4", "-q", "-F", "-L", label, "-U", uuid, path}), 0) << "mkfs.ext4 " << path;
}

// ---------------------------------------------------------------- root=

TEST(RootSpec, Forms) {
  auto p = parse_root_spec("/dev/vda2");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, RootSpec::Kind::path);
  EXPECT_EQ(p->value, "/dev/vda2");

  auto l = parse_root_spec("LABEL=bulwark-root");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, RootSpec::Kind::label);
  EXPECT_EQ(l->value, "bulwark-root");

  auto u = parse_root_spec("UUID=0A1B2C3D-0000-4000-8000-00000000ABCD");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, RootSpec::Kind::uuid);
  EXPECT_EQ(u->value, "0a1b2c3d-0000-4000-8000-00000000abcd");  // compared in lower case

  auto bl = parse_root_spec("/dev/disk/by-label/root");
  ASSERT_TRUE(bl);
  EXPECT_EQ(bl->kind, RootSpec::Kind::label);
  EXPECT_EQ(bl->value, "root");
  auto bu = parse_root_spec("/dev/disk/by-uuid/ABC");
  ASSERT_TRUE(bu);
  EXPECT_EQ(bu->kind, RootSpec::Kind::uuid);
  EXPECT_EQ(bu->value, "abc");
  EXPECT_EQ(parse_root_spec("label=x")->kind, RootSpec::Kind::label);
}

TEST(RootSpec, RefusalsSayWhatWorks) {
  for (const char* bad : {"", "LABEL=", "UUID=", "sda1", "8:2", "PARTUUID=1234-01", "/dev/../etc/passwd",
                          "LABEL=a-label-longer-than-16"}) {
    auto r = parse_root_spec(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("expected /dev/NAME, LABEL=..., or UUID=..."), std::string::npos)
        << r.error().message;
  }
  EXPECT_NE(parse_root_spec("PARTUUID=x").error().message.find("not supported"), std::string::npos);
}

// ---------------------------------------------------------------- ext4 superblock

TEST(Ext4Superblock, ReadsLabelAndUuidOfMkfsImage) {
  if (!have_mkfs()) GTEST_SKIP() << "mkfs.ext4 (e2fsprogs) is not installed";
  TempDir t;
  make_ext4(t / "img", "bw-root", "0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d");
  auto sb = read_ext4_superblock(t / "img");
  ASSERT_TRUE(sb) << sb.error().text();
  EXPECT_EQ(sb->label, "bw-root");
  EXPECT_EQ(sb->uuid, "0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d");

  // A 16-byte label fills the field with no terminating NUL.
  make_ext4(t / "img16", "sixteen-chars-lb", "11111111-2222-4333-8444-555555555555");
  auto sb16 = read_ext4_superblock(t / "img16");
  ASSERT_TRUE(sb16) << sb16.error().text();
  EXPECT_EQ(sb16->label, "sixteen-chars-lb");
}

TEST(Ext4Superblock, RefusesWhatIsNotExt4) {
  std::string zeros(4096, '\0');
  auto r = parse_ext4_superblock(zeros);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_FALSE(parse_ext4_superblock("short"));
  // The magic alone is enough to parse; fields come from their offsets.
  std::string sb(2048, '\0');
  sb[1024 + 0x38] = '\x53';
  sb[1024 + 0x39] = '\xef';
  std::memcpy(&sb[1024 + 0x78], "lbl", 3);
  sb[1024 + 0x68] = '\xff';
  auto ok = parse_ext4_superblock(sb);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->label, "lbl");
  EXPECT_EQ(ok->uuid, "ff000000-0000-0000-0000-000000000000");
}

// ---------------------------------------------------------------- finding the device

class FakeBlockDevices : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mkfs()) GTEST_SKIP() << "mkfs.ext4 (e2fsprogs) is not installed";
    mkdirs(t / "sys");
    mkdirs(t / "dev");
    add("vda", "");  // a whole disk with no filesystem
    make_ext4(t / "dev/vda1", "other", "aaaaaaaa-0000-4000-8000-000000000001");
    ASSERT_EQ(::mkdir((t / "sys/vda1").c_str(), 0755), 0);
  }
  void add(const std::string& name, const std::string& data) {
    ASSERT_EQ(::mkdir((t / ("sys/" + name)).c_str(), 0755), 0);
    put(t / ("dev/" + name), data.empty() ? std::string(8192, '\0') : data);
  }
  TempDir t;
};

TEST_F(FakeBlockDevices, FindsByLabelAndUuid) {
  make_ext4(t / "dev/vda2", "bw-root", "bbbbbbbb-0000-4000-8000-000000000002");
  ASSERT_EQ(::mkdir((t / "sys/vda2").c_str(), 0755), 0);
  auto by_label = find_block_device(*parse_root_spec("LABEL=bw-root"), t / "sys", t / "dev");
  ASSERT_TRUE(by_label) << by_label.error().text();
  EXPECT_EQ(*by_label, t / "dev/vda2");
  auto by_uuid = find_block_device(*parse_root_spec("UUID=AAAAAAAA-0000-4000-8000-000000000001"), t / "sys", t / "dev");
  ASSERT_TRUE(by_uuid) << by_uuid.error().text();
  EXPECT_EQ(*by_uuid, t / "dev/vda1");
  auto none = find_block_device(*parse_root_spec("LABEL=absent"), t / "sys", t / "dev");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ENOENT);
}

TEST_F(FakeBlockDevices, WaitsForTheDeviceToAppear) {
  std::thread later([&] {
    usleep(300 * 1000);
    make_ext4(t / "dev/.vdb", "late-root", "cccccccc-0000-4000-8000-000000000003");
    ::rename((t / "dev/.vdb").c_str(), (t / "dev/vdb").c_str());
    ::mkdir((t / "sys/vdb").c_str(), 0755);
  });
  auto found = wait_for_block_device(*parse_root_spec("LABEL=late-root"), 10000, t / "sys", t / "dev");
  later.join();
  ASSERT_TRUE(found) << found.error().text();
  EXPECT_EQ(*found, t / "dev/vdb");
}

TEST_F(FakeBlockDevices, TimeoutNamesWhatWasSeen) {
  auto r = wait_for_block_device(*parse_root_spec("LABEL=never"), 120, t / "sys", t / "dev");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ETIMEDOUT);
  EXPECT_NE(r.error().message.find("root=LABEL=never did not appear within 120 ms (block devices: vda vda1)"),
            std::string::npos)
      << r.error().message;
}

TEST(FindBlockDevice, PathMustBeABlockDevice) {
  auto null_dev = find_block_device(*parse_root_spec("/dev/null"));
  ASSERT_FALSE(null_dev);
  EXPECT_EQ(null_dev.error().code, ENOTBLK);
  auto missing = find_block_device(*parse_root_spec("/dev/bw-no-such-disk"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

// ---------------------------------------------------------------- modules

TEST(ModuleList, FileThenCmdlineNormalizedAndDeduplicated) {
  auto cmdline = KernelCmdline::parse("bulwark.modules=virtio-blk,e1000 bulwark.modules=virtio_pci");
  auto l = parse_module_list("/etc/bulwark/rd-modules", "# block\nvirtio_pci  \n\n  virtio_blk # disk\n", cmdline);
  ASSERT_TRUE(l) << l.error().text();
  EXPECT_EQ(*l, (std::vector<std::string>{"virtio_pci", "virtio_blk", "e1000"}));
}

TEST(ModuleList, BadNamesAreRefusedWithTheirPlace) {
  auto bad_file = parse_module_list("rd-modules", "ok\nvirtio blk\n", KernelCmdline{});
  ASSERT_FALSE(bad_file);
  EXPECT_NE(bad_file.error().message.find("rd-modules:2:"), std::string::npos) << bad_file.error().message;
  auto bad_cmdline = parse_module_list("rd-modules", "", KernelCmdline::parse("bulwark.modules=../evil"));
  ASSERT_FALSE(bad_cmdline);
  EXPECT_NE(bad_cmdline.error().message.find("bulwark.modules"), std::string::npos);
}

TEST(ModuleParams, FromTheCommandLine) {
  auto c = KernelCmdline::parse("virtio_blk.queue_depth=64 virtio_blk.flag virtio_blk.s=\"a b\" virtio.x=1");
  EXPECT_EQ(module_params(c, "virtio_blk"), "queue_depth=64 flag s=\"a b\"");
  EXPECT_EQ(module_params(c, "ext4"), "");
}

// A minimal relocatable ELF64 holding a .modinfo section.
std::string module_elf(const std::vector<std::string>& modinfo) {
  std::string info;
  for (const auto& kv : modinfo) info += kv + '\0';
  const std::string shstr("\0.shstrtab\0.modinfo\0", 20);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_REL;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_ehsize = sizeof eh;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 3;
  eh.e_shstrndx = 1;
  size_t shstr_off = sizeof eh, info_off = shstr_off + shstr.size();
  eh.e_shoff = (info_off + info.size() + 7) & ~size_t{7};
  Elf64_Shdr sh[3]{};
  sh[1].sh_name = 1;
  sh[1].sh_type = SHT_STRTAB;
  sh[1].sh_offset = shstr_off;
  sh[1].sh_size = shstr.size();
  sh[2].sh_name = 11;
  sh[2].sh_type = SHT_PROGBITS;
  sh[2].sh_offset = info_off;
  sh[2].sh_size = info.size();
  std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
  out += shstr + info;
  out.resize(eh.e_shoff, '\0');
  out.append(reinterpret_cast<const char*>(sh), sizeof sh);
  return out;
}

TEST(Modinfo, ReadsDependsFromTheElfSection) {
  auto info = read_modinfo(module_elf({"license=GPL", "depends=virtio,virtio-ring", "name=virtio_blk"}));
  ASSERT_TRUE(info) << info.error().text();
  EXPECT_EQ(info->size(), 3u);
  EXPECT_EQ(modinfo_depends(*info), (std::vector<std::string>{"virtio", "virtio_ring"}));
  EXPECT_TRUE(modinfo_depends(*read_modinfo(module_elf({"depends="}))).empty());
}

TEST(Modinfo, RefusesWhatIsNotAModule) {
  for (const std::string& bad : {std::string("not an elf file at all, but long enough to hold a header........"),
                                 std::string("\x7f" "ELF"), module_elf({}).substr(0, 100)}) {
    auto r = read_modinfo(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENOEXEC);
  }
  // A truncated section table must not be read past the end.
  std::string elf = module_elf({"depends="});
  auto r = read_modinfo(elf.substr(0, elf.size() - 10));
  ASSERT_FALSE(r);
}

class FakeModuleTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string k = t / "lib/modules/6.1.0-test/kernel";
    put(k + "/drivers/virtio/virtio_ring.ko", module_elf({"depends=", "name=virtio_ring"}));
    put(k + "/drivers/virtio/virtio.ko", module_elf({"depends=virtio_ring", "name=virtio"}));
    put(k + "/drivers/block/virtio_blk.ko", module_elf({"depends=virtio,virtio_ring", "name=virtio_blk"}));
    put(k + "/drivers/misc/dash-name.ko", module_elf({"depends=", "name=dash_name"}));
    put(k + "/drivers/misc/needs_gone.ko", module_elf({"depends=gone"}));
    put(k + "/drivers/misc/cyc_a.ko", module_elf({"depends=cyc_b"}));
    put(k + "/drivers/misc/cyc_b.ko", module_elf({"depends=cyc_a"}));
    put(k + "/drivers/misc/junk.ko", "junk");
    put(k + "/drivers/misc/squeezed.ko.xz", "xz data");
    put(t / "lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n");
    mkdirs(t / "sys/module/already_there");
    auto l = ModuleLoader::open(t / "lib/modules/6.1.0-test");
    ASSERT_TRUE(l) << l.error().text();
    loader = std::move(*l);
    loader.set_sys_module_dir(t / "sys/module");
    loader.set_load_function([this](int fd, const std::string& params, int flags) {
      char buf[4096];
      ssize_t n = readlink(strf("/proc/self/fd/%d", fd).c_str(), buf, sizeof buf);
      std::string path(buf, n > 0 ? static_cast<size_t>(n) : 0);
      calls.push_back(path.substr(path.rfind('/') + 1) + (params.empty() ? "" : " " + params) +
                      (flags ? strf(" flags=%d", flags) : ""));
      errno = next_errno;
      return next_errno ? -1 : 0;
    });
  }
  TempDir t;
  ModuleLoader loader;
  std::vector<std::string> calls;
  int next_errno = 0;
};

TEST_F(FakeModuleTree, LoadsDependenciesFirstOnce) {
  auto cmdline = KernelCmdline::parse("virtio_blk.queue_depth=64");
  ASSERT_TRUE(loader.load("virtio_blk", cmdline));
  ASSERT_TRUE(loader.load("virtio", cmdline));  // already done: no second call
  EXPECT_EQ(calls, (std::vector<std::string>{"virtio_ring.ko", "virtio.ko", "virtio_blk.ko queue_depth=64"}));
  EXPECT_EQ(loader.loaded(), (std::vector<std::string>{"virtio_ring", "virtio", "virtio_blk"}));
}

TEST_F(FakeModuleTree, SkipsBuiltinAndLoadedModules) {
  ASSERT_TRUE(loader.load("ext4", {}));
  ASSERT_TRUE(loader.load("already-there", {}));
  EXPECT_TRUE(calls.empty());
}

TEST_F(FakeModuleTree, DashesAndUnderscoresAreOneName) {
  ASSERT_TRUE(loader.load("dash_name", {}));
  EXPECT_EQ(calls, (std::vector<std::string>{"dash-name.ko"}));
}

TEST_F(FakeModuleTree, AlreadyLoadedByTheKernelIsFine) {
  next_errno = EEXIST;
  EXPECT_TRUE(loader.load("virtio_ring", {}));
}

TEST_F(FakeModuleTree, ErrorsNameTheModule) {
  auto missing = loader.load("nonesuch", {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find("module 'nonesuch'"), std::string::npos);

  auto dep = loader.load("needs_gone", {});
  ASSERT_FALSE(dep);
  EXPECT_NE(dep.error().message.find("(needed by 'needs_gone')"), std::string::npos) << dep.error().message;

  auto cycle = loader.load("cyc_a", {});
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().code, ELOOP);

  auto junk = loader.load("junk", {});
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, ENOEXEC);
  EXPECT_TRUE(calls.empty());

  next_errno = ENOKEY;
  auto refused = loader.load("virtio_ring", {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ENOKEY);
  EXPECT_NE(refused.error().message.find("finit_module("), std::string::npos);
}

TEST_F(FakeModuleTree, CompressedModulesGoToTheKernelAsSuch) {
  ASSERT_TRUE(loader.load("squeezed", {}));
  EXPECT_EQ(calls, (std::vector<std::string>{"squeezed.ko.xz flags=4"}));  // MODULE_INIT_COMPRESSED_FILE
  ModuleLoader again = *ModuleLoader::open(t / "lib/modules/6.1.0-test");
  again.set_sys_module_dir(t / "sys/module");
  again.set_load_function([](int, const std::string&, int) {
    errno = EOPNOTSUPP;
    return -1;
  });
  auto r = again.load("squeezed", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("CONFIG_MODULE_DECOMPRESS"), std::string::npos) << r.error().message;
}

// ---------------------------------------------------------------- rd config

TEST(RdConfig, FromTheCommandLine) {
  auto c = KernelCmdline::parse(
      "root=LABEL=bw-root rootfstype=ext4 rootflags=errors=remount-ro ro rw "
      "ostree=/ostree/boot.1/bulwark/abc/0 bulwark.modules=virtio_pci,virtio_blk bulwark.rootwait=5 "
      "init=/usr/lib/bulwark/bulwark-init");
  auto cfg = parse_rd_config(c, "rd-modules", "virtio_pci\n");
  ASSERT_TRUE(cfg) << cfg.error().text();
  EXPECT_EQ(cfg->root.kind, RootSpec::Kind::label);
  EXPECT_EQ(cfg->fstype, "ext4");
  EXPECT_EQ(cfg->flags, "errors=remount-ro");
  EXPECT_FALSE(cfg->read_only);  // the last of ro/rw wins
  EXPECT_EQ(cfg->ostree, "/ostree/boot.1/bulwark/abc/0");
  EXPECT_EQ(cfg->modules, (std::vector<std::string>{"virtio_pci", "virtio_blk"}));
  EXPECT_EQ(cfg->root_timeout_ms, 5000);
  EXPECT_EQ(cfg->init, "/usr/lib/bulwark/bulwark-init");
}

TEST(RdConfig, Defaults) {
  auto cfg = parse_rd_config(KernelCmdline::parse("root=/dev/vda2 ro"), "rd-modules", "");
  ASSERT_TRUE(cfg) << cfg.error().text();
  EXPECT_TRUE(cfg->read_only);
  EXPECT_EQ(cfg->fstype, "ext4");
  EXPECT_TRUE(cfg->ostree.empty());
  EXPECT_EQ(cfg->root_timeout_ms, 30000);
  EXPECT_TRUE(cfg->init.empty());
  EXPECT_EQ(parse_rd_config(KernelCmdline::parse("root=/dev/vda rootwait"), "f", "")->root_timeout_ms, -1);
  EXPECT_EQ(default_init_paths().front(), "/usr/lib/bulwark/bulwark-init");
}

TEST(RdConfig, Refusals) {
  EXPECT_NE(parse_rd_config(KernelCmdline::parse("quiet"), "f", "").error().message.find("no root="),
            std::string::npos);
  EXPECT_FALSE(parse_rd_config(KernelCmdline::parse("root=sda1"), "f", ""));
  EXPECT_FALSE(parse_rd_config(KernelCmdline::parse("root=/dev/vda ostree=relative/path"), "f", ""));
  EXPECT_FALSE(parse_rd_config(KernelCmdline::parse("root=/dev/vda init=sbin/init"), "f", ""));
  EXPECT_FALSE(parse_rd_config(KernelCmdline::parse("root=/dev/vda bulwark.rootwait=soon"), "f", ""));
}

TEST(RdInvocation, ExplicitSubcommand) {
  char prog[] = "bulwark-init", rd[] = "rd", other[] = "--config-dir";
  char* with_rd[] = {prog, rd, nullptr};
  char* without[] = {prog, other, nullptr};
  EXPECT_TRUE(is_rd_invocation(2, with_rd));
  EXPECT_FALSE(is_rd_invocation(2, without));  // not PID 1, so /etc/initrd-release does not count
}

}  // namespace
}  // namespace bw::init
