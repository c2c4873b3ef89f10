#pragma once

#include <string>
#include <vector>

#include "workers/core/resource.h"

namespace mvf::core {

// Exit codes every binary shares (sysexits): 78 = configuration error, which the
// supervisor does not restart in a loop.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 78;

// The whole life of a worker process: options, logging, the single-instance lock, then
// serve, register, watch and answer until SIGTERM or SIGINT. Returns the exit code.
int runWorker(int argc, char** argv, const ResourceSpec& spec);

// Every option the worker for `spec` takes: the common ones, `mode` where the resource
// has an exclusive mode, then the resource's own.
std::vector<OptionSpec> workerOptions(const ResourceSpec& spec);

}  // namespace mvf::core
