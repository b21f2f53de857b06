// Service definitions: parsing (each bad input names file, line and field),
// directories read vendor-first with later files replacing earlier ones,
// start order, cycles and the restart backoff.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/file.h"
#include "init/service.h"

namespace bw::init {
namespace {

ServiceDef parse_ok(const std::string& text, const std::string& name = "svc") {
  auto r = parse_service(name, "/etc/bulwark/services/" + name + ".toml", text);
  EXPECT_TRUE(r) << (r ? "" : r.error().text());
  return r ? *r : ServiceDef{};
}

std::string parse_err(const std::string& text, const std::string& name = "svc") {
  auto r = parse_service(name, "/srv/" + name + ".toml", text);
  EXPECT_FALSE(r) << "parsed, but expected an error for:\n" << text;
  return r ? "" : r.error().text();
}

TEST(ServiceParse, MinimalProcessGetsTheDefaults) {
  ServiceDef s = parse_ok("exec = [\"/bin/true\"]\n");
  EXPECT_EQ(s.name, "svc");
  EXPECT_EQ(s.kind, ServiceKind::process);
  EXPECT_EQ(s.exec, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(s.restart, RestartPolicy::on_failure);
  EXPECT_EQ(s.ready, Readiness::started);
  EXPECT_EQ(s.stop_signal, SIGTERM);
  EXPECT_EQ(s.stop_timeout_ms, 10000);
  EXPECT_EQ(s.working_directory, "/");
  EXPECT_FALSE(s.user);
  EXPECT_FALSE(s.health);
}

TEST(ServiceParse, EveryKey) {
  ServiceDef s = parse_ok(R"(
description = "web front end"
exec = ["/usr/bin/web", "--port", "8080"]
environment = { MODE = "prod", EMPTY = "" }
working_directory = "/srv"
user = 0
group = 0
requires = ["db"]
after = ["net"]
restart = "always"
restart_delay_ms = 250
restart_max_delay_ms = 8000
crash_loop_restarts = 0
crash_loop_window_ms = 1000
ready = "notify"
watchdog_ms = 3000
stop_signal = "SIGINT"
stop_timeout_ms = 1500
required_for_boot = true

[health]
command = ["/usr/bin/web-check", "-q"]
interval_ms = 2000
timeout_ms = 500
retries = 2
)");
  EXPECT_EQ(s.description, "web front end");
  EXPECT_EQ(s.exec.size(), 3u);
  EXPECT_EQ(s.environment.at("MODE"), "prod");
  EXPECT_EQ(s.environment.at("EMPTY"), "");
  EXPECT_EQ(s.working_directory, "/srv");
  EXPECT_EQ(s.user, 0u);
  EXPECT_EQ(s.group, 0u);
  EXPECT_EQ(s.requires_, std::vector<std::string>{"db"});
  EXPECT_EQ(s.after, std::vector<std::string>{"net"});
  EXPECT_EQ(s.restart, RestartPolicy::always);
  EXPECT_EQ(s.restart_delay_ms, 250);
  EXPECT_EQ(s.restart_max_delay_ms, 8000);
  EXPECT_EQ(s.crash_loop_restarts, 0);
  EXPECT_EQ(s.crash_loop_window_ms, 1000);
  EXPECT_EQ(s.ready, Readiness::notify);
  EXPECT_EQ(s.watchdog_ms, 3000);
  EXPECT_EQ(s.stop_signal, SIGINT);
  EXPECT_EQ(s.stop_timeout_ms, 1500);
  EXPECT_TRUE(s.required_for_boot);
  ASSERT_TRUE(s.health);
  EXPECT_EQ(s.health->command, (std::vector<std::string>{"/usr/bin/web-check", "-q"}));
  EXPECT_EQ(s.health->interval_ms, 2000);
  EXPECT_EQ(s.health->timeout_ms, 500);
  EXPECT_EQ(s.health->retries, 2);
}

TEST(ServiceParse, StopSignalByNumberAndShortName) {
  EXPECT_EQ(parse_ok("exec = [\"/x\"]\nstop_signal = 9\n").stop_signal, SIGKILL);
  EXPECT_EQ(parse_ok("exec = [\"/x\"]\nstop_signal = \"HUP\"\n").stop_signal, SIGHUP);
}

TEST(ServiceParse, UserByNameTakesThePrimaryGroup) {
  // root is in every /etc/passwd this runs on.
  ServiceDef s = parse_ok("exec = [\"/x\"]\nuser = \"root\"\n");
  EXPECT_EQ(s.user, 0u);
  EXPECT_EQ(s.group, 0u);
  // A uid without an entry runs with gid = uid.
  ServiceDef t = parse_ok("exec = [\"/x\"]\nuser = 3999999\n");
  EXPECT_EQ(t.group, 3999999u);
}

TEST(ServiceParse, ContainerBundleIsRelativeToTheFile) {
  ServiceDef s = parse_ok("bundle = \"bundles/web\"\n", "web");
  EXPECT_EQ(s.kind, ServiceKind::container);
  EXPECT_EQ(s.bundle, "/etc/bulwark/services/bundles/web");
  EXPECT_EQ(parse_ok("bundle = \"/var/lib/web\"\n").bundle, "/var/lib/web");
}

// Each bad input: the message starts with FILE:LINE: FIELD: and says why.
struct BadCase {
  const char* text;
  const char* expect;  // the whole "file:line: field: " prefix and a part of the reason
};

TEST(ServiceParse, BadInputNamesFileLineAndField) {
  const BadCase cases[] = {
      {"exec = [\"/x\"]\ncolour = \"red\"\n", "/srv/svc.toml:2: colour: unknown key"},
      {"exec = [\"/x\"]\n\n\nrestart = \"sometimes\"\n", "/srv/svc.toml:4: restart: expected \"no\", \"on-failure\" or \"always\", found \"sometimes\""},
      {"exec = [\"/x\"]\nrestart = 1\n", "/srv/svc.toml:2: restart: expected a string, found an integer"},
      {"exec = \"/x\"\n", "/srv/svc.toml:1: exec: expected an array of strings, found a string"},
      {"exec = []\n", "/srv/svc.toml:1: exec: must name a program"},
      {"exec = [\"x\"]\n", "/srv/svc.toml:1: exec[0]: 'x' is not an absolute path"},
      {"exec = [\"/x\", 3]\n", "/srv/svc.toml:1: exec[1]: expected a string, found an integer"},
      {"description = \"no program\"\n", "/srv/svc.toml:1: exec: one of exec"},
      {"exec = [\"/x\"]\nbundle = \"b\"\n", "/srv/svc.toml:2: bundle: a service is either"},
      {"bundle = \"b\"\nuser = 0\n", "/srv/svc.toml:2: user: only for process services"},
      {"bundle = \"b\"\nenvironment = { A = \"1\" }\n", "/srv/svc.toml:2: environment: only for process services"},
      {"exec = [\"/x\"]\nworking_directory = \"srv\"\n", "/srv/svc.toml:2: working_directory: 'srv' is not an absolute path"},
      {"exec = [\"/x\"]\n[environment]\n1BAD = \"x\"\n", "/srv/svc.toml:3: environment.1BAD: '1BAD' is not a valid variable name"},
      {"exec = [\"/x\"]\n[environment]\nA = 1\n", "/srv/svc.toml:3: environment.A: expected a string, found an integer"},
      {"exec = [\"/x\"]\nuser = \"no-such-user-here\"\n", "/srv/svc.toml:2: user: no user 'no-such-user-here' in /etc/passwd"},
      {"exec = [\"/x\"]\ngroup = \"no-such-group-here\"\n", "/srv/svc.toml:2: group: no group 'no-such-group-here'"},
      {"exec = [\"/x\"]\nuser = -1\n", "/srv/svc.toml:2: user: -1 is not a valid uid"},
      {"exec = [\"/x\"]\nuser = true\n", "/srv/svc.toml:2: user: expected a user name or uid, found a boolean"},
      {"exec = [\"/x\"]\nrequires = [\"svc\"]\n", "/srv/svc.toml:2: requires[0]: a service cannot depend on itself"},
      {"exec = [\"/x\"]\nafter = [\"a\",\n  \"b c\"]\n", "/srv/svc.toml:3: after[1]: 'b c' is not a valid service name"},
      {"exec = [\"/x\"]\nrequires = [\"a\", \"a\"]\n", "/srv/svc.toml:2: requires[1]: 'a' is listed twice"},
      {"exec = [\"/x\"]\nrestart_delay_ms = -5\n", "/srv/svc.toml:2: restart_delay_ms: -5 is out of range"},
      {"exec = [\"/x\"]\nrestart_delay_ms = 1000\nrestart_max_delay_ms = 10\n", "/srv/svc.toml:3: restart_max_delay_ms: 10 is less than restart_delay_ms (1000)"},
      {"exec = [\"/x\"]\nstop_timeout_ms = 0\n", "/srv/svc.toml:2: stop_timeout_ms: 0 is out of range"},
      {"exec = [\"/x\"]\nstop_timeout_ms = 1.5\n", "/srv/svc.toml:2: stop_timeout_ms: expected an integer, found a floating-point number"},
      {"exec = [\"/x\"]\nwatchdog_ms = 99999999999\n", "/srv/svc.toml:2: watchdog_ms: 99999999999 is out of range"},
      {"exec = [\"/x\"]\nready = \"soon\"\n", "/srv/svc.toml:2: ready: expected \"started\" or \"notify\""},
      {"exec = [\"/x\"]\nstop_signal = \"SIGNOPE\"\n", "/srv/svc.toml:2: stop_signal: 'SIGNOPE' is not a signal"},
      {"exec = [\"/x\"]\nstop_signal = \"STOP\"\n", "/srv/svc.toml:2: stop_signal: SIGSTOP cannot stop a service"},
      {"exec = [\"/x\"]\nrequired_for_boot = \"yes\"\n", "/srv/svc.toml:2: required_for_boot: expected true or false, found a string"},
      {"exec = [\"/x\"]\n[health]\ninterval_ms = 1000\n", "/srv/svc.toml:2: health.command: required when [health] is given"},
      {"exec = [\"/x\"]\n[health]\ncommand = [\"/c\"]\ninterval_ms = 5\n", "/srv/svc.toml:4: health.interval_ms: 5 is out of range"},
      {"exec = [\"/x\"]\n[health]\ncommand = [\"/c\"]\nretry = 2\n", "/srv/svc.toml:4: health.retry: unknown key"},
      {"exec = [\"/x\"]\n[health]\ncommand = [\"c\"]\n", "/srv/svc.toml:2: health.command[0]: 'c' is not an absolute path"},
      {"exec = [\"/x\"]\nhealth = 3\n", "/srv/svc.toml:2: health: expected a table, found an integer"},
      {"exec = [\"/x\"\n", "/srv/svc.toml:1: "},  // a TOML syntax error: file and line, toml++'s reason
      {"exec = [\"/x\"]\nexec = [\"/y\"]\n", "/srv/svc.toml:2: "},  // a duplicate key is a syntax error
  };
  for (const auto& c : cases) {
    std::string err = parse_err(c.text);
    EXPECT_EQ(err.rfind(c.expect, 0), 0u) << "input:\n" << c.text << "\nerror: " << err << "\nexpected prefix: " << c.expect;
  }
}

TEST(ServiceParse, BadServiceName) {
  EXPECT_EQ(parse_err("exec = [\"/x\"]\n", "a b").rfind("/srv/a b.toml:1: name: ", 0), 0u);
}

// A scratch directory tree, removed afterwards.
class ServiceDirs : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/bw-svc-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
    vendor_ = root_ + "/vendor";
    local_ = root_ + "/local";
    ASSERT_EQ(::mkdir(vendor_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(local_.c_str(), 0755), 0);
  }
  void TearDown() override { (void)remove_tree_at(AT_FDCWD, root_); }
  void put(const std::string& dir, const std::string& name, const std::string& text) {
    ASSERT_TRUE(write_file_atomic(dir + "/" + name, text, 0644, Durability::volatile_));
  }
  std::string root_, vendor_, local_;
};

TEST_F(ServiceDirs, LocalFileReplacesVendorFileOfTheSameName) {
  put(vendor_, "web.toml", "exec = [\"/usr/bin/web\"]\nrestart = \"always\"\n");
  put(vendor_, "db.toml", "exec = [\"/usr/bin/db\"]\n");
  put(local_, "web.toml", "exec = [\"/opt/web\"]\n");
  put(local_, "notes.txt", "not a service");
  auto r = load_services({vendor_, root_ + "/missing", local_});
  ASSERT_TRUE(r) << r.error().text();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "db");
  EXPECT_EQ((*r)[1].name, "web");
  // The whole file is replaced, not merged: restart is back to its default.
  EXPECT_EQ((*r)[1].exec[0], "/opt/web");
  EXPECT_EQ((*r)[1].restart, RestartPolicy::on_failure);
  EXPECT_EQ((*r)[1].file, local_ + "/web.toml");
}

TEST_F(ServiceDirs, EmptyFileMasksAVendorService) {
  put(vendor_, "web.toml", "exec = [\"/usr/bin/web\"]\n");
  put(vendor_, "db.toml", "exec = [\"/usr/bin/db\"]\n");
  put(local_, "web.toml", "");
  auto r = load_services({vendor_, local_});
  ASSERT_TRUE(r) << r.error().text();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "db");
}

TEST_F(ServiceDirs, UnknownDependencyNamesFileAndLine) {
  put(local_, "web.toml", "exec = [\"/x\"]\n\nrequires = [\"db\"]\n");
  auto r = load_services({local_});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), local_ + "/web.toml:3: requires: unknown service 'db'");
}

TEST_F(ServiceDirs, CycleNamesTheServicesInIt) {
  put(local_, "a.toml", "exec = [\"/x\"]\nrequires = [\"b\"]\n");
  put(local_, "b.toml", "exec = [\"/x\"]\nafter = [\"c\"]\n");
  put(local_, "c.toml", "exec = [\"/x\"]\nrequires = [\"a\"]\n");
  put(local_, "d.toml", "exec = [\"/x\"]\nrequires = [\"a\"]\n");
  auto r = load_services({local_});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), local_ + "/a.toml:2: requires: dependency cycle: a -> b -> c -> a");
}

TEST_F(ServiceDirs, ParseErrorInADirectoryNamesThePath) {
  put(local_, "web.toml", "exec = [\"/x\"]\nbogus = 1\n");
  auto r = load_services({local_});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), local_ + "/web.toml:2: bogus: unknown key (see examples/services/README.md for the schema)");
}

// The documented examples stay valid.
TEST(ServiceExamples, ExamplesDirectoryLoads) {
  auto r = load_services({BULWARK_SOURCE_DIR "/examples/services"});
  ASSERT_TRUE(r) << r.error().text();
  auto order = start_order(*r);
  ASSERT_TRUE(order) << order.error().text();
  EXPECT_EQ(*order, (std::vector<std::string>{"clock", "queue", "web", "report"}));
  for (const auto& s : *r)
    if (s.name == "web") {
      EXPECT_EQ(s.kind, ServiceKind::container);
      EXPECT_EQ(s.bundle, BULWARK_SOURCE_DIR "/examples/services/bundles/web");
      ASSERT_TRUE(s.health);
    }
}

ServiceDef svc(const std::string& name, std::vector<std::string> requires_ = {}, std::vector<std::string> after = {}) {
  ServiceDef s;
  s.name = name;
  s.requires_ = std::move(requires_);
  s.after = std::move(after);
  return s;
}

TEST(StartOrder, DependenciesFirstTiesByName) {
  auto r = start_order({svc("web", {"db"}, {"net"}), svc("net"), svc("db", {}, {"net"}), svc("cron"),
                        svc("backup", {"db", "web"})});
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(*r, (std::vector<std::string>{"cron", "net", "db", "web", "backup"}));
}

TEST(StartOrder, AfterAlsoOrders) {
  auto r = start_order({svc("a", {}, {"b"}), svc("b")});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<std::string>{"b", "a"}));
}

TEST(StartOrder, CycleIsAnError) {
  auto r = start_order({svc("a", {"b"}), svc("b", {}, {"a"}), svc("c")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), "dependency cycle: a -> b -> a");
}

TEST(StartOrder, UnknownDependencyIsAnError) {
  auto r = start_order({svc("a", {"zz"})});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), "service 'a' depends on unknown service 'zz'");
}

TEST(Backoff, DoublesUpToTheCap) {
  ServiceDef s;
  s.restart_delay_ms = 100;
  s.restart_max_delay_ms = 1000;
  EXPECT_EQ(backoff_delay_ms(s, 0), 100);
  EXPECT_EQ(backoff_delay_ms(s, 1), 200);
  EXPECT_EQ(backoff_delay_ms(s, 2), 400);
  EXPECT_EQ(backoff_delay_ms(s, 3), 800);
  EXPECT_EQ(backoff_delay_ms(s, 4), 1000);
  EXPECT_EQ(backoff_delay_ms(s, 1000000), 1000);
  s.restart_delay_ms = 0;
  EXPECT_EQ(backoff_delay_ms(s, 5), 0);
  s.restart_delay_ms = 3000000;
  s.restart_max_delay_ms = 3600000;
  EXPECT_EQ(backoff_delay_ms(s, 40), 3600000);
}

}  // namespace
}  // namespace bw::init
