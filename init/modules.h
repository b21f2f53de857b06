// Loading kernel modules in the rd stage, without kmod: the module files are
// found by walking /lib/modules/$(uname -r), their dependencies are read from
// each module's own .modinfo section ("depends=a,b", what depmod reads), and
// each is loaded with finit_module(2), dependencies first.
//
// The Debian 12 cloud kernel ships uncompressed .ko files
// (CONFIG_MODULE_COMPRESS_NONE) and has no in-kernel decompression
// (CONFIG_MODULE_DECOMPRESS unset). .ko.xz/.ko.zst/.ko.gz files are still
// found and handed to the kernel with MODULE_INIT_COMPRESSED_FILE, which works
// on kernels built with CONFIG_MODULE_DECOMPRESS; elsewhere the error says to
// ship them uncompressed. Dependencies of compressed modules are not read:
// list them first.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "init/cmdline.h"

namespace bw::init {

// The kernel treats '-' and '_' in module names alike; names are kept with '_'.
std::string normalize_module_name(std::string_view name);

// The module list: /etc/bulwark/rd-modules text (one name per line, '#'
// comments, blanks ignored) then bulwark.modules= (comma-separated, may be
// repeated), normalized, first occurrence kept. `file` names the file in errors.
Result<std::vector<std::string>> parse_module_list(const std::string& file, const std::string& file_text,
                                                   const KernelCmdline& cmdline);

// The NUL-separated key=value strings of an ELF64 file's .modinfo section.
Result<std::vector<std::string>> read_modinfo(std::string_view elf);
// "depends=" from those strings, normalized; empty when the module needs none.
std::vector<std::string> modinfo_depends(const std::vector<std::string>& modinfo);

// Module parameters from the kernel command line, as modprobe takes them:
// "virtio_blk.queue_depth=64" -> "queue_depth=64" for module virtio_blk.
std::string module_params(const KernelCmdline& cmdline, const std::string& module);

class ModuleLoader {
 public:
  // Indexes `dir` (/lib/modules/KVER): every *.ko[.xz|.zst|.gz] below it, and
  // modules.builtin (names of modules compiled into the kernel) if present.
  static Result<ModuleLoader> open(const std::string& dir);
  // /lib/modules/$(uname -r), or /usr/lib/modules/... when only that exists.
  static std::string default_dir();

  // Loads `name` and, first, what it depends on. A built-in module or one
  // already loaded (/sys/module/NAME) is skipped. Parameters come from the
  // command line. Errors name the module and the file.
  Result<void> load(const std::string& name, const KernelCmdline& cmdline);

  // What load() did, in order, for the log: "virtio_ring", ...
  const std::vector<std::string>& loaded() const { return loaded_; }
  // Test hooks: where "already loaded" is looked up (default /sys/module),
  // and what loads a file (default finit_module(2); returns -1 with errno).
  void set_sys_module_dir(std::string dir) { sys_module_ = std::move(dir); }
  using LoadFunction = std::function<int(int fd, const std::string& params, int flags)>;
  void set_load_function(LoadFunction f) { load_fn_ = std::move(f); }

 private:
  Result<void> load_one(const std::string& name, const KernelCmdline& cmdline, std::vector<std::string>& chain);

  std::string dir_;
  std::string sys_module_ = "/sys/module";
  std::map<std::string, std::string> files_;  // name -> path relative to dir_
  std::set<std::string> builtin_;
  std::set<std::string> done_;
  std::vector<std::string> loaded_;
  LoadFunction load_fn_;
};

}  // namespace bw::init
