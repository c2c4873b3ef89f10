#pragma once

#include <string>
#include <vector>

#include "base/logging.h"
#include "base/options.h"
#include "base/result.h"
#include "workers/core/cdi_spec.h"
#include "workers/core/resource.h"

namespace mvf::core {

// Everything a worker runs with, decided once from its options.
struct WorkerConfig {
  std::string name;          // udma
  std::string resourceName;  // intel.com/udma
  std::string kubeletDir;
  std::string socketPath;     // <kubelet dir>/udma.sock
  std::string kubeletSocket;  // <kubelet dir>/kubelet.sock
  std::string lockPath;       // <run dir>/udma.lock
  std::string hostRoot;
  Mode mode = Mode::kShared;
  uint32_t sharedCount = 0;
  int notifyFd = -1;
  base::Duration resync{}, recheck{}, health{}, heartbeat{}, backoffInitial{}, backoffMax{},
      registerTimeout{}, pollInterval{};
  bool poll = false;
  spdlog::level::level_enum logLevel = spdlog::level::info;
  base::LogFormat logFormat = base::LogFormat::kText;
  CdiConfig cdi;
  std::string settingsDigest;  // Settings::digest(), sent in the ready event
};

// Every option the worker for `spec` takes: the common ones (catalog), --notify-fd,
// --mode where the resource has an exclusive mode, then the resource's own.
std::vector<base::OptionSpec> workerOptions(const ResourceSpec& spec);

// How `spec`'s worker parses its command line, environment and config file.
base::OptionContext workerContext(const ResourceSpec& spec);

// The config, or an Error for what the option checks cannot see alone (a socket path too
// long for sun_path, a backoff maximum below its start, a notify fd that is not open, a
// resource name too long for a CDI annotation key).
base::Result<WorkerConfig> makeWorkerConfig(const ResourceSpec& spec,
                                            const base::Settings& settings);

}  // namespace mvf::core
