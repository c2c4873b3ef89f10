#include "workers/core/run_worker.h"

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>

#include "base/logging.h"
#include "base/process.h"
#include "base/runtime.h"
#include "base/signals.h"
#include "base/version.h"
#include "base/worker_event.h"
#include "catalog/catalog.h"
#include "proto/supervisor.pb.h"
#include "workers/core/notifier.h"
#include "workers/core/worker.h"
#include "workers/core/worker_config.h"

namespace mvf::core {
namespace {

// The --notify-fd the supervisor passed, read straight from the arguments: a
// configuration error may keep the options from being parsed at all.
std::optional<int> notifyFdOf(const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "--notify-fd") continue;
    int fd = -1;
    const std::string& text = args[i + 1];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
    if (ec == std::errc() && end == text.data() + text.size() && fd >= 0 && Notifier::check(fd)) {
      return fd;
    }
  }
  return std::nullopt;
}

// --check-config=json's answer (proto/supervisor.proto, ConfigCheck).
void printCheck(const base::Result<WorkerConfig>& config, const base::Settings* settings) {
  mvf::supervisor::v1::ConfigCheck check;
  check.set_valid(static_cast<bool>(config));
  if (!config) check.set_error(config.error().message);
  if (settings != nullptr) {
    for (const auto& [name, entry] : settings->entries()) {
      auto* setting = check.add_settings();
      setting->set_name(name);
      for (const auto& value : entry->values) setting->add_values(value);
      setting->set_source(entry->source);
    }
    check.set_digest(settings->digest());
  }
  std::cout << base::configCheckJson(check) << "\n";
}

// Exit 78 with `error`: said on stderr, and to the supervisor, so its status can say why.
int configError(const std::string& binary, const std::string& error,
                const std::vector<std::string>& args, const ResourceSpec& spec) {
  std::cerr << binary << ": " << error << "\n";
  if (auto fd = notifyFdOf(args)) {
    Notifier(*fd, spec.name).send(mvf::supervisor::v1::WorkerEvent::config_error, error);
  }
  return base::kExitConfig;
}

}  // namespace

int runWorker(int argc, char** argv, const ResourceSpec& spec) {
  const std::string binary = "mvf-worker-" + spec.name;
  // Before anything else can create a file or a thread.
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  base::tuneRuntime();
  base::raiseFileLimit();

  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = base::parseOptions(workerOptions(spec), workerContext(spec), args);
  if (!parsed) {
    bool json = std::find(args.begin(), args.end(), "--check-config=json") != args.end();
    if (json) {
      printCheck(parsed.error(), nullptr);
      return base::kExitConfig;
    }
    return configError(binary, parsed.error().message, args, spec);
  }
  auto& options = parsed.value();
  switch (options.action) {
    case base::Action::kHelp:
      std::cout << "Usage: " << binary << " [options]\n"
                << "Device plugin for " << catalog::resourceName(spec.name) << ".\n\n"
                << options.help;
      return base::kExitOk;
    case base::Action::kPrintVersion:
      std::cout << binary << " " << base::kVersion << "\n";
      return base::kExitOk;
    default:
      break;
  }
  auto config = makeWorkerConfig(spec, options.settings);
  if (options.action == base::Action::kCheckConfig) {
    if (options.checkConfigJson) {
      printCheck(config, &options.settings);
    } else if (!config) {
      std::cerr << binary << ": " << config.error().message << "\n";
    } else {
      std::cout << "# " << binary << " " << base::kVersion << ": configuration is valid\n"
                << "# precedence: --" << spec.name << "-<option> > --<option> > MVF_"
                << base::envName(spec.name).substr(4) << "_<OPTION> > MVF_<OPTION> (common "
                << "options) > [" << spec.name << "] > [global] > default\n"
                << options.settings.describe();
    }
    return config ? base::kExitOk : base::kExitConfig;
  }
  if (!config) return configError(binary, config.error().message, args, spec);

  auto& workerConfig = config.value();
  base::setupLogging(spec.name, workerConfig.logLevel, workerConfig.logFormat);
  // Blocked before any thread exists, gRPC's included, so the signalfd gets them all.
  base::UniqueFd signals = base::blockedSignalFd({SIGTERM, SIGINT, SIGHUP}, /*nonBlocking=*/true);
  if (!signals) {
    base::logger("worker")->error("signalfd: {}", std::strerror(errno));
    return base::kExitFailure;
  }
  // Checked here, not by --check-config: the host root is a mount on the node that runs
  // us, so a config file is valid without it. Without it every device reads as missing.
  struct stat root {};
  const char* rootProblem = ::stat(workerConfig.hostRoot.c_str(), &root) != 0 ? std::strerror(errno)
                            : !S_ISDIR(root.st_mode)                          ? "not a directory"
                                                                              : nullptr;
  if (rootProblem) {
    return configError(binary, "--host-root " + workerConfig.hostRoot + ": " + rootProblem, args,
                       spec);
  }
  HostFs host(workerConfig.hostRoot);
  auto resource = spec.create(options.settings, host);
  Worker worker(std::move(workerConfig), std::move(resource), std::move(signals));
  return worker.run();
}

}  // namespace mvf::core
