#include "init/loop.h"

#include <sys/timerfd.h>
#include <time.h>

#include <cstring>
#include <exception>
#include <vector>

#include "base/log.h"

namespace bw::init {

namespace {
// The epoll data of the timerfd; watches count up from 1.
constexpr uint64_t kTimerWatch = 0;
}  // namespace

void run_guarded(const char* what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    log::error(strf("%s: unexpected exception: %s, ignoring", what, e.what()));
  } catch (...) {
    log::error(strf("%s: unexpected exception, ignoring", what));
  }
}

long long EventLoop::now_ms() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return sys_error("epoll_create1");
  loop->epoll_ = UniqueFd(ep);
  int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) return sys_error("timerfd_create(CLOCK_MONOTONIC)");
  loop->timerfd_ = UniqueFd(tfd);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = kTimerWatch;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) return sys_error("epoll_ctl(ADD timerfd)");
  return loop;
}

Result<EventLoop::WatchId> EventLoop::watch(int fd, uint32_t events, std::function<void(uint32_t)> on_event) {
  WatchId id = next_watch_++;
  struct epoll_event ev {};
  ev.events = events;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return sys_error("epoll_ctl(ADD fd %d)", fd);
  watches_.emplace(id, Watch{fd, std::move(on_event)});
  return id;
}

Result<void> EventLoop::modify_watch(WatchId id, uint32_t events) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return make_error(ENOENT, "no watch %llu", static_cast<unsigned long long>(id));
  struct epoll_event ev {};
  ev.events = events;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second.fd, &ev) < 0)
    return sys_error("epoll_ctl(MOD fd %d)", it->second.fd);
  return {};
}

void EventLoop::unwatch(WatchId id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd, nullptr);
  watches_.erase(it);
}

Result<void> EventLoop::add(EventSource* source, uint32_t events) {
  if (sources_.count(source)) return make_error(EEXIST, "event source for fd %d is already added", source->fd());
  BW_ASSIGN_OR_RETURN(WatchId id, watch(source->fd(), events, [source](uint32_t ev) { source->on_event(ev); }));
  sources_.emplace(source, id);
  return {};
}

Result<void> EventLoop::modify(EventSource* source, uint32_t events) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return make_error(ENOENT, "event source for fd %d was not added", source->fd());
  return modify_watch(it->second, events);
}

void EventLoop::remove(EventSource* source) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  unwatch(it->second);
  sources_.erase(it);
}

EventLoop::TimerId EventLoop::add_timer(long long delay_ms, std::function<void()> fn) {
  TimerId id = next_timer_++;
  long long deadline = now_ms() + (delay_ms > 0 ? delay_ms : 0);
  timers_.emplace(std::make_pair(deadline, id), std::move(fn));
  deadlines_.emplace(id, deadline);
  rearm();
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  deadlines_.erase(it);
  rearm();
}

// Arms the timerfd for the earliest deadline, or disarms it when none is left.
void EventLoop::rearm() {
  long long want = timers_.empty() ? -1 : timers_.begin()->first.first;
  if (want == armed_deadline_) return;
  struct itimerspec its {};
  if (want >= 0) {
    // An absolute time of zero would disarm the timer; deadlines are never 0 in practice.
    its.it_value.tv_sec = want / 1000;
    its.it_value.tv_nsec = (want % 1000) * 1000000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  }
  if (::timerfd_settime(timerfd_.get(), want >= 0 ? TFD_TIMER_ABSTIME : 0, &its, nullptr) < 0) {
    log::error(strf("timerfd_settime: %s, ignoring", strerror(errno)));
    return;
  }
  armed_deadline_ = want;
}

void EventLoop::fire_timers() {
  uint64_t expirations;
  (void)!::read(timerfd_.get(), &expirations, sizeof expirations);
  // The timerfd is no longer armed once it expired; rearm() below sets it again.
  armed_deadline_ = -1;
  long long now = now_ms();
  std::vector<TimerId> due;
  for (const auto& [key, fn] : timers_) {
    if (key.first > now) break;
    due.push_back(key.second);
  }
  for (TimerId id : due) {
    // An earlier callback may have cancelled this one.
    auto d = deadlines_.find(id);
    if (d == deadlines_.end()) continue;
    auto node = timers_.extract(std::make_pair(d->second, id));
    deadlines_.erase(d);
    run_guarded("timer", node.mapped());
  }
  rearm();
}

Result<void> EventLoop::run_once(int timeout_ms) {
  struct epoll_event events[32];
  int n = ::epoll_wait(epoll_.get(), events, 32, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return {};
    return sys_error("epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    uint64_t id = events[i].data.u64;
    if (id == kTimerWatch) {
      run_guarded("timers", [this] { fire_timers(); });
      continue;
    }
    // A callback earlier in this batch may have removed this watch.
    auto it = watches_.find(id);
    if (it == watches_.end()) continue;
    // Copied: the callback may unwatch itself, destroying the stored function.
    auto fn = it->second.fn;
    uint32_t ev = events[i].events;
    run_guarded("event", [&] { fn(ev); });
  }
  return {};
}

Result<void> EventLoop::run() {
  stopped_ = false;
  while (!stopped_) BW_RETURN_IF_ERROR(run_once(-1));
  return {};
}

}  // namespace bw::init
