#pragma once

#include <functional>

#include "base/options.h"

namespace mvf::supervisor {

using base::Duration;

struct RestartPolicyConfig {
  Duration initialDelay{500};
  Duration maxDelay{30'000};
  double jitter = 0.2;           // ±20 % of the delay
  Duration stableAfter{10'000};  // ready this long, then died: restart at once
  Duration resetAfter{60'000};   // ready this long: the failure count starts over
  unsigned crashLoopAt = 5;      // this many consecutive failures: a crash loop
};

// When a dead worker is started again (docs/architecture.md, "The restart policy"), one-for-one.
// Pure: readiness durations come in as arguments and jitter from the injected random source
// (uniform in [0, 1)), so tests check exact delay sequences.
//
// n counts consecutive failures: deaths with no `resetAfter` of readiness in between. A
// worker that had been ready for `stableAfter` is restarted at once; otherwise the delay
// is initialDelay·2^(n−1), jittered, then capped at maxDelay. n ≥ crashLoopAt is a crash
// loop, reported until the count starts over.
class RestartPolicy {
 public:
  RestartPolicy(RestartPolicyConfig config, std::function<double()> random);

  struct Decision {
    Duration delay{0};
    unsigned failures = 0;
    bool crashLoopStarted = false;  // this death made it a crash loop
  };
  // The worker died after being ready for `readyFor` (zero if it never was).
  Decision onDeath(Duration readyFor);

  // The worker has now been ready for resetAfter: the count starts over. Returns true if
  // that ended a crash loop.
  bool onStable();

  unsigned failures() const { return failures_; }
  bool crashLooping() const { return failures_ >= config_.crashLoopAt; }
  const RestartPolicyConfig& config() const { return config_; }

 private:
  RestartPolicyConfig config_;
  std::function<double()> random_;
  unsigned failures_ = 0;
};

}  // namespace mvf::supervisor
