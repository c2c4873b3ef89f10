#include "workers/core/notifier.h"

#include <fcntl.h>
#include <limits.h>

#include <cerrno>
#include <cstring>

#include "base/logging.h"
#include "base/worker_event.h"

namespace mvf::core {

Notifier::Notifier(int fd, std::string worker) : fd_(fd), worker_(std::move(worker)) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    base::logger("notify")->warn("fcntl(notify fd {}, O_NONBLOCK): {}", fd, std::strerror(errno));
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

base::Status Notifier::check(int fd) {
  if (fd >= 0 && ::fcntl(fd, F_GETFD) < 0) {
    return base::Error{"notify fd " + std::to_string(fd) + " is not open: " + std::strerror(errno),
                       errno};
  }
  return base::ok();
}

void Notifier::ready(const std::string& settingsDigest) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::ready);
  event.set_settings_digest(settingsDigest);
  write(event);
}

void Notifier::send(mvf::supervisor::v1::WorkerEvent::Kind kind, const std::string& detail) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(kind);
  if (!detail.empty()) event.set_detail(detail);
  write(event);
}

void Notifier::devices(uint32_t total, uint32_t healthy, const std::string& mode,
                       const std::vector<std::string>& usableUnits) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::devices);
  event.set_total(total);
  event.set_healthy(healthy);
  event.set_mode(mode);
  for (size_t i = 0; i < usableUnits.size() && i < kMaxUnitsInEvent; ++i) {
    event.add_usable_units(usableUnits[i].substr(0, kMaxUnitIdInEvent));
  }
  event.set_usable_units_total(static_cast<uint32_t>(usableUnits.size()));
  write(event);
}

void Notifier::metrics(const mvf::supervisor::v1::WorkerMetrics& metrics) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::metrics);
  *event.mutable_counts() = metrics;
  write(event);
}

void Notifier::write(const mvf::supervisor::v1::WorkerEvent& event) {
  if (!fd_ || broken_) return;
  mvf::supervisor::v1::WorkerEvent named = event;
  named.set_worker(worker_);
  writeLine(base::eventLine(named), event.event());
}

void Notifier::writeLine(const std::string& line, Kind kind) {
  // A write of at most PIPE_BUF bytes to a pipe is atomic (pipe(7)): all of it or, with
  // O_NONBLOCK and no room, nothing. Every event is bounded below it (16 unit IDs of 32
  // bytes, 17 status codes, two histograms of 12 buckets: tests/unit/metrics_test.cpp
  // checks the worst case); one that is not would be split by a partial write, so it is
  // dropped.
  if (line.size() > PIPE_BUF) {
    base::logger("notify")->error("a {} event of {} bytes exceeds PIPE_BUF; dropped",
                                  base::kindName(kind), line.size());
    return;
  }
  ssize_t written = ::write(fd_.get(), line.data(), line.size());
  if (written >= 0) return;
  if (errno == EAGAIN) {
    base::logger("notify")->debug("notify pipe full; dropped a {} event", base::kindName(kind));
  } else {
    broken_ = true;
    base::logger("notify")->warn("write(notify fd {}): {}; no more events will be sent", fd_.get(),
                                 std::strerror(errno));
  }
}

}  // namespace mvf::core
