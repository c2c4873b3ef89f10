#include "base/runtime.h"

#include <absl/synchronization/mutex.h>
#include <malloc.h>

namespace mvf::base {

void releaseFreeMemory() { ::malloc_trim(0); }

void tuneRuntime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ::mallopt(M_ARENA_MAX, 1);
  constexpr int kThreshold = 128 * 1024;  // glibc's DEFAULT_MMAP_THRESHOLD_MIN
  ::mallopt(M_MMAP_THRESHOLD, kThreshold);
  ::mallopt(M_TRIM_THRESHOLD, kThreshold);
}

}  // namespace mvf::base
