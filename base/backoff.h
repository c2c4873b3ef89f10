#pragma once

#include <algorithm>

#include "base/options.h"

namespace mvf::base {

// The delay before retrying after the n-th consecutive failure (n ≥ 1): initial·2^(n−1),
// capped at max.
inline Duration backoffDelay(unsigned failures, Duration initial, Duration max) {
  Duration delay = initial;
  for (unsigned i = 1; i < failures && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

}  // namespace mvf::base
