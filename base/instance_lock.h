#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace mvf::base {

// An exclusive flock() on a file, held for the life of the process, so that two
// instances of one worker never fight over its socket. The kernel drops it when the
// holder dies, so a crashed worker never leaves a stale lock behind.
class InstanceLock {
 public:
  // Creates the lock file's dir if missing. An Error ("… is held by another running
  // instance", or the failing call and its errno) when the lock cannot be had.
  Status acquire(const std::string& path);

 private:
  UniqueFd fd_;
};

}  // namespace mvf::base
