#pragma once

namespace mvf::base {

// Exit codes every binary shares (sysexits.h): 78 = EX_CONFIG, a configuration error,
// which the supervisor does not restart in a loop.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;  // EX_USAGE: mvfctl called wrongly
constexpr int kExitConfig = 78;

// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit: a process holds
// an fd per connection, watch and device it checks, and container runtimes often start
// processes with a soft limit of 1024 below a far higher hard one. Every long-running
// binary calls it first thing; a failure leaves the limit as it was.
void raiseFileLimit();

}  // namespace mvf::base
