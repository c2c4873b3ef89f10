#include "workers/core/worker.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>

#include "base/backoff.h"
#include "base/dir_watcher.h"
#include "base/event_loop.h"
#include "base/instance_lock.h"
#include "base/logging.h"
#include "base/process.h"
#include "base/signals.h"
#include "base/unix_socket.h"
#include "base/version.h"
#include "workers/core/health_check.h"
#include "workers/core/inventory.h"
#include "workers/core/notifier.h"
#include "workers/core/plugin_service.h"
#include "workers/core/plugin_socket.h"
#include "workers/core/registrar.h"
#include "workers/core/registration_loop.h"

namespace mvf::core {
namespace {

using Event = mvf::supervisor::v1::WorkerEvent;
using namespace std::chrono_literals;

constexpr const char* kKubeletSocket = "kubelet.sock";
constexpr auto kShutdownGrace = 300ms;

struct WorkerConfig {
  std::string name;          // udma
  std::string resourceName;  // intel.com/udma
  std::string kubeletDir;
  std::string socketPath;
  std::string kubeletSocket;
  std::string lockPath;
  std::string hostRoot;
  Mode mode = Mode::kShared;
  uint32_t sharedCount = 0;
  int notifyFd = -1;
  base::Duration resync{}, recheck{}, health{}, heartbeat{}, backoffInitial{}, backoffMax{},
      pollInterval{};
  bool poll = false;
  spdlog::level::level_enum logLevel = spdlog::level::info;
  base::LogFormat logFormat = base::LogFormat::kText;
};

std::string ms(base::Duration d) { return std::to_string(d.count()) + "ms"; }

// Validates what the option checks cannot see alone; returns the config or an error.
std::variant<WorkerConfig, std::string> makeConfig(const ResourceSpec& spec,
                                                   const base::Settings& settings) {
  WorkerConfig config;
  config.name = spec.name;
  config.resourceName = "intel.com/" + spec.name;
  config.kubeletDir = settings.text("kubelet-dir");
  while (config.kubeletDir.size() > 1 && config.kubeletDir.back() == '/') {
    config.kubeletDir.pop_back();
  }
  config.socketPath = config.kubeletDir + "/" + spec.name + ".sock";
  config.kubeletSocket = config.kubeletDir + "/" + kKubeletSocket;
  config.lockPath = settings.text("run-dir") + "/" + spec.name + ".lock";
  config.hostRoot = settings.text("host-root");
  for (const auto& path : {config.socketPath, config.kubeletSocket}) {
    if (path.size() > base::kMaxUnixPath) {
      return "invalid value '" + config.kubeletDir + "' for kubelet-dir: the socket path " + path +
             " is " + std::to_string(path.size()) + " bytes; a unix socket path must be at most " +
             std::to_string(base::kMaxUnixPath);
    }
  }
  config.mode = modeOf(settings);
  config.sharedCount = static_cast<uint32_t>(settings.integer("shared-count"));
  if (settings.has("notify-fd")) {
    config.notifyFd = static_cast<int>(settings.integer("notify-fd"));
    std::string problem = Notifier::check(config.notifyFd);
    if (!problem.empty()) return "invalid value for notify-fd: " + problem;
  }
  config.resync = settings.duration("resync-interval");
  config.recheck = settings.duration("recheck-interval");
  config.health = settings.duration("health-interval");
  config.heartbeat = settings.duration("heartbeat-interval");
  config.backoffInitial = settings.duration("register-backoff");
  config.backoffMax = settings.duration("register-backoff-max");
  if (config.backoffMax < config.backoffInitial) {
    return "invalid value '" + settings.text("register-backoff-max") +
           "' for register-backoff-max: below register-backoff (" +
           settings.text("register-backoff") + ")";
  }
  config.pollInterval = settings.duration("poll-interval");
  config.poll = settings.text("watch") == "poll";
  config.logLevel = spdlog::level::from_str(settings.text("log-level"));
  config.logFormat =
      settings.text("log-format") == "json" ? base::LogFormat::kJson : base::LogFormat::kText;
  return config;
}

// One worker process, wired together: the resource's scans feed the inventory (on
// inotify events, the recheck and resync timers, or polling), the inventory feeds the
// ListAndWatch streams and Allocate, and the registration loop keeps the socket served
// and registered. Everything but gRPC's own threads runs on one event loop.
class Worker final : private RegistrationLoop::Effects {
 public:
  Worker(WorkerConfig config, std::unique_ptr<Resource> resource, base::UniqueFd signals)
      : config_(std::move(config)),
        signals_(std::move(signals)),
        resource_(std::move(resource)),
        inventory_(*resource_, config_.resourceName, config_.mode, config_.sharedCount,
                   [this](const std::string& why) {
                     loop_.post([this, why] { rescan("Allocate's re-check: " + why); });
                   }),
        hub_([this](uint64_t generation) {
          loop_.post([this, generation] { onPeerGone(generation); });
        }),
        service_(inventory_, hub_),
        registrar_(config_.kubeletSocket, config_.resourceName, config_.name + ".sock"),
        health_(loop_, *resource_, config_.health,
                [this](const std::string& why) { rescan("health check: " + why); }),
        registration_({.socketPath = config_.socketPath,
                       .kubeletSocket = config_.kubeletSocket,
                       .resourceName = config_.resourceName,
                       .backoffInitial = config_.backoffInitial,
                       .backoffMax = config_.backoffMax},
                      loop_, *this),
        log_(base::logger("worker")) {
    if (config_.notifyFd >= 0) notifier_ = Notifier(config_.notifyFd, config_.name);
  }

  int run() {
    if (auto locked = lock_.acquire(config_.lockPath); !locked) {
      log_->error("cannot start: {}", locked.error().message);
      return base::kExitFailure;
    }
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_) {
      log_->error("cannot start the gRPC server");
      return base::kExitFailure;
    }
    socket_.emplace(config_.socketPath, *server_);

    log_->info("starting: resource {} mode {} socket {} host root {}", config_.resourceName,
               config_.mode == Mode::kShared ? "shared" : "exclusive", config_.socketPath,
               config_.hostRoot);
    if (config_.poll) {
      startPolling();
    } else if (auto watching = watcher_.start(); !watching) {
      log_->warn("{}; polling every {} instead", watching.error().message,
                 ms(config_.pollInterval));
      startPolling();
    } else {
      loop_.watchFd(watcher_.fd(), [this] { onWatchEvents(); });
    }
    rescan("start");
    updateWatches();
    registration_.start();

    loop_.watchFd(signals_.get(), [this] { onSignal(); });
    loop_.after(config_.resync, [this] { resync(); });
    heartbeat();
    if (!loop_.run()) {
      log_->error("poll: {}", std::strerror(errno));
      return base::kExitFailure;
    }
    registration_.stop();
    hub_.endAll();
    server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    log_->info("stopped");
    return base::kExitOk;
  }

 private:
  // --- RegistrationLoop::Effects: the socket, the kubelet, the streams, the notifier ---

  base::Status listen() override {
    base::Status listened = socket_->listen();
    if (listened) loop_.watchFd(socket_->fd(), [this] { socket_->acceptPending(); });
    return listened;
  }
  void stopListening() override {
    loop_.unwatchFd(socket_->fd());
    socket_->close();
  }
  bool ownsSocket() const override { return socket_->ownsPath(); }
  std::optional<FileId> kubeletSocket() const override {
    return base::fileIdOf(config_.kubeletSocket);
  }
  void endStreams(uint64_t generation) override {
    hub_.endAll();
    hub_.setGeneration(generation);
  }
  void startRegister() override {
    registrar_.start([this](grpc::Status status) {
      base::Status outcome = base::ok();
      if (!status.ok()) {
        outcome = base::Error{
            std::to_string(static_cast<int>(status.error_code())) + ": " + status.error_message(),
            static_cast<int>(status.error_code())};
      }
      loop_.post([this, outcome] { registration_.registerDone(outcome); });
    });
  }
  void cancelRegister() override { registrar_.cancel(); }
  void ready() override { notifier_.send(Event::ready); }
  void registered() override { notifier_.send(Event::registered); }
  void unregistered(const std::string& why) override { notifier_.send(Event::unregistered, why); }

  // A stream ended by its peer. Only the loss of the current registration's last stream
  // means the kubelet is gone; a stream of an earlier registration may end late, after
  // the next registration succeeded, and registering again then would end the live one.
  void onPeerGone(uint64_t generation) {
    if (hub_.openStreams() > 0) return;
    registration_.kubeletStreamEnded(generation);
  }

  void onSignal() {
    signalfd_siginfo info{};
    while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGHUP) {
        log_->info("SIGHUP: rescanning and checking the plugin dir");
        rescan("SIGHUP");
        registration_.check();
        continue;
      }
      log_->info("{}: stopping", strsignal(static_cast<int>(info.ssi_signo)));
      loop_.stop();
      return;
    }
  }

  // --- devices ---

  void rescan(const std::string& why) {
    Scan scan = resource_->scan();
    if (scan.recheck && recheckTimer_ == 0) {
      recheckTimer_ = loop_.after(config_.recheck, [this] {
        recheckTimer_ = 0;
        rescan("recheck");
      });
    }
    health_.update(scan);
    Problems problems = problemsOf(scan);
    for (const auto& line : usabilityChanges(problems_, problems)) log_->info("{}", line);
    problems_ = std::move(problems);
    ListChange change = inventory_.update(std::move(scan));
    auto counts = inventory_.counts();
    if (change.empty() && scanned_) return;
    std::string why_nothing =
        counts.healthy == 0 ? " (" + inventory_.whyNothingUsable() + ")" : std::string();
    if (!scanned_) {
      log_->info("first scan: {} devices, {} healthy{}", counts.total, counts.healthy, why_nothing);
    } else {
      log_->info("devices changed ({}): {}; now {} healthy of {}{}", why, change.summary(),
                 counts.healthy, counts.total, why_nothing);
    }
    scanned_ = true;
    hub_.publish(inventory_.list());
    notifier_.devices(counts.total, counts.healthy);
  }

  // Keeps the watches on the plugin dir and the resource's dirs; a dir watched for the
  // first time may already hold what appeared before its watch, so it is rescanned.
  void updateWatches() {
    for (int round = 0; round < 3 && !polling_; ++round) {
      std::set<std::string> dirs{config_.kubeletDir};
      for (const auto& dir : resource_->watchDirs()) {
        auto resolved = resource_->host().resolve(dir, /*followLast=*/true);
        dirs.insert(resource_->host().local(resolved.value_or(dir)));
      }
      auto updated = watcher_.update(dirs);
      if (!updated) {
        log_->warn("{}; polling every {} instead", updated.error().message,
                   ms(config_.pollInterval));
        startPolling();
        return;
      }
      if (!updated.value()) return;  // no dir watched for the first time
      rescan("new watch");
    }
  }

  void startPolling() {
    polling_ = true;
    loop_.after(config_.pollInterval, [this] { poll(); });
  }

  void poll() {
    rescan("poll");
    registration_.check();
    loop_.after(config_.pollInterval, [this] { poll(); });
  }

  void resync() {
    rescan("resync");
    registration_.check();
    updateWatches();
    loop_.after(config_.resync, [this] { resync(); });
  }

  void heartbeat() {
    notifier_.send(Event::heartbeat);
    loop_.after(config_.heartbeat, [this] { heartbeat(); });
  }

  void onWatchEvents() {
    bool socketGone = false;
    bool kubeletStarted = false;
    bool devices = false;
    bool overflow = false;
    for (const auto& event : watcher_.read()) {
      if (event.dir.empty()) {
        overflow = true;
      } else if (event.dir == config_.kubeletDir) {
        if (event.name == config_.name + ".sock" && (event.mask & (IN_DELETE | IN_MOVED_FROM))) {
          socketGone = true;
        } else if (event.name == kKubeletSocket && (event.mask & (IN_CREATE | IN_MOVED_TO))) {
          kubeletStarted = true;
        } else if (event.name.empty() && (event.mask & (IN_DELETE_SELF | IN_MOVE_SELF))) {
          socketGone = true;  // the whole plugin dir went away
        }
      } else {
        devices = true;  // a device dir, or an ancestor of a dir we wait for
      }
    }
    if (overflow) {
      log_->warn("inotify queue overflowed; rescanning everything");
      rescan("inotify overflow");
      updateWatches();
      registration_.check();
      return;
    }
    if (devices) {
      rescan("inotify");
      updateWatches();
    }
    if (socketGone) registration_.ownSocketRemoved();
    if (kubeletStarted) registration_.kubeletSocketCreated();
    updateWatches();
  }

  WorkerConfig config_;
  base::UniqueFd signals_;  // SIGTERM, SIGINT, SIGHUP
  std::unique_ptr<Resource> resource_;
  base::EventLoop loop_;
  Inventory inventory_;
  StreamHub hub_;
  PluginService service_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<PluginSocket> socket_;
  base::InstanceLock lock_;
  base::DirWatcher watcher_;
  Notifier notifier_;
  Registrar registrar_;  // destroyed before the loop its callbacks post to
  HealthCheck health_;
  RegistrationLoop registration_;
  std::shared_ptr<spdlog::logger> log_;

  bool scanned_ = false;
  bool polling_ = false;
  Problems problems_;  // of the last scan, to log what changed
  base::EventLoop::TimerId recheckTimer_ = 0;
};

}  // namespace

std::vector<base::OptionSpec> workerOptions(const ResourceSpec& spec) {
  std::vector<base::OptionSpec> options = {
      {"config", "", "INI config file", base::Scope::kFlagOrEnv, nullptr},
      {"kubelet-dir", "/var/lib/kubelet/device-plugins", "the kubelet's device plugin dir",
       base::Scope::kCommon, base::absolutePath()},
      {"host-root", "/", "where the host's / is mounted; every host path is read under it",
       base::Scope::kCommon, base::absolutePath()},
      {"run-dir", "/run/mvf", "dir for the single-instance lock", base::Scope::kCommon,
       base::absolutePath()},
      {"log-level", "info", "trace, debug, info, warn, error, critical or off",
       base::Scope::kCommon,
       base::oneOf({"trace", "debug", "info", "warn", "error", "critical", "off"})},
      {"log-format", "text", "text or json", base::Scope::kCommon, base::oneOf({"text", "json"})},
      {"notify-fd", "", "pipe to the supervisor for worker events", base::Scope::kFlagOnly,
       base::integerIn(0, 1 << 20)},
      {"shared-count", "1000", "device IDs advertised in shared mode", base::Scope::kCommon,
       base::integerIn(1, 10000)},
  };
  if (spec.hasExclusiveMode) {
    options.push_back({"mode", "shared",
                       "shared: <count> IDs that all grant every device; exclusive: one ID per "
                       "device",
                       base::Scope::kWorker, base::oneOf({"shared", "exclusive"})});
  }
  std::vector<base::OptionSpec> timers = {
      {"resync-interval", "30s", "full rescan and plugin dir check, for what inotify misses",
       base::Scope::kCommon, base::durationIn(10ms, 24h)},
      {"recheck-interval", "100ms",
       "rescan delay while a device may become usable without an event (a new X socket)",
       base::Scope::kCommon, base::durationIn(1ms, 1h)},
      {"health-interval", "500ms",
       "re-check of devices whose health no filesystem event reports (0: off)",
       base::Scope::kCommon, base::offOrDurationIn(10ms, 1h)},
      {"heartbeat-interval", "5s", "heartbeat events on the notify fd", base::Scope::kCommon,
       base::durationIn(10ms, 1h)},
      {"register-backoff", "50ms", "first delay before retrying registration", base::Scope::kCommon,
       base::durationIn(1ms, 1h)},
      {"register-backoff-max", "5s", "longest delay between registration attempts",
       base::Scope::kCommon, base::durationIn(1ms, 1h)},
      {"poll-interval", "2s", "rescan period when inotify is not available", base::Scope::kCommon,
       base::durationIn(10ms, 1h)},
      {"watch", "inotify", "inotify (falls back to polling when unavailable) or poll",
       base::Scope::kCommon, base::oneOf({"inotify", "poll"})},
  };
  options.insert(options.end(), timers.begin(), timers.end());
  options.insert(options.end(), spec.options.begin(), spec.options.end());
  return options;
}

ConfigCheck checkConfig(const ResourceSpec& spec, const std::vector<std::string>& args,
                        const base::EnvLookup& env) {
  auto parsed = base::parseOptions(workerOptions(spec), spec.name, args, env);
  if (auto* error = std::get_if<std::string>(&parsed)) return {false, *error};
  const base::Settings& settings = std::get<base::ParsedOptions>(parsed).settings;
  auto config = makeConfig(spec, settings);
  if (auto* error = std::get_if<std::string>(&config)) return {false, *error};
  return {true, settings.describe()};
}

int runWorker(int argc, char** argv, const ResourceSpec& spec) {
  const std::string binary = "mvf-worker-" + spec.name;
  // Before anything else can create a file or a thread.
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  base::limitMallocArenas();
  base::raiseFileLimit();

  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = base::parseOptions(workerOptions(spec), spec.name, args);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::cerr << binary << ": " << *error << "\n";
    return base::kExitConfig;
  }
  auto& options = std::get<base::ParsedOptions>(parsed);
  switch (options.action) {
    case base::Action::kHelp:
      std::cout << "Usage: " << binary << " [options]\n"
                << "Device plugin for intel.com/" << spec.name << ".\n\n"
                << options.help;
      return base::kExitOk;
    case base::Action::kPrintVersion:
      std::cout << binary << " " << base::kVersion << "\n";
      return base::kExitOk;
    default:
      break;
  }
  auto config = makeConfig(spec, options.settings);
  if (auto* error = std::get_if<std::string>(&config)) {
    std::cerr << binary << ": " << *error << "\n";
    return base::kExitConfig;
  }
  if (options.action == base::Action::kCheckConfig) {
    std::cout << "# " << binary << " " << base::kVersion << ": configuration is valid\n"
              << "# precedence: flag > MVF_* env > [" << spec.name << "] > [global] > default\n"
              << options.settings.describe();
    return base::kExitOk;
  }

  auto& workerConfig = std::get<WorkerConfig>(config);
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
    base::logger("worker")->error("--host-root {}: {}", workerConfig.hostRoot, rootProblem);
    return base::kExitConfig;
  }
  HostFs host(workerConfig.hostRoot);
  auto resource = spec.create(options.settings, host);
  Worker worker(std::move(workerConfig), std::move(resource), std::move(signals));
  return worker.run();
}

}  // namespace mvf::core
