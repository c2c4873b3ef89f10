#pragma once

#include "workers/core/resource.h"

namespace mvf::core {

// The whole life of a worker process (`mvf-worker-<name>`'s main): options, --help,
// --version and --check-config[=json], logging, signals, the single-instance lock, then
// serve, register, watch and answer until SIGTERM or SIGINT. Returns the exit code: 0,
// 1 (runtime failure, e.g. another instance holds the lock) or 78 (configuration error,
// told to the supervisor on --notify-fd as a config_error event before exiting).
int runWorker(int argc, char** argv, const ResourceSpec& spec);

}  // namespace mvf::core
