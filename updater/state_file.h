// The agent's persistent state, state.json in the OS's /var
// (<sysroot>/ostree/deploy/<os>/var/lib/bulwark/update/), written atomically.
#pragma once

#include <string>

#include "base/result.h"
#include "updater/status.h"

namespace bw::update {

std::string state_dir(const std::string& sysroot, const std::string& os);

// A missing file is a fresh state. A file that cannot be parsed is moved
// aside to state.json.corrupt and a fresh state returned, with `warning`
// saying so: an appliance must keep updating, and the anti-rollback floor is
// also enforced from the deployed commits' sequences.
Result<PersistentState> load_state(const std::string& dir, std::string* warning);
Result<void> save_state(const std::string& dir, const PersistentState& s);

std::string state_to_json(const PersistentState& s);
Result<PersistentState> state_from_json(const std::string& text);

}  // namespace bw::update
