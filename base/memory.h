#pragma once

namespace mvf::base {

// Hands the heap's free pages back to the kernel (glibc's malloc_trim(0), which since
// glibc 2.8 also releases free pages inside the heap and every arena, not only its top).
// glibc keeps what a burst freed: a 1000-ID list rebuilt, a request of 10000 IDs, leave
// hundreds of kB resident until reused. Costs a walk over the free lists, so it is for
// after such moments, never on a timer.
void releaseFreeMemory();

// Sets glibc's malloc for a long-running daemon (mallopt(3)); every such binary calls it
// first thing in main():
// - Two arenas at most. glibc gives each thread that allocates an arena of its own, up to
//   8 per core, each keeping what it freed. With a single one, the large-call lane parsing
//   10000 IDs and the completion thread answering the kubelet took turns at its lock
//   (bench, --only requests: p99 1.5-1.9 ms against 1.0-1.1 ms with two).
// - The mmap and trim thresholds fixed at their defaults, 128 KiB: a block that large is
//   mmapped, and a heap's free top beyond it goes back on free. Left dynamic, glibc raises
//   both once a large block is freed (the mmap threshold up to 32 MiB on 64-bit), and the
//   buffers of every later 1 MB request stay in a heap, where malloc_trim cannot reach
//   them unless it is the main heap (it trims no other heap's top).
void tuneHeap();

}  // namespace mvf::base
