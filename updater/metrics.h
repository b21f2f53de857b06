// Renderings of the agent's Status: Prometheus metrics (`metrics`, the
// daemon's textfile) and the JSON of `status --json`. Both are documented in
// updater/README.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "updater/status.h"

namespace bw::update {

// The Prometheus text exposition format (version 0.0.4), ending in a
// newline. `now` (seconds since the epoch) becomes
// bulwark_update_metrics_timestamp_seconds, which tells a stale textfile.
std::string render_metrics(const Status& s, int64_t now);

// A label value escaped for the text format: '\' -> "\\", '"' -> "\"",
// newline -> "\n".
std::string escape_label_value(std::string_view v);

// The JSON document `status --json` prints (indented, without a final
// newline); keys keep the documented order. Strings that are not valid
// UTF-8 (an error text from a server, say) have the bad bytes replaced by
// U+FFFD rather than failing.
std::string status_json(const Status& s);
nlohmann::ordered_json status_to_json(const Status& s);

// {"checksum", "version", "sequence", "os", "timestamp"}; null when the
// checksum is empty (no commit). `check --json` can use it for the candidate.
nlohmann::ordered_json commit_to_json(const CommitInfo& c);

// Seconds since the epoch as RFC 3339 in UTC ("2026-11-28T10:31:03Z"); null
// for 0, which means "never".
nlohmann::ordered_json time_to_json(int64_t t);

}  // namespace bw::update
