#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "base/logging.h"
#include "base/process.h"
#include "base/version.h"
#include "supervisor/config.h"
#include "supervisor/daemon.h"
#include "workers/core/worker.h"

int main(int argc, char** argv) {
  using namespace mvf;
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  base::limitMallocArenas();
  base::raiseFileLimit();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = base::parseOptions(supervisor::supervisorOptions(), "supervisor", args);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::cerr << "mvf-supervisor: " << *error << "\n";
    return base::kExitConfig;
  }
  auto& options = std::get<base::ParsedOptions>(parsed);
  if (options.action == base::Action::kHelp) {
    std::cout << "Usage: mvf-supervisor [options]\n"
              << "Runs one mvf-worker-<name> process per enabled resource and restarts them.\n"
              << "Worker options given here as flags are passed on to every worker.\n\n"
              << options.help;
    return base::kExitOk;
  }
  if (options.action == base::Action::kPrintVersion) {
    std::cout << "mvf-supervisor " << base::kVersion << "\n";
    return base::kExitOk;
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  auto config = supervisor::makeSupervisorConfig(options.settings, self);
  if (auto* error = std::get_if<std::string>(&config)) {
    std::cerr << "mvf-supervisor: " << *error << "\n";
    return base::kExitConfig;
  }
  auto& supervisorConfig = std::get<supervisor::SupervisorConfig>(config);
  if (options.action == base::Action::kCheckConfig) {
    // The supervisor's settings, then each enabled worker's as it would start.
    std::cout << "# mvf-supervisor " << base::kVersion << ": effective settings\n"
              << options.settings.describe();
    bool ok = true;
    for (const auto& name : supervisorConfig.workers) {
      auto settings = supervisor::workerSettings(name, supervisorConfig.workerArgs);
      std::cout << "\n# mvf-worker-" << name << (settings ? "" : ": configuration error") << "\n"
                << (settings ? settings.value() : settings.error().message + "\n");
      ok = ok && settings;
    }
    return ok ? base::kExitOk : base::kExitConfig;
  }
  base::setupLogging("supervisor", spdlog::level::from_str(options.settings.text("log-level")),
                     options.settings.text("log-format") == "json" ? base::LogFormat::kJson
                                                                   : base::LogFormat::kText);
  return supervisor::runDaemon(std::move(supervisorConfig), args, self);
}
