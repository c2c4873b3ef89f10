// The worker's loop runs timers in deadline order, skips cancelled ones, and runs work
// posted from other threads.
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
