// The boot verdict: whether this boot is good, decided once per run of the
// supervisor from the services marked `required_for_boot`, and handed to
// the updater (a file in the state directory and the boot-verdict hooks;
// see init/BOOT.md). BootVerdict is only the decision: the supervisor feeds
// it what happens to each service and delivers what it decides, so it can be
// tested without processes or a clock.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bw::init {

inline constexpr int kDefaultBootDeadlineMs = 120000;
// The longest deadline the command line accepts: a day.
inline constexpr int kMaxBootDeadlineS = 86400;

enum class Verdict { good, bad };
const char* verdict_name(Verdict v);  // "good", "bad"

struct BootDecision {
  Verdict verdict = Verdict::bad;
  std::string reason;       // one line: "service 'web' not healthy within 120 s"
  std::string time;         // RFC 3339 UTC, when it was decided
  long long elapsed_ms = 0;  // from the start of the services
};

// The boot-verdict file: one JSON object and a newline,
// {"verdict":"good","reason":"...","time":"...","elapsed_ms":N}.
std::string boot_decision_json(const BootDecision& d);

class BootVerdict {
 public:
  struct Entry {
    std::string name;
    bool required = false;      // required_for_boot
    bool health_check = false;  // has a [health] section: up only once a check passed
  };

  // `services` in start order (the order in which the reasons look for a
  // culprit); the clock starts at `start_ms` (EventLoop::now_ms()).
  BootVerdict(std::vector<Entry> services, long long deadline_ms, long long start_ms);

  // Called once, with the decision, when it is made.
  std::function<void(const BootDecision&)> on_decided;

  // What happens to the services. Names the verdict does not know are ignored.
  //   ready:     running and ready (per its readiness mode)
  //   healthy:   a health check passed (counts only while it is ready)
  //   down:      no longer running; it may come back (a restart)
  //   done:      it will not run again by itself; `what` completes
  //              "service 'NAME' ...", e.g. "failed: exited with status 1"
  //   unhealthy: its health checks failed `retries` times in a row; `what`
  //              likewise ("unhealthy: 3 health checks failed in a row ...")
  void ready(const std::string& name, long long now_ms);
  void healthy(const std::string& name, long long now_ms);
  void down(const std::string& name);
  void done(const std::string& name, const std::string& what, long long now_ms);
  void unhealthy(const std::string& name, const std::string& what, long long now_ms);
  // Decides now if it can (no services at all: good at once). Events call it too.
  void check(long long now_ms);
  // The deadline timer fired: decides whatever is still open.
  void deadline_passed(long long now_ms);
  // Bad now, for a reason outside the services (their definitions could not
  // be loaded, so PID 1 runs none).
  void fail(const std::string& reason, long long now_ms);
  // A shutdown began before the verdict: there will be none.
  void abandon();

  bool decided() const { return decision_.has_value(); }
  bool abandoned() const { return abandoned_; }
  const std::optional<BootDecision>& decision() const { return decision_; }
  long long deadline_ms() const { return deadline_ms_; }
  long long start_ms() const { return start_ms_; }
  // While undecided: what it is waiting for ("waiting for 'web' to become
  // healthy"); "" once decided or abandoned.
  std::string pending_reason() const;

 private:
  struct Svc {
    Entry entry;
    bool ready = false;
    bool healthy = false;
    bool started_once = false;  // was ready at least once
    bool done = false;
  };
  Svc* find(const std::string& name);
  bool up(const Svc& s) const { return s.ready && (!s.entry.health_check || s.healthy); }
  const Svc* first_required_not_up() const;
  void decide(Verdict v, std::string reason, long long now_ms);

  std::vector<Svc> services_;
  int required_ = 0;
  long long deadline_ms_;
  long long start_ms_;
  std::optional<BootDecision> decision_;
  bool abandoned_ = false;
};

}  // namespace bw::init
