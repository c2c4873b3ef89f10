#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/fd_watch.h"
#include "base/result.h"
#include "base/timers.h"
#include "proto/supervisor.pb.h"
#include "supervisor/event_pipe.h"
#include "supervisor/launcher.h"
#include "supervisor/restart_policy.h"

namespace mvf::supervisor {

// One worker process and its life (docs/architecture.md, "The supervisor"): started
// with a notify pipe, killed when it is not ready within readyTimeout or silent for
// heartbeatTimeout once ready, restarted per its RestartPolicy when it dies, and failed —
// not restarted until SIGHUP — when it cannot run as configured (exit 78, a missing
// binary). Its status (proto/supervisor.proto, WorkerStatus) is set here and only here.
// Runs on the supervisor's loop thread; time only through Timers, processes only
// through the Launcher, so every rule is a unit test.
class WorkerSlot {
 public:
  struct Config {
    std::string binary;             // the mvf-worker-<name> to run
    std::vector<std::string> args;  // its options; --notify-fd is added
    base::Duration readyTimeout{20'000};
    base::Duration heartbeatTimeout{15'000};
    RestartPolicyConfig policy;
  };
  // The digest of worker `name`'s settings with this config, as its binary would start
  // with them (compared on SIGHUP with the one its ready event gave), or why it would
  // refuse to start.
  using SettingsOf =
      std::function<base::Result<std::string>(const std::string& name, const Config&)>;

  struct Deps {
    base::Timers& timers;
    base::FdWatch& fds;
    Launcher& launcher;
    std::function<double()> random;  // uniform in [0, 1), for the restart jitter
    SettingsOf settingsOf;
    std::function<void()> changed;  // the status changed
  };

  WorkerSlot(std::string name, Config config, Deps deps);
  ~WorkerSlot();
  WorkerSlot(const WorkerSlot&) = delete;
  WorkerSlot& operator=(const WorkerSlot&) = delete;

  // Enabled: starts it, with a fresh restart policy.
  void enable();
  // Disabled (no longer in --workers) or shutting down: SIGTERM if it runs, and it is
  // not started again.
  void disable();
  // SIGKILL if it still runs: the end of the shutdown grace period.
  void killIfRunning(const std::string& reason);
  // SIGHUP with this config: a failed worker is tried again; a running one is restarted
  // only if its settings changed, and kept as it runs if the new ones are invalid.
  void reload(Config config);
  // Its process exited with this wait status (from the supervisor's waitpid loop).
  void onExit(int waitStatus);
  // Its notify pipe is readable.
  void onEventsReadable();

  const std::string& name() const { return name_; }
  bool enabled() const { return enabled_; }
  pid_t pid() const { return pid_; }
  // Killed with SIGKILL during its last stop: it could not remove its own socket.
  bool killedHard() const { return killedHard_; }
  // Its status now, the restart policy's count and crash loop included.
  v1::WorkerStatus status() const;

 private:
  using State = v1::WorkerStatus::State;

  void start();
  void fail(const std::string& reason);
  void sigkill(const std::string& reason);
  void onEvent(const v1::WorkerEvent& event);
  void armHeartbeat();
  void scheduleRestart(base::Duration delay);
  void cancelTimers();
  void setState(State state);

  const std::string name_;
  Config config_;
  Deps deps_;
  RestartPolicy policy_;
  bool enabled_ = false;
  bool restartWanted_ = false;  // SIGHUP changed its settings: start again once it exits
  bool killedHard_ = false;
  std::string settings_;     // the digest its ready event gave, to compare on SIGHUP
  std::string configError_;  // what its config_error event said, before its exit 78

  pid_t pid_ = 0;
  std::optional<EventPipe> events_;
  base::Timers::Clock::time_point startedAt_{};
  base::Timers::Clock::time_point readyAt_{};
  bool ready_ = false;
  std::string killReason_;  // why we killed it, for its exit record
  base::Timers::TimerId readyTimer_ = 0, heartbeatTimer_ = 0, stableTimer_ = 0, restartTimer_ = 0;

  v1::WorkerStatus status_;  // its metrics: the sum of the runs before this one
  v1::WorkerMetrics run_;    // this run's counts, from its last metrics event
};

// "killed by SIGSEGV (core dumped)", "exited with code 78".
std::string describeExit(int waitStatus);

}  // namespace mvf::supervisor
