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

// Held connections at most: each is a file descriptor, and any host user may create
// sockets in /tmp/.X11-unix. Displays past this many are polled.
constexpr size_t kMaxHeld = 64;

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
  // A display gone or unusable since is held again when it comes back: an X server that
  // restarts removes its socket first.
  std::erase_if(unheld_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  auto poll = [&](const Unit& unit) {
    if (!unit.healthPolled) polled_.push_back(unit);
  };
  for (const auto& [socket, unit] : wanted) {
    if (held_.contains(socket)) continue;
    if (auto it = unheld_.find(socket); it != unheld_.end()) {
      if (!std::exchange(it->second, true)) {
        base::logger("health")->info(
            "{} hung up a held connection yet still accepts (an X server drops clients "
            "that send nothing); re-checking it every {} instead",
            socket, base::formatDuration(interval_));
      }
      poll(*unit);  // it would not stay held
      continue;
    }
    if (held_.size() >= kMaxHeld) {
      poll(*unit);  // every connection is an fd: past this many, polled
      continue;
    }
    auto connected = resource_.host().connectSocket(socket);
    if (!connected) {
      // A full backlog, or a listener gone since the scan looked: polled instead, so its
      // next re-check tells which.
      base::logger("health")->debug("cannot hold a connection: {}; polling it instead",
                                    connected.error().message);
      poll(*unit);
      continue;
    }
    base::logger("health")->debug("holding a connection to {}", socket);
    int raw = connected.value().get();
    held_.emplace(socket, Held{*unit, std::move(connected).value()});
    loop_.watchFd(raw, [this, socket = socket] { onReadable(socket); });
  }
  if (polled_.empty()) {
    loop_.cancel(timer_);
    timer_ = 0;
  } else {
    armTimer();
  }
}

void HealthCheck::armTimer() {
  // On host-wide ticks, as the worker's other periodic timers: several workers' polls
  // wake the host once.
  if (timer_ == 0)
    timer_ = loop_.after(base::untilNextTick(loop_.now(), interval_), [this] { poll(); });
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
  // Whatever the listener did, this socket is not held again while it stays usable: one
  // that talks would wake us for every byte, and one that hangs up on us while alive
  // (Xorg drops a client that never sends its handshake) would be held and hung up in a
  // loop. If the rescan finds it usable it is polled instead.
  unheld_[socket] = n > 0;  // said already, for one that talks
  if (n > 0) {
    base::logger("health")->info(
        "{} sends data unasked; re-checking it every {} instead of "
        "holding a connection",
        socket, base::formatDuration(interval_));
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
