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

}  // namespace mvf::base
