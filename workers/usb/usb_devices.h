#pragma once

#include <optional>
#include <string>
#include <vector>

#include "workers/core/resource.h"
#include "workers/core/scan_warnings.h"
#include "workers/core/selector_report.h"

namespace mvf::usb {

// A --usb-match selector: VID:PID[:SERIAL], normalized as sysfs values are read (hex IDs
// in lower case, surrounding whitespace dropped, which the kernel pads some serials with).
struct UsbMatch {
  std::string text;     // as the operator wrote it, for log lines
  std::string vendor;   // 4 lower-case hex digits
  std::string product;  // 4 lower-case hex digits
  std::optional<std::string> serial;
};

// "0627:0001", "0627:0001:SN123" or "0403:6001:   A12B34  " → a selector; nullopt when
// malformed (an ID not 4 hex digits, an empty serial).
std::optional<UsbMatch> parseUsbMatch(std::string_view text);

// intel.com/usb: USB devices from /sys/bus/usb/devices/<port path> (1-2, 1-2.3; not root
// hubs usbN, not interfaces 1-2:1.0), with their node /dev/bus/usb/BBB/DDD, which must
// be a character device. Hubs are skipped unless --usb-hubs true; --usb-match selectors
// narrow the set (default: every non-hub device). A container gets the nodes of the
// matched devices and USB_RESOURCE_INTEL_COM_USB=<bus>:<devnum>,… (KubeVirt's format).
// Exclusive mode: one ID per device, usb-<port path>, stable when the same device is
// re-plugged into the same port although its device number changes.
class UsbDevices final : public core::Resource {
 public:
  UsbDevices(core::HostFs host, std::vector<UsbMatch> matches, bool hubs);

  core::Scan scan() override;
  // /dev/bus/usb and each bus dir in it: devtmpfs sends events for those, sysfs none.
  std::vector<std::string> watchDirs() const override;

  static constexpr const char* kEnv = "USB_RESOURCE_INTEL_COM_USB";

 private:
  const std::vector<UsbMatch> matches_;
  const bool hubs_;
  core::SelectorReport selectors_{"usb"};
  core::ScanWarnings warnings_{"usb"};
};

// "1-2.3" → true; "usb1", "1-2:1.0", "1-" → false.
bool isPortPath(std::string_view name);

extern const core::ResourceSpec kSpec;

}  // namespace mvf::usb
