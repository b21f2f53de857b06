// The control socket: the access policy file, roles, and the server's
// request handling over a real socketpair with a fake supervisor behind it.
// Credentials are given per connection here; the privileged test
// (control_socket_test) checks the real SO_PEERCRED path with real uids.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/unix_socket.h"
#include "init/control.h"

namespace bw::init {
namespace {

using json = nlohmann::json;

// ------------------------------------------------------------ policy

Accounts test_accounts() {
  Accounts a;
  a.users = {{"alice", 1000}, {"bob", 1001}};
  a.groups = {{"wheel", 10}, {"ops", 2000}};
  return a;
}

Result<AccessPolicy> parse(const std::string& text) {
  return parse_access_policy("access.toml", text, test_accounts());
}

std::string parse_error(const std::string& text) {
  auto p = parse(text);
  EXPECT_FALSE(p) << "accepted: " << text;
  return p ? "" : p.error().text();
}

TEST(AccessPolicy, ParsesNamesAndNumericIds) {
  auto p = parse(R"(
# who may use the control socket
[users]
alice = "operator"
1002 = "viewer"

[groups]
wheel = "admin"
"3000" = "viewer"
)");
  ASSERT_TRUE(p) << p.error().text();
  using U = std::vector<std::pair<uid_t, Role>>;
  EXPECT_EQ(p->users, (U{{1000, Role::operator_}, {1002, Role::viewer}}));
  EXPECT_EQ(p->groups, (U{{10, Role::admin}, {3000, Role::viewer}}));
  auto empty = parse("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->users.empty() && empty->groups.empty());
}

TEST(AccessPolicy, ErrorsNameFileLineAndField) {
  EXPECT_EQ(parse_error("[users]\nalice = \"viewer\"\nbob = \"root\"\n"),
            "access.toml:3: users.bob: unknown role 'root' (expected viewer, operator or admin)");
  EXPECT_EQ(parse_error("[users]\nmallory = \"viewer\"\n"),
            "access.toml:2: users.mallory: no user named 'mallory' in /etc/passwd");
  EXPECT_EQ(parse_error("[groups]\n\nstaff = \"viewer\"\n"),
            "access.toml:3: groups.staff: no group named 'staff' in /etc/group");
  EXPECT_EQ(parse_error("[users]\nalice = 3\n"),
            "access.toml:2: users.alice: expected a role as a string (\"viewer\", \"operator\" or \"admin\"), found "
            "an integer");
  EXPECT_EQ(parse_error("[users]\nalice = \"viewer\"\n1000 = \"admin\"\n"),
            "access.toml:3: users.1000: uid 1000 already has a role (line 2)");
  EXPECT_EQ(parse_error("[users]\n99999999999 = \"admin\"\n"),
            "access.toml:2: users.99999999999: uid 99999999999 is out of range");
  EXPECT_EQ(parse_error("[user]\nalice = \"viewer\"\n"),
            "access.toml:1: user: unknown table (expected [users] or [groups])");
  EXPECT_EQ(parse_error("users = \"alice\"\n"), "access.toml:1: users: expected a table");
  std::string syntax = parse_error("[users]\nalice = viewer\n");
  EXPECT_TRUE(syntax.starts_with("access.toml:2: ")) << syntax;
}

TEST(AccessPolicy, TheExampleFileLoads) {
  auto text = read_file(std::string(BULWARK_SOURCE_DIR) + "/examples/access.toml");
  ASSERT_TRUE(text) << text.error().text();
  Accounts a;
  a.users = {{"monitor", 900}};
  a.groups = {{"wheel", 10}, {"adm", 4}};
  auto p = parse_access_policy("examples/access.toml", *text, a);
  ASSERT_TRUE(p) << p.error().text();
  EXPECT_EQ(p->role_for(900, 900, {}), Role::viewer);
  EXPECT_EQ(p->role_for(1000, 1000, {}), Role::operator_);
  EXPECT_EQ(p->role_for(1001, 1001, {10}), Role::admin);
}

TEST(AccessPolicy, ReadsPasswdAndGroupFiles) {
  char tmpl[] = "/tmp/bw-accounts-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(write_file_atomic(dir + "/passwd",
                                "root:x:0:0:root:/root:/bin/sh\n# comment\n\nalice:x:1000:1000::/home/alice:/bin/sh\n"
                                "alice:x:1234:1234::/:/bin/sh\nbroken-line\nbad:x:notanumber:0::/:\n"));
  ASSERT_TRUE(write_file_atomic(dir + "/group", "root:x:0:\nops:x:2000:alice,bob\n"));
  auto a = Accounts::read(dir + "/passwd", dir + "/group");
  ASSERT_TRUE(a) << a.error().text();
  EXPECT_EQ(a->users, (std::map<std::string, uid_t>{{"root", 0}, {"alice", 1000}}));  // first entry wins
  EXPECT_EQ(a->groups, (std::map<std::string, gid_t>{{"root", 0}, {"ops", 2000}}));
  auto missing = Accounts::read(dir + "/nope", dir + "/nope");
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->users.empty());
  (void)remove_tree_at(AT_FDCWD, dir);
}

TEST(AccessPolicy, RoleForTakesTheHighestGrant) {
  auto p = parse("[users]\nalice = \"viewer\"\n[groups]\nops = \"operator\"\nwheel = \"admin\"\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role_for(0, 0, {}), Role::admin);  // root, always
  EXPECT_EQ(p->role_for(1000, 1000, {}), Role::viewer);
  EXPECT_EQ(p->role_for(1000, 1000, {2000}), Role::operator_);  // supplementary group
  EXPECT_EQ(p->role_for(1001, 10, {}), Role::admin);            // primary group
  EXPECT_EQ(p->role_for(1000, 1000, {2000, 10}), Role::admin);
  EXPECT_EQ(p->role_for(1001, 1001, {5}), Role::none);
}

TEST(AccessPolicy, CommandsNeedRoles) {
  EXPECT_EQ(required_role("status"), Role::viewer);
  EXPECT_EQ(required_role("logs"), Role::viewer);
  EXPECT_EQ(required_role("restart"), Role::operator_);
  EXPECT_EQ(required_role("poweroff"), Role::admin);
  EXPECT_EQ(required_role("shutdown"), std::nullopt);
  EXPECT_STREQ(role_name(Role::operator_), "operator");
}

// ------------------------------------------------------------ server

class FakeSupervisor : public ControlHandler {
 public:
  FakeSupervisor() : web_log("web", "", {}) {}
  std::vector<ServiceView> status() override {
    ServiceView web{"web", "running", "process", 42, 1, "serving", "healthy", 5000};
    ServiceView db{"db", "failed", "container", 0, 5, "", "", 100};
    return {web, db};
  }
  Result<void> start(const std::string& n) override { return act("start", n); }
  Result<void> stop(const std::string& n) override { return act("stop", n); }
  Result<void> restart(const std::string& n) override { return act("restart", n); }
  Result<void> reboot() override { return act("reboot", ""); }
  Result<void> poweroff() override { return act("poweroff", ""); }
  std::optional<ServiceLog> log(const std::string& n) override {
    if (n == "web") return web_log;
    return std::nullopt;
  }

  std::vector<std::string> calls;
  ServiceLog web_log;

 private:
  Result<void> act(const std::string& what, const std::string& name) {
    if (!name.empty() && name != "web" && name != "db") return make_error(0, "no such service '%s'", name.c_str());
    calls.push_back(name.empty() ? what : what + " " + name);
    return {};
  }
};

// The sink is process-wide: every test's warnings go to one file, removed at exit.
std::string log_path() {
  static const std::string path = strf("/tmp/bw-control-test-%d.log", getpid());
  static const bool configured = [] {
    log::configure("init_control_test", path, false, false);
    std::atexit([] { (void)::unlink(path.c_str()); });
    return true;
  }();
  (void)configured;
  return path;
}

std::string log_text() {
  auto t = read_file(log_path());
  return t ? *t : "";
}

class Server : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)log_path();
    auto p = parse("[users]\nalice = \"viewer\"\nbob = \"operator\"\n[groups]\nwheel = \"admin\"\n");
    ASSERT_TRUE(p);
    auto s = ControlServer::create(*p, fake_);
    ASSERT_TRUE(s) << s.error().text();
    server_ = std::move(*s);
  }

  // A connection with the given identity; returns the client's end.
  int connect_as(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    PeerCredentials peer{4242, uid, gid, std::move(groups)};
    EXPECT_TRUE(server_->add_client(UniqueFd(sv[0]), peer));
    clients_.emplace_back(sv[1]);
    return sv[1];
  }

  void write_raw(int fd, const std::string& s) { ASSERT_TRUE(write_all(fd, s)); }

  // Runs the server until `fd` has a complete line to read (or 2 s pass).
  std::string read_line(int fd) {
    std::string& buf = pending_[fd];
    for (int i = 0; i < 400 && buf.find('\n') == std::string::npos; ++i) {
      struct pollfd p[2] = {{server_->fd(), POLLIN, 0}, {fd, POLLIN, 0}};
      ::poll(p, 2, 5);
      if (p[0].revents & POLLIN) server_->dispatch();
      if (p[1].revents & (POLLIN | POLLHUP)) {
        char tmp[65536];
        ssize_t n = ::read(fd, tmp, sizeof tmp);
        if (n <= 0) break;
        buf.append(tmp, static_cast<size_t>(n));
      }
    }
    size_t nl = buf.find('\n');
    if (nl == std::string::npos) return "";
    std::string line = buf.substr(0, nl);
    buf.erase(0, nl + 1);
    return line;
  }

  json request(int fd, const std::string& line) {
    write_raw(fd, line + "\n");
    std::string reply = read_line(fd);
    EXPECT_FALSE(reply.empty()) << "no reply to " << line;
    return reply.empty() ? json() : json::parse(reply);
  }

  // Whether the server closed `fd` (it reads EOF), pumping the server meanwhile.
  bool closed_by_server(int fd) {
    for (int i = 0; i < 200; ++i) {
      server_->dispatch();
      char c;
      ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN) return true;
      ::usleep(5000);
    }
    return false;
  }

  void pump() {
    for (int i = 0; i < 5; ++i) server_->dispatch();
  }

  FakeSupervisor fake_;
  std::unique_ptr<ControlServer> server_;
  std::vector<UniqueFd> clients_;
  std::map<int, std::string> pending_;
};

TEST_F(Server, ViewerMayReadStatus) {
  int c = connect_as(1000, 1000);
  json r = request(c, R"({"id":7,"cmd":"status"})");
  EXPECT_EQ(r["id"], 7);
  EXPECT_EQ(r["ok"], true);
  ASSERT_EQ(r["result"]["services"].size(), 2u);
  EXPECT_EQ(r["result"]["services"][0],
            json::parse(R"({"name":"web","state":"running","kind":"process","pid":42,"restarts":1,
                            "status":"serving","health":"healthy","since_ms":5000})"));
  json one = request(c, R"({"id":8,"cmd":"status","service":"db"})");
  ASSERT_EQ(one["result"]["services"].size(), 1u);
  EXPECT_EQ(one["result"]["services"][0]["state"], "failed");
  json unknown = request(c, R"({"id":9,"cmd":"status","service":"nope"})");
  EXPECT_EQ(unknown, json::parse(R"({"id":9,"ok":false,"error":"no such service 'nope'"})"));
}

TEST_F(Server, ViewerIsDeniedActionsWithAClearErrorAndALogLine) {
  int c = connect_as(1000, 1000);
  json r = request(c, R"({"id":1,"cmd":"stop","service":"web"})");
  EXPECT_EQ(r, json::parse(
                   R"({"id":1,"ok":false,"error":"permission denied: uid 1000 has role viewer; 'stop' needs operator"})"));
  EXPECT_TRUE(fake_.calls.empty());
  EXPECT_NE(log_text().find("warning: control socket: denied 'stop web' to uid 1000 gid 1000 (pid 4242): "
                            "role viewer, needs operator\n"),
            std::string::npos)
      << log_text();
  json reboot = request(c, R"({"id":2,"cmd":"reboot"})");
  EXPECT_EQ(reboot["error"], "permission denied: uid 1000 has role viewer; 'reboot' needs admin");
  // The connection stays usable after a denial.
  EXPECT_EQ(request(c, R"({"id":3,"cmd":"status"})")["ok"], true);
}

TEST_F(Server, PeerWithoutARoleMayDoNothing) {
  int c = connect_as(4000, 4000, {5});
  json r = request(c, R"({"id":1,"cmd":"status"})");
  EXPECT_EQ(r["error"], "permission denied: uid 4000 has no role; 'status' needs viewer");
  json logs = request(c, R"({"id":2,"cmd":"logs","service":"web"})");
  EXPECT_EQ(logs["error"], "permission denied: uid 4000 has no role; 'logs' needs viewer");
  EXPECT_NE(log_text().find("denied 'logs web' to uid 4000 gid 4000 (pid 4242): no role, needs viewer"),
            std::string::npos);
}

TEST_F(Server, OperatorMayStartStopRestartButNotReboot) {
  int c = connect_as(1001, 1001);
  EXPECT_EQ(request(c, R"({"id":1,"cmd":"stop","service":"web"})"), json::parse(R"({"id":1,"ok":true,"result":{}})"));
  EXPECT_EQ(request(c, R"({"id":2,"cmd":"start","service":"web"})")["ok"], true);
  EXPECT_EQ(request(c, R"({"id":3,"cmd":"restart","service":"db"})")["ok"], true);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"stop web", "start web", "restart db"}));
  EXPECT_EQ(request(c, R"({"id":4,"cmd":"poweroff"})")["error"],
            "permission denied: uid 1001 has role operator; 'poweroff' needs admin");
  // The supervisor's own error is passed on.
  EXPECT_EQ(request(c, R"({"id":5,"cmd":"start","service":"ghost"})"),
            json::parse(R"({"id":5,"ok":false,"error":"no such service 'ghost'"})"));
}

TEST_F(Server, AdminByGroupAndRootMayDoEverything) {
  int c = connect_as(3000, 3000, {10});  // in wheel
  EXPECT_EQ(request(c, R"({"id":1,"cmd":"reboot"})")["ok"], true);
  int root = connect_as(0, 0);
  EXPECT_EQ(request(root, R"({"id":1,"cmd":"poweroff"})")["ok"], true);
  EXPECT_EQ(request(root, R"({"id":2,"cmd":"stop","service":"db"})")["ok"], true);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"reboot", "poweroff", "stop db"}));
}

TEST_F(Server, ANewPolicyAppliesToTheNextRequest) {
  int c = connect_as(1000, 1000);
  EXPECT_EQ(request(c, R"({"id":1,"cmd":"stop","service":"web"})")["ok"], false);
  server_->set_policy(*parse("[users]\nalice = \"operator\"\n"));
  EXPECT_EQ(request(c, R"({"id":2,"cmd":"stop","service":"web"})")["ok"], true);
}

TEST_F(Server, MalformedRequestsGetAClearError) {
  int c = connect_as(0, 0);
  auto error_of = [&](const std::string& line) {
    json r = request(c, line);
    EXPECT_EQ(r["ok"], false) << line;
    return r["error"].is_string() ? r["error"].get<std::string>() : "";
  };
  EXPECT_EQ(error_of("hello"),
            "bad request: not JSON: parse error at line 1, column 1: syntax error while parsing value - invalid "
            "literal; last read: 'h'");
  EXPECT_EQ(error_of("[1,2]"), "bad request: expected a JSON object, found array");
  EXPECT_EQ(error_of(R"({"id":1})"),
            "bad request: missing 'cmd' (status, start, stop, restart, logs, reboot or poweroff)");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"halt"})"),
            "bad request: unknown command 'halt' (expected status, start, stop, restart, logs, reboot or poweroff)");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":7})"), "bad request: 'cmd' must be a string");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"stop"})"), "bad request: 'stop' needs a 'service'");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"stop","service":""})"), "bad request: 'service' must be a non-empty string");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"reboot","service":"web"})"), "bad request: 'reboot' takes no 'service'");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"logs","service":"web","follow":"yes"})"),
            "bad request: 'follow' must be true or false");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"status","follow":true})"), "bad request: 'follow' applies only to 'logs'");
  EXPECT_EQ(error_of(R"({"id":1,"cmd":"status","force":true})"),
            "bad request: unknown field 'force' (expected id, cmd, service, follow)");
  EXPECT_EQ(error_of(R"({"id":"x","cmd":"status"})"), "bad request: 'id' must be an integer");
  // The id is echoed when it could be read, null otherwise.
  EXPECT_EQ(request(c, R"({"id":99,"cmd":"nope"})")["id"], 99);
  EXPECT_TRUE(request(c, "nope")["id"].is_null());
  EXPECT_TRUE(fake_.calls.empty());
  // Blank lines are skipped; the connection still works.
  write_raw(c, "\n  \n");
  EXPECT_EQ(request(c, R"({"id":5,"cmd":"status"})")["id"], 5);
}

TEST_F(Server, PipelinedRequestsAreAnsweredInOrder) {
  int c = connect_as(0, 0);
  write_raw(c, R"({"id":1,"cmd":"start","service":"web"})" "\n" R"({"id":2,"cmd":"stop","service":"web"})" "\n"
               R"({"id":3,"cmd":"status"})" "\n");
  EXPECT_EQ(json::parse(read_line(c))["id"], 1);
  EXPECT_EQ(json::parse(read_line(c))["id"], 2);
  EXPECT_EQ(json::parse(read_line(c))["id"], 3);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"start web", "stop web"}));
}

TEST_F(Server, OverlongRequestIsRefusedAndOnlyThatConnectionCloses) {
  int bad = connect_as(0, 0);
  int good = connect_as(1000, 1000);
  std::string huge(70 * 1024, 'a');
  // Written from a helper thread-free loop: the server reads as we write.
  size_t off = 0;
  while (off < huge.size()) {
    ssize_t n = ::send(bad, huge.data() + off, huge.size() - off, MSG_DONTWAIT);
    if (n > 0) off += static_cast<size_t>(n);
    server_->dispatch();
  }
  json r = json::parse(read_line(bad));
  EXPECT_EQ(r, json::parse(R"({"id":null,"ok":false,"error":"bad request: request line longer than 65536 bytes"})"));
  EXPECT_TRUE(closed_by_server(bad));
  EXPECT_EQ(request(good, R"({"id":1,"cmd":"status"})")["ok"], true);
  EXPECT_EQ(server_->client_count(), 1u);
}

TEST_F(Server, LastRequestWithoutNewlineIsAnsweredThenClosed) {
  int c = connect_as(0, 0);
  write_raw(c, R"({"id":4,"cmd":"status"})");
  ASSERT_EQ(::shutdown(c, SHUT_WR), 0);
  EXPECT_EQ(json::parse(read_line(c))["id"], 4);
  EXPECT_TRUE(closed_by_server(c));
  EXPECT_EQ(server_->client_count(), 0u);
}

TEST_F(Server, RequestsBeforeAndAfterTheLastNewlineAreAnsweredAtEof) {
  int c = connect_as(0, 0);
  write_raw(c, R"({"id":1,"cmd":"status"})" "\n" R"({"id":2,"cmd":"status"})");
  ASSERT_EQ(::shutdown(c, SHUT_WR), 0);
  EXPECT_EQ(json::parse(read_line(c))["id"], 1);
  EXPECT_EQ(json::parse(read_line(c))["id"], 2);
  EXPECT_TRUE(closed_by_server(c));
}

TEST_F(Server, ListensOnAPathAnyoneMayConnectTo) {
  char tmpl[] = "/tmp/bw-control-listen-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, path = dir + "/run/control.sock";
  // A socket left behind by an earlier run is replaced.
  ASSERT_EQ(::mkdir((dir + "/run").c_str(), 0700), 0);
  {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a {};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(s, reinterpret_cast<struct sockaddr*>(&a), sizeof a), 0);
    ::close(s);
  }
  auto r = server_->listen(path);
  ASSERT_TRUE(r) << r.error().text();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  ASSERT_EQ(::stat((dir + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);  // made searchable for other users

  // Beyond 64 connections, a newcomer is told why and closed.
  std::vector<UniqueFd> conns;
  for (int i = 0; i < 64; ++i) {
    auto fd = connect_unix(path);
    ASSERT_TRUE(fd);
    conns.push_back(std::move(*fd));
    pump();
  }
  EXPECT_EQ(server_->client_count(), 64u);
  auto extra = connect_unix(path);
  ASSERT_TRUE(extra);
  EXPECT_EQ(json::parse(read_line(extra->get())),
            json::parse(R"({"id":null,"ok":false,"error":"too many connections (64); try again later"})"));
  EXPECT_TRUE(closed_by_server(extra->get()));
  // The served ones still work; one leaving makes room.
  EXPECT_EQ(request(conns[0].get(), R"({"id":1,"cmd":"status"})")["ok"], true);
  conns.pop_back();
  pump();
  auto again = connect_unix(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(request(again->get(), R"({"id":2,"cmd":"status"})")["ok"], true);

  // Something else at the path is not replaced.
  server_.reset();  // removes its socket
  EXPECT_NE(::stat(path.c_str(), &st), 0);
  ASSERT_TRUE(write_file_atomic(path, "not a socket"));
  auto other = ControlServer::create({}, fake_);
  ASSERT_TRUE(other);
  auto refused = (*other)->listen(path);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().text(), "'" + path + "' exists and is not a socket: File exists");
  (void)remove_tree_at(AT_FDCWD, dir);
}

TEST_F(Server, LogsReturnsTheRingAndFollowStreamsNewLines) {
  std::string early = "started\n";
  fake_.web_log.append(early.data(), early.size());
  int c = connect_as(1000, 1000);
  json r = request(c, R"({"id":3,"cmd":"logs","service":"web"})");
  ASSERT_EQ(r["ok"], true);
  ASSERT_EQ(r["result"]["lines"].size(), 1u);
  EXPECT_TRUE(r["result"]["lines"][0].get<std::string>().ends_with(" started"));
  EXPECT_EQ(request(c, R"({"id":4,"cmd":"logs","service":"db"})")["error"], "no such service 'db'");

  json f = request(c, R"({"id":5,"cmd":"logs","service":"web","follow":true})");
  ASSERT_EQ(f["ok"], true);
  EXPECT_EQ(f["result"]["follow"], true);
  EXPECT_EQ(f["result"]["lines"].size(), 1u);
  std::string more = "one\ntwo \xff bytes\n";  // not UTF-8: replaced, not fatal
  fake_.web_log.append(more.data(), more.size());
  json l1 = json::parse(read_line(c));
  EXPECT_EQ(l1["id"], 5);
  EXPECT_TRUE(l1["line"].get<std::string>().ends_with(" one"));
  json l2 = json::parse(read_line(c));
  EXPECT_TRUE(l2["line"].get<std::string>().ends_with(" two \xef\xbf\xbd bytes"));
  // Other requests still work on a following connection.
  EXPECT_EQ(request(c, R"({"id":6,"cmd":"status","service":"web"})")["id"], 6);

  // A follower that closes its end is dropped; later lines go nowhere.
  clients_.clear();
  pump();
  EXPECT_EQ(server_->client_count(), 0u);
  fake_.web_log.append(more.data(), more.size());
  pump();
}

TEST_F(Server, FollowerThatReadsTooSlowlyIsDropped) {
  int c = connect_as(0, 0);
  ASSERT_EQ(request(c, R"({"id":1,"cmd":"logs","service":"web","follow":true})")["ok"], true);
  std::string line = std::string(200, 'z') + "\n";
  for (int i = 0; i < 20000; ++i) fake_.web_log.append(line.data(), line.size());
  pump();
  EXPECT_EQ(server_->client_count(), 0u);
  EXPECT_NE(log_text().find("it reads its log stream too slowly"), std::string::npos);
}

TEST_F(Server, DestroyingTheServerUnsubscribesFollowers) {
  int c = connect_as(0, 0);
  ASSERT_EQ(request(c, R"({"id":1,"cmd":"logs","service":"web","follow":true})")["ok"], true);
  server_.reset();
  std::string line = "after the server\n";
  fake_.web_log.append(line.data(), line.size());  // must not reach a dead server
}

}  // namespace
}  // namespace bw::init
