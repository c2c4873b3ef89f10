// What base::tuneRuntime() changes in the libraries under us, each in a child process
// (gtest's death tests), since it is process-wide.
#include "base/runtime.h"

#include <absl/synchronization/mutex.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/support/worker_process.h"

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

TEST(ChildGlibcTunablesTest, AddsTheCacheLimitToWhatItInherits) {
  EXPECT_EQ(childGlibcTunables(""), "glibc.malloc.tcache_max=256");
  EXPECT_EQ(childGlibcTunables("glibc.malloc.perturb=85"),
            "glibc.malloc.perturb=85:glibc.malloc.tcache_max=256");
  EXPECT_EQ(childGlibcTunables("glibc.malloc.perturb=85:"),
            "glibc.malloc.perturb=85:glibc.malloc.tcache_max=256");
  // A name that only begins like it is another tunable.
  EXPECT_EQ(childGlibcTunables("glibc.malloc.tcache_max_x=1"),
            "glibc.malloc.tcache_max_x=1:glibc.malloc.tcache_max=256");
  // Without '=' glibc skips the entry: it sets nothing.
  EXPECT_EQ(childGlibcTunables("glibc.malloc.tcache_max"),
            "glibc.malloc.tcache_max:glibc.malloc.tcache_max=256");
  // Empty entries are nothing either.
  EXPECT_EQ(childGlibcTunables(":x.y=1::"), ":x.y=1::glibc.malloc.tcache_max=256");
}

TEST(ChildGlibcTunablesTest, AnOperatorsCacheLimitStands) {
  for (const char* inherited : {"glibc.malloc.tcache_max=1032", "glibc.malloc.tcache_max=0",
                                "glibc.malloc.perturb=85:glibc.malloc.tcache_max=64:x.y=1",
                                "::glibc.malloc.tcache_max=64"}) {
    EXPECT_EQ(childGlibcTunables(inherited), inherited);
  }
}

// What the probe found (reused, cached or sanitizer), run with exactly `environment` as
// its environment.
std::string probeThreadCache(const std::string& environment) {
  std::vector<std::string> argv = {"env", "-i"};
  if (!environment.empty()) argv.push_back(environment);
  argv.push_back(MVF_THREAD_CACHE_PROBE);
  auto run = mvf::testing::runCommand(argv);
  EXPECT_EQ(run.exitCode, 0) << run.output;
  constexpr std::string_view kPrefix = "mvf-thread-cache-probe: ";
  if (!run.output.starts_with(kPrefix) || !run.output.ends_with("\n")) return run.output;
  return run.output.substr(kPrefix.size(), run.output.size() - kPrefix.size() - 1);
}

// What childGlibcTunables() is for: by default glibc keeps a block one thread freed in
// that thread's cache, out of reach of the others, until the thread exits; gRPC's
// threads live as long as the process.
TEST(ChildGlibcTunablesTest, DebiansGlibcKeepsABlockInTheFreeingThreadsCache) {
  std::string out = probeThreadCache("");
  if (out == "sanitizer") GTEST_SKIP() << "a sanitizer's allocator stands in for glibc's";
  EXPECT_EQ(out, "cached");
}

TEST(ChildGlibcTunablesTest, WithThemABlockOverTheLimitIsFreeForAnyThread) {
  std::string out = probeThreadCache("GLIBC_TUNABLES=" + childGlibcTunables(""));
  if (out == "sanitizer") GTEST_SKIP() << "a sanitizer's allocator stands in for glibc's";
  EXPECT_EQ(out, "reused");
}

}  // namespace
}  // namespace mvf::base
