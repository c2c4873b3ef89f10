#include "supervisor/daemon.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "base/event_loop.h"
#include "base/logging.h"
#include "base/process.h"
#include "base/signals.h"
#include "base/unix_socket.h"
#include "base/version.h"
#include "supervisor/metrics.h"
#include "supervisor/status_service.h"
#include "supervisor/supervisor.h"

namespace mvf::supervisor {
namespace {

// The status socket: its gRPC server, and the socket it accepts on. A ListeningSocket, as
// a worker's, so that a connection (the chart's probes open one every 10 s each) costs
// gRPC no handshake timer; accepted on a thread of its own, never on the loop, which can
// be busy for seconds (asking each worker for --check-config on SIGHUP): the probes must
// get their answer meanwhile (status_service.h). The thread sleeps in poll() until a
// connection or the stop comes.
class StatusServer {
 public:
  // Listens on `path`, whose dir is created if missing; a live supervisor already
  // answering there is not ours to replace (an Error, EADDRINUSE); or the Error of the
  // failing step.
  static base::Result<std::unique_ptr<StatusServer>> start(const std::string& path,
                                                           StatusService& service) {
    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    std::filesystem::create_directories(dir, ec);
    if (ec) return base::Error{"mkdir " + dir.string() + ": " + ec.message(), ec.value()};
    auto server = rpc::AsyncServer::start({service.service()});
    if (!server) return base::Error{"cannot start the gRPC server"};
    service.serve(*server);
    base::UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
    if (!stop) return base::Error{std::string("eventfd: ") + std::strerror(errno), errno};
    std::unique_ptr<StatusServer> out(new StatusServer(path, std::move(server), std::move(stop)));
    if (auto listened = out->socket_.listen(); !listened) return listened.error();
    out->thread_ = std::thread([raw = out.get()] { raw->acceptUntilStopped(); });
    ::pthread_setname_np(out->thread_.native_handle(), "mvf-status");
    return out;
  }

  // Stops accepting, removes the socket file if it is still ours, and stops the server.
  ~StatusServer() {
    uint64_t one = 1;
    if (thread_.joinable()) {
      if (::write(stop_.get(), &one, sizeof(one)) != sizeof(one)) {
        base::logger("supervisor")->error("eventfd write: {}", std::strerror(errno));
      }
      thread_.join();
    }
    socket_.close();
    server_->stop(std::chrono::milliseconds(500));
  }

 private:
  StatusServer(const std::string& path, std::unique_ptr<rpc::AsyncServer> server,
               base::UniqueFd stop)
      : server_(std::move(server)),
        socket_(
            path, [this](int fd) { server_->adopt(fd); },
            base::ListeningSocket::NonSocket::kRefuse),
        stop_(std::move(stop)) {}

  void acceptUntilStopped() {
    for (;;) {
      pollfd fds[] = {{socket_.fd(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        base::logger("supervisor")->error("poll on the status socket: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents != 0) return;
      socket_.acceptPending();
    }
  }

  std::unique_ptr<rpc::AsyncServer> server_;
  base::ListeningSocket socket_;
  base::UniqueFd stop_;  // an eventfd: written once, to end the thread
  std::thread thread_;
};

}  // namespace

int runDaemon(SupervisorConfig config, std::vector<std::string> configArgs,
              const std::string& selfDir) {
  auto log = base::logger("supervisor");
  base::UniqueFd signals =
      base::blockedSignalFd({SIGCHLD, SIGTERM, SIGINT, SIGHUP}, /*nonBlocking=*/true);
  if (!signals) {
    log->error("signalfd: {}", std::strerror(errno));
    return base::kExitFailure;
  }
  // Not PID 1: become the reaper of orphaned descendants anyway, as PID 1 would be.
  if (::getpid() != 1 && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    log->warn("prctl(PR_SET_CHILD_SUBREAPER): {}", std::strerror(errno));
  }
  StatusService status;
  auto server = StatusServer::start(config.statusSocket, status);
  if (!server) {
    log->error("cannot serve the status socket: {}", server.error().message);
    return base::kExitFailure;
  }
  log->info("mvf-supervisor {} (pid {}): workers {} from {}; status on {}", base::kVersion,
            ::getpid(), fmt::join(config.workers, ","), config.workersDir, config.statusSocket);

  base::EventLoop loop;
  ProcessLauncher launcher;
  // The Prometheus endpoint, when on: it shows the snapshot published last, as the status
  // socket does, so a scrape never waits on the loop or a worker.
  std::shared_ptr<MetricsEndpoint> metrics;
  if (!config.metricsAddress.empty()) {
    metrics =
        std::make_shared<MetricsEndpoint>(config.metricsAddress, config.metricsRequestTimeout);
  }
  std::string metricsError;  // why the endpoint is not serving, as last logged
  auto publish = [&](const v1::SupervisorStatus& snapshot) {
    v1::SupervisorStatus full = snapshot;
    if (metrics) {
      full.set_metrics_address(metrics->address());
      full.set_metrics_error(metricsError);
      metrics->publish(full);
    }
    status.publish(full);
  };
  std::mt19937 random{std::random_device{}()};
  Supervisor supervisor(
      config,
      {.timers = loop,
       .fds = loop,
       .launcher = launcher,
       .random = [&random] { return std::uniform_real_distribution<double>(0.0, 1.0)(random); },
       .settingsOf = workerSettings,
       .reread = [&]() -> base::Result<SupervisorConfig> {
         auto reread = readSupervisorOptions(configArgs, selfDir);
         if (!reread) return reread.error();
         return std::move(reread).value().config;
       },
       .publish = publish,
       .stopped = [&loop] { loop.stop(); },
       .retire = retireWorker});

  loop.watchFd(signals.get(), [&] {
    signalfd_siginfo info{};
    while (::read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
      switch (info.ssi_signo) {
        case SIGCHLD: {
          // Every child that exited, whoever it was: as PID 1 we inherit orphans too.
          int waitStatus = 0;
          pid_t pid;
          while ((pid = ::waitpid(-1, &waitStatus, WNOHANG)) > 0) {
            supervisor.childExited(pid, waitStatus);
          }
          break;
        }
        case SIGHUP:
          supervisor.reload();
          break;
        default:
          supervisor.stopAll(strsignal(static_cast<int>(info.ssi_signo)));
      }
    }
  });
  // The endpoint failing (the port taken: civetweb cannot listen) costs the metrics only:
  // logged, shown in the status, and tried again every --metrics-retry-interval.
  std::function<void()> serveMetrics = [&] {
    auto served = metrics->start();
    std::string error = served ? "" : served.error().message;
    if (served) {
      log->info("Prometheus metrics on http://{}/metrics", metrics->address());
    } else if (error != metricsError) {
      log->error("{}; {}", error,
                 config.metricsRetry.count() > 0
                     ? "trying again every " + base::formatDuration(config.metricsRetry)
                     : std::string("not trying again (--metrics-retry-interval 0)"));
    }
    metricsError = error;
    if (!served && config.metricsRetry.count() > 0) loop.after(config.metricsRetry, serveMetrics);
    publish(supervisor.status());
  };
  if (metrics) serveMetrics();
  supervisor.start();
  loop.run();
  server.value().reset();
  log->info("stopped");
  return base::kExitOk;
}

}  // namespace mvf::supervisor
