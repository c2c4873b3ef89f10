#include "workers/core/worker_config.h"

#include "base/quote.h"
#include "base/unix_socket.h"
#include "catalog/catalog.h"
#include "cdi/spec.h"
#include "workers/core/notifier.h"

namespace mvf::core {

std::vector<base::OptionSpec> workerOptions(const ResourceSpec& spec) {
  std::vector<base::OptionSpec> options = catalog::commonWorkerOptions();
  options.push_back({"notify-fd", "", "pipe to the supervisor for worker events",
                     base::Scope::kFlagOnly, base::integerIn(0, 1 << 20)});
  if (spec.hasExclusiveMode) {
    options.push_back({"mode", "shared",
                       "shared: <count> IDs that all grant every device; exclusive: one ID per "
                       "device",
                       base::Scope::kOwnSection, base::oneOf({"shared", "exclusive"})});
  }
  options.insert(options.end(), spec.options.begin(), spec.options.end());
  return options;
}

base::OptionContext workerContext(const ResourceSpec& spec) {
  return {.section = spec.name, .sections = catalog::configSections(), .qualifier = spec.name};
}

base::Result<WorkerConfig> makeWorkerConfig(const ResourceSpec& spec,
                                            const base::Settings& settings) {
  WorkerConfig config;
  config.name = spec.name;
  config.resourceName = catalog::resourceName(spec.name);
  config.kubeletDir = settings.text("kubelet-dir");
  while (config.kubeletDir.size() > 1 && config.kubeletDir.back() == '/') {
    config.kubeletDir.pop_back();
  }
  config.socketPath = config.kubeletDir + "/" + spec.name + ".sock";
  config.kubeletSocket = config.kubeletDir + "/kubelet.sock";
  config.lockPath = settings.text("run-dir") + "/" + spec.name + ".lock";
  config.hostRoot = settings.text("host-root");
  for (const auto& path : {config.socketPath, config.kubeletSocket}) {
    if (path.size() > base::kMaxUnixPath) {
      return base::Error{fmt::format(
          "invalid value {} for kubelet-dir: the socket path is {} bytes; a unix socket "
          "path must be at most {}",
          base::quote(config.kubeletDir, 2 * base::kMaxUnixPath), path.size(), base::kMaxUnixPath)};
    }
  }
  config.mode = modeOf(settings);
  config.sharedCount = static_cast<uint32_t>(settings.integer("shared-count"));
  if (settings.has("notify-fd")) {
    config.notifyFd = static_cast<int>(settings.integer("notify-fd"));
    if (auto open = Notifier::check(config.notifyFd); !open) {
      return base::Error{"invalid value for notify-fd: " + open.error().message};
    }
  }
  config.resync = settings.duration("resync-interval");
  config.recheck = settings.duration("recheck-interval");
  config.health = settings.duration("health-interval");
  config.heartbeat = settings.duration("heartbeat-interval");
  config.backoffInitial = settings.duration("register-backoff");
  config.backoffMax = settings.duration("register-backoff-max");
  if (config.backoffMax < config.backoffInitial) {
    return base::Error{"invalid value '" + settings.text("register-backoff-max") +
                       "' for register-backoff-max: below register-backoff (" +
                       settings.text("register-backoff") + ")"};
  }
  config.registerTimeout = settings.duration("register-timeout");
  config.pollInterval = settings.duration("poll-interval");
  config.poll = settings.text("watch") == "poll";
  config.logLevel = spdlog::level::from_str(settings.text("log-level"));
  config.logFormat =
      settings.text("log-format") == "json" ? base::LogFormat::kJson : base::LogFormat::kText;
  config.cdi = cdiConfigOf(settings);
  if (config.cdi.names == CdiConfig::Names::kAnnotations &&
      !cdi::isAnnotationKey(cdiAnnotationKey(spec.name))) {
    return base::Error{"invalid value 'annotations' for cdi-devices: " +
                       cdiAnnotationKey(spec.name) + " is no valid CDI annotation key"};
  }
  config.settingsDigest = settings.digest();
  return config;
}

}  // namespace mvf::core
