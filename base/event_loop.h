#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "base/fd_watch.h"
#include "base/timers.h"
#include "base/unique_fd.h"

namespace mvf::base {

// A single-threaded poll() loop: callbacks for readable fds, one-shot timers, and tasks
// posted from other threads (gRPC's). Everything but post() and stop() is for the loop's
// own thread.
class EventLoop final : public Timers, public FdWatch {
 public:
  EventLoop();

  void watchFd(int fd, std::function<void()> onReadable) override;
  void unwatchFd(int fd) override;

  Clock::time_point now() const override { return Clock::now(); }
  int64_t unixMs() const override;
  TimerId after(Clock::duration delay, std::function<void()> task) override;
  void cancel(TimerId id) override;

  // Thread-safe: runs `task` on the loop thread soon.
  void post(std::function<void()> task);

  // Runs until stop() (and may then run again); returns false if poll() itself failed.
  bool run();
  void stop();  // thread-safe

 private:
  void wake();
  void runPosted();
  void runDueTimers();

  UniqueFd wakeFd_;  // eventfd
  std::map<int, std::function<void()>> fds_;
  std::multimap<Clock::time_point, TimerId> deadlines_;
  std::map<TimerId, std::function<void()>> timers_;
  TimerId nextTimer_ = 1;
  bool stopping_ = false;

  std::mutex postedMu_;
  std::vector<std::function<void()>> posted_;
  bool stopRequested_ = false;
};

}  // namespace mvf::base
