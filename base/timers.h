#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace mvf::base {

// One-shot timers and the clock they run on. The event loop is the real one; tests use a
// fake (tests/support/fake_timers.h) whose time moves only when the test advances it, so
// policy and state machines are tested for exact sequences without waiting.
class Timers {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = uint64_t;

  virtual ~Timers() = default;

  // Monotonic time, for intervals.
  virtual Clock::time_point now() const = 0;
  // Wall-clock time in milliseconds since the Unix epoch, for timestamps people read.
  virtual int64_t unixMs() const = 0;

  // Runs `task` once, `delay` from now, on the owner's thread. Never 0: a valid id.
  virtual TimerId after(Clock::duration delay, std::function<void()> task) = 0;
  // A timer that already ran or was cancelled, and 0, are ignored.
  virtual void cancel(TimerId id) = 0;
};

// The wait from `now` to the next whole multiple of `period` (> 0) since the clock's
// epoch: in (0, period], so a timer re-armed on the tick does not fire twice. steady_clock
// is CLOCK_MONOTONIC, time since boot, one clock for every process on the host
// (clock_gettime(2)). A periodic timer re-armed with this falls due on the same ticks in
// every process: the five workers' heartbeats wake the idle host, and the supervisor that
// reads them, once per period instead of five times (README, "Idle and memory").
inline Timers::Clock::duration untilNextTick(Timers::Clock::time_point now,
                                             Timers::Clock::duration period) {
  return period - now.time_since_epoch() % period;
}

}  // namespace mvf::base
