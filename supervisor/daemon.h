#pragma once

#include <string>
#include <vector>

#include "supervisor/config.h"

namespace mvf::supervisor {

// mvf-supervisor as a process: blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP into a
// signalfd before any thread exists; becomes the reaper of orphans (it is PID 1 in its
// container, or a child subreaper otherwise) and reaps every child in one waitpid(-1)
// loop; serves the status socket; and runs the Supervisor on one event loop until
// SIGTERM/SIGINT has stopped every worker. `configArgs` are read again on SIGHUP.
// Returns the exit code.
int runDaemon(SupervisorConfig config, std::vector<std::string> configArgs,
              const std::string& selfDir);

}  // namespace mvf::supervisor
