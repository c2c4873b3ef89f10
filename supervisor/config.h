#pragma once

#include <string>
#include <variant>
#include <vector>

#include "base/options.h"
#include "base/result.h"
#include "supervisor/restart_policy.h"
#include "supervisor/worker_slot.h"

namespace mvf::supervisor {

// What mvf-supervisor runs, from its options (DESIGN §6 and the README's table).
struct SupervisorConfig {
  std::vector<std::string> workers;  // enabled, by name, in start order
  std::string workersDir;            // where mvf-worker-<name> binaries are
  std::string statusSocket;
  std::string kubeletDir;               // to remove a SIGKILLed worker's socket
  std::vector<std::string> workerArgs;  // flags passed on to every worker
  base::Duration gracePeriod{5000};
  base::Duration readyTimeout{20'000};
  base::Duration heartbeatTimeout{15'000};
  RestartPolicyConfig policy;

  // The slot config of worker `name` under this config.
  WorkerSlot::Config slotConfig(const std::string& name) const;
};

// Every worker the supervisor knows, in the order it starts them.
const std::vector<std::string>& knownWorkers();

// The supervisor's options: its own (section [supervisor]) and the workers' common ones,
// which it passes on to every worker when given as flags.
std::vector<base::OptionSpec> supervisorOptions();

// Builds the config from parsed options; an error text for what the option checks alone
// cannot see (the status socket inside the kubelet dir, say).
std::variant<SupervisorConfig, std::string> makeSupervisorConfig(const base::Settings& settings,
                                                                 const std::string& selfDir);

// Parses `args` (the supervisor's command line, env and config file, as on SIGHUP) into
// a config.
base::Result<SupervisorConfig> readSupervisorConfig(const std::vector<std::string>& args,
                                                    const std::string& selfDir);

// What worker `name` would decide about its configuration when started with `args` (the
// supervisor's pass-on flags) in this environment: its effective settings, or the error
// that would make it exit 78.
base::Result<std::string> workerSettings(const std::string& name,
                                         const std::vector<std::string>& args);

}  // namespace mvf::supervisor
