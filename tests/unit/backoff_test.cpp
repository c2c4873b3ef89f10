// Registration retries back off exponentially from the initial delay up to the cap.
#include "base/backoff.h"

#include <gtest/gtest.h>

namespace mvf::base {
namespace {

TEST(BackoffDelay, DoublesFromInitialAndStopsAtTheCap) {
  std::vector<int64_t> delays;
  for (unsigned n = 1; n <= 9; ++n) {
    delays.push_back(backoffDelay(n, Duration(50), Duration(5000)).count());
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{50, 100, 200, 400, 800, 1600, 3200, 5000, 5000}));
  EXPECT_EQ(backoffDelay(1000000, Duration(50), Duration(5000)).count(), 5000);
  EXPECT_EQ(backoffDelay(1, Duration(50), Duration(20)).count(), 20);
}

}  // namespace
}  // namespace mvf::base
