// Capabilities with libcap: the five sets of process.capabilities.
#pragma once

#include "base/result.h"
#include "oci/spec.h"

namespace bw::sandbox {

// Drops every capability not in the bounding set (needs CAP_SETPCAP, so call
// while still privileged).
Result<void> drop_bounding_set(const oci::Capabilities& caps);
// Sets effective/permitted/inheritable, then raises the ambient set.
// Call after switching uid with PR_SET_KEEPCAPS.
Result<void> apply_capabilities(const oci::Capabilities& caps);
// True when the effective set being applied includes `name` ("CAP_SYS_ADMIN").
bool has_capability(const oci::Capabilities& caps, const char* name);

}  // namespace bw::sandbox
