#pragma once

#include <initializer_list>

#include "base/unique_fd.h"

namespace mvf::base {

// Blocks `signals` in the calling thread (and so in every thread it creates later, gRPC's
// included) and returns a signalfd that delivers them. Call it before gRPC starts its
// threads, or one of them may take the signal instead.
UniqueFd blockedSignalFd(std::initializer_list<int> signals, bool nonBlocking);

}  // namespace mvf::base
