// The human-readable form of `bulwarkctl status`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace bw::ctl {

// "3m12s", "2h05m", "4d03h": the largest two units.
std::string format_duration_ms(long long ms);
// A table, one service per row: NAME STATE KIND PID RESTARTS HEALTH SINCE STATUS.
std::string format_status_table(const nlohmann::json& services);
// "Boot verdict: good (all 2 required services up, after 1.2 s)\n" from the
// status result's boot_verdict object; "" when there is none.
std::string format_boot_verdict(const nlohmann::json& result);

}  // namespace bw::ctl
