#pragma once

#include <map>
#include <optional>
#include <utility>

#include "base/timers.h"

namespace mvf::testing {

// Timers on a clock that stands still until the test moves it: advance() runs every timer
// that falls due, in deadline order (ties in the order they were set), each with the clock
// at its own deadline, so a state machine's timing is tested exactly and instantly.
class FakeTimers final : public base::Timers {
 public:
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
};

}  // namespace mvf::testing
