// mvfctl health: liveness (the supervisor answers) and readiness (every enabled worker registered),
// for the DaemonSet's probes.
#include <iostream>

#include "base/process.h"
#include "mvfctl/command.h"

namespace mvf::mvfctl {

int runHealth(const std::vector<std::string>& args) {
  po::options_description options("health options");
  addStatusOptions(options);
  options.add_options()("ready", "readiness: every enabled worker registered with the kubelet");
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "health")) return *code;
  auto fetched = fetchStatus(values["status-socket"].as<std::string>());
  if (!fetched) {
    std::cout << "not alive: " << fetched.error().message << "\n";
    return base::kExitFailure;
  }
  const auto& status = fetched.value();
  if (!values.count("ready")) {
    std::cout << "alive: mvf-supervisor pid " << status.pid() << " answers\n";
    return base::kExitOk;
  }
  std::string missing;
  for (const auto& worker : status.workers()) {
    if (worker.registered()) continue;
    missing += (missing.empty() ? "" : ", ") + worker.name() + " (" +
               mvf::supervisor::v1::WorkerStatus::State_Name(worker.state()) + ")";
  }
  if (!missing.empty()) {
    std::cout << "not ready: not registered with the kubelet: " << missing << "\n";
    return base::kExitFailure;
  }
  std::cout << "ready: all " << status.workers_size() << " workers registered\n";
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
