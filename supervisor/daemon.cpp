#include "supervisor/daemon.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

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

using namespace std::chrono_literals;

// The status socket's server, and the socket it accepts on: a ListeningSocket, as a
// worker's, so that the chart's probes (every 10 s) cost gRPC no handshake timer.
struct StatusServer {
  std::unique_ptr<rpc::AsyncServer> server;
  std::unique_ptr<base::ListeningSocket> socket;
};

// Listens on the status socket, whose dir is created if missing; a live supervisor
// already answering there is not ours to replace.
base::Result<StatusServer> serveStatus(const std::string& path, StatusService& service,
                                       base::EventLoop& loop) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  std::filesystem::create_directories(dir, ec);
  if (ec) return base::Error{"mkdir " + dir.string() + ": " + ec.message(), ec.value()};
  StatusServer out;
  out.server = rpc::AsyncServer::start({service.service()});
  if (!out.server) return base::Error{"cannot start the gRPC server"};
  service.serve(*out.server);
  rpc::AsyncServer* server = out.server.get();
  out.socket =
      std::make_unique<base::ListeningSocket>(path, [server](int fd) { server->adopt(fd); });
  if (auto listened = out.socket->listen(); !listened) return listened.error();
  base::ListeningSocket* socket = out.socket.get();
  loop.watchFd(socket->fd(), [socket] { socket->acceptPending(); });
  return out;
}

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
  base::EventLoop loop;
  StatusService status;
  auto server = serveStatus(config.statusSocket, status, loop);
  if (!server) {
    log->error("cannot serve the status socket: {}", server.error().message);
    return base::kExitFailure;
  }
  log->info("mvf-supervisor {} (pid {}): workers {} from {}; status on {}", base::kVersion,
            ::getpid(), fmt::join(config.workers, ","), config.workersDir, config.statusSocket);

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
  loop.unwatchFd(server.value().socket->fd());
  server.value().socket->close();  // removes the file, if it is still ours
  server.value().server->stop(500ms);
  log->info("stopped");
  return base::kExitOk;
}

}  // namespace mvf::supervisor
