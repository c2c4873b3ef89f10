// The supervisor's restart policy (docs/architecture.md, "The restart policy"), checked for exact
// delay sequences with a fixed random source.
#include "supervisor/restart_policy.h"

#include <gtest/gtest.h>

namespace mvf::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

RestartPolicy policy(double random) {
  return RestartPolicy(RestartPolicyConfig{}, [random] { return random; });
}

std::vector<int64_t> delays(RestartPolicy& p, int deaths, Duration readyFor = Duration(0)) {
  std::vector<int64_t> out;
  for (int i = 0; i < deaths; ++i) out.push_back(p.onDeath(readyFor).delay.count());
  return out;
}

TEST(RestartPolicy, DoublesFromHalfASecondAndCapsAtThirtySeconds) {
  auto p = policy(0.5);  // no jitter
  EXPECT_EQ(delays(p, 9),
            (std::vector<int64_t>{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
}

TEST(RestartPolicy, JitterIsPlusMinusTwentyPercentAndTheCapAppliesAfterIt) {
  auto low = policy(0.0);
  EXPECT_EQ(delays(low, 7), (std::vector<int64_t>{400, 800, 1600, 3200, 6400, 12800, 25600}));
  auto high = policy(1.0);
  EXPECT_EQ(delays(high, 7), (std::vector<int64_t>{600, 1200, 2400, 4800, 9600, 19200, 30000}));
}

TEST(RestartPolicy, AWorkerReadyTenSecondsIsRestartedAtOnce) {
  auto p = policy(0.5);
  auto decision = p.onDeath(seconds(10));
  EXPECT_EQ(decision.delay, Duration(0));
  EXPECT_EQ(decision.failures, 1u);
  // Ready only 9.9 s: a regular backoff.
  EXPECT_EQ(p.onDeath(milliseconds(9900)).delay, Duration(1000));
}

TEST(RestartPolicy, SixtySecondsReadyStartsTheCountOver) {
  auto p = policy(0.5);
  delays(p, 3);
  EXPECT_EQ(p.failures(), 3u);
  // Died after 60 s of readiness: the count starts over, and the restart is immediate.
  auto decision = p.onDeath(seconds(60));
  EXPECT_EQ(decision.failures, 1u);
  EXPECT_EQ(decision.delay, Duration(0));
  EXPECT_EQ(p.onDeath(Duration(0)).delay, Duration(1000));
}

TEST(RestartPolicy, FiveConsecutiveFailuresAreACrashLoopUntilStable) {
  auto p = policy(0.5);
  for (int i = 1; i <= 4; ++i) EXPECT_FALSE(p.onDeath(Duration(0)).crashLoopStarted) << i;
  EXPECT_FALSE(p.crashLooping());
  EXPECT_TRUE(p.onDeath(Duration(0)).crashLoopStarted);
  EXPECT_TRUE(p.crashLooping());
  EXPECT_FALSE(p.onDeath(Duration(0)).crashLoopStarted) << "reported once, when it starts";
  EXPECT_TRUE(p.onStable()) << "stable again ends the loop";
  EXPECT_FALSE(p.crashLooping());
  EXPECT_EQ(p.failures(), 0u);
  EXPECT_FALSE(p.onStable());
}

TEST(RestartPolicy, EveryFigureIsConfigurable) {
  RestartPolicy p({.initialDelay = milliseconds(10),
                   .maxDelay = milliseconds(50),
                   .jitter = 0,
                   .stableAfter = milliseconds(100),
                   .resetAfter = milliseconds(200),
                   .crashLoopAt = 2},
                  [] { return 0.9; });
  EXPECT_EQ(delays(p, 4), (std::vector<int64_t>{10, 20, 40, 50}));
  EXPECT_TRUE(p.crashLooping());
  EXPECT_EQ(p.onDeath(milliseconds(150)).delay, Duration(0));
  EXPECT_EQ(p.onDeath(milliseconds(200)).failures, 1u);
}

}  // namespace
}  // namespace mvf::supervisor
