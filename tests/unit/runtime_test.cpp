// What base::tuneRuntime() changes in the libraries under us, each in a child process
// (gtest's death tests), since it is process-wide.
#include "base/runtime.h"

#include <absl/synchronization/mutex.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace mvf::base {
namespace {

// Takes two absl::Mutexes in one order, then in the other: a cycle in the
// acquired-before graph, which abseil's deadlock detection reports.
void lockInBothOrders() {
  absl::Mutex a;
  absl::Mutex b;
  a.Lock();
  b.Lock();
  b.Unlock();
  a.Unlock();
  b.Lock();
  a.Lock();
  a.Unlock();
  b.Unlock();
}

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// The fact tuneRuntime() answers: Debian 12's abseil tracks lock order in every
// absl::Mutex (gRPC's too) and aborts on a cycle.
TEST_F(RuntimeTest, DebiansAbseilTracksLockOrderAndAbortsOnACycle) {
  EXPECT_DEATH(lockInBothOrders(), "potential deadlock");
}

TEST_F(RuntimeTest, TunedItTracksNoLockOrder) {
  EXPECT_EXIT(
      {
        tuneRuntime();
        lockInBothOrders();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace mvf::base
