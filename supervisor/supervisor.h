#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/options.h"
#include "supervisor/launcher.h"
#include "supervisor/restart_policy.h"
#include "workers/core/worker.h"

namespace mvf::supervisor {

struct SupervisorConfig {
  std::vector<std::string> workers;  // enabled, by name
  std::string workersDir;            // where mvf-worker-<name> binaries are
  std::string statusSocket;
  std::string kubeletDir;               // to remove a SIGKILLed worker's socket
  std::vector<std::string> workerArgs;  // flags passed on to every worker
  base::Duration gracePeriod{5000};
  base::Duration readyTimeout{20'000};
  base::Duration heartbeatTimeout{15'000};
  RestartPolicyConfig policy;
};

// The supervisor's options: its own (section [supervisor]) and the workers' common ones,
// which it passes on to every worker when given as flags.
std::vector<base::OptionSpec> supervisorOptions();

// Builds the config from parsed options; an error text for what the option checks alone
// cannot see (the status socket inside the kubelet dir, say).
std::variant<SupervisorConfig, std::string> makeSupervisorConfig(const base::Settings& settings,
                                                                 const std::string& selfDir);

// What a worker would decide about its configuration when started with `args` (the
// supervisor's pass-on flags) in this environment: see core::checkConfig.
core::ConfigCheck checkWorker(const std::string& name, const std::vector<std::string>& args);

// mvf-supervisor: runs one worker process per enabled resource, restarts each on its own
// (one-for-one, RestartPolicy) so that a fault in one never touches another's
// registration or stream, serves the status socket, and does a PID 1's duties: it reaps
// every child, orphans included. SIGTERM/SIGINT stop all workers (SIGKILL after the
// grace period); SIGHUP re-reads the config and restarts only the workers whose
// settings changed.
class Supervisor {
 public:
  // `configArgs` re-parse the supervisor's own options on SIGHUP.
  Supervisor(SupervisorConfig config, std::vector<std::string> configArgs,
             std::unique_ptr<Launcher> launcher);
  ~Supervisor();

  // Until stopped by SIGTERM/SIGINT; returns the exit code.
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mvf::supervisor
