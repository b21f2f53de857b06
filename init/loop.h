// The event loop of bulwark-init: one epoll instance watching every fd the
// supervisor cares about (signalfd, one pidfd per child, the service output
// pipes, the notify socket, the control socket and its connections), and one
// timerfd that carries every timer (restart backoff, watchdogs, health
// intervals, stop timeouts). The timerfd is disarmed whenever no timer is
// pending, so an idle supervisor sleeps in epoll_wait with nothing to wake it.
//
// Callbacks run one at a time on the loop's thread. An exception escaping a
// callback is caught, logged and survived: PID 1 must not die because one
// supervision path failed.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw::init {

// An fd with a handler, for objects that own their fd (the control server,
// its connections). Register with EventLoop::add; the loop does not own it.
class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual int fd() const = 0;
  virtual void on_event(uint32_t events) = 0;  // EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR bits
};

class EventLoop {
 public:
  using WatchId = uint64_t;
  using TimerId = uint64_t;  // 0 is never a valid id: use it for "no timer"

  static Result<std::unique_ptr<EventLoop>> create();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches source->fd() for `events` until remove(source). The source must
  // stay alive until then; removing it from inside its own on_event is fine.
  Result<void> add(EventSource* source, uint32_t events = EPOLLIN);
  Result<void> modify(EventSource* source, uint32_t events);
  void remove(EventSource* source);

  // The same for a plain fd and a callback. The fd stays owned by the caller
  // and must be unwatched before it is closed.
  Result<WatchId> watch(int fd, uint32_t events, std::function<void(uint32_t)> on_event);
  Result<void> modify_watch(WatchId id, uint32_t events);
  void unwatch(WatchId id);

  // Calls `fn` once, delay_ms from now (CLOCK_MONOTONIC). Cancelling an id
  // that already fired or was cancelled (or 0) does nothing.
  TimerId add_timer(long long delay_ms, std::function<void()> fn);
  void cancel_timer(TimerId id);
  size_t pending_timers() const { return deadlines_.size(); }
  // Whether the timerfd is armed right now (false whenever no timer is pending).
  bool timerfd_armed() const { return armed_deadline_ >= 0; }

  // Dispatches events until stop() is called.
  Result<void> run();
  // Waits at most timeout_ms (-1: forever) for events and dispatches them.
  Result<void> run_once(int timeout_ms);
  void stop() { stopped_ = true; }

  // Milliseconds on CLOCK_MONOTONIC.
  static long long now_ms();

 private:
  EventLoop() = default;
  void rearm();
  void fire_timers();

  struct Watch {
    int fd;
    std::function<void(uint32_t)> fn;
  };
  UniqueFd epoll_;
  UniqueFd timerfd_;
  WatchId next_watch_ = 1;
  TimerId next_timer_ = 1;
  std::unordered_map<WatchId, Watch> watches_;
  std::unordered_map<EventSource*, WatchId> sources_;
  std::map<std::pair<long long, TimerId>, std::function<void()>> timers_;
  std::unordered_map<TimerId, long long> deadlines_;
  long long armed_deadline_ = -1;
  bool stopped_ = false;
};

// Runs fn, logging (and swallowing) any exception with `what` as context.
void run_guarded(const char* what, const std::function<void()>& fn);

}  // namespace bw::init
