#include "supervisor/restart_policy.h"

#include <algorithm>
#include <cmath>

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
  double base = static_cast<double>(config_.initialDelay.count()) *
                std::pow(2.0, static_cast<double>(failures_ - 1));
  double jittered = base * (1.0 + config_.jitter * (2.0 * random_() - 1.0));
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
