// OCI hooks: each runs with the container state JSON on stdin, its own env,
// and an optional timeout; a failing hook fails the operation (except
// poststart/poststop, whose failures the caller logs and ignores).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "oci/spec.h"

namespace bw::sandbox {

// Runs hooks in order; stops at the first failure, with an error naming the
// hook kind, index and path ("hooks.prestart[1] '/usr/bin/x': exited with status 3").
Result<void> run_hooks(const char* kind, const std::vector<oci::Hook>& hooks,
                       const std::string& state_json);

}  // namespace bw::sandbox
