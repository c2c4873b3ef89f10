#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "supervisor/launcher.h"

namespace mvf::testing {

// A launcher that starts nothing: it records what it was asked to launch and signal,
// and keeps each launch's notify pipe (the worker's end), so a test speaks as the worker
// would. Pids count up from 1000.
class FakeLauncher final : public supervisor::Launcher {
 public:
  struct Launched {
    pid_t pid = 0;
    std::string binary;
    std::vector<std::string> args;
    base::UniqueFd notify;  // the worker's end of its notify pipe
  };

  base::Result<pid_t> launch(const supervisor::LaunchRequest& request) override;
  void signal(pid_t pid, int sig) override { signals.emplace_back(pid, sig); }

  // Writes one event line on worker `pid`'s notify pipe, e.g. say(pid, "ready").
  void say(pid_t pid, const std::string& event, const std::string& extra = "");
  // The pid of the last launch of `binary`'s worker, or 0.
  pid_t pidOf(const std::string& worker) const;

  std::vector<Launched> launched;
  std::vector<std::pair<pid_t, int>> signals;  // (pid, signal), in order
  std::optional<base::Error> failNext;         // the next launch fails with it
};

}  // namespace mvf::testing
