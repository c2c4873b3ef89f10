#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/options.h"

// The resources this plugin has, and what every worker's command line looks like: the
// contract the workers and the supervisor share, so that neither links the other. The
// list itself is one line of the top-level CMakeLists.txt (MVF_RESOURCES); adding a
// resource is a folder under workers/ plus that line (docs/architecture.md).
namespace mvf::catalog {

// Every resource's name, in the order the supervisor starts them: x11, udma, vfio, ...
const std::vector<std::string>& resources();
bool isResource(std::string_view name);

// The extended resource a worker registers: "intel.com/<name>".
std::string resourceName(std::string_view name);

// The INI sections a config file may hold: [global], [supervisor], one per resource.
const std::vector<std::string>& configSections();

// The options every worker takes (kubelet dir, host root, logging, timers...), whose
// plain spelling on the supervisor's command line reaches every worker.
std::vector<base::OptionSpec> commonWorkerOptions();

// A worker's name when `flag` ("--vfio-mode", "--igpu-vendor=any") is one of its options
// as spelled on the supervisor's command line, else "".
std::string workerOfFlag(std::string_view flag);

}  // namespace mvf::catalog
