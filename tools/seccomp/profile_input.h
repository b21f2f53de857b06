// The PROFILE argument of the verbs, in its three forms: an OCI linux.seccomp
// section, a whole config.json (its linux.seccomp is used), or a
// Docker/containers-common profile (resolved for a capability set, an
// architecture and the running kernel, as moby does). Also the options the
// verbs share (--caps, --arch, --json, --strict).
#pragma once

#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"
#include "seccomp/seccomp.h"
#include "seccomp/verbs.h"

namespace bw::seccomp_tool {

// --- Options ---------------------------------------------------------------

struct VerbArgs {
  Common common;  // --json and --strict are accepted after the verb too
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // "arch", "caps", "format", "o"

  std::string get(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
};

// "--name value", "--name=value", "-o value"; a word that starts with '-'
// and a digit ("-1") is positional. Unknown options are errors.
Result<VerbArgs> parse_verb_args(const std::vector<std::string>& words, const Common& common,
                                 std::initializer_list<const char*> value_options);

// Docker's default capability set (moby's DefaultCapabilities).
const std::vector<std::string>& docker_default_caps();
// --caps: "CAP_SYS_ADMIN,CAP_NET_ADMIN" (the whole set; "sys_admin" works
// too), or "+CAP_SYS_ADMIN,-CAP_KILL" (changes to Docker's default set), or
// "" (no capabilities). Unknown names are errors.
Result<std::vector<std::string>> parse_caps(const std::string& list);

// --engine: "bulwark" (the default, as bulwark-run), "libseccomp-linear",
// "libseccomp-tree".
Result<seccomp::Engine> engine_option(const VerbArgs& args);

// --- Profiles --------------------------------------------------------------

enum class ProfileForm { oci_section, oci_config, docker };
// "oci-section", "oci-config", "docker": the `form` key of --json output.
const char* form_name(ProfileForm f);

// How a Docker profile is resolved; OCI forms are used as they are, as the
// launcher uses them.
struct Target {
  std::vector<std::string> caps = docker_default_caps();
  bool caps_given = false;
  std::string machine;  // OCI arch the launcher runs on; "" = this machine's
};

// Reads --caps.
Result<Target> target_from(const VerbArgs& args);
// --arch as an OCI name ("x86_64", "amd64" -> "SCMP_ARCH_X86_64"); "" when
// not given. compile takes it as the machine's architecture, explain and diff
// as the calling process's (see place_on_arch).
Result<std::string> arch_option(const VerbArgs& args);

// A profile file read and recognised.
struct ProfileSource {
  std::string file;
  ProfileForm form = ProfileForm::oci_section;
  std::string base;        // JSON path of the section in the file: "" or "linux.seccomp"
  nlohmann::json section;  // the section's JSON
  std::string text;        // the file's text

  // base + rel: "syscalls[3].action" -> "linux.seccomp.syscalls[3].action".
  std::string path(const std::string& rel) const;
};

// Reads and parses FILE ("-" for stdin). Malformed JSON is an error with
// line and column; a config.json without linux.seccomp is an error.
Result<ProfileSource> read_profile(const std::string& file);

struct Profile {
  ProfileSource source;
  Target target;
  oci::Seccomp section;  // what the launcher would compile
  // section.syscalls[i] is the file's rule rule_origin[i] (Docker profiles
  // drop the rules whose includes/excludes do not hold).
  std::vector<size_t> rule_origin;

  // The file's JSON path of section.syscalls[i]; of the default action when i < 0.
  std::string rule_path(int i) const;
  // Rewrites the paths in a library message ("linux.seccomp.syscalls[4]
  // (name 'x'): ...") into the file's JSON paths.
  std::string locate(const std::string& message) const;
  // The same for evaluate()'s reasons, which start "syscalls[4] (clone): ...".
  std::string locate_reason(const std::string& reason) const;
};

// Resolves a read profile for `t`. Errors name the file and the JSON path.
Result<Profile> resolve_profile(const ProfileSource& src, const Target& t);
Result<Profile> load_profile(const std::string& file, const Target& t);

// The profile as a process of `arch` meets it: on this machine when the
// profile covers `arch` here (it is this machine's architecture or in the
// section's architectures), else on a machine of that architecture (a Docker
// profile is resolved again for it, and the architecture is added to the
// section as the native one would be). Returns the note to print in the
// second case, else "".
Result<std::string> place_on_arch(Profile& p, const std::string& arch);

// "FILE: message" for errors about a profile file.
std::string file_message(const std::string& file, const std::string& message);

// --- Output ----------------------------------------------------------------

// Prints "bulwark-seccomp: message" on stderr (and {"error": message} on
// stdout with --json) and returns `status`.
int fail(const Common& c, const std::string& message, int status);

}  // namespace bw::seccomp_tool
