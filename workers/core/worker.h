#pragma once

#include <string>
#include <vector>

#include "workers/core/resource.h"

namespace mvf::core {

// The whole life of a worker process: options, logging, the single-instance lock, then
// serve, register, watch and answer until SIGTERM or SIGINT. Returns the exit code.
int runWorker(int argc, char** argv, const ResourceSpec& spec);

// Every option the worker for `spec` takes: the common ones, `mode` where the resource
// has an exclusive mode, then the resource's own.
std::vector<base::OptionSpec> workerOptions(const ResourceSpec& spec);

// What `mvf-worker-<name> --check-config` decides for these arguments and environment:
// ok with the effective settings ("name = value  # source" lines), or the error that
// makes the worker exit 78. The supervisor asks this before it starts a worker and on
// SIGHUP, to restart only the workers whose settings changed.
struct ConfigCheck {
  bool ok = false;
  std::string text;
};
ConfigCheck checkConfig(const ResourceSpec& spec, const std::vector<std::string>& args,
                        const base::EnvLookup& env = base::processEnv);

}  // namespace mvf::core
