#include "updater/status.h"

namespace bw::update {

const char* state_name(State s) {
  switch (s) {
    case State::idle: return "idle";
    case State::checking: return "checking";
    case State::downloading: return "downloading";
    case State::deploying: return "deploying";
    case State::pending_reboot: return "pending-reboot";
    case State::trial_boot: return "trial-boot";
    case State::rolled_back: return "rolled-back";
    case State::failed: return "failed";
  }
  // Only reachable through a cast from a number read from outside.
  return "unknown";
}

std::optional<State> parse_state(std::string_view name) {
  for (State s : all_states) {
    if (name == state_name(s)) return s;
  }
  return std::nullopt;
}

}  // namespace bw::update
