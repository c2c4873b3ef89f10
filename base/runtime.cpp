#include "base/runtime.h"

#include <absl/synchronization/mutex.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>

namespace mvf::base {

void releaseFreeMemory() { ::malloc_trim(0); }

void tuneRuntime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ::mallopt(M_ARENA_MAX, 1);
  constexpr int kThreshold = 128 * 1024;  // glibc's DEFAULT_MMAP_THRESHOLD_MIN
  ::mallopt(M_MMAP_THRESHOLD, kThreshold);
  ::mallopt(M_TRIM_THRESHOLD, kThreshold);
}

std::string childGlibcTunables(std::string_view inherited) {
  constexpr std::string_view kName = "glibc.malloc.tcache_max";
  for (size_t start = 0; start <= inherited.size();) {
    size_t end = std::min(inherited.find(':', start), inherited.size());
    std::string_view entry = inherited.substr(start, end - start);
    size_t equals = entry.find('=');  // glibc skips an entry without one
    if (equals != std::string_view::npos && entry.substr(0, equals) == kName) {
      return std::string(inherited);
    }
    start = end + 1;
  }
  std::string out(inherited);
  if (!out.empty() && !out.ends_with(':')) out += ':';
  return out + std::string(kName) + "=256";
}

void tuneChildRuntime() {
  const char* inherited = std::getenv("GLIBC_TUNABLES");
  ::setenv("GLIBC_TUNABLES", childGlibcTunables(inherited ? inherited : "").c_str(), 1);
}

}  // namespace mvf::base
