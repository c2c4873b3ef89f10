#pragma once

#include <set>
#include <string>

namespace mvf::core {

// The warnings a scan gives about what it skips (a junk entry in /dev/vfio, a USB device
// whose attributes cannot be read): each is logged once while it recurs scan after scan,
// and again only after it stopped and came back, so a node with junk on it does not fill
// the log. A resource calls begin() and end() around each scan.
class ScanWarnings {
 public:
  // `component` names the logger, e.g. "usb".
  explicit ScanWarnings(std::string component) : component_(std::move(component)) {}

  void begin() { current_.clear(); }
  // Logs `message` at warn unless the scan before this one gave it too; returns whether
  // it was logged.
  bool warn(const std::string& message);
  void end() { previous_.swap(current_); }

 private:
  const std::string component_;
  std::set<std::string> previous_;
  std::set<std::string> current_;
};

}  // namespace mvf::core
