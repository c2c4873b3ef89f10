#include "workers/core/health_check.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/logging.h"

namespace mvf::core {

HealthCheck::HealthCheck(base::EventLoop& loop, const Resource& resource, base::Duration interval,
                         Changed changed)
    : loop_(loop), resource_(resource), interval_(interval), changed_(std::move(changed)) {}

HealthCheck::~HealthCheck() {
  for (auto& [socket, held] : held_) loop_.unwatchFd(held.fd.get());
  loop_.cancel(timer_);
}

void HealthCheck::update(const Scan& scan) {
  if (interval_ == base::Duration::zero()) return;
  polled_.clear();
  std::map<std::string, const Unit*> wanted;  // socket → its unit
  for (const auto& unit : scan.units) {
    if (unit.healthPolled) polled_.push_back(unit);
    if (unit.usable() && !unit.heldSocket.empty()) wanted[unit.heldSocket] = &unit;
  }
  for (auto it = held_.begin(); it != held_.end();) {
    auto next = std::next(it);
    if (!wanted.contains(it->first)) release(it);
    it = next;
  }
  for (const auto& [socket, unit] : wanted) {
    if (held_.contains(socket)) continue;
    if (talkative_.contains(socket)) {
      if (!unit->healthPolled) polled_.push_back(*unit);
      continue;
    }
    auto connected = resource_.host().connectSocket(socket);
    if (!connected) {
      // A full backlog, or a listener gone since the scan looked: polled instead, so its
      // next re-check tells which.
      base::logger("health")->debug("cannot hold a connection: {}; polling it instead",
                                    connected.error().message);
      if (!unit->healthPolled) polled_.push_back(*unit);
      continue;
    }
    int raw = connected.value().get();
    held_.emplace(socket, Held{*unit, std::move(connected).value()});
    loop_.watchFd(raw, [this, socket] { onReadable(socket); });
  }
  if (polled_.empty()) {
    loop_.cancel(timer_);
    timer_ = 0;
  } else {
    armTimer();
  }
}

void HealthCheck::armTimer() {
  if (timer_ == 0) timer_ = loop_.after(interval_, [this] { poll(); });
}

void HealthCheck::release(std::map<std::string, Held>::iterator it) {
  loop_.unwatchFd(it->second.fd.get());
  held_.erase(it);
}

void HealthCheck::onReadable(const std::string& socket) {
  auto it = held_.find(socket);
  if (it == held_.end()) return;
  char buffer[256];
  ssize_t n = ::read(it->second.fd.get(), buffer, sizeof(buffer));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  Unit unit = std::move(it->second.unit);
  release(it);
  if (n > 0) {
    // A listener that talks first is alive, but would wake us for every byte it sends:
    // re-checked by polling from now on.
    base::logger("health")->debug("{} sent data unasked; polling it instead of holding it", socket);
    talkative_.insert(socket);
    if (!unit.healthPolled) polled_.push_back(std::move(unit));
    armTimer();
    return;
  }
  changed_(unit.id + ": the listener on " + socket + " hung up");
}

void HealthCheck::poll() {
  timer_ = 0;
  for (const auto& unit : polled_) {
    std::string problem = resource_.recheck(unit);
    if (problem.empty() != unit.usable()) {
      // The rescan that follows calls update(), which arms the timer again.
      changed_(unit.id + (problem.empty() ? " became usable" : ": " + problem));
      return;
    }
  }
  armTimer();
}

}  // namespace mvf::core
