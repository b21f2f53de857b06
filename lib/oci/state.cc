// The OCI state document: what `state` prints and hooks read on stdin.

#include "oci/state.h"

#include <nlohmann/json.hpp>

namespace bw::oci {

std::string state_to_json(const State& s, int indent) {
  nlohmann::ordered_json j;
  j["ociVersion"] = s.oci_version;
  j["id"] = s.id;
  j["status"] = s.status;
  // The spec requires pid while the container process exists (created,
  // running, paused); a stopped container's pid may already be reused.
  if (s.pid > 0 && s.status != "stopped") j["pid"] = s.pid;
  j["bundle"] = s.bundle;
  j["annotations"] = s.annotations;
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace bw::oci
