#include "workers/core/worker.h"

#include <grpcpp/grpcpp.h>
#include <malloc.h>
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
#include "base/signals.h"
#include "base/unix_socket.h"
#include "base/version.h"
#include "workers/core/health_check.h"
#include "workers/core/inventory.h"
#include "workers/core/notifier.h"
#include "workers/core/plugin_service.h"
#include "workers/core/plugin_socket.h"
#include "workers/core/registrar.h"

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

// Identity of a file, to tell a re-created kubelet.sock from the one we registered with.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

std::optional<FileId> fileId(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

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

class Worker {
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
        log_(base::logger("worker")) {
    if (config_.notifyFd >= 0) notifier_ = Notifier(config_.notifyFd, config_.name);
  }

  int run() {
    std::string error = lock_.acquire(config_.lockPath);
    if (!error.empty()) {
      log_->error("cannot start: {}", error);
      return kExitFailure;
    }
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_) {
      log_->error("cannot start the gRPC server");
      return kExitFailure;
    }
    socket_.emplace(config_.socketPath, *server_);

    log_->info("starting: resource {} mode {} socket {} host root {}", config_.resourceName,
               config_.mode == Mode::kShared ? "shared" : "exclusive", config_.socketPath,
               config_.hostRoot);
    if (config_.poll || !watcher_.start(&error)) {
      if (!config_.poll)
        log_->warn("{}; polling every {} instead", error, ms(config_.pollInterval));
      startPolling();
    } else {
      loop_.watchFd(watcher_.fd(), [this] { onWatchEvents(); });
    }
    rescan("start");
    updateWatches();
    serve();

    loop_.watchFd(signals_.get(), [this] { onSignal(); });
    resyncTimer_ = loop_.after(config_.resync, [this] { resync(); });
    heartbeat();
    if (!loop_.run()) {
      log_->error("poll: {}", std::strerror(errno));
      return kExitFailure;
    }
    shutdown();
    return kExitOk;
  }

 private:
  void onSignal() {
    signalfd_siginfo info{};
    while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGHUP) {
        log_->info("SIGHUP: rescanning and checking the plugin dir");
        rescan("SIGHUP");
        checkPluginDir();
        continue;
      }
      log_->info("{}: stopping", strsignal(static_cast<int>(info.ssi_signo)));
      loop_.stop();
      return;
    }
  }

  void shutdown() {
    registrar_.cancel();
    hub_.endAll();
    stopListening();
    server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    log_->info("stopped");
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
    ListChange change = inventory_.update(std::move(scan));
    auto counts = inventory_.counts();
    if (change.empty() && scanned_) return;
    if (!scanned_) {
      log_->info("first scan: {} devices, {} healthy{}", counts.total, counts.healthy,
                 counts.healthy == 0 ? " (" + inventory_.whyNothingUsable() + ")" : "");
    } else {
      log_->info("devices changed ({}): {}; now {} healthy of {}{}", why, change.summary(),
                 counts.healthy, counts.total,
                 counts.healthy == 0 ? " (" + inventory_.whyNothingUsable() + ")" : "");
    }
    scanned_ = true;
    hub_.publish(inventory_.list());
    notifier_.send(Event::devices, counts.total, counts.healthy);
  }

  // Keeps the watches on the plugin dir and the resource's dirs; a dir watched for the
  // first time may already hold what appeared before its watch, so it is rescanned.
  void updateWatches() {
    for (int round = 0; round < 3 && !polling_; ++round) {
      std::set<std::string> dirs{config_.kubeletDir};
      HostFs host(config_.hostRoot);
      for (const auto& dir : resource_->watchDirs()) {
        auto resolved = host.resolve(dir, /*followLast=*/true);
        dirs.insert(host.local(resolved.value_or(dir)));
      }
      bool added = false;
      std::string error = watcher_.update(dirs, &added);
      if (!error.empty()) {
        log_->warn("{}; polling every {} instead", error, ms(config_.pollInterval));
        startPolling();
      }
      if (!added) return;
      rescan("new watch");
    }
  }

  void startPolling() {
    polling_ = true;
    loop_.after(config_.pollInterval, [this] { poll(); });
  }

  void poll() {
    rescan("poll");
    checkPluginDir();
    loop_.after(config_.pollInterval, [this] { poll(); });
  }

  void resync() {
    rescan("resync");
    checkPluginDir();
    updateWatches();
    resyncTimer_ = loop_.after(config_.resync, [this] { resync(); });
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
      checkPluginDir();
      return;
    }
    if (devices) {
      rescan("inotify");
      updateWatches();
    }
    if (socketGone && !(socket_->listening() && socket_->ownsPath())) {
      log_->info(
          "our socket {} was removed (a kubelet restart cleans the plugin dir); serving "
          "it again",
          config_.socketPath);
      stopListening();
      becomeUnregistered("socket removed");
    }
    if (kubeletStarted) {
      log_->info("{} was created: the kubelet (re)started; registering again",
                 config_.kubeletSocket);
      becomeUnregistered("kubelet restarted");
      failures_ = 0;
    }
    if (!socket_->listening()) {
      serve();  // requests registration once listening
    } else if (kubeletStarted) {
      requestRegistration();
    }
    updateWatches();
  }

  // The safety net behind inotify (and all there is when polling): the socket must still
  // be ours, and the kubelet.sock we registered with must still be the same file.
  void checkPluginDir() {
    if (socket_->listening() && !socket_->ownsPath()) {
      log_->info("our socket {} is gone; serving it again", config_.socketPath);
      stopListening();
      becomeUnregistered("socket removed");
    }
    if (!socket_->listening()) {
      serve();
      return;
    }
    if (registered_ && fileId(config_.kubeletSocket) != registeredWith_) {
      log_->info("{} changed since we registered; registering again", config_.kubeletSocket);
      becomeUnregistered("kubelet.sock replaced");
      requestRegistration();
    } else if (!registered_ && !registering_ && retryTimer_ == 0) {
      requestRegistration();
    }
  }

  // --- serving and registration ---

  void serve() {
    if (socket_->listening()) return;
    if (serveTimer_ != 0) {
      loop_.cancel(serveTimer_);
      serveTimer_ = 0;
    }
    std::string detail;
    switch (socket_->listen(&detail)) {
      case PluginSocket::Outcome::kListening:
        loop_.watchFd(socket_->fd(), [this] { socket_->acceptPending(); });
        log_->info("serving {} on {}", config_.resourceName, config_.socketPath);
        serveProblem_.clear();
        becomeReady();
        requestRegistration();
        return;
      case PluginSocket::Outcome::kNoDir:
        // The kubelet makes its plugin dir: until then the kubelet is absent, which must
        // not get us killed as never ready. Waiting is all there is to do.
        detail = "plugin dir " + config_.kubeletDir + " does not exist; waiting for it";
        becomeReady();
        break;
      case PluginSocket::Outcome::kBusy:
        detail += "; not taking it over, retrying";
        break;
      case PluginSocket::Outcome::kFailed:
        break;
    }
    if (detail != serveProblem_) log_->warn("cannot serve yet: {}", detail);
    serveProblem_ = detail;
    serveTimer_ = loop_.after(config_.backoffMax, [this] {
      serveTimer_ = 0;
      serve();
    });
  }

  void becomeReady() {
    if (ready_) return;
    ready_ = true;
    notifier_.send(Event::ready);
  }

  void stopListening() {
    if (!socket_->listening()) return;
    loop_.unwatchFd(socket_->fd());
    socket_->close();
  }

  void requestRegistration() {
    if (!socket_->listening()) return;  // serve() asks again once it listens
    if (registering_) {
      registerWanted_ = true;
      return;
    }
    if (retryTimer_ != 0) {
      loop_.cancel(retryTimer_);
      retryTimer_ = 0;
    }
    // The kubelet dials back inside Register. Our socket file gone (a restarting kubelet
    // deletes it) would cost that dial a 1 s reconnect backoff, so serve it again first.
    if (!socket_->ownsPath()) {
      stopListening();
      serve();  // asks for registration again once it listens
      return;
    }
    // No kubelet.sock: nobody to register with. Its creation brings us back at once.
    if (fileId(config_.kubeletSocket) == std::nullopt) {
      scheduleRetry("no " + config_.kubeletSocket + " yet");
      return;
    }
    registerWanted_ = false;
    registering_ = true;
    // Old streams end first: an old stream ending after the new registration would make
    // the kubelet mark the resource unhealthy (KUBELET_FACTS §5 item 5).
    hub_.endAll();
    hub_.setGeneration(++generation_);
    registrar_.start(
        [this](grpc::Status status) { loop_.post([this, status] { onRegistered(status); }); });
  }

  void onRegistered(const grpc::Status& status) {
    registering_ = false;
    // A trigger that came while this attempt was in flight only hurries a retry. After a
    // success there is nothing to hurry: the kubelet that answered is alive, and if it
    // dies its stream ends and we register again.
    bool hurry = std::exchange(registerWanted_, false);
    if (status.ok()) {
      failures_ = 0;
      registered_ = true;
      registeredWith_ = fileId(config_.kubeletSocket);
      log_->info("registered {} with the kubelet (endpoint {}.sock)", config_.resourceName,
                 config_.name);
      notifier_.send(Event::registered);
    } else if (hurry) {
      requestRegistration();
    } else {
      scheduleRetry("registering with " + config_.kubeletSocket + " failed (" +
                    std::to_string(static_cast<int>(status.error_code())) + ": " +
                    status.error_message() + ")");
    }
  }

  void scheduleRetry(const std::string& why) {
    ++failures_;
    base::Duration delay =
        base::backoffDelay(failures_, config_.backoffInitial, config_.backoffMax);
    // An absent kubelet is normal for a while: say so now and then, not every retry.
    auto level = failures_ == 1 || failures_ % 12 == 0 ? spdlog::level::warn : spdlog::level::debug;
    log_->log(level, "not registered: {}; attempt {}, next in {}", why, failures_, ms(delay));
    retryTimer_ = loop_.after(delay, [this] {
      retryTimer_ = 0;
      requestRegistration();
    });
  }

  // A stream ended by the peer. Only the loss of the current registration's last stream
  // means the kubelet is gone; a stream of an earlier registration may end late, after
  // the next registration succeeded, and registering again then would end the live one.
  void onPeerGone(uint64_t generation) {
    if (generation != generation_ || hub_.openStreams() > 0 || !registered_) return;
    becomeUnregistered("the kubelet closed ListAndWatch");
    // Not at once: a kubelet that restarts is about to delete our socket and create a new
    // kubelet.sock, and those events should come first. Should the kubelet be alive and
    // have closed the stream for its own reasons, this retry registers again.
    if (retryTimer_ == 0) scheduleRetry("the kubelet closed ListAndWatch");
  }

  void becomeUnregistered(const std::string& why) {
    if (!registered_) return;
    registered_ = false;
    log_->info("unregistered: {}", why);
    notifier_.send(Event::unregistered, 0, 0, why);
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
  std::shared_ptr<spdlog::logger> log_;

  bool scanned_ = false;
  bool ready_ = false;
  bool polling_ = false;
  bool registered_ = false;
  bool registering_ = false;
  bool registerWanted_ = false;
  unsigned failures_ = 0;
  uint64_t generation_ = 0;  // of registration attempts; streams carry the one they began in
  std::optional<FileId> registeredWith_;
  std::string serveProblem_;
  base::EventLoop::TimerId retryTimer_ = 0;
  base::EventLoop::TimerId serveTimer_ = 0;
  base::EventLoop::TimerId resyncTimer_ = 0;
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
       base::Scope::kCommon, base::durationIn(0ms, 1h)},
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

void limitMallocArenas() {
  // glibc gives every thread that allocates its own arena; gRPC's pools grow to a dozen
  // threads, each keeping freed memory. Two arenas hold the memory flat (DESIGN §8).
  ::mallopt(M_ARENA_MAX, 2);
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
  limitMallocArenas();

  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = base::parseOptions(workerOptions(spec), spec.name, args);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::cerr << binary << ": " << *error << "\n";
    return kExitConfig;
  }
  auto& options = std::get<base::ParsedOptions>(parsed);
  switch (options.action) {
    case base::Action::kHelp:
      std::cout << "Usage: " << binary << " [options]\n"
                << "Device plugin for intel.com/" << spec.name << ".\n\n"
                << options.help;
      return kExitOk;
    case base::Action::kPrintVersion:
      std::cout << binary << " " << base::kVersion << "\n";
      return kExitOk;
    default:
      break;
  }
  auto config = makeConfig(spec, options.settings);
  if (auto* error = std::get_if<std::string>(&config)) {
    std::cerr << binary << ": " << *error << "\n";
    return kExitConfig;
  }
  if (options.action == base::Action::kCheckConfig) {
    std::cout << "# " << binary << " " << base::kVersion << ": configuration is valid\n"
              << "# precedence: flag > MVF_* env > [" << spec.name << "] > [global] > default\n"
              << options.settings.describe();
    return kExitOk;
  }

  auto& workerConfig = std::get<WorkerConfig>(config);
  base::setupLogging(spec.name, workerConfig.logLevel, workerConfig.logFormat);
  // Blocked before any thread exists, gRPC's included, so the signalfd gets them all.
  base::UniqueFd signals = base::blockedSignalFd({SIGTERM, SIGINT, SIGHUP}, /*nonBlocking=*/true);
  if (!signals) {
    base::logger("worker")->error("signalfd: {}", std::strerror(errno));
    return kExitFailure;
  }
  // Checked here, not by --check-config: the host root is a mount on the node that runs
  // us, so a config file is valid without it. Without it every device reads as missing.
  struct stat root {};
  const char* rootProblem = ::stat(workerConfig.hostRoot.c_str(), &root) != 0 ? std::strerror(errno)
                            : !S_ISDIR(root.st_mode)                          ? "not a directory"
                                                                              : nullptr;
  if (rootProblem) {
    base::logger("worker")->error("--host-root {}: {}", workerConfig.hostRoot, rootProblem);
    return kExitConfig;
  }
  HostFs host(workerConfig.hostRoot);
  auto resource = spec.create(options.settings, host);
  Worker worker(std::move(workerConfig), std::move(resource), std::move(signals));
  return worker.run();
}

}  // namespace mvf::core
