// The worker's loop runs timers in deadline order, skips cancelled ones, and runs work
// posted from other threads; periodic timers wait for the next host-wide tick.
#include "base/event_loop.h"

#include <gtest/gtest.h>

#include <thread>

namespace mvf::base {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, RunsTimersInDeadlineOrderAndSkipsCancelledOnes) {
  EventLoop loop;
  std::vector<int> ran;
  loop.after(20ms, [&] { ran.push_back(2); });
  auto cancelled = loop.after(5ms, [&] { ran.push_back(99); });
  loop.after(1ms, [&] { ran.push_back(1); });
  loop.after(30ms, [&] {
    ran.push_back(3);
    loop.stop();
  });
  loop.cancel(cancelled);
  ASSERT_TRUE(loop.run());
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(UntilNextTick, WaitsForTheNextMultipleOfThePeriodSinceTheClocksEpoch) {
  using TimePoint = Timers::Clock::time_point;
  EXPECT_EQ(untilNextTick(TimePoint(12s), 5s), 3s);
  EXPECT_EQ(untilNextTick(TimePoint(14999ms), 5s), 1ms);
  EXPECT_EQ(untilNextTick(TimePoint(15s + 1ns), 5s), 5s - 1ns);
  EXPECT_EQ(untilNextTick(TimePoint(0s), 500ms), 500ms);
}

TEST(UntilNextTick, OnATickWaitsAWholePeriodSoATimerReArmedThereDoesNotFireTwice) {
  EXPECT_EQ(untilNextTick(Timers::Clock::time_point(15s), 5s), 5s);
}

TEST(UntilNextTick, TwoClocksReadAtDifferentMomentsOfOnePeriodMeetOnTheSameTick) {
  // Two workers started 1.3 s apart, each re-arming its 5 s heartbeat from its own now.
  Timers::Clock::time_point first(100s + 200ms), second(101s + 500ms);
  EXPECT_EQ(first + untilNextTick(first, 5s), second + untilNextTick(second, 5s));
}

TEST(EventLoop, RunsWorkPostedFromAnotherThreadOnItsOwnThread) {
  EventLoop loop;
  std::thread::id ranOn;
  std::thread poster([&] {
    loop.post([&] {
      ranOn = std::this_thread::get_id();
      loop.stop();
    });
  });
  ASSERT_TRUE(loop.run());
  poster.join();
  EXPECT_EQ(ranOn, std::this_thread::get_id());
}

}  // namespace
}  // namespace mvf::base
