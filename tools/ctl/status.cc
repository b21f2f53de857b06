#include "status.h"

#include <algorithm>
#include <vector>

#include "base/result.h"

namespace bw::ctl {

std::string format_duration_ms(long long ms) {
  long long s = std::max(0LL, ms) / 1000;
  if (s < 60) return strf("%llds", s);
  if (s < 3600) return strf("%lldm%02llds", s / 60, s % 60);
  if (s < 86400) return strf("%lldh%02lldm", s / 3600, s % 3600 / 60);
  return strf("%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

namespace {

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  return it->dump();
}

long long number(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

}  // namespace

std::string format_status_table(const nlohmann::json& services) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "STATE", "KIND", "PID", "RESTARTS", "HEALTH", "SINCE", "STATUS"}};
  for (const auto& s : services) {
    if (!s.is_object()) continue;
    long long pid = number(s, "pid");
    rows.push_back({text(s, "name"), text(s, "state"), text(s, "kind"), pid > 0 ? std::to_string(pid) : "-",
                    std::to_string(number(s, "restarts")), text(s, "health"),
                    format_duration_ms(number(s, "since_ms")), text(s, "status")});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string format_boot_verdict(const nlohmann::json& result) {
  auto it = result.find("boot_verdict");
  if (it == result.end() || !it->is_object()) return "";
  std::string verdict = text(*it, "verdict"), reason = text(*it, "reason");
  long long ms = number(*it, "elapsed_ms");
  std::string out = "Boot verdict: " + verdict;
  if (reason != "-") out += " (" + reason + (ms > 0 ? strf(", after %.1f s", ms / 1000.0) : "") + ")";
  return out + "\n";
}

}  // namespace bw::ctl
