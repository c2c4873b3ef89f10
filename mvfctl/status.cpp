// mvfctl status: the supervisor's status, as a table or JSON.
#include <cstdio>
#include <iostream>

#include "base/process.h"
#include "mvfctl/command.h"
#include "proto/reflection.h"

namespace mvf::mvfctl {

// "12.3s": how long from now until `unixMs` (a time to come: the next restart).
namespace {

std::string fromNow(int64_t unixMs) {
  if (unixMs == 0) return "-";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fs", static_cast<double>(unixMs - now) / 1000.0);
  return text;
}

std::string exitText(const mvf::supervisor::v1::ExitInfo& exit) {
  if (exit.at_unix_ms() == 0) return "-";
  std::string text = exit.signaled() ? exit.signal_name() + (exit.core_dumped() ? " (core)" : "")
                                     : "exit " + std::to_string(exit.exit_code());
  return exit.reason().empty() ? text : text + " (" + exit.reason() + ")";
}

}  // namespace

int runStatus(const std::vector<std::string>& args) {
  po::options_description options("status options");
  addStatusOptions(options);
  options.add_options()("json", "print the status as JSON (protobuf's JSON mapping)");
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "status")) return *code;
  auto fetched = fetchStatus(values["status-socket"].as<std::string>());
  if (!fetched) {
    std::cerr << "mvfctl: " << fetched.error().message << "\n";
    return base::kExitFailure;
  }
  const auto& status = fetched.value();
  if (values.count("json")) {
    std::cout << mvf::proto::toJson(status, /*pretty=*/true);
    return base::kExitOk;
  }
  std::printf("mvf-supervisor %s, pid %d, up %.1fs: %s\n", status.version().c_str(), status.pid(),
              static_cast<double>(status.uptime_ms()) / 1000.0,
              mvf::supervisor::v1::SupervisorStatus::Overall_Name(status.overall()).c_str());
  if (status.metrics_address().empty()) {
    std::printf("metrics: off\n");
  } else if (!status.metrics_error().empty()) {
    std::printf("metrics: NOT SERVING: %s\n", status.metrics_error().c_str());
  } else {
    std::printf("metrics: http://%s/metrics\n", status.metrics_address().c_str());
  }
  std::printf("%-6s %-9s %-7s %-10s %-11s %-9s %-8s %s\n", "WORKER", "STATE", "PID", "REGISTERED",
              "DEVICES", "RESTARTS", "NEXT", "LAST EXIT");
  for (const auto& worker : status.workers()) {
    std::string state = mvf::supervisor::v1::WorkerStatus::State_Name(worker.state());
    if (worker.crash_looping()) state += "!";
    std::string devices =
        std::to_string(worker.devices_healthy()) + "/" + std::to_string(worker.devices_total());
    std::printf("%-6s %-9s %-7s %-10s %-11s %-9u %-8s %s\n", worker.name().c_str(), state.c_str(),
                worker.pid() ? std::to_string(worker.pid()).c_str() : "-",
                worker.registered()
                    ? ("yes (" + std::to_string(worker.times_registered()) + ")").c_str()
                    : "no",
                devices.c_str(), worker.restarts(),
                worker.state() == mvf::supervisor::v1::WorkerStatus::backoff
                    ? fromNow(worker.next_restart_at_unix_ms()).c_str()
                    : "-",
                exitText(worker.last_exit()).c_str());
    if (!worker.failed_reason().empty()) std::printf("       %s\n", worker.failed_reason().c_str());
  }
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
