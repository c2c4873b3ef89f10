// The registration loop's every transition, on a fake clock and a fake socket, kubelet
// and stream hub: what it does when the kubelet is absent, restarts, deletes our socket,
// ends our stream or refuses Register, and when the plugin dir is missing.
#include "workers/core/registration_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "tests/support/fake_timers.h"
#include "tests/support/log_capture.h"

namespace mvf::core {
namespace {

using namespace std::chrono_literals;
using State = RegistrationLoop::State;
using ::testing::ElementsAre;
using testing::FakeTimers;
using ::testing::IsEmpty;

// The world the loop acts on, and a record of what it did to it.
class FakeEffects final : public RegistrationLoop::Effects {
 public:
  bool dirExists = true;                           // the kubelet's plugin dir
  bool busy = false;                               // another process answers on our path
  bool socketOurs = false;                         // our socket file is the one we bound
  std::optional<FileId> kubelet = FileId{1, 100};  // kubelet.sock, if any

  // What the loop did since the last take().
  std::vector<std::string> take() { return std::exchange(calls_, {}); }

  base::Status listen() override {
    calls_.push_back("listen");
    if (!dirExists) return base::Error{"bind(kd/udma.sock): No such file or directory", ENOENT};
    if (busy) return base::Error{"kd/udma.sock is served by another process", EADDRINUSE};
    socketOurs = true;
    return base::ok();
  }
  void stopListening() override {
    calls_.push_back("stop listening");
    socketOurs = false;
  }
  bool ownsSocket() const override { return socketOurs; }
  std::optional<FileId> kubeletSocket() const override { return kubelet; }
  void endStreams(uint64_t generation) override {
    calls_.push_back("end streams, generation " + std::to_string(generation));
  }
  void startRegister() override { calls_.push_back("Register"); }
  void cancelRegister() override { calls_.push_back("cancel Register"); }
  void ready() override { calls_.push_back("ready"); }
  void registered() override { calls_.push_back("registered"); }
  void unregistered(const std::string& why) override { calls_.push_back("unregistered: " + why); }

 private:
  std::vector<std::string> calls_;
};

const base::Status kOk = base::ok();
const base::Status kRefused = base::Error{"2: the ResourceName is invalid", 2};
const base::Status kCancelled = base::Error{"1: Cancelled", 1};

class RegistrationLoopTest : public ::testing::Test {
 protected:
  // Started, registered, and the record cleared.
  void startRegistered() {
    loop_.start();
    loop_.registerDone(kOk);
    ASSERT_EQ(loop_.state(), State::kRegistered);
    effects_.take();
  }

  FakeTimers timers_;
  FakeEffects effects_;
  RegistrationLoop loop_{{.socketPath = "kd/udma.sock",
                          .kubeletSocket = "kd/kubelet.sock",
                          .resourceName = "intel.com/udma",
                          .backoffInitial = 50ms,
                          .backoffMax = 5s,
                          .registerTimeout = 15s},
                         timers_,
                         effects_};
};

TEST_F(RegistrationLoopTest, ServesFirstThenRegistersAndSaysReadyOnce) {
  loop_.start();
  EXPECT_THAT(effects_.take(),
              ElementsAre("listen", "ready", "end streams, generation 1", "Register"));
  EXPECT_EQ(loop_.state(), State::kRegistering);
  loop_.registerDone(kOk);
  EXPECT_THAT(effects_.take(), ElementsAre("registered"));
  EXPECT_EQ(loop_.state(), State::kRegistered);
  EXPECT_EQ(timers_.pending(), 0u) << "nothing to wait for once registered";
}

TEST_F(RegistrationLoopTest, AnAbsentKubeletIsWaitedForWithBackoffAndItsArrivalRegistersAtOnce) {
  effects_.kubelet.reset();
  loop_.start();
  EXPECT_THAT(effects_.take(), ElementsAre("listen", "ready"));
  EXPECT_EQ(loop_.state(), State::kWaitingForKubelet);
  // Checked again after 50 ms, 100, 200 … doubling up to 5 s; never given up.
  std::vector<base::Timers::Clock::duration> delays;
  for (int i = 0; i < 9; ++i) {
    delays.push_back(*timers_.nextIn());
    ASSERT_TRUE(timers_.runNext());
  }
  EXPECT_THAT(delays, ElementsAre(50ms, 100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 5s, 5s));
  EXPECT_THAT(effects_.take(), IsEmpty()) << "no Register without a kubelet.sock";
  EXPECT_EQ(loop_.state(), State::kWaitingForKubelet);

  effects_.kubelet = FileId{1, 100};
  loop_.kubeletSocketCreated();
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 1", "Register"));
  loop_.registerDone(kOk);
  EXPECT_EQ(loop_.state(), State::kRegistered);
  EXPECT_EQ(loop_.failures(), 0u);
}

TEST_F(RegistrationLoopTest, ARecreatedKubeletSocketRegistersAgainAtOnceEndingTheOldStreams) {
  startRegistered();
  effects_.kubelet = FileId{1, 101};  // a restarted kubelet
  loop_.kubeletSocketCreated();
  EXPECT_THAT(effects_.take(), ElementsAre("unregistered: kubelet restarted",
                                           "end streams, generation 2", "Register"));
  loop_.registerDone(kOk);
  EXPECT_THAT(effects_.take(), ElementsAre("registered"));
}

TEST_F(RegistrationLoopTest, OurSocketDeletedIsServedAgainAndRegistered) {
  startRegistered();
  effects_.socketOurs = false;  // a restarting kubelet cleans its dir
  loop_.ownSocketRemoved();
  EXPECT_THAT(effects_.take(), ElementsAre("unregistered: socket removed", "stop listening",
                                           "listen", "end streams, generation 2", "Register"));
  EXPECT_EQ(loop_.state(), State::kRegistering);
}

TEST_F(RegistrationLoopTest, AnEventAboutASocketThatIsStillOursChangesNothing) {
  startRegistered();
  loop_.ownSocketRemoved();  // an older file of that name went, not ours
  EXPECT_THAT(effects_.take(), IsEmpty());
  EXPECT_EQ(loop_.state(), State::kRegistered);
}

TEST_F(RegistrationLoopTest, AStreamEndedByTheKubeletRegistersAgainAfterBackoff) {
  startRegistered();
  loop_.kubeletStreamEnded(loop_.generation());
  EXPECT_THAT(effects_.take(), ElementsAre("unregistered: the kubelet closed ListAndWatch"));
  EXPECT_EQ(loop_.state(), State::kBackoff);
  // Not at once: a restarting kubelet's own events are to come first.
  EXPECT_EQ(timers_.nextIn(), 50ms);
  timers_.advance(50ms);
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 2", "Register"));
}

TEST_F(RegistrationLoopTest, AStreamOfAnEarlierRegistrationEndingLateIsIgnored) {
  startRegistered();
  effects_.kubelet = FileId{1, 101};
  loop_.kubeletSocketCreated();
  loop_.registerDone(kOk);
  effects_.take();
  loop_.kubeletStreamEnded(1);  // the first registration's stream, ending after the second
  EXPECT_THAT(effects_.take(), IsEmpty());
  EXPECT_EQ(loop_.state(), State::kRegistered);
}

TEST_F(RegistrationLoopTest, AFailingRegisterIsRetriedWithDoublingBackoffUpToTheMax) {
  loop_.start();
  effects_.take();
  std::vector<base::Timers::Clock::duration> delays;
  for (int i = 0; i < 9; ++i) {
    loop_.registerDone(kRefused);
    EXPECT_EQ(loop_.state(), State::kBackoff);
    delays.push_back(*timers_.nextIn());
    ASSERT_TRUE(timers_.runNext());
    EXPECT_THAT(effects_.take(),
                ElementsAre("end streams, generation " + std::to_string(i + 2), "Register"));
  }
  EXPECT_THAT(delays, ElementsAre(50ms, 100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 5s, 5s));
  EXPECT_EQ(loop_.failures(), 9u);
  loop_.registerDone(kOk);
  EXPECT_EQ(loop_.failures(), 0u);
}

// The call carries no gRPC deadline (workers/core/registrar.cpp says why): the loop's own
// timer cancels it, and the failure says what happened rather than "Cancelled".
TEST_F(RegistrationLoopTest, ARegisterWithNoAnswerIsCancelledAtTheTimeoutAndRetriedSayingWhy) {
  testing::LogCapture log("registration");
  loop_.start();
  effects_.take();
  EXPECT_EQ(timers_.nextIn(), 15s);
  timers_.advance(15s);
  EXPECT_THAT(effects_.take(), ElementsAre("cancel Register"));
  EXPECT_EQ(loop_.state(), State::kRegistering) << "until the cancelled call comes back";
  loop_.registerDone(kCancelled);
  EXPECT_EQ(loop_.state(), State::kBackoff);
  EXPECT_EQ(loop_.failures(), 1u);
  EXPECT_THAT(log.text(), ::testing::HasSubstr("registering with kd/kubelet.sock failed (no "
                                               "answer within 15000ms); attempt 1, next in 50ms"));
  EXPECT_EQ(timers_.nextIn(), 50ms);
  timers_.advance(50ms);
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 2", "Register"));
  loop_.registerDone(kOk);
  EXPECT_EQ(loop_.state(), State::kRegistered);
  EXPECT_EQ(timers_.pending(), 0u) << "the timeout goes with the answer";
}

// An answer that comes in the same instant as the timeout, before the cancel takes, is
// what happened: a refusal keeps its reason, a success registers.
TEST_F(RegistrationLoopTest, AnAnswerRacingTheTimeoutIsReportedAsItself) {
  testing::LogCapture log("registration");
  loop_.start();
  timers_.advance(15s);
  loop_.registerDone(kRefused);
  EXPECT_THAT(log.text(), ::testing::HasSubstr("failed (2: the ResourceName is invalid)"));
  EXPECT_THAT(log.text(), ::testing::Not(::testing::HasSubstr("no answer")));
  timers_.advance(50ms);
  timers_.advance(15s);
  loop_.registerDone(kOk);
  EXPECT_EQ(loop_.state(), State::kRegistered);
}

// Losing our socket restarts the serve and retry timers; the Register in flight keeps its
// timeout, or a kubelet that never answers would hold registration up for good.
TEST_F(RegistrationLoopTest, ARegisterKeepsItsTimeoutWhenOurSocketIsLostMeanwhile) {
  loop_.start();
  effects_.take();
  timers_.advance(10s);
  effects_.socketOurs = false;
  loop_.ownSocketRemoved();
  EXPECT_THAT(effects_.take(), ElementsAre("stop listening", "listen"));
  timers_.advance(5s);
  EXPECT_THAT(effects_.take(), ElementsAre("cancel Register"));
  loop_.registerDone(kCancelled);
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 2", "Register"));
  EXPECT_EQ(loop_.state(), State::kRegistering);
}

TEST_F(RegistrationLoopTest, AMissingPluginDirIsWaitedForAndCountsAsReady) {
  effects_.dirExists = false;
  loop_.start();
  // Ready: waiting for the kubelet to make its dir must never get us killed as hung.
  EXPECT_THAT(effects_.take(), ElementsAre("listen", "ready"));
  EXPECT_EQ(loop_.state(), State::kNotServing);
  EXPECT_EQ(timers_.nextIn(), 5s);
  timers_.advance(5s);
  EXPECT_THAT(effects_.take(), ElementsAre("listen"));
  effects_.dirExists = true;
  timers_.advance(5s);
  EXPECT_THAT(effects_.take(), ElementsAre("listen", "end streams, generation 1", "Register"))
      << "ready is said once";
}

TEST_F(RegistrationLoopTest, ASocketServedByAnotherProcessIsNeverTakenOver) {
  effects_.busy = true;
  loop_.start();
  EXPECT_THAT(effects_.take(), ElementsAre("listen"));
  EXPECT_EQ(loop_.state(), State::kNotServing);
  timers_.advance(5s);
  EXPECT_THAT(effects_.take(), ElementsAre("listen"));
  effects_.busy = false;
  timers_.advance(5s);
  EXPECT_THAT(effects_.take(),
              ElementsAre("listen", "ready", "end streams, generation 1", "Register"));
}

TEST_F(RegistrationLoopTest, ATriggerWhileRegisteringOnlyHurriesTheRetryOfAFailure) {
  loop_.start();
  effects_.take();
  loop_.kubeletSocketCreated();  // Register is in flight: no second one
  EXPECT_THAT(effects_.take(), IsEmpty());
  loop_.registerDone(kRefused);  // hurried: again at once, no backoff
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 2", "Register"));
  loop_.kubeletSocketCreated();
  loop_.registerDone(kOk);  // a success is not hurried on: nothing more
  EXPECT_THAT(effects_.take(), ElementsAre("registered"));
  EXPECT_EQ(timers_.pending(), 0u);
}

// A kubelet that restarts while our Register is in flight may answer it and die before it
// dials back for ListAndWatch: no stream of ours ever ends, and the new kubelet has not
// heard of us. The answer is stale whether or not kubelet.sock's event came first.
TEST_F(RegistrationLoopTest, AKubeletSocketReplacedWhileRegisteringIsRegisteredWithAgain) {
  loop_.start();
  effects_.take();
  effects_.kubelet = FileId{1, 101};
  loop_.kubeletSocketCreated();
  EXPECT_THAT(effects_.take(), IsEmpty()) << "one Register at a time";
  loop_.registerDone(kOk);  // answered by the kubelet that is gone
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 2", "Register"));
  EXPECT_EQ(loop_.state(), State::kRegistering);

  effects_.kubelet = FileId{1, 102};  // again, and its event not seen yet
  loop_.registerDone(kOk);
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 3", "Register"));
  loop_.registerDone(kOk);
  EXPECT_THAT(effects_.take(), ElementsAre("registered"));
  EXPECT_EQ(loop_.state(), State::kRegistered);
  loop_.check();  // registered with the kubelet.sock there is: nothing to do
  EXPECT_THAT(effects_.take(), IsEmpty());
}

TEST_F(RegistrationLoopTest, ASocketLostWhileRegisteringWaitsForThatRegisterBeforeTheNext) {
  loop_.start();
  effects_.take();
  effects_.socketOurs = false;
  loop_.ownSocketRemoved();
  EXPECT_THAT(effects_.take(), ElementsAre("stop listening", "listen")) << "one Register at a time";
  loop_.registerDone(kOk);  // the kubelet dialed the socket we lost: stale
  EXPECT_THAT(effects_.take(), ElementsAre("end streams, generation 2", "Register"));
  loop_.registerDone(kOk);
  EXPECT_EQ(loop_.state(), State::kRegistered);
}

TEST_F(RegistrationLoopTest, TheSafetyNetSeesAReplacedKubeletSocketAndALostSocket) {
  startRegistered();
  effects_.kubelet = FileId{1, 102};  // replaced, and the event was missed
  loop_.check();
  EXPECT_THAT(effects_.take(), ElementsAre("unregistered: kubelet.sock replaced",
                                           "end streams, generation 2", "Register"));
  loop_.registerDone(kOk);
  effects_.take();
  effects_.socketOurs = false;
  loop_.check();
  EXPECT_THAT(effects_.take(), ElementsAre("unregistered: socket removed", "stop listening",
                                           "listen", "end streams, generation 3", "Register"));
  loop_.registerDone(kOk);
  effects_.take();
  loop_.check();  // all well: nothing to do
  EXPECT_THAT(effects_.take(), IsEmpty());
}

TEST_F(RegistrationLoopTest, StopCancelsARegisterInFlightAndEverything) {
  loop_.start();
  effects_.take();
  loop_.stop();
  EXPECT_THAT(effects_.take(), ElementsAre("cancel Register", "stop listening"));
  EXPECT_EQ(loop_.state(), State::kStopped);
  loop_.registerDone(kOk);  // the cancelled call's outcome, arriving late
  loop_.kubeletSocketCreated();
  loop_.check();
  EXPECT_THAT(effects_.take(), IsEmpty());
  EXPECT_EQ(timers_.pending(), 0u);
}

}  // namespace
}  // namespace mvf::core
