#include "updater/metrics.h"

#include <time.h>

#include <initializer_list>
#include <utility>

namespace bw::update {

namespace {

using Label = std::pair<std::string_view, std::string_view>;

// HELP text escapes only '\' and newline (a quote is literal there).
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  template <class V>
  void sample(std::string_view name, std::initializer_list<Label> labels, V value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }

  // A family of one unlabelled sample.
  template <class V>
  void single(std::string_view name, std::string_view type, std::string_view help, V value) {
    family(name, type, help);
    sample(name, {}, value);
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

const Deployment* find_role(const Status& s, std::string_view role) {
  for (const auto& d : s.deployments) {
    if (d.role == role) return &d;
  }
  return nullptr;
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_metrics(const Status& s, int64_t now) {
  const PersistentState& st = s.state;
  const Deployment* booted = find_role(s, "booted");
  Exposition m;

  m.family("bulwark_update_info", "gauge", "The OS the agent manages and the deployment booted (always 1).");
  m.sample("bulwark_update_info",
           {{"os", s.os},
            {"booted_version", booted ? booted->commit.version : ""},
            {"booted_checksum", booted ? booted->commit.checksum : ""}},
           1);

  m.single("bulwark_update_booted_from_ostree", "gauge",
           "1 when the running system was booted from an ostree deployment.",
           s.booted_from_ostree ? 1 : 0);

  m.family("bulwark_update_state", "gauge", "The agent's state: 1 for the current one, 0 for the others.");
  for (State state : all_states) {
    m.sample("bulwark_update_state", {{"state", state_name(state)}}, state == st.state ? 1 : 0);
  }
  m.single("bulwark_update_state_since_timestamp_seconds", "gauge",
           "When the agent entered its current state (seconds since the epoch).", st.since);

  m.family("bulwark_update_deployment", "gauge",
           "The deployments in the sysroot, by role (booted, pending, rollback, other; default on a sysroot not booted), always 1.");
  for (const auto& d : s.deployments) {
    std::string index = std::to_string(d.index);
    std::string sequence = std::to_string(d.commit.sequence);
    m.sample("bulwark_update_deployment",
             {{"role", d.role},
              {"index", index},
              {"version", d.commit.version},
              {"checksum", d.commit.checksum},
              {"sequence", sequence}},
             1);
  }

  m.single("bulwark_update_booted_sequence", "gauge",
           "bulwark.sequence of the booted deployment (0 when not booted from a Bulwark commit).",
           booted ? booted->commit.sequence : 0);
  m.single("bulwark_update_highest_sequence", "gauge",
           "The highest sequence ever deployed: commits at or below it are refused (anti-rollback).",
           st.highest_sequence);
  m.single("bulwark_update_pending_reboot", "gauge",
           "1 when a deployment waits for a reboot to become the booted one.",
           find_role(s, "pending") || st.state == State::pending_reboot ? 1 : 0);

  m.single("bulwark_update_last_check_timestamp_seconds", "gauge",
           "When the agent last checked the remote for an update (0 = never).", st.last_check.time);
  m.single("bulwark_update_last_check_success", "gauge", "1 when the last check succeeded.",
           st.last_check.ok ? 1 : 0);
  m.single("bulwark_update_available", "gauge",
           "1 when the last check found a newer commit the agent would deploy.",
           st.last_check.ok && st.last_check.available ? 1 : 0);
  if (st.last_check.ok && st.last_check.available && !st.last_check.candidate.checksum.empty()) {
    const CommitInfo& c = st.last_check.candidate;
    std::string sequence = std::to_string(c.sequence);
    m.family("bulwark_update_available_info", "gauge", "The commit the last check found available (always 1).");
    m.sample("bulwark_update_available_info",
             {{"version", c.version}, {"checksum", c.checksum}, {"sequence", sequence}}, 1);
  }

  m.single("bulwark_update_upgrades_total", "counter", "Deployments of a new commit.", st.upgrades_total);
  m.single("bulwark_update_rollbacks_total", "counter", "Rollbacks to the previous deployment, automatic or manual.",
           st.rollbacks_total);
  m.single("bulwark_update_failed_boots_total", "counter",
           "Boots of a new deployment that ended in a bad verdict or a fallback.", st.failed_boots_total);
  m.single("bulwark_update_failed_versions", "gauge",
           "Versions that failed their boot and are not retried until a newer one is published.",
           st.failed.size());

  m.single("bulwark_update_metrics_timestamp_seconds", "gauge",
           "When these metrics were written (seconds since the epoch); an old value means a stale textfile.",
           now);
  return m.take();
}

// --- JSON ---

nlohmann::ordered_json time_to_json(int64_t t) {
  if (t == 0) return nullptr;
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  if (!::gmtime_r(&tt, &tm)) return nullptr;
  char buf[64];
  size_t n = ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (n == 0) return nullptr;
  return std::string(buf, n);
}

nlohmann::ordered_json commit_to_json(const CommitInfo& c) {
  if (c.checksum.empty()) return nullptr;
  return {{"checksum", c.checksum},
          {"version", c.version},
          {"sequence", c.sequence},
          {"os", c.os},
          {"timestamp", time_to_json(c.timestamp)}};
}

namespace {

nlohmann::ordered_json string_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return s;
}

}  // namespace

nlohmann::ordered_json status_to_json(const Status& s) {
  using json = nlohmann::ordered_json;
  const PersistentState& st = s.state;

  json failed = json::array();
  for (const auto& f : st.failed) {
    failed.push_back({{"checksum", f.commit.checksum},
                      {"version", f.commit.version},
                      {"sequence", f.commit.sequence},
                      {"reason", f.reason},
                      {"time", time_to_json(f.time)}});
  }
  json deployments = json::array();
  for (const auto& d : s.deployments) {
    deployments.push_back({{"role", d.role},
                           {"index", d.index},
                           {"stateroot", d.stateroot},
                           {"checksum", d.commit.checksum},
                           {"version", d.commit.version},
                           {"sequence", d.commit.sequence},
                           {"timestamp", time_to_json(d.commit.timestamp)},
                           {"staged", d.staged}});
  }
  return {
      {"os", s.os},
      {"booted_from_ostree", s.booted_from_ostree},
      {"state", state_name(st.state)},
      {"reason", st.reason},
      {"since", time_to_json(st.since)},
      {"error", string_or_null(st.error)},
      {"last_check",
       {{"time", time_to_json(st.last_check.time)},
        {"ok", st.last_check.ok},
        {"available", st.last_check.available},
        {"error", string_or_null(st.last_check.error)},
        {"candidate", commit_to_json(st.last_check.candidate)}}},
      {"highest_sequence", st.highest_sequence},
      {"trial_checksum", string_or_null(st.trial_checksum)},
      {"failed", std::move(failed)},
      {"deployments", std::move(deployments)},
      {"counters",
       {{"upgrades", st.upgrades_total},
        {"rollbacks", st.rollbacks_total},
        {"failed_boots", st.failed_boots_total}}},
  };
}

std::string status_json(const Status& s) {
  // replace: an invalid UTF-8 byte in a string becomes U+FFFD instead of
  // throwing, so that a server's odd error text cannot break `status`.
  return status_to_json(s).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace bw::update
