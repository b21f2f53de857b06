// Architecture names: OCI's SCMP_ARCH_* tokens, libseccomp's lower-case names
// and the Go-style names Docker profiles use in includes/excludes.
#include <seccomp.h>
#include <sys/utsname.h>

#include <cctype>
#include <string>

#include "base/result.h"
#include "seccomp/internal.h"

namespace bw::seccomp::detail {

namespace {

// Every architecture name some libseccomp release knows; the one installed
// resolves the subset it supports.
constexpr const char* kLibseccompArches[] = {
    "x86",    "x86_64",    "x32",     "arm",      "aarch64",     "loongarch64", "m68k",     "mips",
    "mips64", "mips64n32", "mipsel",  "mipsel64", "mipsel64n32", "parisc",      "parisc64", "ppc",
    "ppc64",  "ppc64le",   "riscv64", "s390",     "s390x",       "sh",          "sheb",
};

constexpr std::string_view kPrefix = "SCMP_ARCH_";

// "SCMP_ARCH_X86_64" -> "x86_64"; empty when the prefix is missing.
std::string libseccomp_name(std::string_view oci_name) {
  if (!oci_name.starts_with(kPrefix)) return {};
  std::string out(oci_name.substr(kPrefix.size()));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string oci_name_of(std::string_view lib_name) {
  std::string out(kPrefix);
  for (char c : lib_name) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

uint32_t arch_token(std::string_view oci_name) {
  std::string name = libseccomp_name(oci_name);
  if (name.empty()) return 0;
  return seccomp_arch_resolve_name(name.c_str());
}

const std::string& native_arch() {
  static const std::string native = [] {
    uint32_t token = seccomp_arch_native();
    for (const char* name : kLibseccompArches) {
      if (seccomp_arch_resolve_name(name) == token) return oci_name_of(name);
    }
    return strf("SCMP_ARCH_%#x", token);
  }();
  return native;
}

std::string docker_arch_name(std::string_view oci_name) {
  std::string name = libseccomp_name(oci_name);
  if (name == "x86_64") return "amd64";
  if (name == "aarch64") return "arm64";
  return name;
}

const std::string& kernel_release() {
  static const std::string release = [] {
    struct utsname u {};
    if (uname(&u) < 0) return std::string("unknown");
    return std::string(u.release);
  }();
  return release;
}

const std::string& libseccomp_version() {
  static const std::string version = [] {
    const struct scmp_version* v = seccomp_version();
    if (!v) return std::string("unknown");
    return strf("%u.%u.%u", v->major, v->minor, v->micro);
  }();
  return version;
}

}  // namespace bw::seccomp::detail
