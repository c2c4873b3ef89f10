#include "workers/core/worker.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include "base/dir_watcher.h"
#include "base/event_loop.h"
#include "base/file_id.h"
#include "base/instance_lock.h"
#include "base/logging.h"
#include "base/process.h"
#include "base/runtime.h"
#include "base/unix_socket.h"
#include "workers/core/cdi_spec.h"
#include "workers/core/health_check.h"
#include "workers/core/inventory.h"
#include "workers/core/notifier.h"
#include "workers/core/plugin_service.h"
#include "workers/core/registrar.h"
#include "workers/core/registration_loop.h"
#include "workers/core/worker_metrics.h"

namespace mvf::core {
namespace {

using Event = mvf::supervisor::v1::WorkerEvent;
using namespace std::chrono_literals;

constexpr const char* kKubeletSocket = "kubelet.sock";
constexpr auto kShutdownGrace = 300ms;

std::string ms(base::Duration d) { return base::formatDuration(d); }

}  // namespace

// The worker's parts and its event loop; it is the registration loop's Effects.
class Worker::Impl final : private RegistrationLoop::Effects {
 public:
  Impl(WorkerConfig config, std::unique_ptr<Resource> resource, base::UniqueFd signals)
      : config_(std::move(config)),
        signals_(std::move(signals)),
        resource_(std::move(resource)),
        metrics_([this] { onMetricsChanged(); }),
        cdi_(config_.cdi, config_.name, resource_->host(), &metrics_),
        inventory_(
            *resource_, config_.resourceName, config_.mode, config_.sharedCount,
            [this](const std::string& why) {
              loop_.post([this, why] { rescan("Allocate's re-check: " + why); });
            },
            &cdi_),
        hub_(
            [this](uint64_t generation) {
              loop_.post([this, generation] { onPeerGone(generation); });
            },
            &metrics_),
        service_(inventory_, hub_, &metrics_),
        registrar_(config_.kubeletSocket, config_.resourceName, config_.name + ".sock"),
        health_(loop_, *resource_, config_.health,
                [this](const std::string& why) { rescan("health check: " + why); }),
        registration_({.socketPath = config_.socketPath,
                       .kubeletSocket = config_.kubeletSocket,
                       .resourceName = config_.resourceName,
                       .backoffInitial = config_.backoffInitial,
                       .backoffMax = config_.backoffMax,
                       .registerTimeout = config_.registerTimeout},
                      loop_, *this),
        log_(base::logger("worker")) {
    if (config_.notifyFd >= 0) notifier_ = Notifier(config_.notifyFd, config_.name);
  }

  int run() {
    if (auto locked = lock_.acquire(config_.lockPath); !locked) {
      log_->error("cannot start: {}", locked.error().message);
      return base::kExitFailure;
    }
    server_ = rpc::AsyncServer::start({service_.service()});
    if (!server_) {
      log_->error("cannot start the gRPC server");
      return base::kExitFailure;
    }
    service_.serve(*server_);
    socket_.emplace(
        config_.socketPath, [this](int fd) { server_->adopt(fd); },
        base::ListeningSocket::NonSocket::kRemove);

    log_->info("starting: resource {} mode {} socket {} host root {}{}", config_.resourceName,
               config_.mode == Mode::kShared ? "shared" : "exclusive", config_.socketPath,
               config_.hostRoot, cdi_.watchDir().empty() ? "" : " CDI spec " + cdi_.path());
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
    loop_.after(base::untilNextTick(loop_.now(), config_.resync), [this] { resync(); });
    heartbeat();
    if (!loop_.run()) {
      log_->error("poll: {}", std::strerror(errno));
      return base::kExitFailure;
    }
    registration_.stop();
    hub_.endAll();
    server_->stop(kShutdownGrace);
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
    hub_.registering(true);
    registrar_.start(*server_, [this](grpc::Status status) {
      hub_.registering(false);
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
  void ready() override { notifier_.ready(config_.settingsDigest); }
  void registered() override {
    base::releaseFreeMemory();  // what the registration's channel and call used
    registeredOnce_ = true;
    metrics_.registered();
    notifier_.send(Event::registered);
  }
  void unregistered(const std::string& why) override { notifier_.send(Event::unregistered, why); }

  // A kubelet stream ended by its peer. Only the loss of the current registration's last
  // one means the kubelet let go; a stream of an earlier registration may end late, after
  // the next registration succeeded, and registering again then would end the live one.
  void onPeerGone(uint64_t generation) {
    if (hub_.openKubeletStreams() > 0) return;
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
    auto began = std::chrono::steady_clock::now();
    Scan scan = resource_->scan();
    metrics_.scanned(std::chrono::steady_clock::now() - began);
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
    // The spec first: a device the kubelet may allocate is already in it.
    cdi_.update(scan);
    std::vector<std::string> usable;
    for (const auto& unit : scan.units) {
      if (unit.usable()) usable.push_back(unit.id);
    }
    std::sort(usable.begin(), usable.end());
    ListChange change = inventory_.update(std::move(scan));
    auto counts = inventory_.counts();
    std::string whyNothing = counts.healthy == 0 ? inventory_.whyNothingUsable() : "";
    // What a shared slot grants may change while the list stays the same.
    if (usable != usable_ && scanned_ && change.empty()) {
      usable_ = std::move(usable);
      sendDevices();
    }
    if (change.empty() && scanned_) {
      // The same list, still nothing usable, for another reason: the directory that could
      // not be read now, or devices found now but unusable.
      if (whyNothing != whyNothing_) {
        log_->info("still no device usable ({}): {}", why, whyNothing);
        whyNothing_ = std::move(whyNothing);
      }
      return;
    }
    usable_ = std::move(usable);
    std::string why_nothing = whyNothing.empty() ? std::string() : " (" + whyNothing + ")";
    whyNothing_ = std::move(whyNothing);
    if (!scanned_) {
      log_->info("first scan: {} devices, {} healthy{}", counts.total, counts.healthy, why_nothing);
    } else {
      log_->info("devices changed ({}): {}; now {} healthy of {}{}", why, change.summary(),
                 counts.healthy, counts.total, why_nothing);
    }
    scanned_ = true;
    change = {};
    // The old list, the scan's temporaries and the change's IDs are freed: with 1000 IDs,
    // hundreds of kB glibc would otherwise keep. Before the publish, so that the trim does
    // not hold the heap's lock while the completion thread writes the list to the streams.
    base::releaseFreeMemory();
    hub_.publish(inventory_.list());
    sendDevices();
  }

  void sendDevices() {
    auto counts = inventory_.counts();
    notifier_.devices(counts.total, counts.healthy,
                      config_.mode == Mode::kShared ? "shared" : "exclusive", usable_);
  }

  // --- metrics (README, "Metrics") ---

  // A change was counted: one event for every change until the loop gets to it.
  void onMetricsChanged() {
    loop_.post([this] { notifier_.metrics(metrics_.snapshot()); });
  }

  // Keeps the watches on the plugin dir and the resource's dirs; a dir watched for the
  // first time may already hold what appeared before its watch, so it is rescanned.
  void updateWatches() {
    for (int round = 0; round < 3 && !polling_; ++round) {
      std::set<std::string> dirs{config_.kubeletDir};
      std::set<std::string> contentDirs;  // a spec written in place changes only its content
      if (std::string cdiDir = cdi_.watchDir(); !cdiDir.empty()) {
        dirs.insert(cdiDir);
        contentDirs.insert(cdiDir);
      }
      for (const auto& dir : resource_->watchDirs()) {
        auto resolved = resource_->host().resolve(dir, /*followLast=*/true);
        dirs.insert(resource_->host().local(resolved.value_or(dir)));
      }
      auto updated = watcher_.update(dirs, contentDirs);
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

  // The periodic timers below fall on host-wide ticks (base::untilNextTick), so that the
  // workers' coincide; the first comes within one period of the start.
  void startPolling() {
    polling_ = true;
    loop_.after(base::untilNextTick(loop_.now(), config_.pollInterval), [this] { poll(); });
  }

  void poll() {
    rescan("poll");
    registration_.check();
    loop_.after(base::untilNextTick(loop_.now(), config_.pollInterval), [this] { poll(); });
  }

  void resync() {
    rescan("resync");
    registration_.check();
    updateWatches();
    loop_.after(base::untilNextTick(loop_.now(), config_.resync), [this] { resync(); });
  }

  // Only that the loop is alive: the counters went out when they changed, and the
  // supervisor, this worker's parent, cannot have missed them (a costly line to encode
  // and parse, every 5 s, in each of six processes that are otherwise asleep).
  void heartbeat() {
    notifier_.send(Event::heartbeat);
    loop_.after(base::untilNextTick(loop_.now(), config_.heartbeat), [this] { heartbeat(); });
  }

  void onWatchEvents() {
    bool socketGone = false;
    bool kubeletStarted = false;
    bool devices = false;
    bool cdiDir = false;
    bool overflow = false;
    const std::string cdiWatched = cdi_.watchDir();
    for (const auto& event : watcher_.read()) {
      if (event.dir.empty()) {
        overflow = true;
      } else if (!cdiWatched.empty() && event.dir == cdiWatched) {
        cdiDir = true;
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
        // An ancestor of a missing CDI dir, maybe: whether it came is for the spec to see.
        cdiDir = cdiDir || (!cdiWatched.empty() && cdiWatched.starts_with(event.dir + "/"));
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
    } else if (cdiDir) {
      cdi_.refresh();  // a rescan updated the spec already
    }
    if (socketGone) registration_.ownSocketRemoved();
    if (kubeletStarted) {
      if (registeredOnce_) metrics_.kubeletRestarted();
      registration_.kubeletSocketCreated();
    }
    updateWatches();
  }

  WorkerConfig config_;
  base::UniqueFd signals_;  // SIGTERM, SIGINT, SIGHUP
  std::unique_ptr<Resource> resource_;
  base::EventLoop loop_;
  WorkerMetrics metrics_;
  CdiSpec cdi_;
  Inventory inventory_;
  StreamHub hub_;
  PluginService service_;
  std::unique_ptr<rpc::AsyncServer> server_;
  std::optional<base::ListeningSocket> socket_;  // ours in the plugin dir
  base::InstanceLock lock_;
  base::DirWatcher watcher_;
  Notifier notifier_;
  Registrar registrar_;  // destroyed before the loop its callbacks post to
  HealthCheck health_;
  RegistrationLoop registration_;
  std::shared_ptr<spdlog::logger> log_;

  bool scanned_ = false;
  bool registeredOnce_ = false;      // a kubelet.sock created after this is a kubelet restart
  std::vector<std::string> usable_;  // IDs of the units usable at the last scan, sorted
  bool polling_ = false;
  Problems problems_;       // of the last scan, to log what changed
  std::string whyNothing_;  // why no device was usable, as last logged; "" while one is
  base::EventLoop::TimerId recheckTimer_ = 0;
};

Worker::Worker(WorkerConfig config, std::unique_ptr<Resource> resource, base::UniqueFd signals)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(resource), std::move(signals))) {}

Worker::~Worker() = default;

int Worker::run() { return impl_->run(); }

}  // namespace mvf::core
