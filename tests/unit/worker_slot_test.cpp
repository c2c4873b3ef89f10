// One worker's life under the supervisor, on a fake clock and a fake launcher: the ready
// and heartbeat timeouts, the restart policy's delays and crash loop, exit 78, a missing
// binary, and SIGHUP's reload.
#include "supervisor/worker_slot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/support/fake_launcher.h"
#include "tests/support/fake_timers.h"

namespace mvf::supervisor {
namespace {

using namespace std::chrono_literals;
using State = v1::WorkerStatus;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeLauncher;
using testing::FakeTimers;
using ::testing::HasSubstr;

constexpr int kSigkilled = SIGKILL;   // a wait status: killed by SIGKILL
constexpr int kSegfaulted = SIGSEGV;  // a wait status: killed by SIGSEGV
constexpr int kExit78 = 78 << 8;      // a wait status: exited with 78
constexpr int kExit0 = 0;             // a wait status: exited with 0
constexpr int kSigtermed = SIGTERM;   // a wait status: killed by SIGTERM

class WorkerSlotTest : public ::testing::Test {
 protected:
  WorkerSlot::Config config(std::vector<std::string> args = {"--log-level", "info"}) {
    return {.binary = "/opt/mvf/mvf-worker-vfio",
            .args = std::move(args),
            .readyTimeout = 20s,
            .heartbeatTimeout = 15s,
            .policy = {}};
  }

  // The worker says `event` on its pipe, and the supervisor's loop reads it.
  void say(const std::string& event, const std::string& extra = "") {
    launcher_.say(slot_.pid(), event, extra);
    timers_.pollFds();
  }
  State::State state() const { return slot_.status().state(); }
  std::vector<int> signalsTo(pid_t pid) const {
    std::vector<int> out;
    for (const auto& [to, sig] : launcher_.signals) {
      if (to == pid) out.push_back(sig);
    }
    return out;
  }

  FakeTimers timers_;
  FakeLauncher launcher_;
  std::string settings_ = "mode = exclusive";
  int changes_ = 0;
  WorkerSlot slot_{
      "vfio", config(),
      WorkerSlot::Deps{.timers = timers_,
                       .fds = timers_,
                       .launcher = launcher_,
                       .random = [] { return 0.5; },  // no jitter
                       .settingsOf = [this](const std::string&, const WorkerSlot::Config& c)
                           -> base::Result<std::string> {
                         if (c.args.empty()) return base::Error{"no args"};
                         return settings_;
                       },
                       .changed = [this] { ++changes_; }}};
};

TEST_F(WorkerSlotTest, StartsTheBinaryWithANotifyPipeAndRunsOnceReady) {
  slot_.enable();
  ASSERT_EQ(launcher_.launched.size(), 1u);
  const auto& launched = launcher_.launched[0];
  EXPECT_EQ(launched.binary, "/opt/mvf/mvf-worker-vfio");
  EXPECT_THAT(launched.args, Contains("--notify-fd"));
  EXPECT_EQ(state(), State::starting);
  EXPECT_EQ(slot_.status().pid(), launched.pid);
  say("ready");
  EXPECT_EQ(state(), State::running);
  EXPECT_EQ(slot_.status().ready_at_unix_ms(), timers_.unixMs());
  say("devices", ",\"total\":1000,\"healthy\":0");
  say("registered");
  EXPECT_TRUE(slot_.status().registered());
  EXPECT_EQ(slot_.status().times_registered(), 1u);
  EXPECT_EQ(slot_.status().devices_total(), 1000u);
  EXPECT_EQ(slot_.status().devices_healthy(), 0u);
  say("unregistered");
  EXPECT_FALSE(slot_.status().registered());
}

TEST_F(WorkerSlotTest, NotReadyWithinTheReadyTimeoutIsKilledAndRestartedAfterBackoff) {
  slot_.enable();
  pid_t first = slot_.pid();
  timers_.advance(20s - 1ms);
  EXPECT_TRUE(signalsTo(first).empty());
  timers_.advance(1ms);
  EXPECT_THAT(signalsTo(first), ElementsAre(SIGKILL));
  slot_.onExit(kSigkilled);
  EXPECT_EQ(state(), State::backoff);
  EXPECT_EQ(slot_.status().last_exit().reason(), "not ready within 20.0s");
  EXPECT_EQ(slot_.status().last_exit().signal_name(), "SIGKILL");
  EXPECT_EQ(slot_.status().restarts(), 1u);
  EXPECT_EQ(timers_.nextIn(), 500ms);
  timers_.advance(500ms);
  EXPECT_EQ(launcher_.launched.size(), 2u);
}

TEST_F(WorkerSlotTest, AReadyWorkerSilentForTheHeartbeatTimeoutIsKilled) {
  slot_.enable();
  say("ready");
  for (int i = 0; i < 10; ++i) {  // heartbeats every 10 s keep it alive
    timers_.advance(10s);
    say("heartbeat");
  }
  EXPECT_TRUE(signalsTo(slot_.pid()).empty());
  timers_.advance(15s);
  EXPECT_THAT(signalsTo(slot_.pid()), ElementsAre(SIGKILL));
  slot_.onExit(kSigkilled);
  EXPECT_EQ(slot_.status().last_exit().reason(), "no heartbeat for 15.0s");
}

TEST_F(WorkerSlotTest, DeathsBeforeStabilityBackOffExponentiallyIntoACrashLoopAndOut) {
  slot_.enable();
  std::vector<base::Timers::Clock::duration> delays;
  for (int n = 1; n <= 7; ++n) {
    slot_.onExit(kSegfaulted);
    delays.push_back(*timers_.nextIn());
    EXPECT_EQ(slot_.status().consecutive_failures(), static_cast<unsigned>(n));
    EXPECT_EQ(slot_.status().crash_looping(), n >= 5) << "failure " << n;
    timers_.runNext();  // restarted
  }
  // 0.5 s · 2^(n−1), capped at 30 s (the random source gives no jitter here).
  EXPECT_THAT(delays, ElementsAre(500ms, 1s, 2s, 4s, 8s, 16s, 30s));
  // Ready, and ready for 60 s: the count starts over, the crash loop is over.
  say("ready");
  timers_.advance(59s);
  say("heartbeat");
  EXPECT_TRUE(slot_.status().crash_looping());
  timers_.advance(1s);
  EXPECT_FALSE(slot_.status().crash_looping());
  EXPECT_EQ(slot_.status().consecutive_failures(), 0u);
}

TEST_F(WorkerSlotTest, AWorkerThatWasStableIsRestartedAtOnce) {
  slot_.enable();
  say("ready");
  timers_.advance(10s);
  say("heartbeat");
  slot_.onExit(kSegfaulted);
  EXPECT_EQ(timers_.nextIn(), 0ms);
  timers_.advance(0ms);
  EXPECT_EQ(launcher_.launched.size(), 2u);
}

TEST_F(WorkerSlotTest, Exit78IsAConfigurationErrorNotRestartedUntilSighup) {
  slot_.enable();
  slot_.onExit(kExit78);
  EXPECT_EQ(state(), State::failed);
  EXPECT_THAT(slot_.status().failed_reason(), HasSubstr("exit 78"));
  timers_.advance(1h);
  EXPECT_EQ(launcher_.launched.size(), 1u) << "never restarted on its own";
  slot_.reload(config());  // SIGHUP: tried again
  EXPECT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(state(), State::starting);
}

TEST_F(WorkerSlotTest, AWorkersOwnConfigurationErrorBecomesItsFailedReason) {
  slot_.enable();
  say("config_error", ",\"detail\":\"MVF_MODE is not read: mode is set per program\"");
  slot_.onExit(kExit78);
  EXPECT_EQ(state(), State::failed);
  EXPECT_EQ(slot_.status().failed_reason(),
            "configuration error: MVF_MODE is not read: mode is set per program; fix it (in the "
            "config file, then SIGHUP; a flag or env var takes a restart of the supervisor)");
}

TEST_F(WorkerSlotTest, AMissingBinaryIsFailedSayingSo) {
  launcher_.failNext = base::Error{"worker binary /opt/mvf/mvf-worker-vfio: No such file", 2};
  slot_.enable();
  EXPECT_EQ(state(), State::failed);
  EXPECT_THAT(slot_.status().failed_reason(), HasSubstr("No such file"));
  EXPECT_EQ(timers_.pending(), 0u);
}

TEST_F(WorkerSlotTest, SighupRestartsOnlyWhenTheSettingsChangedAndNeverIntoAnInvalidOne) {
  slot_.enable();
  say("ready", ",\"settingsDigest\":\"" + settings_ + "\"");  // what it runs with
  pid_t first = slot_.pid();
  slot_.reload(config({"--log-level", "debug"}));  // the same effective settings
  EXPECT_TRUE(signalsTo(first).empty());
  slot_.reload(config({}));  // invalid: kept as it runs
  EXPECT_TRUE(signalsTo(first).empty());
  settings_ = "mode = shared";
  slot_.reload(config({"--log-level", "debug"}));
  EXPECT_THAT(signalsTo(first), ElementsAre(SIGTERM));
  EXPECT_EQ(state(), State::stopping);
  slot_.onExit(kExit0);  // then started at once with the new settings, no backoff
  ASSERT_EQ(launcher_.launched.size(), 2u);
  EXPECT_THAT(launcher_.launched[1].args, Contains("debug"));
  EXPECT_EQ(slot_.status().restarts(), 0u) << "a reload is no failure";
}

TEST_F(WorkerSlotTest, DisabledItIsStoppedAndNotStartedAgain) {
  slot_.enable();
  say("ready");
  slot_.disable();
  EXPECT_THAT(signalsTo(slot_.pid()), ElementsAre(SIGTERM));
  slot_.onExit(kSigtermed);
  EXPECT_EQ(state(), State::unspecified);
  timers_.advance(1h);
  EXPECT_EQ(launcher_.launched.size(), 1u);
}

TEST_F(WorkerSlotTest, JunkOnThePipeIsSkippedAndWhatFollowsStillCounts) {
  slot_.enable();
  launcher_.say(slot_.pid(), "ready\",\"junk");  // not an event: a broken JSON line
  timers_.pollFds();
  EXPECT_EQ(state(), State::starting);
  say("ready");
  EXPECT_EQ(state(), State::running);
}

}  // namespace
}  // namespace mvf::supervisor
