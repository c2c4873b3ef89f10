#include "supervisor/config.h"

#include <algorithm>
#include <filesystem>

#include "base/unix_socket.h"
#include "workers/core/worker.h"
#include "workers/igpu/gpus.h"
#include "workers/udma/udmabuf.h"
#include "workers/usb/usb_devices.h"
#include "workers/vfio/iommu_groups.h"
#include "workers/x11/x11_displays.h"

namespace mvf::supervisor {
namespace {

using namespace std::chrono_literals;
using base::OptionSpec;
using base::Scope;

// Every worker the supervisor knows, in the order it starts them.
const std::vector<const core::ResourceSpec*>& knownSpecs() {
  static const std::vector<const core::ResourceSpec*> specs = {
      &x11::kSpec, &udma::kSpec, &vfio::kSpec, &igpu::kSpec, &usb::kSpec};
  return specs;
}

const core::ResourceSpec* specFor(const std::string& name) {
  for (const auto* spec : knownSpecs()) {
    if (spec->name == name) return spec;
  }
  return nullptr;
}

// The workers' options that apply to all of them, as the supervisor passes them on.
std::vector<OptionSpec> commonWorkerOptions() {
  std::vector<OptionSpec> common;
  for (const auto& option : core::workerOptions(core::ResourceSpec{})) {
    if (option.scope == Scope::kCommon || option.name == "config") common.push_back(option);
  }
  return common;
}

}  // namespace

const std::vector<std::string>& knownWorkers() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto* spec : knownSpecs()) out.push_back(spec->name);
    return out;
  }();
  return names;
}

std::vector<OptionSpec> supervisorOptions() {
  auto options = commonWorkerOptions();
  auto workerList = [](std::string_view name) -> std::string {
    return specFor(std::string(name)) ? ""
                                      : "expected worker names among x11, udma, vfio, igpu, usb";
  };
  std::vector<OptionSpec> own = {
      {"workers", "x11,udma,vfio,igpu,usb", "the workers to run (repeatable or comma-separated)",
       Scope::kWorker, workerList, /*repeatable=*/true},
      {"workers-dir", "",
       "where the mvf-worker-<name> binaries are (default: the supervisor's dir)", Scope::kWorker,
       base::absolutePath()},
      {"status-socket", "/run/mvf/status.sock", "the status socket (never in the kubelet dir)",
       Scope::kWorker, base::absolutePath()},
      {"grace-period", "5s", "SIGTERM to SIGKILL when stopping workers", Scope::kWorker,
       base::durationIn(10ms, 10min)},
      {"ready-timeout", "20s", "a worker not ready this long after its start is killed",
       Scope::kWorker, base::durationIn(10ms, 1h)},
      {"heartbeat-timeout", "15s", "a ready worker silent this long is killed", Scope::kWorker,
       base::durationIn(10ms, 1h)},
      {"restart-backoff", "500ms", "delay before the first restart after a failure", Scope::kWorker,
       base::durationIn(1ms, 1h)},
      {"restart-backoff-max", "30s", "longest delay before a restart", Scope::kWorker,
       base::durationIn(1ms, 1h)},
      {"stable-after", "10s", "ready this long, a worker that dies is restarted at once",
       Scope::kWorker, base::durationIn(1ms, 1h)},
      {"reset-after", "60s", "ready this long, a worker's failure count starts over",
       Scope::kWorker, base::durationIn(1ms, 24h)},
      {"crash-loop-threshold", "5", "consecutive failures that make a crash loop", Scope::kWorker,
       base::integerIn(1, 1000)},
  };
  options.insert(options.end(), own.begin(), own.end());
  return options;
}

std::variant<SupervisorConfig, std::string> makeSupervisorConfig(const base::Settings& settings,
                                                                 const std::string& selfDir) {
  SupervisorConfig config;
  for (const auto& name : settings.list("workers")) {
    if (std::find(config.workers.begin(), config.workers.end(), name) == config.workers.end()) {
      config.workers.push_back(name);
    }
  }
  config.workersDir = settings.has("workers-dir") ? settings.text("workers-dir") : selfDir;
  config.statusSocket = settings.text("status-socket");
  config.kubeletDir = settings.text("kubelet-dir");
  namespace fs = std::filesystem;
  auto statusDir = fs::path(config.statusSocket).parent_path().lexically_normal();
  auto kubeletDir = fs::path(config.kubeletDir).lexically_normal();
  if (statusDir == kubeletDir || statusDir.string().rfind(kubeletDir.string() + "/", 0) == 0) {
    return "invalid value '" + config.statusSocket +
           "' for status-socket: it must not be in the kubelet dir, which the kubelet empties "
           "of plain files when it starts";
  }
  if (config.statusSocket.size() > base::kMaxUnixPath) {
    return "invalid value '" + config.statusSocket + "' for status-socket: longer than the " +
           std::to_string(base::kMaxUnixPath) + " bytes a unix socket path may have";
  }
  // Passed on: the common options given as flags, and the config file however named.
  // Env vars the workers inherit, and the file they read themselves.
  for (const auto& option : commonWorkerOptions()) {
    if (!settings.has(option.name)) continue;
    bool flag = settings.source(option.name) == "--" + option.name;
    if (!flag && option.name != "config") continue;
    for (const auto& value : settings.list(option.name)) {
      config.workerArgs.push_back("--" + option.name);
      config.workerArgs.push_back(value);
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

base::Result<std::string> workerSettings(const std::string& name,
                                         const std::vector<std::string>& args) {
  const core::ResourceSpec* spec = specFor(name);
  if (spec == nullptr) return base::Error{"no worker named " + name};
  auto check = core::checkConfig(*spec, args);
  if (!check.ok) return base::Error{check.text};
  return check.text;
}

base::Result<SupervisorConfig> readSupervisorConfig(const std::vector<std::string>& args,
                                                    const std::string& selfDir) {
  auto parsed = base::parseOptions(supervisorOptions(), "supervisor", args);
  if (auto* error = std::get_if<std::string>(&parsed)) return base::Error{*error};
  auto config = makeSupervisorConfig(std::get<base::ParsedOptions>(parsed).settings, selfDir);
  if (auto* error = std::get_if<std::string>(&config)) return base::Error{*error};
  return std::get<SupervisorConfig>(std::move(config));
}

WorkerSlot::Config SupervisorConfig::slotConfig(const std::string& name) const {
  return {.binary = workersDir + "/mvf-worker-" + name,
          .args = workerArgs,
          .readyTimeout = readyTimeout,
          .heartbeatTimeout = heartbeatTimeout,
          .policy = policy};
}

}  // namespace mvf::supervisor
