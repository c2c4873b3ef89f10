#pragma once

#include <optional>
#include <string>

#include "workers/core/resource.h"
#include "workers/core/selector_report.h"

namespace mvf::igpu {

// intel.com/igpu: GPUs found through /sys/class/drm/card<N>/device — display-class PCI
// functions, SR-IOV virtual functions skipped — with their card and render nodes taken
// from the device's own drm/ folder (never assumed to be card0/renderD128: on many
// machines card0 is another device). Each node must exist as a character device in
// /dev/dri. Shared mode hands out one GPU: --igpu-pci if given, else the Intel one at
// 0000:00:02.0, else the first Intel display device by address. Exclusive mode lists
// every matching GPU under its PCI address, with its NUMA node.
class Gpus final : public core::Resource {
 public:
  Gpus(core::HostFs host, core::Mode mode, std::string pciAddress, bool anyVendor);

  core::Scan scan() override;
  std::vector<std::string> watchDirs() const override { return {"/dev/dri"}; }

 private:
  const core::Mode mode_;
  const std::string pciAddress_;  // "" unless --igpu-pci, normalized
  const bool anyVendor_;
  std::string lastChoice_;  // logged when it changes
  core::SelectorReport selectors_{"igpu"};
};

// "0000:00:02.0" → true: the domain:bus:device.function of a PCI function.
bool isPciAddress(std::string_view text);

// An --igpu-pci value as sysfs names the device: "0000:00:02.0" from itself, from
// "0000:00:02.0" in upper case, from " 00:02.0 " (lspci's form, domain 0); nullopt for
// anything else.
std::optional<std::string> normalizePciAddress(std::string_view text);

extern const core::ResourceSpec kSpec;

}  // namespace mvf::igpu
