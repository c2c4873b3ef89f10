// What every long-running binary sets up for itself first thing.
#include "base/process.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace mvf::base {
namespace {

TEST(RaiseFileLimit, LiftsTheSoftLimitToTheHardOne) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max < 1024) GTEST_SKIP() << "a hard limit too low to lower the soft one below it";
  rlimit low = saved;
  low.rlim_cur = 512;  // as a container runtime may start us
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  raiseFileLimit();
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, saved.rlim_max);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
}

}  // namespace
}  // namespace mvf::base
