#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bw {

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view trim(std::string_view s);
// Parses a whole string as a base-10 integer; nullopt on any junk or overflow.
std::optional<long long> parse_int(std::string_view s);
// The current UTC time as RFC 3339 with nanoseconds: "2026-11-28T10:31:03.123456789Z".
std::string now_rfc3339();
// JSON-escapes a string (without the surrounding quotes).
std::string json_escape(std::string_view s);

}  // namespace bw
