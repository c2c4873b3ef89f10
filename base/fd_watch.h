#pragma once

#include <functional>

namespace mvf::base {

// Calls back when a file descriptor becomes readable (or hangs up). The event loop is
// the real one; tests use a fake that polls on demand (tests/support/fake_timers.h).
class FdWatch {
 public:
  virtual ~FdWatch() = default;
  // Replaces an earlier callback for the same fd.
  virtual void watchFd(int fd, std::function<void()> onReadable) = 0;
  // An fd not watched is ignored. A callback may unwatch fds, its own included.
  virtual void unwatchFd(int fd) = 0;
};

}  // namespace mvf::base
