// End-to-end: the runtime features a user drives from the command line beyond
// the basic lifecycle: hooks, terminals over --console-socket, pause/resume
// and ps, spec and features, --pid-file and --preserve-fds, and user and time
// namespaces.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "bundle.h"

namespace bw::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class FeaturesTest : public RuntimeTest {};

void host_write(const std::string& path, const std::string& text, mode_t mode = 0644) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

bool host_exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// Refused before anything was set up: non-zero, the reason on stderr, and
// nothing of the container anywhere.
void expect_refused(TestBundle& b, const std::vector<std::string>& verb_and_options,
                    const std::string& reason) {
  std::string id = b.new_id();
  std::vector<std::string> args = verb_and_options;
  args.push_back(id);
  RunResult r = b.run_runtime(args);
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_NE(r.err.find(reason), std::string::npos)
      << "stderr should mention '" << reason << "'\n"
      << r.describe();
  EXPECT_NE(b.run_runtime({"state", id}).status, 0) << "state of a refused container";
  EXPECT_TRUE(b.nothing_left_behind(id));
}

// ---- hooks ----

// A hook script on the host: saves its stdin as DIR/<name>.json and appends
// <name> to DIR/order. Hooks get no PATH, hence the absolute paths.
std::string make_recording_hook(const TestBundle& b, const std::string& dir) {
  std::string path = b.base() + "/record-hook.sh";
  host_write(path,
             "#!/bin/sh\n"
             "/bin/cat > '" + dir + "'/\"$1\".json || exit 10\n"
             "echo \"$1\" >> '" + dir + "'/order\n",
             0755);
  return path;
}

json host_hook(const std::string& script, const std::string& name) {
  return {{"path", script}, {"args", {"record-hook.sh", name}}};
}

std::vector<std::string> order_of(const std::string& dir) {
  return split_lines(host_file(dir + "/order"));
}

// What a container with one hook of each kind showed along its lifecycle.
struct HookedRun {
  std::string id;
  pid_t pid = 0;
  std::string evidence;  // host directory with order and <hook>.json
  std::vector<std::string> after_create, after_start, after_delete;  // hooks run so far
  std::string exe_after_start;  // what the container's process ran when `start` returned
};

// create, start, kill, delete of a container with every kind of hook; the
// startContainer hook, which runs inside the container, takes 0.5 s.
void run_with_every_hook(TestBundle& b, HookedRun* h) {
  // Evidence goes to a host directory, bound into the container at /evidence
  // for the startContainer hook, which runs inside the container.
  h->evidence = b.base() + "/evidence";
  ASSERT_EQ(mkdir(h->evidence.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((b.rootfs() + "/evidence").c_str(), 0755), 0);
  std::string script = make_recording_hook(b, h->evidence);
  b.config()["mounts"].push_back({{"destination", "/evidence"},
                                  {"type", "bind"},
                                  {"source", h->evidence},
                                  {"options", {"rbind", "rw"}}});
  json in_container = {
      {"path", "/bin/sh"},
      {"args",
       {"sh", "-c",
        "/bin/cat > /evidence/startContainer.json && /bin/bw-probe sleep 0.5 > /dev/null && "
        "echo startContainer >> /evidence/order"}}};
  b.config()["hooks"] = {
      {"prestart", {host_hook(script, "prestart")}},
      {"createRuntime", {host_hook(script, "createRuntime")}},
      {"createContainer", {host_hook(script, "createContainer")}},
      {"startContainer", {in_container}},
      {"poststart", {host_hook(script, "poststart")}},
      {"poststop", {host_hook(script, "poststop")}},
  };
  b.set_probe_args({"sleep", "inf"});
  b.write();
  h->id = b.new_id();

  RunResult r = b.run_runtime({"create", "--bundle", b.path(), h->id});
  ASSERT_EQ(r.status, 0) << r.describe();
  h->pid = pid_of(state_of(b, h->id));
  ASSERT_GT(h->pid, 0);
  h->after_create = order_of(h->evidence);

  r = b.run_runtime({"start", h->id});
  ASSERT_EQ(r.status, 0) << r.describe();
  // The exe link changes early in execve, before close-on-exec fds close.
  h->exe_after_start = host_link("/proc/" + std::to_string(h->pid) + "/exe");
  EXPECT_TRUE(wait_until([&] { return order_of(h->evidence).size() >= 5; }))
      << "hooks run: " << host_file(h->evidence + "/order");
  h->after_start = order_of(h->evidence);

  r = b.run_runtime({"kill", h->id, "SIGKILL"});
  ASSERT_EQ(r.status, 0) << r.describe();
  ASSERT_EQ(b.wait_for_status(h->id, "stopped").value("status", ""), "stopped");
  r = b.run_runtime({"delete", h->id});
  ASSERT_EQ(r.status, 0) << r.describe();
  h->after_delete = order_of(h->evidence);
  EXPECT_TRUE(b.nothing_left_behind(h->id, h->pid));
}

using Hooks = std::vector<std::string>;

TEST_F(FeaturesTest, HooksRunOnceInSpecOrder) {
  TestBundle b;
  HookedRun h;
  run_with_every_hook(b, &h);
  if (HasFatalFailure()) return;
  EXPECT_EQ(h.after_create, (Hooks{"prestart", "createRuntime", "createContainer"}));
  // startContainer runs before the program, poststart after it "but before
  // the start operation returns".
  EXPECT_TRUE(h.exe_after_start.ends_with("/bin/bw-probe"))
      << "`start` returned before the container's program was executed: it runs "
      << h.exe_after_start;
  EXPECT_EQ(h.after_start, (Hooks{"prestart", "createRuntime", "createContainer", "startContainer",
                                  "poststart"}));
  EXPECT_EQ(h.after_delete, (Hooks{"prestart", "createRuntime", "createContainer", "startContainer",
                                   "poststart", "poststop"}));
}

TEST_F(FeaturesTest, HooksGetTheContainerStateOnStdin) {
  TestBundle b;
  HookedRun h;
  run_with_every_hook(b, &h);
  if (HasFatalFailure()) return;
  // The pid is the container process "as seen by the runtime" for hooks run
  // in the runtime's namespaces and "as seen by the container" (1, in its own
  // pid namespace) for createContainer and startContainer, which run in the
  // container's.
  struct Expected {
    const char* hook;
    const char* status;
    pid_t pid;  // 0: none (stopped)
  };
  const Expected expected[] = {
      {"prestart", "creating", h.pid},    {"createRuntime", "creating", h.pid},
      {"createContainer", "creating", 1}, {"startContainer", "created", 1},
      {"poststart", "running", h.pid},    {"poststop", "stopped", 0},
  };
  for (auto [hook, status, want_pid] : expected) {
    SCOPED_TRACE(std::string("state on the stdin of the ") + hook + " hook");
    std::string text = host_file(h.evidence + "/" + hook + ".json");
    json st = json::parse(text, nullptr, false);
    ASSERT_TRUE(st.is_object()) << "'" << text << "'";
    EXPECT_EQ(st.value("id", ""), h.id) << text;
    EXPECT_EQ(st.value("bundle", ""), b.path()) << text;
    EXPECT_EQ(st.value("status", ""), status) << text;
    EXPECT_TRUE(st.contains("ociVersion")) << text;
    if (want_pid != 0) {
      EXPECT_EQ(pid_of(st), want_pid) << text;
    }
  }
}

// A failing prestart, createRuntime or createContainer hook fails `create`
// (and `run`) with an error naming it; later hooks do not run, nothing is
// left behind.
TEST_F(FeaturesTest, FailingCreateHookFailsCreateAndLeavesNothing) {
  for (const char* kind : {"prestart", "createRuntime", "createContainer"}) {
    TestBundle b;
    std::string evidence = b.base() + "/evidence";
    ASSERT_EQ(mkdir(evidence.c_str(), 0755), 0);
    std::string script = make_recording_hook(b, evidence);
    std::string failing = b.base() + "/fail-hook.sh";
    host_write(failing, "#!/bin/sh\n/bin/cat > /dev/null\nexit 3\n", 0755);
    const char* kinds[] = {"prestart", "createRuntime", "createContainer", "startContainer"};
    Hooks before;
    bool after = false;
    json hooks = json::object();
    for (const char* k : kinds) {
      if (std::string(k) == kind) {
        hooks[k] = {{{"path", failing}}};
        after = true;
      } else {
        hooks[k] = {host_hook(script, k)};
        if (!after) before.push_back(k);
      }
    }
    hooks["poststart"] = {host_hook(script, "poststart")};
    b.config()["hooks"] = hooks;
    b.set_probe_args({"sleep", "inf"});
    b.write();
    for (const char* verb : {"create", "run"}) {
      SCOPED_TRACE(std::string(verb) + " with a failing " + kind + " hook");
      std::string id = b.new_id();
      (void)unlink((evidence + "/order").c_str());
      RunResult r = b.run_runtime({verb, "--bundle", b.path(), id});
      EXPECT_NE(r.status, 0) << r.describe();
      EXPECT_NE(r.err.find("hooks." + std::string(kind) + "[0]"), std::string::npos)
          << r.describe();
      EXPECT_NE(r.err.find("status 3"), std::string::npos) << "the hook's exit status\n"
                                                           << r.describe();
      EXPECT_EQ(order_of(evidence), before) << "hooks after the failed one ran";
      EXPECT_NE(b.run_runtime({"state", id}).status, 0) << "state of a failed container";
      EXPECT_TRUE(b.nothing_left_behind(id));
    }
  }
}

// "If any startContainer hook fails, the runtime MUST generate an error, stop
// the container": `start` reports it.
TEST_F(FeaturesTest, FailingStartContainerHookFailsStart) {
  TestBundle b;
  b.config()["hooks"] = {
      {"startContainer", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 4"}}}}}};
  b.set_probe_args({"sleep", "inf"});
  b.write();
  std::string id = b.new_id();
  RunResult r = b.run_runtime({"create", "--bundle", b.path(), id});
  ASSERT_EQ(r.status, 0) << r.describe();
  pid_t pid = pid_of(state_of(b, id));
  ASSERT_GT(pid, 0);
  r = b.run_runtime({"start", id});
  EXPECT_NE(r.status, 0) << "start succeeded although its startContainer hook failed\n"
                         << r.describe();
  EXPECT_NE(r.err.find("hooks.startContainer[0]"), std::string::npos) << r.describe();
  json st = b.wait_for_status(id, "stopped");
  EXPECT_EQ(st.value("status", ""), "stopped") << st.dump();
  r = b.run_runtime({"delete", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

// Poststart and poststop failures are warnings: the lifecycle goes on.
TEST_F(FeaturesTest, FailingPoststartAndPoststopHooksOnlyWarn) {
  TestBundle b;
  json failing = {{"path", "/bin/sh"}, {"args", {"sh", "-c", "/bin/cat > /dev/null; exit 5"}}};
  b.config()["hooks"] = {{"poststart", {failing}}, {"poststop", {failing}}};
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(state_of(b, id).value("status", ""), "running");
  RunResult r = b.run_runtime({"delete", "--force", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.err.find("hooks.poststop[0]"), std::string::npos) << "a warning names the hook\n"
                                                              << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

// ---- terminal ----

// Receives one fd over a unix socket (SCM_RIGHTS); *payload gets the bytes.
int recv_one_fd(int sock, std::string* payload) {
  char buf[4096];
  struct iovec iov = {buf, sizeof buf};
  union {
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct cmsghdr align;
  } control{};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.cbuf;
  msg.msg_controllen = sizeof control.cbuf;
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return -1;
  payload->assign(buf, static_cast<size_t>(n));
  int fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (fd < 0) {
        fd = got;
      } else {
        close(got);
      }
    }
  }
  return fd;
}

int listen_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof addr.sun_path) return -1;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads the pty master until the slave side is gone (EIO) or timeout.
std::string read_master(int master, int timeout_s) {
  std::string out;
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    struct pollfd p = {master, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n <= 0) break;
    char buf[4096];
    ssize_t got = read(master, buf, sizeof buf);
    if (got <= 0) break;  // EIO once every slave fd is closed
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

std::string strip_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

TEST_F(FeaturesTest, TerminalComesThroughTheConsoleSocket) {
  TestBundle b;
  std::string sock_path = b.base() + "/console.sock";
  int listener = listen_unix(sock_path);
  ASSERT_GE(listener, 0) << sock_path << ": " << strerror(errno);
  b.config()["process"]["terminal"] = true;
  b.config()["process"]["consoleSize"] = {{"height", 42}, {"width", 123}};
  b.set_probe_args({"isatty", "--", "env", "TERM"});
  b.write();
  std::string id = b.new_id();

  RunningCommand create =
      b.start_runtime({"create", "--bundle", b.path(), "--console-socket", sock_path, id});
  struct pollfd p = {listener, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 20000), 1) << "no connection on the console socket\n"
                                   << create.wait(5).describe();
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0) << strerror(errno);
  std::string payload;
  int master = recv_one_fd(conn, &payload);
  close(conn);
  close(listener);
  RunResult r = create.wait(60);
  ASSERT_EQ(r.status, 0) << r.describe();
  ASSERT_GE(master, 0) << "no fd received; payload '" << payload << "'";

  // It is a pty master, sized as the config says.
  unsigned ptn = 0;
  EXPECT_EQ(ioctl(master, TIOCGPTN, &ptn), 0) << "not a pty master: " << strerror(errno);
  struct winsize ws {};
  EXPECT_EQ(ioctl(master, TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 42);
  EXPECT_EQ(ws.ws_col, 123);
  pid_t pid = pid_of(state_of(b, id));

  r = b.run_runtime({"start", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  std::string out = strip_cr(read_master(master, 20));
  close(master);
  auto kv = parse_kv(out);
  EXPECT_EQ(kv["stdin"], "1") << out;
  EXPECT_EQ(kv["stdout"], "1") << out;
  EXPECT_EQ(kv["stderr"], "1") << out;
  EXPECT_EQ(kv["TERM"], "xterm") << out;
  EXPECT_EQ(b.wait_for_status(id, "stopped").value("status", ""), "stopped");
  r = b.run_runtime({"delete", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(FeaturesTest, TerminalWithoutConsoleSocketIsRefused) {
  TestBundle b;
  b.config()["process"]["terminal"] = true;
  b.write();
  expect_refused(b, {"create", "--bundle", b.path()}, "console-socket");
  expect_refused(b, {"run", "--bundle", b.path()}, "console-socket");
  // A socket nobody listens on is refused the same way.
  expect_refused(b, {"create", "--bundle", b.path(), "--console-socket", b.base() + "/nobody.sock"},
                 "console");
}

// ---- pause, resume, ps ----

// The probe's `tick` counter, read from the host through the container's root.
long long ticks(pid_t pid) {
  std::string s = host_file("/proc/" + std::to_string(pid) + "/root/dev/shm/ticks");
  return s.empty() ? -1 : std::atoll(s.c_str());
}

TEST_F(FeaturesTest, PauseFreezesAndResumeThaws) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"tick", "/dev/shm/ticks"});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_until([&] { return ticks(pid) > 0; })) << "the probe does not tick";

  RunResult r = b.run_runtime({"ps", "--format", "json", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  json ps = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(ps.is_array()) << r.describe();
  EXPECT_EQ(ps, json::array({pid})) << r.describe();

  r = b.run_runtime({"pause", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(b.wait_for_status(id, "paused").value("status", ""), "paused");
  long long frozen_at = ticks(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(ticks(pid), frozen_at) << "the counter moved while paused";
  EXPECT_TRUE(process_exists(pid));
  // Pausing twice is an error and changes nothing.
  r = b.run_runtime({"pause", id});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_EQ(state_of(b, id).value("status", ""), "paused");

  r = b.run_runtime({"resume", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(b.wait_for_status(id, "running").value("status", ""), "running");
  EXPECT_TRUE(wait_until([&] { return ticks(pid) > frozen_at + 5; }))
      << "the counter did not move after resume: " << ticks(pid) << " vs " << frozen_at;
  r = b.run_runtime({"resume", id});
  EXPECT_NE(r.status, 0) << "resume of a running container\n" << r.describe();

  r = b.run_runtime({"kill", id, "SIGKILL"});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(b.wait_for_status(id, "stopped").value("status", ""), "stopped");
  r = b.run_runtime({"delete", id});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id, pid));
}

TEST_F(FeaturesTest, PausedContainerCanBeForceDeleted) {
  TestBundle b;
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"fork-orphans", "2", "--", "sleep", "inf"});
  ASSERT_GT(pid, 0);
  RunResult r = b.run_runtime({"pause", id});
  ASSERT_EQ(r.status, 0) << r.describe();
  ASSERT_EQ(b.wait_for_status(id, "paused").value("status", ""), "paused");
  r = b.run_runtime({"delete", id});
  EXPECT_NE(r.status, 0) << "delete of a paused container without --force\n" << r.describe();
  remove_container(b, id, pid);
}

// ---- spec and features ----

TEST_F(FeaturesTest, SpecWritesAWorkingRestrictedConfig) {
  TestBundle b;
  std::string dir = b.base() + "/spec";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  // `spec` with no options writes into the current directory.
  std::vector<std::string> in_dir = {"/bin/sh", "-c", "cd \"$0\" && exec \"$1\" spec", dir,
                                     runtime_path()};
  RunResult r = run_command(in_dir);
  ASSERT_EQ(r.status, 0) << r.describe();
  std::string text = host_file(dir + "/config.json");
  json config = json::parse(text, nullptr, false);
  ASSERT_TRUE(config.is_object()) << text;

  // It refuses to overwrite a config.
  r = run_command(in_dir);
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.describe();
  EXPECT_EQ(host_file(dir + "/config.json"), text) << "config.json was rewritten";
  r = b.run_runtime({"spec", "--bundle", dir});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_EQ(host_file(dir + "/config.json"), text) << "config.json was rewritten";

  // Used as it is, with only the program changed, on the fixture's rootfs.
  b.config() = config;
  std::string id;
  r = b.run_probe({"seccomp", "--", "id", "--", "caps"}, &id);
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["Seccomp"], "2") << "a seccomp profile is in force\n" << r.describe();
  EXPECT_EQ(kv["NoNewPrivs"], "1") << r.describe();
  EXPECT_EQ(kv["uid"], "0") << r.describe();
  EXPECT_EQ(kv["CapBnd"], cap_mask_hex({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}))
      << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id));
  r = b.run_probe({"write", "/bin/x"});
  EXPECT_EQ(r.out, "denied errno=EROFS\n") << "the root is read-only\n" << r.describe();
  EXPECT_FALSE(host_exists(b.rootfs() + "/bin/x"));
}

TEST_F(FeaturesTest, FeaturesDescribesTheRuntime) {
  TestBundle b;
  RunResult r = b.run_runtime({"features"});
  ASSERT_EQ(r.status, 0) << r.describe();
  json f = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(f.is_object()) << r.describe();
  ASSERT_TRUE(f.contains("ociVersionMax") && f["ociVersionMax"].is_string()) << r.describe();
  EXPECT_EQ(f["ociVersionMax"].get<std::string>().rfind("1.", 0), 0u) << r.describe();
  ASSERT_TRUE(f.contains("linux") && f["linux"].contains("namespaces")) << r.describe();
  std::set<std::string> ns;
  for (const auto& n : f["linux"]["namespaces"]) ns.insert(n.get<std::string>());
  for (const char* want : {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"})
    EXPECT_TRUE(ns.count(want)) << want << "\n" << r.describe();
  std::set<std::string> hooks;
  for (const auto& h : f.value("hooks", json::array())) hooks.insert(h.get<std::string>());
  for (const char* want : {"prestart", "createRuntime", "createContainer", "startContainer",
                           "poststart", "poststop"})
    EXPECT_TRUE(hooks.count(want)) << want << "\n" << r.describe();
}

// ---- --pid-file and --preserve-fds ----

std::string read_to_eof(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST_F(FeaturesTest, PreservedFdReachesTheContainer) {
  TestBundle b;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  b.set_probe_args({"write-fd", "3", "hello through fd 3", "--", "fds"});
  b.write();
  std::string id = b.new_id();
  RunningCommand run = b.start_runtime_with_fds(
      {"run", "--preserve-fds", "1", "--bundle", b.path(), id}, {p[1]});
  close(p[1]);
  RunResult r = run.wait(60);
  std::string got = read_to_eof(p[0]);
  close(p[0]);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.out, "ok\nfds=0,1,2,3\n") << r.describe();
  EXPECT_EQ(got, "hello through fd 3");
  EXPECT_TRUE(b.nothing_left_behind(id));
}

TEST_F(FeaturesTest, FdsAreNotInheritedWithoutPreserveFds) {
  TestBundle b;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  b.set_probe_args({"fds", "--", "write-fd", "3", "leaked"});
  b.write();
  std::string id = b.new_id();
  RunningCommand run = b.start_runtime_with_fds({"run", "--bundle", b.path(), id}, {p[1]});
  close(p[1]);
  RunResult r = run.wait(60);
  std::string got = read_to_eof(p[0]);
  close(p[0]);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_EQ(r.out, "fds=0,1,2\ndenied errno=EBADF\n") << r.describe();
  EXPECT_EQ(got, "");
  EXPECT_TRUE(b.nothing_left_behind(id));
}

TEST_F(FeaturesTest, PidFilesNameTheContainerAndExecProcesses) {
  TestBundle b;
  std::string id = b.new_id();
  std::string pid_file = b.base() + "/init.pid";
  pid_t pid = run_detached(b, id, {"sleep", "inf"}, {"--pid-file", pid_file});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(atoi(host_file(pid_file).c_str()), pid) << "'" << host_file(pid_file) << "'";

  std::string exec_pid_file = b.base() + "/exec.pid";
  RunResult r = b.run_runtime(
      {"exec", "--detach", "--pid-file", exec_pid_file, id, "/bin/bw-probe", "sleep", "inf"});
  ASSERT_EQ(r.status, 0) << r.describe();
  pid_t exec_pid = atoi(host_file(exec_pid_file).c_str());
  ASSERT_GT(exec_pid, 0) << "'" << host_file(exec_pid_file) << "'";
  EXPECT_NE(exec_pid, pid);
  EXPECT_TRUE(wait_for_probe(exec_pid));
  EXPECT_EQ(host_link("/proc/" + std::to_string(exec_pid) + "/ns/pid"),
            host_link("/proc/" + std::to_string(pid) + "/ns/pid"));
  remove_container(b, id, pid);
  EXPECT_FALSE(process_exists(exec_pid) && !zombie_of_init(exec_pid));
}

// ---- user and time namespaces ----

TEST_F(FeaturesTest, UserNamespaceMapsIdsForContainerAndExec) {
  TestBundle b;
  json& linux = b.config()["linux"];
  linux["namespaces"].push_back({{"type", "user"}});
  linux["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  linux["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}});
  std::string id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  // From the host, the container's root is an unprivileged id.
  std::string status = proc_file(pid, "status");
  EXPECT_NE(status.find("\nUid:\t100000\t100000\t100000\t100000\n"), std::string::npos) << status;
  EXPECT_NE(status.find("\nGid:\t200000\t200000\t200000\t200000\n"), std::string::npos) << status;
  EXPECT_NE(host_link("/proc/" + std::to_string(pid) + "/ns/user"), host_link("/proc/self/ns/user"));

  // Inside, it is root, and so is a process exec'd into it, in the same namespace.
  RunResult r = b.run_runtime({"exec", id, "/bin/bw-probe", "id", "--", "read", "/proc/self/uid_map",
                               "--", "read", "/proc/self/gid_map"});
  ASSERT_EQ(r.status, 0) << r.describe();
  auto kv = parse_kv(r.out);
  EXPECT_EQ(kv["uid"], "0") << r.describe();
  EXPECT_EQ(kv["gid"], "0") << r.describe();
  std::vector<std::vector<long>> maps;
  for (const auto& line : split_lines(r.out)) {
    std::istringstream in(line);
    long inside, outside, size;
    if (in >> inside >> outside >> size) maps.push_back({inside, outside, size});
  }
  EXPECT_EQ(maps, (std::vector<std::vector<long>>{{0, 100000, 65536}, {0, 200000, 65536}}))
      << r.describe();
  remove_container(b, id, pid);
}

double host_uptime() { return std::atof(host_file("/proc/uptime").c_str()); }

long long host_clock(clockid_t clock) {
  struct timespec ts {};
  clock_gettime(clock, &ts);
  return static_cast<long long>(ts.tv_sec);
}

TEST_F(FeaturesTest, TimeNamespaceOffsetsClocks) {
  if (!host_exists("/proc/self/ns/time")) GTEST_SKIP() << "kernel without time namespaces";
  constexpr long long kBoot = 100000, kMono = 50000;
  TestBundle b;
  b.config()["linux"]["namespaces"].push_back({{"type", "time"}});
  b.config()["linux"]["timeOffsets"] = {{"boottime", {{"secs", kBoot}, {"nanosecs", 0}}},
                                        {"monotonic", {{"secs", kMono}, {"nanosecs", 0}}}};
  double up_before = host_uptime();
  long long boot_before = host_clock(CLOCK_BOOTTIME), mono_before = host_clock(CLOCK_MONOTONIC);
  std::string id;
  RunResult r = b.run_probe({"read", "/proc/uptime", "--", "clocks"}, &id);
  double up_after = host_uptime();
  long long boot_after = host_clock(CLOCK_BOOTTIME), mono_after = host_clock(CLOCK_MONOTONIC);
  ASSERT_EQ(r.status, 0) << r.describe();
  auto lines = split_lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.describe();
  double up = std::atof(lines[1].c_str());  // after "ok bytes=N"
  EXPECT_GE(up, up_before + kBoot - 1) << r.describe();
  EXPECT_LE(up, up_after + kBoot + 1) << r.describe();
  auto kv = parse_kv(r.out);
  long long boot = std::atoll(kv["boottime"].c_str()), mono = std::atoll(kv["monotonic"].c_str());
  EXPECT_GE(boot, boot_before + kBoot) << r.describe();
  EXPECT_LE(boot, boot_after + kBoot) << r.describe();
  EXPECT_GE(mono, mono_before + kMono) << r.describe();
  EXPECT_LE(mono, mono_after + kMono) << r.describe();
  EXPECT_TRUE(b.nothing_left_behind(id));

  // A process exec'd into the container shares its clocks.
  id = b.new_id();
  pid_t pid = run_detached(b, id, {"sleep", "inf"});
  ASSERT_GT(pid, 0);
  EXPECT_NE(host_link("/proc/" + std::to_string(pid) + "/ns/time"), host_link("/proc/self/ns/time"));
  boot_before = host_clock(CLOCK_BOOTTIME);
  r = b.run_runtime({"exec", id, "/bin/bw-probe", "clocks"});
  boot_after = host_clock(CLOCK_BOOTTIME);
  ASSERT_EQ(r.status, 0) << r.describe();
  boot = std::atoll(parse_kv(r.out)["boottime"].c_str());
  EXPECT_GE(boot, boot_before + kBoot) << r.describe();
  EXPECT_LE(boot, boot_after + kBoot) << r.describe();
  remove_container(b, id, pid);
}

}  // namespace
}  // namespace bw::test
