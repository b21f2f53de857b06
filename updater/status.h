// The agent's view of an appliance: its persistent state (state.json in the
// OS's /var) and the deployments libostree reports. `status --json` and the
// Prometheus metrics are both rendered from Status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bw::update {

enum class State { idle, checking, downloading, deploying, pending_reboot, trial_boot, rolled_back, failed };
// "idle", "checking", "downloading", "deploying", "pending-reboot", "trial-boot", "rolled-back", "failed"
const char* state_name(State s);
std::optional<State> parse_state(std::string_view name);
inline constexpr State all_states[] = {State::idle,           State::checking,   State::downloading,
                                       State::deploying,      State::pending_reboot, State::trial_boot,
                                       State::rolled_back,    State::failed};

// A commit as Bulwark's metadata describes it.
struct CommitInfo {
  std::string checksum;
  std::string version;
  uint64_t sequence = 0;
  std::string os;
  int64_t timestamp = 0;  // the commit's own time (seconds since the epoch)
};

struct Deployment {
  std::string role;  // "booted", "pending" (default for next boot, not booted), "rollback", "other"
  std::string stateroot;
  CommitInfo commit;
  int index = 0;        // position in the sysroot's deployment list (0 = default)
  bool staged = false;  // written at shutdown by the finalizer
};

struct CheckRecord {
  int64_t time = 0;       // seconds since the epoch; 0 = never checked
  bool ok = false;        // the check itself succeeded
  bool available = false; // a newer, acceptable commit exists
  std::string error;      // why it failed, when !ok
  CommitInfo candidate;   // the remote's commit, when ok
};

struct FailedVersion {
  CommitInfo commit;
  std::string reason;
  int64_t time = 0;
};

// What state.json holds.
struct PersistentState {
  State state = State::idle;
  std::string reason;       // of the last transition
  int64_t since = 0;        // time of the last transition
  std::string error;        // the last operation's error, when state == failed
  CheckRecord last_check;
  uint64_t highest_sequence = 0;      // anti-rollback floor: never deploy a sequence <= this
  std::vector<FailedVersion> failed;  // versions that failed their boot
  std::string trial_checksum;         // deployment on trial (booted or pending), "" when none
  std::string trial_boot_id;          // boot (kernel boot_id) during which it was deployed
  uint64_t upgrades_total = 0;
  uint64_t rollbacks_total = 0;       // automatic and manual
  uint64_t failed_boots_total = 0;
};

struct Status {
  std::string os;  // the stateroot the agent manages
  bool booted_from_ostree = false;
  PersistentState state;
  std::vector<Deployment> deployments;
};

}  // namespace bw::update
