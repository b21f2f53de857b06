// bw-bench-config: the configuration side of tests/bench/start_latency.sh, so
// that the benchmark needs neither jq nor python.
//
//   bw-bench-config configs --base CONFIG --profile DOCKER_PROFILE --rootfs DIR
//                           --plain OUT --seccomp OUT [--args ARG...]
//       Writes two config.json variants from CONFIG (the output of
//       `bulwark-run spec`): `--plain` without linux.seccomp, `--seccomp` with
//       Docker's profile converted for CONFIG's bounding capability set (as
//       moby does). Everything else is the same in both: root.path is set to
//       the absolute DIR and process.args to ARGs (default /bin/true).
//   bw-bench-config docker-to-oci PROFILE [CAP...]
//       Prints Docker's PROFILE converted to an OCI linux.seccomp section for
//       the capability set CAP... on this machine.
//   bw-bench-config bpf CONFIG OUT
//       Compiles CONFIG's linux.seccomp into raw BPF (struct sock_filter[], as
//       bwrap --seccomp reads it), writes it to OUT and prints the program's
//       key in bulwark-run's seccomp cache.
//   bw-bench-config caps CONFIG
//       Prints CONFIG's bounding capabilities, one a line.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "oci/spec.h"
#include "seccomp/seccomp.h"

namespace {

using ojson = nlohmann::ordered_json;

int usage() {
  std::fputs(
      "usage: bw-bench-config configs --base CONFIG --profile DOCKER_PROFILE --rootfs DIR\n"
      "                               --plain OUT --seccomp OUT [--args ARG...]\n"
      "       bw-bench-config docker-to-oci PROFILE [CAP...]\n"
      "       bw-bench-config bpf CONFIG OUT\n"
      "       bw-bench-config caps CONFIG\n",
      stderr);
  return 2;
}

int fail(const bw::Error& e) {
  std::fprintf(stderr, "bw-bench-config: %s\n", e.text().c_str());
  return 1;
}

// Docker's profile as an OCI section, serialised by the OCI library itself.
bw::Result<ojson> docker_section(const std::string& profile_path, const std::vector<std::string>& caps) {
  BW_ASSIGN_OR_RETURN(std::string text, bw::read_file(profile_path));
  BW_ASSIGN_OR_RETURN(bw::oci::Seccomp section,
                      bw::with_context(bw::seccomp::from_docker_profile(text, caps, ""), profile_path));
  bw::oci::Spec wrapper;
  wrapper.linux.emplace();
  wrapper.linux->seccomp = std::move(section);
  return ojson::parse(bw::oci::spec_to_json(wrapper))["linux"]["seccomp"];
}

bw::Result<bw::oci::Spec> load_config(const std::string& path) {
  BW_ASSIGN_OR_RETURN(std::string text, bw::read_file(path));
  return bw::with_context(bw::oci::parse_spec(text), path);
}

std::vector<std::string> bounding_caps(const bw::oci::Spec& spec) {
  if (!spec.process || !spec.process->capabilities) return {};
  return spec.process->capabilities->bounding;
}

int cmd_configs(const std::vector<std::string>& a) {
  std::string base, profile, rootfs, plain, secc;
  std::vector<std::string> args;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "--args") {
      args.assign(a.begin() + static_cast<long>(i) + 1, a.end());
      break;
    }
    if (i + 1 >= a.size()) return usage();
    const std::string& v = a[++i];
    if (a[i - 1] == "--base") base = v;
    else if (a[i - 1] == "--profile") profile = v;
    else if (a[i - 1] == "--rootfs") rootfs = v;
    else if (a[i - 1] == "--plain") plain = v;
    else if (a[i - 1] == "--seccomp") secc = v;
    else return usage();
  }
  if (base.empty() || profile.empty() || rootfs.empty() || plain.empty() || secc.empty() ||
      rootfs[0] != '/')
    return usage();
  if (args.empty()) args = {"/bin/true"};

  auto spec = load_config(base);
  if (!spec) return fail(spec.error());
  auto text = bw::read_file(base);
  if (!text) return fail(text.error());
  ojson cfg = ojson::parse(*text);
  cfg["root"]["path"] = rootfs;
  cfg["process"]["args"] = args;
  cfg["linux"].erase("seccomp");
  if (auto r = bw::write_file_atomic(plain, cfg.dump(2) + "\n"); !r) return fail(r.error());

  auto section = docker_section(profile, bounding_caps(*spec));
  if (!section) return fail(section.error());
  cfg["linux"]["seccomp"] = std::move(*section);
  if (auto r = bw::write_file_atomic(secc, cfg.dump(2) + "\n"); !r) return fail(r.error());
  return 0;
}

int cmd_docker_to_oci(const std::vector<std::string>& a) {
  if (a.empty()) return usage();
  auto section = docker_section(a[0], std::vector<std::string>(a.begin() + 1, a.end()));
  if (!section) return fail(section.error());
  std::printf("%s\n", section->dump(2).c_str());
  return 0;
}

int cmd_bpf(const std::vector<std::string>& a) {
  if (a.size() != 2) return usage();
  auto spec = load_config(a[0]);
  if (!spec) return fail(spec.error());
  if (!spec->linux || !spec->linux->seccomp)
    return fail(bw::Error{0, a[0] + ": no linux.seccomp section"});
  auto f = bw::seccomp::compile(*spec->linux->seccomp, "");
  if (!f) return fail(f.error());
  std::string_view bytes(reinterpret_cast<const char*>(f->program.data()),
                         f->program.size() * sizeof(struct sock_filter));
  if (auto r = bw::write_file_atomic(a[1], bytes); !r) return fail(r.error());
  std::printf("%s\n", f->key.c_str());
  return 0;
}

int cmd_caps(const std::vector<std::string>& a) {
  if (a.size() != 1) return usage();
  auto spec = load_config(a[0]);
  if (!spec) return fail(spec.error());
  for (const std::string& c : bounding_caps(*spec)) std::printf("%s\n", c.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  std::vector<std::string> a(argv + 2, argv + argc);
  try {
    if (cmd == "configs") return cmd_configs(a);
    if (cmd == "docker-to-oci") return cmd_docker_to_oci(a);
    if (cmd == "bpf") return cmd_bpf(a);
    if (cmd == "caps") return cmd_caps(a);
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "bw-bench-config: %s\n", e.what());
    return 1;
  }
  return usage();
}
