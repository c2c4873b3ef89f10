#include "base/memory.h"

#include <malloc.h>

namespace mvf::base {

void releaseFreeMemory() { ::malloc_trim(0); }

}  // namespace mvf::base
