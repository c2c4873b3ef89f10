#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace mvf::supervisor {

struct LaunchRequest {
  std::string binary;
  std::vector<std::string> args;
  int inheritFd = -1;  // stays open in the child (the notify pipe's write end)
};

// Starts worker processes and sends them signals. The supervisor reaps them itself, in
// one waitpid(-1) loop (it may be PID 1), so a launcher only starts and forgets. Tests
// use a fake that records what it was asked (tests/support/fake_launcher.h).
class Launcher {
 public:
  virtual ~Launcher() = default;
  // The new process's pid, or why it could not be started.
  virtual base::Result<pid_t> launch(const LaunchRequest& request) = 0;
  // kill(2); a process already gone is no error worth reporting.
  virtual void signal(pid_t pid, int sig) = 0;
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
  base::Result<pid_t> launch(const LaunchRequest& request) override;
  void signal(pid_t pid, int sig) override;
};

}  // namespace mvf::supervisor
