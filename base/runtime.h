#pragma once

#include <string>
#include <string_view>

namespace mvf::base {

// Hands the heap's free pages back to the kernel (glibc's malloc_trim(0), which since
// glibc 2.8 also releases free pages inside the heap and every arena, not only its top).
// glibc keeps what a burst freed: a 1000-ID list rebuilt, a request of 10000 IDs, leave
// hundreds of kB resident until reused. Costs a walk over the free lists, so it is for
// after such moments, never on a timer.
void releaseFreeMemory();

// Sets what the libraries under us leave to the program, for a long-running daemon; every
// such binary calls it first thing in main(), before any thread or gRPC call:
// - Abseil's Mutex deadlock detection off (absl::SetMutexDeadlockDetectionMode(kIgnore)).
//   Debian 12 builds abseil without NDEBUG, so this debugging aid runs in every gRPC lock
//   (gRPC 1.51's gpr_mu is an absl::Mutex): each Lock() takes a process-wide spinlock and
//   records the lock in an acquired-before graph, whose storage grows to the most mutexes
//   ever alive and stays; and a cycle in gRPC's own lock order would abort the process
//   (kAbort, the debug default). Release builds of abseil compile it out. Measured with
//   it off: the six processes hold about 0.5 MB less at start, and a worker no longer
//   grows by about 70 kB over 50 kubelet restarts.
// - glibc's malloc (mallopt(3)):
//   - One arena, the main heap. glibc gives each thread that allocates an arena of its
//     own, up to 8 per core, and malloc_trim cannot shrink the top of any heap but the
//     main one: with two, one refused request of 200000 empty container requests left
//     11 MB in the large-call lane's arena. (Two arenas were no faster once the lane runs
//     at nice 19: Allocate p99 under large requests 0.96-1.23 ms with one, 0.95-1.12 ms
//     with two.)
//   - The mmap and trim thresholds fixed at their defaults, 128 KiB: a block that large
//     is mmapped, and a heap's free top beyond it goes back on free. Left dynamic, glibc
//     raises both once a large block is freed (the mmap threshold up to 32 MiB on
//     64-bit), and the buffers of every later 1 MB request stay in a heap, where
//     malloc_trim cannot reach them unless it is the main heap (it trims no other heap's
//     top).
void tuneRuntime();

// The GLIBC_TUNABLES value for the processes this one starts, from its own (`inherited`, ""
// if unset): `inherited` with glibc.malloc.tcache_max=256 added, unless an entry of it sets
// that tunable already (an operator's value stands). Entries are name=value, joined by ':';
// glibc skips an entry without '=' (glibc manual, "Tunables"; elf/dl-tunables.c).
// Why: glibc keeps up to 7 freed blocks of each size up to 1032 bytes in a per-thread
// cache, returned only when the thread exits. Blocks that gRPC's long-lived threads (event
// engine, executor, timer) free but seldom take again of that size stay cached, so a
// worker's heap grew by 0.12-0.16 MB over 50 kubelet restarts with nothing more in use;
// with blocks over 256 bytes left out of the cache (264: glibc rounds the limit up to its
// size class), by 0.03-0.06 MB (README, "Idle and memory"). Smaller blocks, most of a
// call's, keep their cache: Allocate's latency did not change measurably, where a limit of
// 64 bytes cost Allocate p99 under 8 clients about a third more. glibc reads tunables from
// the environment only, when a process starts, and has no mallopt(3) for this one: a
// process cannot set it for itself.
std::string childGlibcTunables(std::string_view inherited);

// Sets GLIBC_TUNABLES to childGlibcTunables(its current value) for every process this
// one starts from now on; it does not change this process's own heap. setenv(3) is not
// thread-safe: call it in main(), before any thread starts.
void tuneChildRuntime();

}  // namespace mvf::base
