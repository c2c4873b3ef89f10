#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/fd_watch.h"
#include "base/result.h"
#include "base/timers.h"
#include "proto/supervisor.pb.h"
#include "supervisor/config.h"
#include "supervisor/launcher.h"
#include "supervisor/worker_slot.h"

namespace mvf::supervisor {

// The set of workers mvf-supervisor runs, one-for-one (docs/architecture.md, "The
// supervisor"): a WorkerSlot per known worker, enabled per --workers; SIGHUP's reload
// (start or stop workers added to or removed from the list, restart only those whose
// settings changed, try failed ones again); the shutdown (SIGTERM to all, SIGKILL after
// the grace period, then a hard-killed worker's stale socket removed); and the status
// snapshot. Free of signals and waitpid, which the daemon (supervisor/daemon.h) turns
// into calls here, so every rule is a unit test with a fake launcher and clock.
class Supervisor {
 public:
  struct Deps {
    base::Timers& timers;
    base::FdWatch& fds;
    Launcher& launcher;
    std::function<double()> random;  // uniform in [0, 1)
    WorkerSlot::SettingsOf settingsOf;
    // Reads the configuration again, for SIGHUP.
    std::function<base::Result<SupervisorConfig>()> reread;
    // Called after every change with the new status snapshot.
    std::function<void(const v1::SupervisorStatus&)> publish;
    // Called once every worker has stopped after stopAll().
    std::function<void()> stopped;
    // Worker `name` is not enabled and not running (at start, or once a worker taken out
    // of --workers has exited): removes what it leaves for others to read, its CDI spec,
    // asking its binary with `config` where that is. Not on shutdown: a spec stays across
    // a restart of the plugin.
    std::function<void(const std::string& name, const WorkerSlot::Config& config)> retire;
  };

  Supervisor(SupervisorConfig config, Deps deps);

  // Starts every enabled worker.
  void start();
  // A child exited: one of ours, or an orphan we reaped as PID 1 (logged only).
  void childExited(pid_t pid, int waitStatus);
  // SIGHUP.
  void reload();
  // SIGTERM/SIGINT: stops every worker, SIGKILL after the grace period.
  void stopAll(const std::string& why);

  v1::SupervisorStatus status() const;
  const SupervisorConfig& config() const { return config_; }

 private:
  void applyWorkerList(const std::vector<std::string>& enabled);
  void publish();
  void finishIfAllStopped();
  void retireIfGone(const WorkerSlot& slot);

  SupervisorConfig config_;
  Deps deps_;
  std::vector<std::unique_ptr<WorkerSlot>> slots_;  // every known worker, in start order
  bool stopping_ = false;
  bool finished_ = false;
  std::set<std::string> retired_;  // workers retire() was called for since last enabled
};

}  // namespace mvf::supervisor
