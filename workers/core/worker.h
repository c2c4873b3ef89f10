#pragma once

#include <memory>

#include "base/unique_fd.h"
#include "workers/core/resource.h"
#include "workers/core/worker_config.h"

namespace mvf::core {

// One worker process, wired together (docs/architecture.md, "The worker"): the
// resource's scans feed the Inventory (on inotify events, the recheck and resync timers,
// polling, the health check), the Inventory feeds the ListAndWatch streams and Allocate,
// and the RegistrationLoop keeps the socket served and registered. Everything but
// gRPC's own threads runs on one event loop. `signals` is a signalfd of SIGTERM, SIGINT
// and SIGHUP, blocked before any thread existed. run() returns the exit code.
class Worker {
 public:
  Worker(WorkerConfig config, std::unique_ptr<Resource> resource, base::UniqueFd signals);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mvf::core
