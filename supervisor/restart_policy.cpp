#include "supervisor/restart_policy.h"

#include <algorithm>
#include <cmath>

#include "base/backoff.h"

namespace mvf::supervisor {

RestartPolicy::RestartPolicy(RestartPolicyConfig config, std::function<double()> random)
    : config_(config), random_(std::move(random)) {}

RestartPolicy::Decision RestartPolicy::onDeath(Duration readyFor) {
  if (readyFor >= config_.resetAfter) failures_ = 0;
  bool wasLooping = crashLooping();
  ++failures_;
  Decision decision;
  decision.failures = failures_;
  decision.crashLoopStarted = !wasLooping && crashLooping();
  if (readyFor >= config_.stableAfter) return decision;  // at once
  // Jittered before the cap, so a worker at the cap waits maxDelay exactly: the doubling
  // itself is only bounded where jitter can no longer bring it below the cap.
  auto uncapped = base::backoffDelay(failures_, config_.initialDelay, config_.maxDelay * 2);
  double jittered =
      static_cast<double>(uncapped.count()) * (1.0 + config_.jitter * (2.0 * random_() - 1.0));
  double capped = std::min(jittered, static_cast<double>(config_.maxDelay.count()));
  decision.delay = Duration(static_cast<int64_t>(std::llround(capped)));
  return decision;
}

bool RestartPolicy::onStable() {
  bool wasLooping = crashLooping();
  failures_ = 0;
  return wasLooping;
}

}  // namespace mvf::supervisor
