// The human-readable form of `bulwarkctl status`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace bw::ctl {

// "3m12s", "2h05m", "4d03h": the largest two units.
std::string format_duration_ms(long long ms);
// A table, one service per row: NAME STATE KIND PID RESTARTS HEALTH SINCE STATUS.
std::string format_status_table(const nlohmann::json& services);

}  // namespace bw::ctl
