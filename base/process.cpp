#include "base/process.h"

#include <malloc.h>

namespace mvf::base {

void limitMallocArenas() {
  // glibc gives every thread that allocates its own arena; gRPC's pools grow to a dozen
  // threads, each keeping freed memory. Two arenas hold the memory flat.
  ::mallopt(M_ARENA_MAX, 2);
}

}  // namespace mvf::base
