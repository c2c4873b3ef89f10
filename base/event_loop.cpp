#include "base/event_loop.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mvf::base {

EventLoop::EventLoop() : wakeFd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  // Without it the loop could never be woken from another thread: an invariant, not an
  // environment error worth handling.
  if (!wakeFd_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

void EventLoop::watchFd(int fd, std::function<void()> onReadable) {
  fds_[fd] = std::move(onReadable);
}

void EventLoop::unwatchFd(int fd) { fds_.erase(fd); }

EventLoop::TimerId EventLoop::after(Clock::duration delay, std::function<void()> task) {
  TimerId id = nextTimer_++;
  deadlines_.emplace(Clock::now() + delay, id);
  timers_.emplace(id, std::move(task));
  return id;
}

void EventLoop::cancel(TimerId id) { timers_.erase(id); }

int64_t EventLoop::unixMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(postedMu_);
    posted_.push_back(std::move(task));
  }
  wake();
}

void EventLoop::stop() {
  {
    std::lock_guard lock(postedMu_);
    stopRequested_ = true;
  }
  wake();
}

void EventLoop::wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] ssize_t ignored = ::write(wakeFd_.get(), &one, sizeof(one));
}

void EventLoop::runPosted() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t ignored = ::read(wakeFd_.get(), &count, sizeof(count));
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(postedMu_);
    tasks.swap(posted_);
    if (stopRequested_) stopping_ = true;
  }
  for (auto& task : tasks) task();
}

void EventLoop::runDueTimers() {
  auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    TimerId id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    auto task = std::move(it->second);
    timers_.erase(it);
    task();
  }
}

bool EventLoop::run() {
  while (!stopping_) {
    // Drop deadlines of cancelled timers so they do not cut the poll short.
    while (!deadlines_.empty() && !timers_.contains(deadlines_.begin()->second)) {
      deadlines_.erase(deadlines_.begin());
    }
    int timeoutMs = -1;
    if (!deadlines_.empty()) {
      auto wait = deadlines_.begin()->first - Clock::now();
      // Round up, so a timer is never polled for early and spun on.
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
      timeoutMs = static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
    }
    std::vector<pollfd> pollFds{{wakeFd_.get(), POLLIN, 0}};
    for (const auto& [fd, callback] : fds_) pollFds.push_back({fd, POLLIN, 0});
    int ready = ::poll(pollFds.data(), pollFds.size(), timeoutMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (pollFds[0].revents != 0) runPosted();
    for (size_t i = 1; i < pollFds.size() && !stopping_; ++i) {
      if (pollFds[i].revents == 0) continue;
      // A callback may unwatch fds, this one included.
      auto it = fds_.find(pollFds[i].fd);
      if (it != fds_.end()) {
        auto callback = it->second;
        callback();
      }
    }
    if (!stopping_) runDueTimers();
  }
  // Stopped: run() may be called again.
  stopping_ = false;
  std::lock_guard lock(postedMu_);
  stopRequested_ = false;
  return true;
}

}  // namespace mvf::base
