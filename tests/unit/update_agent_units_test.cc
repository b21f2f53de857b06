// The agent's pieces that need no sysroot: its configuration (every bad
// value names file, line and field), state.json (round trip; an unreadable
// file is moved aside, never fatal), the boot verdict's decision table, and
// the service definition the updater ships, read by bulwark-init's parser.

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "init/service.h"
#include "updater/agent.h"
#include "updater/config.h"
#include "updater/state_file.h"

namespace bw::update {
namespace {

const char kMinimal[] = "[remote]\nurl = \"http://127.0.0.1:8080/repo\"\nref = \"bulwark/x86_64/stable\"\n";

std::string config_error(const std::string& text) {
  auto c = parse_config("/etc/bulwark/update.toml", text);
  EXPECT_FALSE(c) << "accepted:\n" << text;
  return c ? "" : c.error().message;
}

TEST(UpdateConfig, MinimalGetsDefaults) {
  auto c = parse_config("/etc/bulwark/update.toml", kMinimal);
  ASSERT_TRUE(c) << c.error().text();
  EXPECT_EQ(c->os, "bulwark");
  EXPECT_EQ(c->boot_attempts, 3);
  EXPECT_EQ(c->grubenv, "/boot/grub/grubenv");
  EXPECT_EQ(c->key_dirs.size(), 2u);
  EXPECT_FALSE(c->auto_reboot);
}

TEST(UpdateConfig, ShippedExampleParses) {
  auto c = load_config(std::string(BULWARK_SOURCE_DIR) + "/examples/update/update.toml");
  ASSERT_TRUE(c) << c.error().text();
  EXPECT_EQ(c->check_interval_s, 3600);
  EXPECT_EQ(c->jitter_s, 600);
}

TEST(UpdateConfig, BadValuesNameFileLineField) {
  std::string base = kMinimal;
  EXPECT_EQ(config_error(base + "[policy]\nboot_attempts = 12\n"),
            "/etc/bulwark/update.toml:5: policy.boot_attempts: expected an integer from 1 to 9");
  EXPECT_NE(config_error(base + "[policy]\nauto_reboot = \"yes\"\n").find(":5: policy.auto_reboot: expected true or false"),
            std::string::npos);
  EXPECT_NE(config_error(base + "[policy]\nreboot = true\n").find(":5: policy.reboot: unknown key"), std::string::npos);
  EXPECT_NE(config_error(base + "[remotes]\nx = 1\n").find("[remotes]: unknown section"), std::string::npos);
  EXPECT_NE(config_error("[remote]\nurl = \"ftp://x/repo\"\nref = \"a\"\n").find(":2: remote.url: expected an http://"),
            std::string::npos);
  EXPECT_NE(config_error("[remote]\nurl = \"http://x/repo\"\n").find("remote.ref: required"), std::string::npos);
  EXPECT_NE(config_error("[remote]\nurl = \"http://x/repo\"\nref = \"../etc\"\n").find("not a valid ref"),
            std::string::npos);
  EXPECT_NE(config_error(base + "[trust]\nkeys = [\"relative/dir\"]\n").find(":5: trust.keys: expected an absolute path"),
            std::string::npos);
  EXPECT_NE(config_error(base + "os = \"a b\"\n").find("remote.os"), std::string::npos);
  EXPECT_NE(config_error("[remote\nurl=1").find("/etc/bulwark/update.toml:1:"), std::string::npos);
}

TEST(UpdateState, RoundTrip) {
  PersistentState s;
  s.state = State::pending_reboot;
  s.reason = "deployed 2.0";
  s.since = 1700000000;
  s.highest_sequence = 7;
  s.trial_checksum = std::string(64, 'a');
  s.trial_boot_id = "b00t";
  s.last_check = {1700000001, true, true, "", {std::string(64, 'b'), "2.0", 7, "bulwark", 1699999999}};
  s.failed.push_back({{std::string(64, 'c'), "1.9", 6, "bulwark", 1}, "boot verdict bad: web unhealthy", 1700000002});
  s.upgrades_total = 3;
  s.rollbacks_total = 1;
  s.failed_boots_total = 1;
  auto back = state_from_json(state_to_json(s));
  ASSERT_TRUE(back) << back.error().text();
  EXPECT_EQ(state_to_json(*back), state_to_json(s));
  EXPECT_EQ(back->failed.at(0).commit.version, "1.9");
  EXPECT_EQ(back->state, State::pending_reboot);
}

TEST(UpdateState, MissingIsFreshCorruptIsMovedAside) {
  char tmpl[] = "/tmp/bw-update-state-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string warning;
  auto s = load_state(dir, &warning);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, State::idle);
  EXPECT_TRUE(warning.empty());
  PersistentState saved;
  saved.highest_sequence = 4;
  ASSERT_TRUE(save_state(dir, saved));
  s = load_state(dir, &warning);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->highest_sequence, 4u);
  ASSERT_TRUE(write_file_atomic(dir + "/state.json", "{\"format\": 1, \"state\": \"dancing\"", 0644));
  s = load_state(dir, &warning);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->highest_sequence, 0u);
  EXPECT_NE(warning.find("state.json.corrupt"), std::string::npos) << warning;
  EXPECT_EQ(access((dir + "/state.json.corrupt").c_str(), F_OK), 0);
  EXPECT_NE(access((dir + "/state.json").c_str(), F_OK), 0);
  (void)system(("rm -rf " + dir).c_str());
}

TEST(BootVerdict, DecisionTable) {
  const std::string old_ = "old", new_ = "new";
  // Booted into the trial deployment.
  EXPECT_EQ(decide_verdict(true, new_, new_, new_, false), VerdictAction::confirmed);
  EXPECT_EQ(decide_verdict(false, new_, new_, new_, false), VerdictAction::rolled_back);
  // The bootloader fell back to the old deployment: the trial is still the default.
  EXPECT_EQ(decide_verdict(true, old_, new_, new_, false), VerdictAction::fell_back);
  EXPECT_EQ(decide_verdict(false, old_, new_, new_, false), VerdictAction::fell_back);
  // Deployed during this very boot: not booted yet, never a fallback.
  EXPECT_EQ(decide_verdict(true, old_, new_, new_, true), VerdictAction::confirmed);
  EXPECT_EQ(decide_verdict(false, old_, new_, new_, true), VerdictAction::nothing);
  // No trial: a good boot is confirmed, a bad one has nothing to roll back to.
  EXPECT_EQ(decide_verdict(true, old_, old_, "", false), VerdictAction::confirmed);
  EXPECT_EQ(decide_verdict(false, old_, old_, "", false), VerdictAction::nothing);
  // The trial was already rolled back by hand (no longer the default).
  EXPECT_EQ(decide_verdict(false, old_, old_, new_, false), VerdictAction::nothing);
}

TEST(UpdateService, ShippedDefinitionParsesWithInitsParser) {
  std::string file = std::string(BULWARK_SOURCE_DIR) + "/updater/services/bulwark-update.toml";
  auto text = read_file(file);
  ASSERT_TRUE(text);
  auto def = init::parse_service("bulwark-update", file, *text);
  ASSERT_TRUE(def) << def.error().text();
  EXPECT_EQ(def->exec.at(0), "/usr/bin/bulwark-update");
  EXPECT_EQ(def->exec.at(1), "daemon");
}

}  // namespace
}  // namespace bw::update
