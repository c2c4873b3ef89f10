#include "workers/core/notifier.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "base/json.h"
#include "base/logging.h"

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

void Notifier::devices(uint32_t total, uint32_t healthy) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::devices);
  event.set_total(total);
  event.set_healthy(healthy);
  write(event);
}

void Notifier::write(const mvf::supervisor::v1::WorkerEvent& event) {
  if (!fd_ || broken_) return;
  mvf::supervisor::v1::WorkerEvent named = event;
  named.set_worker(worker_);
  std::string line = base::toJson(named) + '\n';
  // Lines are far below PIPE_BUF, so each write is atomic: all of it or nothing.
  ssize_t written = ::write(fd_.get(), line.data(), line.size());
  if (written >= 0) return;
  if (errno == EAGAIN) {
    base::logger("notify")->debug("notify pipe full; dropped a {} event",
                                  mvf::supervisor::v1::WorkerEvent::Kind_Name(event.event()));
  } else {
    broken_ = true;
    base::logger("notify")->warn("write(notify fd {}): {}; no more events will be sent", fd_.get(),
                                 std::strerror(errno));
  }
}

}  // namespace mvf::core
