#pragma once

#include <string>

#include "base/unique_fd.h"

namespace mvf::base {

// An exclusive flock() on a file, held for the life of the process, so that two
// instances of one worker never fight over its socket. The kernel drops it when the
// holder dies, so a crashed worker never leaves a stale lock behind.
class InstanceLock {
 public:
  // Creates the lock file's dir if missing. Returns an error text ("held by another
  // instance", or the failing call and errno) when the lock cannot be had.
  std::string acquire(const std::string& path);

 private:
  UniqueFd fd_;
};

}  // namespace mvf::base
