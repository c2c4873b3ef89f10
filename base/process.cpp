#include "base/process.h"

#include <malloc.h>
#include <sys/resource.h>

namespace mvf::base {

void raiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

void limitMallocArenas() {
  // glibc gives every thread that allocates its own arena; gRPC's pools grow to a dozen
  // threads, each keeping freed memory. Two arenas hold the memory flat.
  ::mallopt(M_ARENA_MAX, 2);
}

}  // namespace mvf::base
