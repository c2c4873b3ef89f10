#pragma once

#include <map>
#include <string>
#include <vector>

namespace mvf::core {

// Tells the operator that a selector option (--usb-match, --igpu-pci, --display) matches
// nothing on this node, once, and again when it first matches (a USB device may be
// plugged in later): a selector that can never match, a typo or a serial the kernel pads,
// would otherwise pass unnoticed. A resource calls report() after each scan.
class SelectorReport {
 public:
  // `component` names the base::logger, e.g. "usb".
  explicit SelectorReport(std::string component) : component_(std::move(component)) {}

  // `selector` as the operator wrote it ("--usb-match 0403:6001"), `matched` the IDs of
  // the units it selects now. Returns the line it logged, or "" when there was nothing
  // new to say.
  std::string report(const std::string& selector, const std::vector<std::string>& matched);

 private:
  enum class Told { kNothing, kUnmatched, kMatched };
  const std::string component_;
  std::map<std::string, Told> told_;  // by selector
};

}  // namespace mvf::core
