#include "tests/support/fake_timers.h"

#include <poll.h>

#include <vector>

namespace mvf::testing {

// Timestamps start at 2026-01-01T00:00:00Z, so they read like real ones.
constexpr int64_t kEpochMs = 1'767'225'600'000;

int64_t FakeTimers::unixMs() const {
  return kEpochMs +
         std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count();
}

base::Timers::TimerId FakeTimers::after(Clock::duration delay, std::function<void()> task) {
  TimerId id = nextId_++;
  timers_.emplace(std::make_pair(now_ + delay, id), std::move(task));
  return id;
}

void FakeTimers::cancel(TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->first.second == id) {
      timers_.erase(it);
      return;
    }
  }
}

bool FakeTimers::runNext() {
  if (timers_.empty()) return false;
  auto first = timers_.begin();
  now_ = std::max(now_, first->first.first);
  auto task = std::move(first->second);
  timers_.erase(first);
  task();  // may set or cancel timers
  return true;
}

void FakeTimers::advance(Clock::duration by) {
  auto until = now_ + by;
  while (!timers_.empty() && timers_.begin()->first.first <= until) runNext();
  now_ = until;
}

std::optional<base::Timers::Clock::duration> FakeTimers::nextIn() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first - now_;
}

void FakeTimers::watchFd(int fd, std::function<void()> onReadable) {
  fds_[fd] = std::move(onReadable);
}

int FakeTimers::pollFds() {
  std::vector<pollfd> polled;
  for (const auto& [fd, callback] : fds_) polled.push_back({fd, POLLIN, 0});
  if (polled.empty() || ::poll(polled.data(), polled.size(), 0) <= 0) return 0;
  int ran = 0;
  for (const auto& entry : polled) {
    auto it = fds_.find(entry.fd);
    if (entry.revents == 0 || it == fds_.end()) continue;
    auto callback = it->second;  // it may unwatch itself
    callback();
    ++ran;
  }
  return ran;
}

}  // namespace mvf::testing
