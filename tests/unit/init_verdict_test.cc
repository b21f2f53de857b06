// The boot verdict's decision, fed events by hand with a fake clock: good
// once every required service is up (ready and, with a health check,
// healthy), bad at the first required service that fails for good or goes
// unhealthy, bad at the deadline naming what was missing; without required
// services, good once every service finished starting. Also its JSON file
// and the kernel command line key for its deadline.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "init/cmdline.h"
#include "init/verdict.h"

namespace bw::init {
namespace {

using Entry = BootVerdict::Entry;

// A verdict with its callback recorded.
struct Harness {
  explicit Harness(std::vector<Entry> services, long long deadline_ms = 120000)
      : v(std::move(services), deadline_ms, 1000) {
    v.on_decided = [this](const BootDecision& d) { calls.push_back(d); };
  }
  BootVerdict v;
  std::vector<BootDecision> calls;
};

TEST(BootVerdict, GoodWhenEveryRequiredServiceIsReadyAndHealthy) {
  Harness h({{"db", true, false}, {"web", true, true}, {"extra", false, false}});
  h.v.check(1000);
  EXPECT_FALSE(h.v.decided());
  h.v.ready("db", 1100);
  h.v.ready("web", 1200);
  // web has a health check: ready is not enough.
  EXPECT_FALSE(h.v.decided());
  EXPECT_EQ(h.v.pending_reason(), "waiting for 'web' to become healthy");
  h.v.healthy("web", 1500);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::good);
  EXPECT_EQ(h.v.decision()->reason, "all 2 required services up");
  EXPECT_EQ(h.v.decision()->elapsed_ms, 500);
  // The non-required service never started: it does not matter.
  ASSERT_EQ(h.calls.size(), 1u);
}

TEST(BootVerdict, ReasonSaysHealthyWhenEveryRequiredServiceHasAHealthCheck) {
  Harness h({{"a", true, true}, {"b", true, true}});
  h.v.ready("a", 1001);
  h.v.healthy("a", 1002);
  h.v.ready("b", 1003);
  h.v.healthy("b", 1004);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->reason, "all 2 required services healthy");
  Harness one({{"a", true, false}});
  one.v.ready("a", 1001);
  ASSERT_TRUE(one.v.decided());
  EXPECT_EQ(one.v.decision()->reason, "all 1 required service up");
}

TEST(BootVerdict, HealthBeforeReadinessOrFromAnEarlierRunDoesNotCount) {
  Harness h({{"web", true, true}});
  h.v.healthy("web", 1001);  // not ready: ignored
  h.v.ready("web", 1002);
  EXPECT_FALSE(h.v.decided());
  h.v.healthy("web", 1003);
  EXPECT_TRUE(h.v.decided());

  // Ready and healthy for a while, but a required service that restarts
  // before the other is up must prove itself again.
  Harness r({{"web", true, true}, {"db", true, false}});
  r.v.ready("web", 1001);
  r.v.healthy("web", 1002);
  r.v.down("web");
  r.v.ready("web", 1100);
  r.v.ready("db", 1200);
  EXPECT_FALSE(r.v.decided());
  r.v.healthy("web", 1300);
  ASSERT_TRUE(r.v.decided());
  EXPECT_EQ(r.v.decision()->verdict, Verdict::good);
}

TEST(BootVerdict, BadAsSoonAsARequiredServiceFailsForGood) {
  Harness h({{"web", true, false}, {"db", true, false}});
  h.v.ready("web", 1001);
  h.v.done("db", "failed: exited with status 1", 1250);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::bad);
  EXPECT_EQ(h.v.decision()->reason, "service 'db' failed: exited with status 1");
  EXPECT_EQ(h.v.decision()->elapsed_ms, 250);
  // Later events change nothing, and the callback ran once.
  h.v.ready("db", 1300);
  h.v.deadline_passed(200000);
  EXPECT_EQ(h.v.decision()->verdict, Verdict::bad);
  EXPECT_EQ(h.calls.size(), 1u);
}

TEST(BootVerdict, BadWhenARequiredServiceGoesUnhealthy) {
  Harness h({{"web", true, true}});
  h.v.ready("web", 1001);
  h.v.unhealthy("web", "unhealthy: 3 health checks failed in a row (last: exited with status 1)", 1500);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::bad);
  EXPECT_EQ(h.v.decision()->reason,
            "service 'web' unhealthy: 3 health checks failed in a row (last: exited with status 1)");
}

TEST(BootVerdict, ANonRequiredServiceFailingDoesNotMatter) {
  Harness h({{"web", true, false}, {"extra", false, true}});
  h.v.ready("extra", 1001);
  h.v.unhealthy("extra", "unhealthy: ...", 1002);
  h.v.done("extra", "failed: crash loop", 1003);
  EXPECT_FALSE(h.v.decided());
  h.v.ready("web", 1004);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::good);
}

TEST(BootVerdict, ADownRequiredServiceIsNotUpUntilItIsReadyAgain) {
  Harness h({{"a", true, false}, {"b", true, false}});
  h.v.ready("a", 1001);
  h.v.down("a");  // restarting after a crash
  h.v.ready("b", 1002);
  EXPECT_FALSE(h.v.decided());
  EXPECT_EQ(h.v.pending_reason(), "waiting for 'a' to become ready");
  h.v.ready("a", 1003);
  EXPECT_TRUE(h.v.decided());
}

TEST(BootVerdict, DeadlineNamesTheFirstRequiredServiceNotUp) {
  Harness h({{"db", true, false}, {"web", true, true}}, 120000);
  h.v.ready("db", 1001);
  h.v.ready("web", 1002);
  h.v.deadline_passed(121000);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::bad);
  EXPECT_EQ(h.v.decision()->reason, "service 'web' not healthy within 120 s");
  EXPECT_EQ(h.v.decision()->elapsed_ms, 120000);

  Harness two({{"a", true, false}, {"b", true, false}, {"c", true, false}}, 1500);
  two.v.ready("b", 1001);
  two.v.deadline_passed(2500);
  ASSERT_TRUE(two.v.decided());
  EXPECT_EQ(two.v.decision()->reason, "service 'a' not ready within 1500 ms (and 1 more required service)");
}

TEST(BootVerdict, WithoutRequiredServicesGoodOnceEveryServiceFinishedStarting) {
  Harness h({{"a", false, true}, {"b", false, false}, {"c", false, false}});
  h.v.ready("a", 1001);
  h.v.done("b", "exited with status 0 and is not restarted", 1002);
  EXPECT_FALSE(h.v.decided());
  EXPECT_EQ(h.v.pending_reason(), "waiting for 'c' to finish starting");
  h.v.ready("c", 1003);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::good);
  EXPECT_EQ(h.v.decision()->reason, "no required services; 2 of 3 services running");
}

TEST(BootVerdict, WithoutRequiredServicesTheDeadlineStillGivesGood) {
  Harness h({{"a", false, false}, {"b", false, false}, {"c", false, false}}, 5000);
  h.v.ready("a", 1001);
  h.v.deadline_passed(6000);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::good);
  EXPECT_EQ(h.v.decision()->reason, "no required services; 'b' and 1 more still starting after 5 s");
}

TEST(BootVerdict, NoServicesAtAllIsGoodAtOnce) {
  Harness h({});
  h.v.check(1000);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::good);
  EXPECT_EQ(h.v.decision()->reason, "no services");
  EXPECT_EQ(h.v.decision()->elapsed_ms, 0);
}

TEST(BootVerdict, FailIsBadAtOnceOnOneLine) {
  // PID 1 could not load the service definitions and runs none: without
  // fail() that would be a good boot ("no services").
  Harness h({});
  h.v.fail("service definitions could not be loaded: web.toml:7: restart: expected \"no\"\nsecond line", 1000);
  h.v.check(1000);
  ASSERT_TRUE(h.v.decided());
  EXPECT_EQ(h.v.decision()->verdict, Verdict::bad);
  EXPECT_EQ(h.v.decision()->reason,
            "service definitions could not be loaded: web.toml:7: restart: expected \"no\" second line");
  EXPECT_EQ(h.calls.size(), 1u);
}

TEST(BootVerdict, AbandonedByAShutdownDecidesNothing) {
  Harness h({{"web", true, false}});
  h.v.abandon();
  h.v.ready("web", 1001);
  h.v.deadline_passed(200000);
  EXPECT_FALSE(h.v.decided());
  EXPECT_TRUE(h.v.abandoned());
  EXPECT_EQ(h.v.pending_reason(), "");
  EXPECT_TRUE(h.calls.empty());
  // A decision already made stands.
  Harness d({{"web", true, false}});
  d.v.ready("web", 1001);
  d.v.abandon();
  EXPECT_FALSE(d.v.abandoned());
  EXPECT_TRUE(d.v.decided());
}

TEST(BootVerdict, UnknownNamesAreIgnored) {
  Harness h({{"web", true, false}});
  h.v.done("nope", "failed: x", 1001);
  h.v.unhealthy("nope", "unhealthy: x", 1001);
  EXPECT_FALSE(h.v.decided());
}

TEST(BootVerdict, FileIsOneJsonObjectInTheDocumentedOrder) {
  BootDecision d{Verdict::bad, "service 'web' said \"no\"", "2026-11-28T10:31:03.123456789Z", 4200};
  std::string text = boot_decision_json(d);
  EXPECT_EQ(text,
            "{\"verdict\":\"bad\",\"reason\":\"service 'web' said \\\"no\\\"\","
            "\"time\":\"2026-11-28T10:31:03.123456789Z\",\"elapsed_ms\":4200}\n");
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["reason"], "service 'web' said \"no\"");
}

TEST(BootVerdict, DecisionTimeIsRfc3339Utc) {
  Harness h({});
  h.v.check(1000);
  ASSERT_TRUE(h.v.decided());
  const std::string& t = h.v.decision()->time;
  // 2026-11-28T10:31:03.123456789Z
  ASSERT_EQ(t.size(), 30u) << t;
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t[19], '.');
  EXPECT_EQ(t.back(), 'Z');
}

TEST(BootDeadline, KernelCommandLine) {
  auto absent = boot_deadline_ms(KernelCmdline::parse("root=/dev/vda ro"), kMaxBootDeadlineS);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent);
  auto set = boot_deadline_ms(KernelCmdline::parse("bulwark.boot_deadline=300 quiet"), kMaxBootDeadlineS);
  ASSERT_TRUE(set) << set.error().text();
  EXPECT_EQ(*set, 300000);
  for (const char* bad : {"bulwark.boot_deadline=0", "bulwark.boot_deadline=-5", "bulwark.boot_deadline=2m",
                          "bulwark.boot_deadline=86401", "bulwark.boot_deadline=", "bulwark.boot_deadline"}) {
    auto r = boot_deadline_ms(KernelCmdline::parse(bad), kMaxBootDeadlineS);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().text().find("bulwark.boot_deadline: expected a whole number of seconds from 1 to 86400"),
              std::string::npos)
        << r.error().text();
  }
}

}  // namespace
}  // namespace bw::init
