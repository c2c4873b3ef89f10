#pragma once

#include <map>
#include <optional>
#include <utility>

#include "base/fd_watch.h"
#include "base/timers.h"

namespace mvf::testing {

// Timers on a clock that stands still until the test moves it: advance() runs every timer
// that falls due, in deadline order (ties in the order they were set), each with the clock
// at its own deadline, so a state machine's timing is tested exactly and instantly. Its
// watched fds are polled only when the test says so (pollFds()).
class FakeTimers final : public base::Timers, public base::FdWatch {
 public:
  void watchFd(int fd, std::function<void()> onReadable) override;
  void unwatchFd(int fd) override { fds_.erase(fd); }
  // Runs the callback of every watched fd that is readable (or hung up) now, without
  // waiting; returns how many ran.
  int pollFds();

  Clock::time_point now() const override { return now_; }
  int64_t unixMs() const override;
  TimerId after(Clock::duration delay, std::function<void()> task) override;
  void cancel(TimerId id) override;

  // Moves the clock `by` forward, running what falls due on the way.
  void advance(Clock::duration by);
  // Moves the clock to the next timer's deadline and runs it; false when none is set.
  bool runNext();
  // How long until the next timer, or nullopt when none is set.
  std::optional<Clock::duration> nextIn() const;
  size_t pending() const { return timers_.size(); }

 private:
  Clock::time_point now_{};  // an arbitrary origin; only differences matter
  TimerId nextId_ = 1;
  // (deadline, id) → task; the id breaks ties in the order timers were set.
  std::map<std::pair<Clock::time_point, TimerId>, std::function<void()>> timers_;
  std::map<int, std::function<void()>> fds_;
};

}  // namespace mvf::testing
