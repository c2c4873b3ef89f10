#include "workers/core/registration_loop.h"

#include <cerrno>

#include "base/backoff.h"
#include "base/logging.h"

namespace mvf::core {
namespace {

std::string ms(base::Duration d) { return std::to_string(d.count()) + "ms"; }

// gRPC's code for a cancelled call, as Effects::startRegister's outcome carries it.
constexpr int kCancelled = 1;

}  // namespace

const char* toString(RegistrationLoop::State state) {
  switch (state) {
    case RegistrationLoop::State::kNotServing:
      return "not serving";
    case RegistrationLoop::State::kWaitingForKubelet:
      return "waiting for the kubelet";
    case RegistrationLoop::State::kRegistering:
      return "registering";
    case RegistrationLoop::State::kBackoff:
      return "backing off";
    case RegistrationLoop::State::kRegistered:
      return "registered";
    case RegistrationLoop::State::kStopped:
      return "stopped";
  }
  return "unknown";
}

RegistrationLoop::RegistrationLoop(Config config, base::Timers& timers, Effects& effects)
    : config_(std::move(config)), timers_(timers), effects_(effects) {}

RegistrationLoop::~RegistrationLoop() {
  timers_.cancel(timer_);
  timers_.cancel(registerTimer_);
}

void RegistrationLoop::setTimer(base::Timers::Clock::duration delay,
                                void (RegistrationLoop::*then)()) {
  timers_.cancel(timer_);
  timer_ = timers_.after(delay, [this, then] {
    timer_ = 0;
    (this->*then)();
  });
}

void RegistrationLoop::start() { serve(); }

void RegistrationLoop::serve() {
  if (state_ == State::kStopped || listening()) return;
  timers_.cancel(timer_);
  timer_ = 0;
  base::Status listened = effects_.listen();
  if (listened) {
    base::logger("registration")
        ->info("serving {} on {}", config_.resourceName, config_.socketPath);
    serveProblem_.clear();
    state_ = State::kBackoff;  // serving, not registered: requestRegistration() decides
    if (!std::exchange(readyReported_, true)) effects_.ready();
    requestRegistration();
    return;
  }
  std::string detail = listened.error().message;
  if (listened.error().code == ENOENT) {
    // The kubelet makes its plugin dir: until then the kubelet is absent, which must not
    // get us killed as never ready. Waiting is all there is to do.
    detail = "plugin dir of " + config_.socketPath + " does not exist; waiting for it";
    if (!std::exchange(readyReported_, true)) effects_.ready();
  } else if (listened.error().code == EADDRINUSE) {
    detail += "; not taking it over, retrying";
  }
  if (detail != serveProblem_) base::logger("registration")->warn("cannot serve yet: {}", detail);
  serveProblem_ = detail;
  setTimer(config_.backoffMax, &RegistrationLoop::serve);
}

void RegistrationLoop::requestRegistration() {
  if (!listening()) return;  // serve() asks again once it listens
  // One Register at a time: a trigger while one is in flight, even one begun before our
  // socket was lost, only hurries the next attempt.
  if (registerInFlight_) {
    registerWanted_ = true;
    return;
  }
  timers_.cancel(timer_);
  timer_ = 0;
  // The kubelet dials back inside Register. Our socket file gone (a restarting kubelet
  // deletes it) would cost that dial a 1 s reconnect backoff, so serve it again first.
  if (!effects_.ownsSocket()) {
    stopListening();
    serve();  // asks for registration again once it listens
    return;
  }
  // No kubelet.sock: nobody to register with. Its creation brings us back at once.
  if (!effects_.kubeletSocket()) {
    scheduleRetry("no " + config_.kubeletSocket + " yet", State::kWaitingForKubelet);
    return;
  }
  registerWanted_ = false;
  registerInFlight_ = true;
  registeringWith_ = effects_.kubeletSocket();
  state_ = State::kRegistering;
  effects_.endStreams(++generation_);
  // The timeout is ours, not a gRPC deadline: a deadline would arm a timer in gRPC's timer
  // shards, and one timer is enough to set a shard waking on a phase of its own, once a
  // second for good (README, "Idle and memory").
  registerTimer_ = timers_.after(config_.registerTimeout, [this] {
    registerTimer_ = 0;
    registerTimedOut();
  });
  effects_.startRegister();
}

void RegistrationLoop::registerTimedOut() {
  registerTimedOut_ = true;
  effects_.cancelRegister();  // its outcome comes back through registerDone()
}

void RegistrationLoop::registerDone(const base::Status& status) {
  registerInFlight_ = false;
  timers_.cancel(registerTimer_);
  registerTimer_ = 0;
  // Our cancel's outcome says why; any other (an answer that came first) speaks for itself.
  base::Status outcome = status;
  if (std::exchange(registerTimedOut_, false) && !status && status.error().code == kCancelled) {
    outcome = base::Error{"no answer within " + ms(config_.registerTimeout), kCancelled};
  }
  // A trigger that came while this attempt was in flight only hurries a retry. After a
  // success there is nothing to hurry: the kubelet that answered is alive, and if it
  // dies its stream ends and we register again.
  bool hurry = std::exchange(registerWanted_, false);
  if (state_ != State::kRegistering) {
    // Our socket went while the kubelet was dialing it: whatever it answered is stale.
    if (hurry) requestRegistration();
    return;
  }
  if (outcome) {
    failures_ = 0;
    if (effects_.kubeletSocket() != registeringWith_) {
      // kubelet.sock was replaced while Register was in flight: the kubelet that answered
      // is gone, maybe before it opened our stream (the kubelet dials back after Register
      // returns), so no stream end would tell us; the new one has not heard of us.
      base::logger("registration")
          ->info("{} was replaced while registering; registering again", config_.kubeletSocket);
      state_ = State::kBackoff;
      requestRegistration();
      return;
    }
    state_ = State::kRegistered;
    registeredWith_ = registeringWith_;
    base::logger("registration")
        ->info("registered {} with the kubelet (endpoint {})", config_.resourceName,
               config_.socketPath.substr(config_.socketPath.rfind('/') + 1));
    effects_.registered();
    return;
  }
  state_ = State::kBackoff;
  if (hurry) {
    requestRegistration();
  } else {
    scheduleRetry(
        "registering with " + config_.kubeletSocket + " failed (" + outcome.error().message + ")",
        State::kBackoff);
  }
}

void RegistrationLoop::scheduleRetry(const std::string& why, State next) {
  ++failures_;
  state_ = next;
  base::Duration delay = base::backoffDelay(failures_, config_.backoffInitial, config_.backoffMax);
  // An absent kubelet is normal for a while: say so now and then, not every retry.
  auto level = failures_ == 1 || failures_ % 12 == 0 ? spdlog::level::warn : spdlog::level::debug;
  base::logger("registration")
      ->log(level, "not registered: {}; attempt {}, next in {}", why, failures_, ms(delay));
  setTimer(delay, &RegistrationLoop::requestRegistration);
}

void RegistrationLoop::kubeletStreamEnded(uint64_t generation) {
  if (generation != generation_ || state_ != State::kRegistered) return;
  becomeUnregistered("the kubelet closed ListAndWatch");
  // Not at once: a kubelet that restarts is about to delete our socket and create a new
  // kubelet.sock, and those events should come first. Should the kubelet be alive and
  // have closed the stream for its own reasons, this retry registers again.
  scheduleRetry("the kubelet closed ListAndWatch", State::kBackoff);
}

void RegistrationLoop::ownSocketRemoved() {
  if (state_ == State::kStopped || (listening() && effects_.ownsSocket())) return;
  base::logger("registration")
      ->info(
          "our socket {} was removed (a kubelet restart cleans the plugin dir); serving it "
          "again",
          config_.socketPath);
  becomeUnregistered("socket removed");
  stopListening();
  serve();
}

void RegistrationLoop::kubeletSocketCreated() {
  if (state_ == State::kStopped) return;
  base::logger("registration")
      ->info("{} was created: the kubelet (re)started; registering again", config_.kubeletSocket);
  becomeUnregistered("kubelet restarted");
  failures_ = 0;
  if (!listening()) {
    serve();  // requests registration once listening
  } else {
    requestRegistration();
  }
}

void RegistrationLoop::check() {
  if (state_ == State::kStopped) return;
  if (listening() && !effects_.ownsSocket()) {
    base::logger("registration")
        ->info("our socket {} is gone; serving it again", config_.socketPath);
    becomeUnregistered("socket removed");
    stopListening();
  }
  if (!listening()) {
    serve();
    return;
  }
  if (state_ == State::kRegistered && effects_.kubeletSocket() != registeredWith_) {
    base::logger("registration")
        ->info("{} changed since we registered; registering again", config_.kubeletSocket);
    becomeUnregistered("kubelet.sock replaced");
    requestRegistration();
  } else if (state_ != State::kRegistered && !registerInFlight_ && timer_ == 0) {
    requestRegistration();  // nothing under way to get us registered: start it
  }
}

void RegistrationLoop::stop() {
  timers_.cancel(timer_);
  timer_ = 0;
  timers_.cancel(registerTimer_);
  registerTimer_ = 0;
  if (registerInFlight_) effects_.cancelRegister();
  stopListening();
  state_ = State::kStopped;
}

void RegistrationLoop::stopListening() {
  if (!listening()) return;
  effects_.stopListening();
  state_ = State::kNotServing;
}

void RegistrationLoop::becomeUnregistered(const std::string& why) {
  if (state_ != State::kRegistered) return;
  state_ = State::kBackoff;
  base::logger("registration")->info("unregistered: {}", why);
  effects_.unregistered(why);
}

}  // namespace mvf::core
