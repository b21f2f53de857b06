// The appliance's side: the update state machine over a sysroot. One Agent
// holds the sysroot lock for its lifetime, so two agents (or an agent and
// `ostree admin`) never change deployments at the same time.
//
//   check:    summary -> ref's commit -> commit object + signatures ->
//             verify -> policy (OS, sequence, failed versions)
//   upgrade:  check, then pull (resumable) -> deploy (staged when booted
//             from ostree, finalized at shutdown; direct otherwise) ->
//             arm the GRUB boot counter -> pending-reboot
//   verdict:  after a boot, from bulwark-init: confirm the new deployment,
//             or record it failed and fall back to the previous one
//
// Nothing is deployed before the signature, the OS and the sequence have
// been checked; a failure at any step leaves the deployments as they were.
#pragma once

#include <ostree.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "updater/config.h"
#include "updater/glib.h"
#include "updater/keys.h"
#include "updater/remote.h"
#include "updater/status.h"

namespace bw::update {

struct AgentOptions {
  std::string sysroot = "/";
  Config config;
  ProgressFn progress;  // called during pulls (the CLI draws a bar on a terminal)
  // status and metrics only: no sysroot lock (they work while an upgrade
  // runs, reading the state it saves at each transition) and nothing written.
  bool read_only = false;
};

// How an upgrade ended when it did not fail.
struct UpgradeResult {
  bool deployed = false;
  std::string message;  // "deployed 2.0 (sequence 2) ...", or why there was nothing to do
  CommitInfo commit;
  bool staged = false;
};

// What a boot verdict did.
enum class VerdictAction { confirmed, rolled_back, fell_back, nothing };
struct VerdictResult {
  VerdictAction action = VerdictAction::nothing;
  std::string message;
  bool reboot = false;  // the caller should reboot into the previous deployment
};

// Whether a boot verdict must roll back, decided from the deployments alone
// (pure, so it is tested without a booted system). `deployed_this_boot`: the
// trial deployment was made during the current boot (it has never been
// booted, so a mismatch is not a fallback).
VerdictAction decide_verdict(bool good, const std::string& booted, const std::string& default_,
                             const std::string& trial, bool deployed_this_boot);

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> open(AgentOptions opts);
  ~Agent();

  Result<Status> status();
  // Records the result in the state (last_check) whatever it is.
  Result<CheckRecord> check();
  Result<UpgradeResult> upgrade();
  Result<std::string> rollback();
  Result<VerdictResult> boot_verdict(bool good, const std::string& reason);

  bool booted_from_ostree() const { return booted_ != nullptr; }
  const Config& config() const { return opts_.config; }
  const PersistentState& state() const { return state_; }

 private:
  Agent(AgentOptions opts) : opts_(std::move(opts)) {}
  Result<void> load();
  // Logs "state: A -> B (reason)", saves state.json, rewrites the metrics textfile.
  void transition(State to, const std::string& reason);
  Result<void> save();
  Unexpected fail(Error e);
  // The commit the remote offers, verified and checked against policy; the
  // check record says whether it is an update.
  Result<CheckRecord> fetch_candidate(Remote& remote, const TrustedKeys& keys);
  // check(), keeping the remote for upgrade() to go on with.
  struct Checked {
    CheckRecord record;
    Remote remote;
  };
  Result<Checked> check_remote();
  Result<TrustedKeys> trusted_keys() const;
  std::vector<OstreeDeployment*> deployments() const;  // of our OS, in order
  Result<void> make_default(OstreeDeployment* d);
  // Boot counter, trial record, anti-rollback floor, pending-reboot.
  void after_deploy(const CommitInfo& c, const std::string& message);
  void finish_interrupted_deploy();
  std::string grubenv_path() const;
  // Boot counting is on when the grubenv's directory exists (a sysroot
  // without GRUB has none).
  bool boot_counting() const;
  std::string repo_path() const;
  void write_metrics();
  std::string path_in_sysroot(const std::string& p) const;

  AgentOptions opts_;
  GPtr<OstreeSysroot> sysroot_;
  OstreeRepo* repo_ = nullptr;            // owned by sysroot_
  OstreeDeployment* booted_ = nullptr;    // owned by sysroot_
  PersistentState state_;
  std::string state_dir_;
  bool locked_ = false;
};

// Where a system path is for an agent working on `sysroot_path`: itself on
// the running system ("/"); otherwise /usr and /etc are those of the
// deployment that boots next (the OS image's trusted keys, its local
// configuration) and anything else is under the sysroot (/boot, /run).
std::string os_path(OstreeSysroot* sysroot, const std::string& sysroot_path, const std::string& p);

// The configuration: `config_file` when given, else /etc/bulwark/update.toml
// of the system (see os_path).
Result<Config> load_agent_config(const std::string& sysroot_path, const std::string& config_file);

// The kernel's id of the current boot (/proc/sys/kernel/random/boot_id).
std::string current_boot_id();

}  // namespace bw::update
