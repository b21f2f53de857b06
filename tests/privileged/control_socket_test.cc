// The control socket against the real kernel: a listening socket any user
// can reach, requests from forked children running as other uids and
// groups, authorised from SO_PEERCRED and SO_PEERGROUPS; and bulwarkctl
// driven as those users. Needs root (to become other users); skips otherwise.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/child.h"
#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/unix_socket.h"
#include "init/control.h"

namespace bw::init {
namespace {

using json = nlohmann::json;

#define REQUIRE_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root (to connect as other users)"

class FakeSupervisor : public ControlHandler {
 public:
  FakeSupervisor() : web_log("web", "", {}) {}
  std::vector<ServiceView> status() override { return {{"web", "running", "process", 42, 0, "", "healthy", 61000}}; }
  Result<void> start(const std::string& n) override { return act("start " + n); }
  Result<void> stop(const std::string& n) override { return act("stop " + n); }
  Result<void> restart(const std::string& n) override { return act("restart " + n); }
  Result<void> reboot() override { return act("reboot"); }
  Result<void> poweroff() override { return act("poweroff"); }
  std::optional<ServiceLog> log(const std::string& n) override {
    return n == "web" ? std::optional<ServiceLog>(web_log) : std::nullopt;
  }
  std::vector<std::string> calls;
  ServiceLog web_log;

 private:
  Result<void> act(const std::string& what) {
    calls.push_back(what);
    return {};
  }
};

// The sink is process-wide: one file for all tests, removed at exit.
std::string log_path() {
  static const std::string path = strf("/tmp/bw-control-socket-test-%d.log", getpid());
  static const bool configured = [] {
    log::configure("control_socket_test", path, false, false);
    std::atexit([] { (void)::unlink(path.c_str()); });
    return true;
  }();
  (void)configured;
  return path;
}

struct Identity {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// In a child: takes on `id` for good.
void become(const Identity& id) {
  if (::setgroups(id.groups.size(), id.groups.data()) < 0 || ::setresgid(id.gid, id.gid, id.gid) < 0 ||
      ::setresuid(id.uid, id.uid, id.uid) < 0)
    _exit(120);
}

// One request over a fresh connection; the reply line, or "" on failure.
std::string ask(const std::string& socket, const std::string& request) {
  auto fd = connect_unix(socket);
  if (!fd) return "connect failed: " + fd.error().text();
  if (!write_all(fd->get(), request + "\n")) return "";
  std::string reply;
  char c;
  while (::read(fd->get(), &c, 1) == 1 && c != '\n') reply += c;
  return reply;
}

class ControlSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) return;
    (void)log_path();
    char tmpl[] = "/tmp/bw-control-socket-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // other users pass through it
    socket_ = dir_ + "/run/control.sock";
    Accounts none;
    auto policy = parse_access_policy("access.toml", "[users]\n1000 = \"viewer\"\n[groups]\n2000 = \"operator\"\n", none);
    ASSERT_TRUE(policy) << policy.error().text();
    auto s = ControlServer::create(*policy, fake_);
    ASSERT_TRUE(s) << s.error().text();
    server_ = std::move(*s);
    auto l = server_->listen(socket_);
    ASSERT_TRUE(l) << l.error().text();
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) (void)remove_tree_at(AT_FDCWD, dir_);
  }

  struct Outcome {
    int exit_code = -1;
    pid_t pid = 0;
    std::string out, err;
  };

  // Runs `body` in a child as `id`, serving the socket until it ends. The
  // child's stdout and stderr are captured.
  Outcome run_as(const Identity& id, const std::function<void()>& body) {
    Outcome o;
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    auto child = fork_child();
    if (!child) {
      ADD_FAILURE() << child.error().text();
      return o;
    }
    if (!child->valid()) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      become(id);
      body();
      fflush(stdout);
      _exit(0);
    }
    ::close(out[1]);
    ::close(err[1]);
    o.pid = child->pid();
    for (int i = 0; i < 1000; ++i) {
      struct pollfd p[2] = {{server_->fd(), POLLIN, 0}, {child->pidfd(), POLLIN, 0}};
      ::poll(p, 2, 10);
      if (p[0].revents & POLLIN) server_->dispatch();
      if (p[1].revents & POLLIN) break;
    }
    auto status = child->wait();
    EXPECT_TRUE(status);
    if (status) o.exit_code = status->shell_code();
    auto o_text = read_fd(out[0]);
    auto e_text = read_fd(err[0]);
    ::close(out[0]);
    ::close(err[0]);
    o.out = o_text ? *o_text : "";
    o.err = e_text ? *e_text : "";
    return o;
  }

  // A request sent as `id`; the reply line.
  Outcome request_as(const Identity& id, const std::string& request) {
    return run_as(id, [&] { fputs(ask(socket_, request).c_str(), stdout); });
  }

  Outcome bulwarkctl_as(const Identity& id, std::vector<std::string> args) {
    std::string bin = std::string(BULWARK_BUILD_DIR) + "/tools/ctl/bulwarkctl";
    args.insert(args.begin(), {bin, "--socket", socket_});
    return run_as(id, [&] {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      _exit(127);
    });
  }

  FakeSupervisor fake_;
  std::unique_ptr<ControlServer> server_;
  std::string dir_, socket_;
};

const Identity kRoot{0, 0, {}};
const Identity kViewer{1000, 1000, {}};
const Identity kOperatorByGroup{1001, 1001, {2000}};
const Identity kNobody{1002, 1002, {3000}};

TEST_F(ControlSocket, AnyUserCanReachTheSocket) {
  REQUIRE_ROOT();
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(::stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);  // searchable, not listable
  Outcome o = request_as(kNobody, R"({"id":1,"cmd":"status"})");
  EXPECT_EQ(json::parse(o.out)["error"], "permission denied: uid 1002 has no role; 'status' needs viewer");
}

TEST_F(ControlSocket, ViewerIsDeniedByItsRealUidAndTheDenialIsLogged) {
  REQUIRE_ROOT();
  Outcome status = request_as(kViewer, R"({"id":1,"cmd":"status"})");
  EXPECT_EQ(json::parse(status.out)["ok"], true) << status.out;
  Outcome stop = request_as(kViewer, R"({"id":2,"cmd":"stop","service":"web"})");
  EXPECT_EQ(json::parse(stop.out),
            json::parse(R"({"id":2,"ok":false,"error":"permission denied: uid 1000 has role viewer; 'stop' needs operator"})"));
  EXPECT_TRUE(fake_.calls.empty());
  auto log = read_file(log_path());
  ASSERT_TRUE(log);
  // The pid is the child's own: the kernel's record, not the client's claim.
  EXPECT_NE(log->find(strf("warning: control socket: denied 'stop web' to uid 1000 gid 1000 (pid %d): role viewer, "
                           "needs operator",
                           stop.pid)),
            std::string::npos)
      << *log;
}

TEST_F(ControlSocket, SupplementaryGroupFromSoPeergroupsGrantsOperator) {
  REQUIRE_ROOT();
  Outcome o = request_as(kOperatorByGroup, R"({"id":1,"cmd":"restart","service":"web"})");
  EXPECT_EQ(json::parse(o.out)["ok"], true) << o.out;
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"restart web"}));
  Outcome reboot = request_as(kOperatorByGroup, R"({"id":2,"cmd":"reboot"})");
  EXPECT_EQ(json::parse(reboot.out)["error"], "permission denied: uid 1001 has role operator; 'reboot' needs admin");
}

TEST_F(ControlSocket, RootMayDoEverything) {
  REQUIRE_ROOT();
  for (const char* r : {R"({"id":1,"cmd":"stop","service":"web"})", R"({"id":2,"cmd":"reboot"})",
                        R"({"id":3,"cmd":"poweroff"})"}) {
    Outcome o = request_as(kRoot, r);
    EXPECT_EQ(json::parse(o.out)["ok"], true) << o.out;
  }
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"stop web", "reboot", "poweroff"}));
}

TEST_F(ControlSocket, CredentialsAreThoseAtConnectTime) {
  REQUIRE_ROOT();
  // Connected as root, then dropped to uid 1002: the connection keeps root's
  // rights (a process cannot borrow rights it no longer has by connecting
  // later, nor lose those it handed on by dropping them).
  Outcome o = run_as(kRoot, [&] {
    auto fd = connect_unix(socket_);
    if (!fd) _exit(3);
    become(kNobody);
    (void)write_all(fd->get(), "{\"id\":1,\"cmd\":\"poweroff\"}\n");
    char c;
    while (::read(fd->get(), &c, 1) == 1 && c != '\n') fputc(c, stdout);
  });
  EXPECT_EQ(json::parse(o.out)["ok"], true) << o.out;
}

TEST_F(ControlSocket, BulwarkctlReportsRefusalsOnStderrWithExitCode1) {
  REQUIRE_ROOT();
  Outcome stop = bulwarkctl_as(kViewer, {"stop", "web"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_EQ(stop.err, "bulwarkctl: permission denied: uid 1000 has role viewer; 'stop' needs operator\n");
  EXPECT_EQ(stop.out, "");

  Outcome status = bulwarkctl_as(kViewer, {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out,
            "NAME  STATE    KIND     PID  RESTARTS  HEALTH   SINCE  STATUS\n"
            "web   running  process  42   0         healthy  1m01s  -\n");
  Outcome as_json = bulwarkctl_as(kViewer, {"status", "web", "--json"});
  EXPECT_EQ(as_json.exit_code, 0);
  EXPECT_EQ(json::parse(as_json.out)["services"][0]["pid"], 42);

  std::string line = "hello from web\n";
  fake_.web_log.append(line.data(), line.size());
  Outcome logs = bulwarkctl_as(kViewer, {"logs", "web"});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_TRUE(logs.out.ends_with(" hello from web\n")) << logs.out;

  Outcome restart = bulwarkctl_as(kOperatorByGroup, {"restart", "web"});
  EXPECT_EQ(restart.exit_code, 0) << restart.err;
  Outcome usage = bulwarkctl_as(kRoot, {"stop"});
  EXPECT_EQ(usage.exit_code, 2);
  Outcome unknown = bulwarkctl_as(kRoot, {"status", "ghost"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "bulwarkctl: no such service 'ghost'\n");
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"restart web"}));
}

}  // namespace
}  // namespace bw::init
