#include "updater/state_file.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "base/file.h"

namespace bw::update {
namespace {

using nlohmann::json;

json commit_json(const CommitInfo& c) {
  return {{"checksum", c.checksum}, {"version", c.version}, {"sequence", c.sequence}, {"os", c.os},
          {"timestamp", c.timestamp}};
}
CommitInfo commit_from(const json& j) {
  CommitInfo c;
  c.checksum = j.at("checksum").get<std::string>();
  c.version = j.value("version", "");
  c.sequence = j.value("sequence", uint64_t{0});
  c.os = j.value("os", "");
  c.timestamp = j.value("timestamp", int64_t{0});
  return c;
}

Result<void> mkdir_p(const std::string& path) {
  std::string cur;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      cur = path.substr(0, i);
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir %s", cur.c_str());
    }
  }
  return {};
}

}  // namespace

std::string state_dir(const std::string& sysroot, const std::string& os) {
  std::string root = sysroot == "/" ? "" : sysroot;
  return root + "/ostree/deploy/" + os + "/var/lib/bulwark/update";
}

std::string state_to_json(const PersistentState& s) {
  json failed = json::array();
  for (const auto& f : s.failed)
    failed.push_back({{"commit", commit_json(f.commit)}, {"reason", f.reason}, {"time", f.time}});
  json j = {{"format", 1},
            {"state", state_name(s.state)},
            {"reason", s.reason},
            {"since", s.since},
            {"error", s.error},
            {"last_check",
             {{"time", s.last_check.time},
              {"ok", s.last_check.ok},
              {"available", s.last_check.available},
              {"error", s.last_check.error},
              {"candidate", commit_json(s.last_check.candidate)}}},
            {"highest_sequence", s.highest_sequence},
            {"failed", failed},
            {"trial_checksum", s.trial_checksum},
            {"trial_boot_id", s.trial_boot_id},
            {"upgrades_total", s.upgrades_total},
            {"rollbacks_total", s.rollbacks_total},
            {"failed_boots_total", s.failed_boots_total}};
  return j.dump(2) + "\n";
}

Result<PersistentState> state_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    if (j.value("format", 0) != 1) return make_error(0, "unknown format %d", j.value("format", 0));
    PersistentState s;
    auto st = parse_state(j.at("state").get<std::string>());
    if (!st) return make_error(0, "unknown state '%s'", j.at("state").get<std::string>().c_str());
    s.state = *st;
    s.reason = j.value("reason", "");
    s.since = j.value("since", int64_t{0});
    s.error = j.value("error", "");
    const auto& lc = j.at("last_check");
    s.last_check.time = lc.value("time", int64_t{0});
    s.last_check.ok = lc.value("ok", false);
    s.last_check.available = lc.value("available", false);
    s.last_check.error = lc.value("error", "");
    if (lc.contains("candidate")) s.last_check.candidate = commit_from(lc.at("candidate"));
    s.highest_sequence = j.value("highest_sequence", uint64_t{0});
    for (const auto& f : j.value("failed", json::array()))
      s.failed.push_back({commit_from(f.at("commit")), f.value("reason", ""), f.value("time", int64_t{0})});
    s.trial_checksum = j.value("trial_checksum", "");
    s.trial_boot_id = j.value("trial_boot_id", "");
    s.upgrades_total = j.value("upgrades_total", uint64_t{0});
    s.rollbacks_total = j.value("rollbacks_total", uint64_t{0});
    s.failed_boots_total = j.value("failed_boots_total", uint64_t{0});
    return s;
  } catch (const json::exception& e) {
    return make_error(0, "%s", e.what());
  }
}

Result<PersistentState> load_state(const std::string& dir, std::string* warning) {
  std::string path = dir + "/state.json";
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return PersistentState{};
    return Unexpected(text.error());
  }
  auto s = state_from_json(*text);
  if (s) return s;
  std::string aside = path + ".corrupt";
  if (rename(path.c_str(), aside.c_str()) != 0) return sys_error("moving unreadable %s aside", path.c_str());
  if (warning) *warning = path + ": " + s.error().message + "; moved to " + aside + ", starting afresh";
  return PersistentState{};
}

Result<void> save_state(const std::string& dir, const PersistentState& s) {
  BW_RETURN_IF_ERROR(mkdir_p(dir));
  return write_file_atomic(dir + "/state.json", state_to_json(s), 0644);
}

}  // namespace bw::update
