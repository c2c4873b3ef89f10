#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "base/options.h"
#include "workers/core/resource.h"

namespace mvf::core {

// Learns between scans that a unit's usability changed where no filesystem event says
// so, and then asks for a rescan. Two ways, the cheaper first:
//  - held connections: for each usable unit with a heldSocket, one connection to that
//    socket stays open; the listener dying hangs it up, which is an event on the loop,
//    so an X server that crashes is seen at once and costs no wakeup while it runs (at
//    most 64 held; a listener that hangs up on us while alive, or talks, is polled);
//  - polling: every `interval`, Resource::recheck() of the units marked healthPolled
//    (and of any whose socket could not be held: a full backlog), only while such units
//    exist; a unit whose re-check disagrees with the last scan, either way, is news.
// An interval of zero turns both off. Everything runs on the loop's thread.
class HealthCheck {
 public:
  using Changed = std::function<void(const std::string& why)>;

  HealthCheck(base::EventLoop& loop, const Resource& resource, base::Duration interval,
              Changed changed);
  ~HealthCheck();
  HealthCheck(const HealthCheck&) = delete;
  HealthCheck& operator=(const HealthCheck&) = delete;

  // After every scan: which sockets to hold and which units to poll from now on.
  void update(const Scan& scan);

  size_t heldConnections() const { return held_.size(); }
  size_t polledUnits() const { return polled_.size(); }

 private:
  struct Held {
    Unit unit;
    base::UniqueFd fd;
  };

  void onReadable(const std::string& socket);
  void poll();
  void release(std::map<std::string, Held>::iterator it);
  void armTimer();

  base::EventLoop& loop_;
  const Resource& resource_;
  const base::Duration interval_;
  const Changed changed_;
  std::map<std::string, Held> held_;  // by socket host path
  std::vector<Unit> polled_;          // as the last scan found them
  // Sockets not to hold again while their display stays usable (the listener sent data,
  // or hung up on us) → whether the log said so.
  std::map<std::string, bool> unheld_;
  base::EventLoop::TimerId timer_ = 0;
};

}  // namespace mvf::core
