#pragma once

#include <sys/types.h>

#include <string>
#include <variant>
#include <vector>

namespace mvf::supervisor {

struct LaunchRequest {
  std::string binary;
  std::vector<std::string> args;
  int inheritFd = -1;  // stays open in the child (the notify pipe's write end)
};

// Starts worker processes. The supervisor reaps them itself, in one waitpid(-1) loop
// (it may be PID 1), so a launcher only starts and forgets.
class Launcher {
 public:
  virtual ~Launcher() = default;
  // The new process's pid, or why it could not be started.
  virtual std::variant<pid_t, std::string> launch(const LaunchRequest& request) = 0;
};

// Boost.Process v1 (Boost 1.74), minding its traps: the child is detached (a child's
// destructor would terminate it) and never waited for through Boost (its per-child
// waitpid clashes with PID-1 reaping, and its exit_code() reads a death signal as an
// exit code); the binary is checked first (an exec failure could pass for exit 1). In
// the child, between fork and exec and without logging: PR_SET_PDEATHSIG, then a
// getppid() check for a supervisor that died before that; an empty signal mask; the
// inherited fd made to survive exec.
class ProcessLauncher final : public Launcher {
 public:
  std::variant<pid_t, std::string> launch(const LaunchRequest& request) override;
};

}  // namespace mvf::supervisor
