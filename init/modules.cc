#include "init/modules.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/file.h"
#include "base/strings.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

namespace bw::init {

namespace {

const char* const kSuffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};

// The module name of a file name, or "" when it is not a module.
std::string module_name_of(const std::string& file) {
  for (const char* suffix : kSuffixes) {
    std::string_view s(suffix);
    if (file.size() > s.size() && file.compare(file.size() - s.size(), s.size(), s) == 0)
      return normalize_module_name(std::string_view(file).substr(0, file.size() - s.size()));
  }
  return "";
}

bool is_compressed(const std::string& path) { return !path.ends_with(".ko"); }

// Walks `dir`/`rel` and records every module file. Symlinks are not followed
// (a tree that loops cannot hang the boot).
void index_tree(const std::string& dir, const std::string& rel, std::map<std::string, std::string>& files,
                int depth) {
  if (depth > 16) return;
  std::string path = rel.empty() ? dir : dir + "/" + rel;
  DIR* d = ::opendir(path.c_str());
  if (!d) return;
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (struct dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') entries.emplace_back(e->d_name, e->d_type);
  ::closedir(d);
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, type] : entries) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    unsigned char t = type;
    if (t == DT_UNKNOWN) {
      struct stat st;
      if (::lstat((dir + "/" + child).c_str(), &st) != 0) continue;
      t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (t == DT_DIR) {
      index_tree(dir, child, files, depth + 1);
    } else if (t == DT_REG) {
      std::string m = module_name_of(name);
      if (!m.empty()) files.emplace(m, child);  // the first one found wins (sorted walk)
    }
  }
}

}  // namespace

std::string normalize_module_name(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

Result<std::vector<std::string>> parse_module_list(const std::string& file, const std::string& file_text,
                                                   const KernelCmdline& cmdline) {
  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  };
  auto valid = [](std::string_view n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
  };
  int line_no = 0;
  for (const auto& raw : split(file_text, '\n')) {
    ++line_no;
    std::string_view line = raw;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (!valid(line))
      return make_error(EINVAL, "%s:%d: expected one module name (letters, digits, '_', '-'), found '%s'",
                        file.c_str(), line_no, std::string(line).c_str());
    add(normalize_module_name(line));
  }
  for (const auto& name : cmdline.list("bulwark.modules")) {
    if (!valid(name))
      return make_error(EINVAL, "bulwark.modules: expected module names separated by ',', found '%s'", name.c_str());
    add(normalize_module_name(name));
  }
  return out;
}

Result<std::vector<std::string>> read_modinfo(std::string_view elf) {
  auto fail = [](const char* why) { return make_error(ENOEXEC, "not a kernel module: %s", why); };
  if (elf.size() < sizeof(Elf64_Ehdr)) return fail("shorter than an ELF header");
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return fail("no ELF magic");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return fail("not a little-endian 64-bit ELF file");
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff == 0 || eh.e_shstrndx >= eh.e_shnum)
    return fail("bad section header table");
  if (eh.e_shoff > elf.size() || static_cast<uint64_t>(eh.e_shnum) * sizeof(Elf64_Shdr) > elf.size() - eh.e_shoff)
    return fail("section headers past the end of the file");
  auto section = [&](size_t i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
    return sh;
  };
  auto contents = [&](const Elf64_Shdr& sh) -> std::optional<std::string_view> {
    if (sh.sh_type == SHT_NOBITS || sh.sh_offset > elf.size() || sh.sh_size > elf.size() - sh.sh_offset)
      return std::nullopt;
    return elf.substr(sh.sh_offset, sh.sh_size);
  };
  auto names = contents(section(eh.e_shstrndx));
  if (!names) return fail("section name table past the end of the file");
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh = section(i);
    if (sh.sh_name >= names->size()) continue;
    std::string_view name = names->substr(sh.sh_name);
    name = name.substr(0, name.find('\0'));
    if (name != ".modinfo") continue;
    auto data = contents(sh);
    if (!data) return fail(".modinfo past the end of the file");
    std::vector<std::string> out;
    for (const auto& s : split(*data, '\0'))
      if (!s.empty()) out.push_back(s);
    return out;
  }
  return fail("no .modinfo section");
}

std::vector<std::string> modinfo_depends(const std::vector<std::string>& modinfo) {
  std::vector<std::string> out;
  for (const auto& kv : modinfo) {
    if (!kv.starts_with("depends=")) continue;
    for (const auto& d : split(kv.substr(8), ','))
      if (!d.empty()) out.push_back(normalize_module_name(d));
  }
  return out;
}

std::string module_params(const KernelCmdline& cmdline, const std::string& module) {
  std::vector<std::string> params;
  for (const auto& p : cmdline.with_prefix(module + ".")) {
    std::string key = p.key.substr(module.size() + 1);
    if (!p.value) {
      params.push_back(key);
    } else if (p.value->find_first_of(" \t") != std::string::npos) {
      params.push_back(key + "=\"" + *p.value + "\"");
    } else {
      params.push_back(key + "=" + *p.value);
    }
  }
  return join(params, " ");
}

std::string ModuleLoader::default_dir() {
  struct utsname u {};
  (void)::uname(&u);
  std::string dir = std::string("/lib/modules/") + u.release;
  if (::access(dir.c_str(), F_OK) != 0 && ::access(("/usr" + dir).c_str(), F_OK) == 0) return "/usr" + dir;
  return dir;
}

Result<ModuleLoader> ModuleLoader::open(const std::string& dir) {
  ModuleLoader m;
  m.dir_ = dir;
  if (::access(dir.c_str(), F_OK) != 0) return sys_error("module directory '%s'", dir.c_str());
  index_tree(dir, "", m.files_, 0);
  if (auto builtin = read_file(dir + "/modules.builtin")) {
    for (const auto& line : split(*builtin, '\n')) {
      auto slash = line.rfind('/');
      std::string m_name = module_name_of(slash == std::string::npos ? line : line.substr(slash + 1));
      if (!m_name.empty()) m.builtin_.insert(m_name);
    }
  }
  return m;
}

Result<void> ModuleLoader::load(const std::string& name, const KernelCmdline& cmdline) {
  std::vector<std::string> chain;
  return load_one(normalize_module_name(name), cmdline, chain);
}

Result<void> ModuleLoader::load_one(const std::string& name, const KernelCmdline& cmdline,
                                    std::vector<std::string>& chain) {
  if (done_.count(name) || builtin_.count(name)) return {};
  if (::access((sys_module_ + "/" + name).c_str(), F_OK) == 0) {
    done_.insert(name);
    return {};
  }
  if (std::find(chain.begin(), chain.end(), name) != chain.end())
    return make_error(ELOOP, "module dependency cycle: %s -> %s", join(chain, " -> ").c_str(), name.c_str());
  auto file = files_.find(name);
  if (file == files_.end())
    return make_error(ENOENT, "module '%s': no %s.ko under '%s'%s", name.c_str(), name.c_str(), dir_.c_str(),
                      chain.empty() ? "" : strf(" (needed by '%s')", chain.back().c_str()).c_str());
  std::string path = dir_ + "/" + file->second;
  BW_ASSIGN_OR_RETURN(UniqueFd fd, open_at(AT_FDCWD, path, O_RDONLY));
  bool compressed = is_compressed(path);
  if (!compressed) {
    BW_ASSIGN_OR_RETURN(std::string image, read_fd(fd.get()));
    auto info = read_modinfo(image);
    if (!info) return Unexpected(info.error().prefix(strf("module '%s' (%s)", name.c_str(), path.c_str())));
    chain.push_back(name);
    for (const auto& dep : modinfo_depends(*info)) BW_RETURN_IF_ERROR(load_one(dep, cmdline, chain));
    chain.pop_back();
  }
  std::string params = module_params(cmdline, name);
  int flags = compressed ? MODULE_INIT_COMPRESSED_FILE : 0;
  int r = load_fn_ ? load_fn_(fd.get(), params, flags)
                   : static_cast<int>(::syscall(SYS_finit_module, fd.get(), params.c_str(), flags));
  if (r != 0 && errno != EEXIST) {
    if (compressed && (errno == EINVAL || errno == EOPNOTSUPP))
      return sys_error("module '%s': the kernel cannot load the compressed file '%s' (it needs "
                       "CONFIG_MODULE_DECOMPRESS); ship it uncompressed",
                       name.c_str(), path.c_str());
    return sys_error("finit_module('%s'%s%s)", path.c_str(), params.empty() ? "" : ", ", params.c_str());
  }
  done_.insert(name);
  loaded_.push_back(name);
  return {};
}

}  // namespace bw::init
