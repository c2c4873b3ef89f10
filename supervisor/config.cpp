#include "supervisor/config.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "base/format.h"
#include "base/logging.h"
#include "base/quote.h"
#include "base/unix_socket.h"
#include "catalog/catalog.h"
#include "cdi/spec_file.h"
#include "supervisor/metrics.h"
#include "supervisor/worker_query.h"

namespace mvf::supervisor {
namespace {

// How much of a socket path an error quotes: twice what a unix socket path may have.
constexpr size_t kShownPath = 2 * base::kMaxUnixPath;

using namespace std::chrono_literals;
using base::OptionSpec;
using base::Scope;

// Splits the supervisor's arguments into its own and each worker's: a flag that names a
// worker (--vfio-mode exclusive, --igpu-vendor=any) goes to that worker with its value.
// Every worker option takes a value.
struct SplitArgs {
  std::vector<std::string> own;
  std::map<std::string, std::vector<std::string>> workers;
};

SplitArgs splitArgs(const std::vector<std::string>& args) {
  SplitArgs split;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string worker = catalog::workerOfFlag(args[i]);
    if (worker.empty()) {
      split.own.push_back(args[i]);
      continue;
    }
    split.workers[worker].push_back(args[i]);
    if (args[i].find('=') == std::string::npos && i + 1 < args.size()) {
      split.workers[worker].push_back(args[++i]);
    }
  }
  return split;
}

base::Result<SupervisorConfig> makeConfig(const base::Settings& settings,
                                          const std::string& selfDir) {
  SupervisorConfig config;
  // Repeated, or comma-separated in one value: --workers x11,udma.
  for (const auto& value : settings.list("workers")) {
    for (const auto& name : base::splitList(value)) {
      if (std::find(config.workers.begin(), config.workers.end(), name) == config.workers.end()) {
        config.workers.push_back(name);
      }
    }
  }
  config.workersDir = settings.has("workers-dir") ? settings.text("workers-dir") : selfDir;
  config.statusSocket = settings.text("status-socket");
  config.metricsAddress = settings.text("metrics-address");
  if (config.metricsAddress == "off") config.metricsAddress.clear();
  config.metricsRetry = settings.duration("metrics-retry-interval");
  config.metricsRequestTimeout = settings.duration("metrics-request-timeout");
  config.kubeletDir = settings.text("kubelet-dir");
  namespace fs = std::filesystem;
  auto statusDir = fs::path(config.statusSocket).parent_path().lexically_normal();
  auto kubeletDir = fs::path(config.kubeletDir).lexically_normal();
  if (statusDir == kubeletDir || statusDir.string().starts_with(kubeletDir.string() + "/")) {
    return base::Error{"invalid value " + base::quote(config.statusSocket, kShownPath) +
                       " for status-socket: it must not be in the kubelet dir, which the kubelet "
                       "empties of plain files when it starts"};
  }
  if (config.statusSocket.size() > base::kMaxUnixPath) {
    return base::Error{fmt::format(
        "invalid value {} for status-socket: longer than the {} bytes a unix socket path may "
        "have",
        base::quote(config.statusSocket, kShownPath), base::kMaxUnixPath)};
  }
  // Passed on: the common options given as flags, and the config file however named.
  // Env vars the workers inherit, and the file they read themselves.
  for (const auto& option : catalog::commonWorkerOptions()) {
    if (!settings.has(option.name)) continue;
    bool flag = settings.source(option.name) == "--" + option.name;
    if (!flag && option.name != "config") continue;
    for (const auto& value : settings.list(option.name)) {
      config.commonArgs.insert(config.commonArgs.end(), {"--" + option.name, value});
    }
  }
  config.gracePeriod = settings.duration("grace-period");
  config.readyTimeout = settings.duration("ready-timeout");
  config.heartbeatTimeout = settings.duration("heartbeat-timeout");
  config.policy.initialDelay = settings.duration("restart-backoff");
  config.policy.maxDelay = settings.duration("restart-backoff-max");
  config.policy.stableAfter = settings.duration("stable-after");
  config.policy.resetAfter = settings.duration("reset-after");
  config.policy.crashLoopAt = static_cast<unsigned>(settings.integer("crash-loop-threshold"));
  return config;
}

}  // namespace

std::string SupervisorConfig::binaryOf(const std::string& worker) const {
  return workersDir + "/mvf-worker-" + worker;
}

WorkerSlot::Config SupervisorConfig::slotConfig(const std::string& worker) const {
  std::vector<std::string> args = commonArgs;
  if (auto it = workerArgs.find(worker); it != workerArgs.end()) {
    args.insert(args.end(), it->second.begin(), it->second.end());
  }
  return {.binary = binaryOf(worker),
          .args = std::move(args),
          .readyTimeout = readyTimeout,
          .heartbeatTimeout = heartbeatTimeout,
          .policy = policy};
}

std::vector<OptionSpec> supervisorOptions() {
  std::vector<OptionSpec> options;
  for (auto option : catalog::commonWorkerOptions()) {
    options.push_back(std::move(option));
  }
  auto workerList = [](std::string_view value) -> std::string {
    auto names = base::splitList(value);
    if (names.empty()) names.push_back("");
    for (const auto& name : names) {
      if (!catalog::isResource(name)) {
        return fmt::format("expected worker names among {}", fmt::join(catalog::resources(), ", "));
      }
    }
    return "";
  };
  std::vector<OptionSpec> own = {
      {"workers", fmt::format("{}", fmt::join(catalog::resources(), ",")),
       "the workers to run (repeatable or comma-separated)", Scope::kOwnSection, workerList,
       /*repeatable=*/true},
      {"workers-dir", "",
       "where the mvf-worker-<name> binaries are (default: the supervisor's dir)",
       Scope::kOwnSection, base::absolutePath()},
      {"status-socket", "/run/mvf/status.sock", "the status socket (never in the kubelet dir)",
       Scope::kOwnSection, base::absolutePath()},
      {"metrics-address", "0.0.0.0:9470",
       "Prometheus metrics on http://ADDRESS/metrics: PORT, HOST:PORT, +PORT (IPv4 and IPv6) "
       "or off",
       Scope::kOwnSection, checkMetricsAddress},
      {"metrics-request-timeout", "5s",
       "a metrics connection idle this long is dropped, so idle ones cannot hold up scrapes",
       Scope::kOwnSection, base::durationIn(100ms, 1min)},
      {"metrics-retry-interval", "30s",
       "when the metrics address cannot be served (the port taken), try again this often; 0: "
       "never",
       Scope::kOwnSection, base::offOrDurationIn(100ms, 1h)},
      {"grace-period", "5s", "SIGTERM to SIGKILL when stopping workers", Scope::kOwnSection,
       base::durationIn(10ms, 10min)},
      {"ready-timeout", "20s", "a worker not ready this long after its start is killed",
       Scope::kOwnSection, base::durationIn(10ms, 1h)},
      {"heartbeat-timeout", "15s", "a ready worker silent this long is killed", Scope::kOwnSection,
       base::durationIn(10ms, 1h)},
      {"restart-backoff", "500ms", "delay before the first restart after a failure",
       Scope::kOwnSection, base::durationIn(1ms, 1h)},
      {"restart-backoff-max", "30s", "longest delay before a restart", Scope::kOwnSection,
       base::durationIn(1ms, 1h)},
      {"stable-after", "10s", "ready this long, a worker that dies is restarted at once",
       Scope::kOwnSection, base::durationIn(1ms, 1h)},
      {"reset-after", "60s", "ready this long, a worker's failure count starts over",
       Scope::kOwnSection, base::durationIn(1ms, 24h)},
      {"crash-loop-threshold", "5", "consecutive failures that make a crash loop",
       Scope::kOwnSection, base::integerIn(1, 1000)},
  };
  options.insert(options.end(), own.begin(), own.end());
  return options;
}

base::Result<ParsedSupervisorOptions> readSupervisorOptions(const std::vector<std::string>& args,
                                                            const std::string& selfDir) {
  SplitArgs split = splitArgs(args);
  auto parsed = base::parseOptions(supervisorOptions(),
                                   {.section = "supervisor", .sections = catalog::configSections()},
                                   split.own);
  if (!parsed) return parsed.error();
  // --help and --version parse no settings: there is no config to make.
  auto action = parsed.value().action;
  if (action == base::Action::kHelp || action == base::Action::kPrintVersion) {
    return ParsedSupervisorOptions{std::move(parsed).value(), {}};
  }
  auto config = makeConfig(parsed.value().settings, selfDir);
  if (!config) return config.error();
  config.value().workerArgs = std::move(split.workers);
  return ParsedSupervisorOptions{std::move(parsed).value(), std::move(config).value()};
}

void retireWorker(const std::string& name, const WorkerSlot::Config& config) {
  auto log = base::logger("supervisor");
  auto answer = askWorker(config.binary, config.args, /*json=*/true);
  std::string dir = answer ? answer.value().settings["cdi-dir"] : "";
  if (dir.empty()) {
    log->warn("{} is not enabled, but its CDI spec dir is unknown ({}): a spec it wrote stays",
              name, answer ? "its binary does not say" : answer.error().message);
    return;
  }
  cdi::SpecFile spec(dir, catalog::resourceName(name));
  bool existed = ::access(spec.path().c_str(), F_OK) == 0;
  if (auto removed = spec.remove(); !removed) {
    log->warn("{} is not enabled: {}", name, removed.error().message);
  } else if (existed) {
    log->info("{} is not enabled: removed its CDI spec {}", name, spec.path());
  }
}

base::Result<std::string> workerSettings(const std::string&, const WorkerSlot::Config& config) {
  auto answer = askWorker(config.binary, config.args, /*json=*/true);
  if (!answer) return answer.error();
  if (!answer.value().valid) return base::Error{answer.value().error};
  return answer.value().digest;
}

}  // namespace mvf::supervisor
