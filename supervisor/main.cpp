// mvf-supervisor: options, --help, --version, --check-config, then the daemon.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "base/logging.h"
#include "base/process.h"
#include "base/runtime.h"
#include "base/version.h"
#include "catalog/catalog.h"
#include "supervisor/config.h"
#include "supervisor/daemon.h"
#include "supervisor/worker_query.h"

namespace {

using namespace mvf;

const char* kUsage =
    "Usage: mvf-supervisor [options]\n"
    "Runs one mvf-worker-<name> process per enabled resource and restarts them.\n\n"
    "The common worker options below, given here as flags, reach every worker. A worker's\n"
    "own option is spelled --<name>-<option> (--vfio-mode, --x11-display; one that begins\n"
    "with <name>- keeps it: --igpu-vendor, --usb-match) and reaches that worker only; see\n"
    "mvf-worker-<name> --help. --<name>-<common option> overrides a common one for one worker\n"
    "(--usb-log-level debug).\n\n";

// The worker options given here (--vfio-mode …), judged by the workers that take them,
// so a typo stops the supervisor instead of failing one worker later.
bool workerFlagsValid(const supervisor::SupervisorConfig& config) {
  bool valid = true;
  for (const auto& [worker, flags] : config.workerArgs) {
    auto slot = config.slotConfig(worker);
    auto answer = supervisor::askWorker(slot.binary, slot.args, /*json=*/true);
    if (!answer || !answer.value().valid) {
      std::cerr << "mvf-supervisor: mvf-worker-" << worker << ": "
                << (answer ? answer.value().error : answer.error().message) << "\n";
      valid = false;
    }
  }
  return valid;
}

// The supervisor's settings, then each enabled worker's as it would start (each asked
// with the arguments it would get). 0 when all are valid, else 78.
int checkConfig(const base::ParsedOptions& options, const supervisor::SupervisorConfig& config) {
  std::cout << "# mvf-supervisor " << base::kVersion << ": effective settings\n"
            << options.settings.describe();
  bool valid = true;
  for (const auto& worker : config.workers) {
    auto slot = config.slotConfig(worker);
    auto answer = supervisor::askWorker(slot.binary, slot.args, /*json=*/false);
    bool ok = answer && answer.value().valid;
    std::cout << "\n# mvf-worker-" << worker << (ok ? "" : ": configuration error") << "\n"
              << (ok ? answer.value().output
                     : (answer ? answer.value().error : answer.error().message + "\n"));
    valid = valid && ok;
  }
  return valid ? base::kExitOk : base::kExitConfig;
}

}  // namespace

int main(int argc, char** argv) {
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  base::tuneRuntime();
  base::tuneChildRuntime();  // for the workers it starts
  base::raiseFileLimit();
  std::vector<std::string> args(argv + 1, argv + argc);
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  auto read = supervisor::readSupervisorOptions(args, self);
  if (!read) {
    std::cerr << "mvf-supervisor: " << read.error().message << "\n";
    return base::kExitConfig;
  }
  auto& [options, config] = read.value();
  switch (options.action) {
    case base::Action::kHelp:
      std::cout << kUsage << options.help;
      return base::kExitOk;
    case base::Action::kPrintVersion:
      std::cout << "mvf-supervisor " << base::kVersion << "\n";
      return base::kExitOk;
    case base::Action::kCheckConfig:
      return checkConfig(options, config);
    case base::Action::kRun:
      break;
  }
  if (!workerFlagsValid(config)) return base::kExitConfig;
  base::setupLogging("supervisor", spdlog::level::from_str(options.settings.text("log-level")),
                     options.settings.text("log-format") == "json" ? base::LogFormat::kJson
                                                                   : base::LogFormat::kText);
  return supervisor::runDaemon(std::move(config), args, self);
}
