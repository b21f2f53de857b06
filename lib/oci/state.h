// The OCI state (what `state` prints and hooks receive on stdin).
#pragma once

#include <map>
#include <string>
#include <sys/types.h>

#include "base/result.h"

namespace bw::oci {

struct State {
  std::string oci_version = "1.2.0";
  std::string id;
  std::string status;  // creating, created, running, stopped (paused as runc reports it)
  pid_t pid = 0;
  std::string bundle;
  std::map<std::string, std::string> annotations;
};

std::string state_to_json(const State& s, int indent = -1);

}  // namespace bw::oci
