// The Prometheus metrics and the JSON of `status --json`, both rendered from
// the agent's Status; the metrics are also checked by the real promtool.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/file.h"
#include "updater/metrics.h"
#include "updater/status.h"
#include "update_testing.h"

namespace bw::update {
namespace {

using testing::find_program;
using testing::run;
using testing::RunResult;

CommitInfo commit(std::string checksum, std::string version, uint64_t sequence) {
  CommitInfo c;
  c.checksum = std::move(checksum);
  c.version = std::move(version);
  c.sequence = sequence;
  c.os = "bulwark";
  c.timestamp = 1700000000;
  return c;
}

// An appliance that deployed 1.3 and waits for the reboot, with a history.
Status sample_status() {
  Status s;
  s.os = "bulwark";
  s.booted_from_ostree = true;
  PersistentState& st = s.state;
  st.state = State::pending_reboot;
  st.reason = "deployed 1.3";
  st.since = 1700000300;
  st.last_check.time = 1700000200;
  st.last_check.ok = true;
  st.last_check.available = true;
  st.last_check.candidate = commit("c3", "1.3", 13);
  st.highest_sequence = 13;
  st.failed.push_back({commit("c2", "1.2", 12), "nginx not healthy", 1700000100});
  st.trial_checksum = "c3";
  st.upgrades_total = 4;
  st.rollbacks_total = 2;
  st.failed_boots_total = 1;
  Deployment pending{"pending", "bulwark", commit("c3", "1.3", 13), 0, true};
  Deployment booted{"booted", "bulwark", commit("c1", "1.1", 11), 1, false};
  Deployment rollback{"rollback", "bulwark", commit("c0", "1.0", 10), 2, false};
  s.deployments = {pending, booted, rollback};
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (line.starts_with(prefix)) out.push_back(line);
    pos = nl + 1;
  }
  return out;
}

TEST(UpdateState, NamesRoundTrip) {
  std::vector<std::string> names;
  for (State s : all_states) {
    names.push_back(state_name(s));
    EXPECT_EQ(parse_state(state_name(s)), s) << state_name(s);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"idle", "checking", "downloading", "deploying",
                                              "pending-reboot", "trial-boot", "rolled-back", "failed"}));
  EXPECT_EQ(parse_state("pending_reboot"), std::nullopt);
  EXPECT_EQ(parse_state(""), std::nullopt);
  EXPECT_EQ(parse_state("Idle"), std::nullopt);
}

TEST(Metrics, ValuesAndLabels) {
  std::string m = render_metrics(sample_status(), 1700000400);
  EXPECT_TRUE(m.ends_with("\n"));
  EXPECT_TRUE(has_line(m, R"(bulwark_update_info{os="bulwark",booted_version="1.1",booted_checksum="c1"} 1)")) << m;
  EXPECT_TRUE(has_line(m, "bulwark_update_booted_from_ostree 1"));
  EXPECT_TRUE(has_line(m, R"(bulwark_update_deployment{role="pending",index="0",version="1.3",checksum="c3",sequence="13"} 1)")) << m;
  EXPECT_TRUE(has_line(m, R"(bulwark_update_deployment{role="booted",index="1",version="1.1",checksum="c1",sequence="11"} 1)"));
  EXPECT_TRUE(has_line(m, R"(bulwark_update_deployment{role="rollback",index="2",version="1.0",checksum="c0",sequence="10"} 1)"));
  EXPECT_EQ(lines_starting(m, "bulwark_update_deployment{").size(), 3u);
  EXPECT_TRUE(has_line(m, "bulwark_update_booted_sequence 11"));
  EXPECT_TRUE(has_line(m, "bulwark_update_highest_sequence 13"));
  EXPECT_TRUE(has_line(m, "bulwark_update_pending_reboot 1"));
  EXPECT_TRUE(has_line(m, "bulwark_update_last_check_timestamp_seconds 1700000200"));
  EXPECT_TRUE(has_line(m, "bulwark_update_last_check_success 1"));
  EXPECT_TRUE(has_line(m, "bulwark_update_available 1"));
  EXPECT_TRUE(has_line(m, R"(bulwark_update_available_info{version="1.3",checksum="c3",sequence="13"} 1)"));
  EXPECT_TRUE(has_line(m, "bulwark_update_state_since_timestamp_seconds 1700000300"));
  EXPECT_TRUE(has_line(m, "bulwark_update_upgrades_total 4"));
  EXPECT_TRUE(has_line(m, "bulwark_update_rollbacks_total 2"));
  EXPECT_TRUE(has_line(m, "bulwark_update_failed_boots_total 1"));
  EXPECT_TRUE(has_line(m, "bulwark_update_failed_versions 1"));
  EXPECT_TRUE(has_line(m, "bulwark_update_metrics_timestamp_seconds 1700000400"));
  EXPECT_TRUE(has_line(m, "# TYPE bulwark_update_upgrades_total counter"));
  EXPECT_TRUE(has_line(m, "# TYPE bulwark_update_state gauge"));
}

TEST(Metrics, EveryFamilyHasHelpAndTypeOnce) {
  std::string m = render_metrics(sample_status(), 1);
  for (const auto& line : lines_starting(m, "bulwark_")) {
    std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(lines_starting(m, "# HELP " + name + " ").size(), 1u) << name;
    EXPECT_EQ(lines_starting(m, "# TYPE " + name + " ").size(), 1u) << name;
  }
}

TEST(Metrics, ExactlyOneStateIsOne) {
  for (State current : all_states) {
    Status s = sample_status();
    s.state.state = current;
    std::string m = render_metrics(s, 1);
    auto states = lines_starting(m, "bulwark_update_state{");
    ASSERT_EQ(states.size(), std::size(all_states));
    int ones = 0;
    for (State st : all_states) {
      std::string prefix = std::string("bulwark_update_state{state=\"") + state_name(st) + "\"} ";
      auto found = lines_starting(m, prefix);
      ASSERT_EQ(found.size(), 1u) << prefix;
      std::string value = found[0].substr(prefix.size());
      EXPECT_EQ(value, st == current ? "1" : "0") << found[0];
      ones += value == "1";
    }
    EXPECT_EQ(ones, 1);
  }
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(escape_label_value("l1\nl2"), R"(l1\nl2)");
  EXPECT_EQ(escape_label_value("plain 1.0-rc1 {x}"), "plain 1.0-rc1 {x}");

  Status s = sample_status();
  s.deployments[1].commit.version = "1.1 \"beta\"\\n\nnext";
  std::string m = render_metrics(s, 1);
  EXPECT_TRUE(has_line(m, R"(bulwark_update_info{os="bulwark",booted_version="1.1 \"beta\"\\n\nnext",booted_checksum="c1"} 1)")) << m;
  // No sample spans lines.
  for (const auto& line : lines_starting(m, "bulwark_update_deployment{")) {
    EXPECT_TRUE(line.ends_with("} 1")) << line;
  }
}

TEST(Metrics, NeverCheckedNotBootedFromOstree) {
  Status s;
  s.os = "bulwark";
  std::string m = render_metrics(s, 5);
  EXPECT_TRUE(has_line(m, R"(bulwark_update_info{os="bulwark",booted_version="",booted_checksum=""} 1)"));
  EXPECT_TRUE(has_line(m, "bulwark_update_booted_from_ostree 0"));
  EXPECT_TRUE(has_line(m, R"(bulwark_update_state{state="idle"} 1)"));
  EXPECT_TRUE(has_line(m, "bulwark_update_booted_sequence 0"));
  EXPECT_TRUE(has_line(m, "bulwark_update_pending_reboot 0"));
  EXPECT_TRUE(has_line(m, "bulwark_update_last_check_timestamp_seconds 0"));
  EXPECT_TRUE(has_line(m, "bulwark_update_last_check_success 0"));
  EXPECT_TRUE(has_line(m, "bulwark_update_available 0"));
  EXPECT_TRUE(lines_starting(m, "bulwark_update_deployment{").empty());
  EXPECT_EQ(m.find("bulwark_update_available_info"), std::string::npos);
}

TEST(Metrics, FailedCheckIsNotAvailable) {
  Status s = sample_status();
  s.state.last_check.ok = false;
  s.state.last_check.error = "connection refused";
  std::string m = render_metrics(s, 1);
  EXPECT_TRUE(has_line(m, "bulwark_update_last_check_success 0"));
  EXPECT_TRUE(has_line(m, "bulwark_update_available 0"));
  EXPECT_EQ(m.find("bulwark_update_available_info"), std::string::npos);
}

// --- promtool ---


class Promtool : public ::testing::Test {
 protected:
  void SetUp() override {
    promtool_ = find_program("promtool");
    if (promtool_.empty()) GTEST_SKIP() << "promtool not found (Debian package prometheus): format not validated";
  }
  // promtool exits 0 with no output when the text parses and passes its lint.
  void expect_clean(const std::string& text) {
    RunResult r = run({promtool_, "check", "metrics"}, text);
    EXPECT_EQ(r.status, 0) << r.output << "\n--- input ---\n" << text;
    EXPECT_EQ(r.output, "") << "--- input ---\n" << text;
  }
  std::string promtool_;
};

TEST_F(Promtool, AcceptsTheMetrics) { expect_clean(render_metrics(sample_status(), 1700000400)); }

TEST_F(Promtool, AcceptsAnEmptyStatus) {
  Status s;
  expect_clean(render_metrics(s, 0));
}

TEST_F(Promtool, AcceptsEscapedLabelValues) {
  Status s = sample_status();
  s.os = "a\\b";
  s.deployments[1].commit.version = "1.1 \"beta\"\nsecond line \\ {x=\"y\"}";
  s.deployments[1].commit.checksum = "\xc3\xa9t\xc3\xa9";  // UTF-8 is allowed in label values
  expect_clean(render_metrics(s, 1));
}

// The check itself must be able to fail: a counter without _total and an
// unescaped quote are refused.
TEST_F(Promtool, RefusesBadText) {
  RunResult lint = run({promtool_, "check", "metrics"},
                                  "# HELP x_things Things.\n# TYPE x_things counter\nx_things 1\n");
  EXPECT_TRUE(lint.status != 0 || !lint.output.empty()) << "promtool accepted a counter without _total";
  RunResult parse = run({promtool_, "check", "metrics"},
                                   "# HELP x Some.\n# TYPE x gauge\nx{a=\"q\"q\"} 1\n");
  EXPECT_NE(parse.status, 0) << parse.output;
}

// --- status --json ---

TEST(StatusJson, FieldsAndValues) {
  std::string text = status_json(sample_status());
  EXPECT_TRUE(text.starts_with("{\n  \"os\": \"bulwark\",\n")) << text;
  EXPECT_TRUE(text.ends_with("\n}")) << text;
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["os"], "bulwark");
  EXPECT_EQ(j["booted_from_ostree"], true);
  EXPECT_EQ(j["state"], "pending-reboot");
  EXPECT_EQ(j["reason"], "deployed 1.3");
  EXPECT_EQ(j["since"], "2023-11-14T22:18:20Z");
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["last_check"]["time"], "2023-11-14T22:16:40Z");
  EXPECT_EQ(j["last_check"]["ok"], true);
  EXPECT_EQ(j["last_check"]["available"], true);
  EXPECT_TRUE(j["last_check"]["error"].is_null());
  EXPECT_EQ(j["last_check"]["candidate"],
            (nlohmann::json{{"checksum", "c3"}, {"version", "1.3"}, {"sequence", 13}, {"os", "bulwark"},
                            {"timestamp", "2023-11-14T22:13:20Z"}}));
  EXPECT_EQ(j["highest_sequence"], 13);
  EXPECT_EQ(j["trial_checksum"], "c3");
  ASSERT_EQ(j["failed"].size(), 1u);
  EXPECT_EQ(j["failed"][0],
            (nlohmann::json{{"checksum", "c2"}, {"version", "1.2"}, {"sequence", 12},
                            {"reason", "nginx not healthy"}, {"time", "2023-11-14T22:15:00Z"}}));
  ASSERT_EQ(j["deployments"].size(), 3u);
  EXPECT_EQ(j["deployments"][0],
            (nlohmann::json{{"role", "pending"}, {"index", 0}, {"stateroot", "bulwark"}, {"checksum", "c3"},
                            {"version", "1.3"}, {"sequence", 13}, {"timestamp", "2023-11-14T22:13:20Z"},
                            {"staged", true}}));
  EXPECT_EQ(j["deployments"][1]["role"], "booted");
  EXPECT_EQ(j["deployments"][1]["staged"], false);
  EXPECT_EQ(j["counters"], (nlohmann::json{{"upgrades", 4}, {"rollbacks", 2}, {"failed_boots", 1}}));
}

TEST(StatusJson, KeysInDocumentedOrder) {
  auto j = nlohmann::ordered_json::parse(status_json(sample_status()));
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"os", "booted_from_ostree", "state", "reason", "since", "error",
                                             "last_check", "highest_sequence", "trial_checksum", "failed",
                                             "deployments", "counters"}));
}

TEST(StatusJson, NeverCheckedAndFailed) {
  Status s;
  s.os = "bulwark";
  s.state.state = State::failed;
  s.state.error = "pull: connection refused";
  auto j = nlohmann::json::parse(status_json(s));
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["error"], "pull: connection refused");
  EXPECT_TRUE(j["since"].is_null());
  EXPECT_TRUE(j["last_check"]["time"].is_null());
  EXPECT_EQ(j["last_check"]["ok"], false);
  EXPECT_TRUE(j["last_check"]["candidate"].is_null());
  EXPECT_TRUE(j["trial_checksum"].is_null());
  EXPECT_TRUE(j["failed"].is_array());
  EXPECT_TRUE(j["failed"].empty());
  EXPECT_TRUE(j["deployments"].is_array());
  EXPECT_TRUE(j["deployments"].empty());
}

TEST(StatusJson, InvalidUtf8DoesNotThrow) {
  Status s;
  s.state.state = State::failed;
  s.state.error = "server said \xff\xfe";
  std::string text;
  ASSERT_NO_THROW(text = status_json(s));
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["error"], "server said \xef\xbf\xbd\xef\xbf\xbd");
}

TEST(StatusJson, Rfc3339) {
  EXPECT_TRUE(time_to_json(0).is_null());
  EXPECT_EQ(time_to_json(1), "1970-01-01T00:00:01Z");
  EXPECT_EQ(time_to_json(951782400), "2000-02-29T00:00:00Z");
}

}  // namespace
}  // namespace bw::update
