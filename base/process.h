#pragma once

namespace mvf::base {

// Exit codes every binary shares (sysexits.h): 78 = EX_CONFIG, a configuration error,
// which the supervisor does not restart in a loop.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;  // EX_USAGE: mvfctl called wrongly
constexpr int kExitConfig = 78;

// Caps glibc's malloc arenas; every long-running binary calls it first thing.
void limitMallocArenas();

}  // namespace mvf::base
