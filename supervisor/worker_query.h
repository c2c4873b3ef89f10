#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"

namespace mvf::supervisor {

// What a worker binary says about a configuration, asked by running it with
// --check-config: the supervisor learns a worker's options and settings from the very
// binary it will run, so the two can never disagree, and links no worker code.
struct WorkerAnswer {
  bool valid = false;
  std::string output;  // stdout: the settings (text or JSON), or the error
  std::string error;   // why not valid
  std::string digest;  // of the effective settings (JSON only)
  // Each effective setting's value, its values joined by "," (JSON only): "cdi-dir" →
  // "/var/run/cdi".
  std::map<std::string, std::string> settings;
};

// Runs `binary --check-config[=json] args` (5 s at most) and reads its answer. An Error
// when it could not be run or answered nothing a worker would.
base::Result<WorkerAnswer> askWorker(const std::string& binary,
                                     const std::vector<std::string>& args, bool json);

}  // namespace mvf::supervisor
