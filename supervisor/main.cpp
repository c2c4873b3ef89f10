#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "supervisor/supervisor.h"
#include "workers/core/logging.h"
#include "workers/core/version.h"
#include "workers/core/worker.h"

int main(int argc, char** argv) {
  using namespace mvf;
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  core::limitMallocArenas();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = core::parseOptions(supervisor::supervisorOptions(), "supervisor", args);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::cerr << "mvf-supervisor: " << *error << "\n";
    return core::kExitConfig;
  }
  auto& options = std::get<core::ParsedOptions>(parsed);
  if (options.action == core::Action::kHelp) {
    std::cout << "Usage: mvf-supervisor [options]\n"
              << "Runs one mvf-worker-<name> process per enabled resource and restarts them.\n"
              << "Worker options given here as flags are passed on to every worker.\n\n"
              << options.help;
    return core::kExitOk;
  }
  if (options.action == core::Action::kVersion) {
    std::cout << "mvf-supervisor " << core::kVersion << "\n";
    return core::kExitOk;
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  auto config = supervisor::makeSupervisorConfig(options.settings, self);
  if (auto* error = std::get_if<std::string>(&config)) {
    std::cerr << "mvf-supervisor: " << *error << "\n";
    return core::kExitConfig;
  }
  auto& supervisorConfig = std::get<supervisor::SupervisorConfig>(config);
  if (options.action == core::Action::kCheckConfig) {
    // The supervisor's settings, then each enabled worker's as it would start.
    std::cout << "# mvf-supervisor " << core::kVersion << ": effective settings\n"
              << options.settings.describe();
    bool ok = true;
    for (const auto& name : supervisorConfig.workers) {
      std::vector<std::string> workerArgs = supervisorConfig.workerArgs;
      auto check = supervisor::checkWorker(name, workerArgs);
      std::cout << "\n# mvf-worker-" << name << (check.ok ? "" : ": configuration error") << "\n"
                << check.text << (check.ok ? "" : "\n");
      ok = ok && check.ok;
    }
    return ok ? core::kExitOk : core::kExitConfig;
  }
  core::setupLogging("supervisor", spdlog::level::from_str(options.settings.text("log-level")),
                     options.settings.text("log-format") == "json" ? core::LogFormat::kJson
                                                                   : core::LogFormat::kText);
  supervisor::Supervisor supervisor(std::move(supervisorConfig), args,
                                    std::make_unique<supervisor::ProcessLauncher>());
  return supervisor.run();
}
