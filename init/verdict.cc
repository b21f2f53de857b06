#include "init/verdict.h"

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "base/strings.h"

namespace bw::init {

namespace {

// "120 s", or "1500 ms" for a deadline that is not whole seconds (tests).
std::string duration_text(long long ms) {
  return ms % 1000 == 0 ? strf("%lld s", ms / 1000) : strf("%lld ms", ms);
}

std::string plural(long long n, const char* one, const char* many) { return strf("%lld %s", n, n == 1 ? one : many); }

}  // namespace

const char* verdict_name(Verdict v) { return v == Verdict::good ? "good" : "bad"; }

std::string boot_decision_json(const BootDecision& d) {
  // ordered_json keeps the documented field order.
  nlohmann::ordered_json j{{"verdict", verdict_name(d.verdict)},
                           {"reason", d.reason},
                           {"time", d.time},
                           {"elapsed_ms", d.elapsed_ms}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

BootVerdict::BootVerdict(std::vector<Entry> services, long long deadline_ms, long long start_ms)
    : deadline_ms_(deadline_ms), start_ms_(start_ms) {
  for (auto& e : services) {
    if (e.required) ++required_;
    services_.push_back(Svc{std::move(e)});
  }
}

BootVerdict::Svc* BootVerdict::find(const std::string& name) {
  for (auto& s : services_)
    if (s.entry.name == name) return &s;
  return nullptr;
}

const BootVerdict::Svc* BootVerdict::first_required_not_up() const {
  for (const auto& s : services_)
    if (s.entry.required && !up(s)) return &s;
  return nullptr;
}

void BootVerdict::ready(const std::string& name, long long now_ms) {
  Svc* s = find(name);
  if (!s) return;
  s->ready = true;
  s->started_once = true;
  check(now_ms);
}

void BootVerdict::healthy(const std::string& name, long long now_ms) {
  Svc* s = find(name);
  if (!s || !s->ready) return;
  s->healthy = true;
  check(now_ms);
}

void BootVerdict::down(const std::string& name) {
  Svc* s = find(name);
  if (!s) return;
  s->ready = false;
  s->healthy = false;
}

void BootVerdict::done(const std::string& name, const std::string& what, long long now_ms) {
  Svc* s = find(name);
  if (!s) return;
  s->ready = false;
  s->healthy = false;
  s->done = true;
  if (s->entry.required) decide(Verdict::bad, strf("service '%s' %s", name.c_str(), what.c_str()), now_ms);
  check(now_ms);
}

void BootVerdict::unhealthy(const std::string& name, const std::string& what, long long now_ms) {
  Svc* s = find(name);
  if (!s) return;
  s->healthy = false;
  // A required service that failed its health checks fails the boot even
  // though its restart policy may bring it back: the updater must not call
  // a deployment good whose services go unhealthy while it boots.
  if (s->entry.required) decide(Verdict::bad, strf("service '%s' %s", name.c_str(), what.c_str()), now_ms);
}

void BootVerdict::check(long long now_ms) {
  if (decision_ || abandoned_) return;
  if (required_ > 0) {
    if (first_required_not_up()) return;
    bool all_checked = true;
    for (const auto& s : services_)
      if (s.entry.required && !s.entry.health_check) all_checked = false;
    decide(Verdict::good,
           strf("all %s %s", plural(required_, "required service", "required services").c_str(),
                all_checked ? "healthy" : "up"),
           now_ms);
    return;
  }
  // Nothing is required: the verdict only waits for every service to have
  // finished starting (ready once, or done), so that it does not come before
  // the services had their chance.
  long long running = 0;
  for (const auto& s : services_) {
    if (!s.started_once && !s.done) return;
    if (s.ready) ++running;
  }
  if (services_.empty()) {
    decide(Verdict::good, "no services", now_ms);
  } else {
    decide(Verdict::good,
           strf("no required services; %lld of %s running", running,
                plural(static_cast<long long>(services_.size()), "service", "services").c_str()),
           now_ms);
  }
}

void BootVerdict::deadline_passed(long long now_ms) {
  if (decision_ || abandoned_) return;
  std::string within = duration_text(deadline_ms_);
  if (required_ == 0) {
    // Nobody asked for the boot to be judged by a service: it is good, and
    // the reason says what was still starting.
    long long starting = 0;
    std::string first;
    for (const auto& s : services_) {
      if (s.started_once || s.done) continue;
      if (first.empty()) first = s.entry.name;
      ++starting;
    }
    decide(Verdict::good,
           strf("no required services; '%s'%s still starting after %s", first.c_str(),
                starting > 1 ? strf(" and %lld more", starting - 1).c_str() : "", within.c_str()),
           now_ms);
    return;
  }
  const Svc* s = first_required_not_up();
  if (!s) {  // cannot happen: check() would have decided
    check(now_ms);
    return;
  }
  long long others = 0;
  for (const auto& o : services_)
    if (o.entry.required && !up(o) && &o != s) ++others;
  decide(Verdict::bad,
         strf("service '%s' not %s within %s%s", s->entry.name.c_str(), s->ready ? "healthy" : "ready",
              within.c_str(),
              others ? strf(" (and %s)", plural(others, "more required service", "more required services").c_str()).c_str()
                     : ""),
         now_ms);
}

void BootVerdict::fail(const std::string& reason, long long now_ms) { decide(Verdict::bad, reason, now_ms); }

void BootVerdict::abandon() {
  if (!decision_) abandoned_ = true;
}

std::string BootVerdict::pending_reason() const {
  if (decision_ || abandoned_) return "";
  if (required_ > 0) {
    const Svc* s = first_required_not_up();
    if (!s) return "";
    return strf("waiting for '%s' to become %s", s->entry.name.c_str(), s->ready ? "healthy" : "ready");
  }
  for (const auto& s : services_)
    if (!s.started_once && !s.done) return strf("waiting for '%s' to finish starting", s.entry.name.c_str());
  return "";
}

void BootVerdict::decide(Verdict v, std::string reason, long long now_ms) {
  if (decision_ || abandoned_) return;
  // One line: it is a hook's argument and a log line.
  for (char& c : reason)
    if (c == '\n' || c == '\r') c = ' ';
  decision_ = BootDecision{v, std::move(reason), now_rfc3339(), now_ms - start_ms_};
  if (on_decided) on_decided(*decision_);
}

}  // namespace bw::init
