#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/options.h"
#include "base/result.h"
#include "supervisor/restart_policy.h"
#include "supervisor/worker_slot.h"

namespace mvf::supervisor {

// What mvf-supervisor runs, from its options (README, "The supervisor").
struct SupervisorConfig {
  std::vector<std::string> workers;  // enabled, by name, in start order
  std::string workersDir;            // where mvf-worker-<name> binaries are
  std::string statusSocket;
  std::string metricsAddress;           // "" for off
  base::Duration metricsRetry{30'000};  // 0: never try again
  base::Duration metricsRequestTimeout{5000};
  std::string kubeletDir;  // to remove a SIGKILLed worker's socket
  // Passed on to every worker: the common worker options given as flags, and --config.
  std::vector<std::string> commonArgs;
  // Passed on to one worker: its own options as given here (--vfio-mode exclusive).
  std::map<std::string, std::vector<std::string>> workerArgs;
  base::Duration gracePeriod{5000};
  base::Duration readyTimeout{20'000};
  base::Duration heartbeatTimeout{15'000};
  RestartPolicyConfig policy;

  std::string binaryOf(const std::string& worker) const;
  // The slot config of `worker` under this config.
  WorkerSlot::Config slotConfig(const std::string& worker) const;
};

// The supervisor's own options (section [supervisor]) and the workers' common ones,
// which it validates and passes on to every worker when given as flags.
std::vector<base::OptionSpec> supervisorOptions();

// Reads the supervisor's command line, environment and config file into a config. A
// flag that names a worker (--vfio-mode, --igpu-vendor: catalog::workerOfFlag) is that
// worker's, passed to it as given and judged by it. An Error names what is wrong.
struct ParsedSupervisorOptions {
  base::ParsedOptions options;
  SupervisorConfig config;
};
base::Result<ParsedSupervisorOptions> readSupervisorOptions(const std::vector<std::string>& args,
                                                            const std::string& selfDir);

// Worker `name`'s settings digest with `config` (SIGHUP's comparison), as its binary
// computes it, or the error that would make it exit 78.
base::Result<std::string> workerSettings(const std::string& name, const WorkerSlot::Config& config);

// Removes worker `name`'s CDI spec (and its record) from the cdi-dir its binary says it
// would use with `config`, if the spec is ours: Supervisor::Deps::retire. Logs what it did
// and why it could not; a spec somebody else wrote is left in place.
void retireWorker(const std::string& name, const WorkerSlot::Config& config);

}  // namespace mvf::supervisor
