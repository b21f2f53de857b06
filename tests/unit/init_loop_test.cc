// The supervisor's event loop (timers on one timerfd that is disarmed when
// idle, fd watches, callbacks that throw) and the sd_notify socket.

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "init/loop.h"
#include "init/notify.h"

namespace bw::init {
namespace {

std::unique_ptr<EventLoop> make_loop() {
  auto l = EventLoop::create();
  EXPECT_TRUE(l) << (l ? "" : l.error().text());
  return l ? std::move(*l) : nullptr;
}

TEST(EventLoop, TimersFireInDeadlineOrderAndDisarmWhenNoneIsLeft) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  EXPECT_FALSE(loop->timerfd_armed());
  std::vector<int> fired;
  loop->add_timer(30, [&] { fired.push_back(30); });
  auto cancelled = loop->add_timer(10, [&] { fired.push_back(-1); });
  loop->add_timer(5, [&] { fired.push_back(5); });
  loop->cancel_timer(cancelled);
  loop->cancel_timer(cancelled);  // twice: harmless
  loop->cancel_timer(0);
  EXPECT_TRUE(loop->timerfd_armed());
  EXPECT_EQ(loop->pending_timers(), 2u);
  long long start = EventLoop::now_ms();
  while (fired.size() < 2 && EventLoop::now_ms() - start < 2000) ASSERT_TRUE(loop->run_once(1000));
  EXPECT_EQ(fired, (std::vector<int>{5, 30}));
  EXPECT_GE(EventLoop::now_ms() - start, 29);
  EXPECT_EQ(loop->pending_timers(), 0u);
  EXPECT_FALSE(loop->timerfd_armed());
}

TEST(EventLoop, IdleLoopHasNothingToWakeItUp) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  int calls = 0;
  auto t = loop->add_timer(50, [&] { ++calls; });
  loop->cancel_timer(t);
  long long start = EventLoop::now_ms();
  ASSERT_TRUE(loop->run_once(200));
  EXPECT_GE(EventLoop::now_ms() - start, 190);  // epoll_wait timed out: nothing was ready
  EXPECT_EQ(calls, 0);
}

TEST(EventLoop, ExceptionInACallbackIsSurvived) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  bool after = false;
  loop->add_timer(0, [] { throw std::runtime_error("boom"); });
  loop->add_timer(0, [&] { after = true; });
  ASSERT_TRUE(loop->run_once(1000));
  EXPECT_TRUE(after);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto w = loop->watch(p[0], EPOLLIN, [](uint32_t) { throw 42; });
  ASSERT_TRUE(w);
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  EXPECT_TRUE(loop->run_once(1000));
  loop->unwatch(*w);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(EventLoop, WatchCanRemoveItselfAndSourcesAreDispatched) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int calls = 0;
  EventLoop::WatchId id = 0;
  auto w = loop->watch(p[0], EPOLLIN, [&](uint32_t ev) {
    EXPECT_TRUE(ev & EPOLLIN);
    ++calls;
    loop->unwatch(id);
  });
  ASSERT_TRUE(w);
  id = *w;
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  ASSERT_TRUE(loop->run_once(1000));
  ASSERT_TRUE(loop->run_once(50));  // still readable, but no longer watched
  EXPECT_EQ(calls, 1);

  struct Source : EventSource {
    int fd_;
    int events = 0;
    explicit Source(int fd) : fd_(fd) {}
    int fd() const override { return fd_; }
    void on_event(uint32_t) override {
      char c;
      (void)!::read(fd_, &c, 1);
      ++events;
    }
  } src(p[0]);
  ASSERT_TRUE(loop->add(&src));
  EXPECT_FALSE(loop->add(&src));  // once only
  ASSERT_TRUE(loop->run_once(1000));
  EXPECT_EQ(src.events, 1);
  loop->remove(&src);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(Notify, ParsesAssignmentsLastOneWins) {
  auto f = parse_notify_fields("READY=1\nSTATUS=a=b\n\nnonsense\n=x\nSTATUS=second\nWATCHDOG=1");
  EXPECT_EQ(f.size(), 3u);
  EXPECT_EQ(f["READY"], "1");
  EXPECT_EQ(f["STATUS"], "second");
  EXPECT_EQ(f["WATCHDOG"], "1");
}

TEST(Notify, ReceivesMessagesWithTheSendersCredentials) {
  std::string path = "/tmp/bw-notify-test-" + std::to_string(::getpid()) + ".sock";
  auto sock = NotifySocket::bind(path);
  ASSERT_TRUE(sock) << sock.error().text();
  auto none = sock->receive();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  std::string msg = "READY=1\nSTATUS=up and running";
  ASSERT_EQ(::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
            static_cast<ssize_t>(msg.size()));
  std::string big(5000, 'x');
  ASSERT_EQ(::sendto(fd, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
            static_cast<ssize_t>(big.size()));
  ::close(fd);
  auto m = sock->receive();
  ASSERT_TRUE(m);
  ASSERT_TRUE(*m);
  EXPECT_EQ((*m)->pid, ::getpid());
  EXPECT_EQ((*m)->uid, ::getuid());
  EXPECT_EQ((*m)->fields.at("STATUS"), "up and running");
  // Over 4096 bytes: dropped, reported as a message without a sender.
  auto too_big = sock->receive();
  ASSERT_TRUE(too_big);
  ASSERT_TRUE(*too_big);
  EXPECT_EQ((*too_big)->pid, 0);
  EXPECT_TRUE((*too_big)->fields.empty());
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace bw::init
