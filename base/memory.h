#pragma once

namespace mvf::base {

// Hands the heap's free pages back to the kernel (glibc's malloc_trim(0), which since
// glibc 2.8 also releases free pages inside the heap and every arena, not only its top).
// glibc keeps what a burst freed: a 1000-ID list rebuilt, a request of 10000 IDs, leave
// hundreds of kB resident until reused. Costs a walk over the free lists, so it is for
// after such moments, never on a timer.
void releaseFreeMemory();

}  // namespace mvf::base
