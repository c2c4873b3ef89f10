#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tests/support/fake_node.h"

namespace mvf::testing {

// Builders for fake sysfs and /dev trees in a FakeNode, laid out as a real kernel lays
// them out (as seen in the device lab's Linux 6.1 guest): devices live under
// /sys/devices/pci0000:00/, and /sys/class, /sys/bus and /sys/kernel/iommu_groups hold
// relative symlinks into it. Each returns its Status.

struct PciFunction {
  std::string address;  // 0000:00:02.0
  std::string vendor = "0x8086";
  std::string pciClass = "0x030000";  // display controller
  std::string driver;                 // "" for none
  int numaNode = -1;
  bool virtualFunction = false;  // gets a physfn link
  // Registered with the VFIO core, as Linux ≥ 6.1 shows it: vfio-dev/vfio<N> under the
  // device, N counting the node's /sys/class/vfio-dev entries. Default: when the driver's
  // name contains "vfio".
  std::optional<bool> vfioRegistered;
};
base::Status addPciFunction(const FakeNode& node, const PciFunction& function);

// A DRM card (and render node, when renderMinor is set) of a PCI function: sysfs entries
// and /dev/dri nodes.
base::Status addDrmCard(const FakeNode& node, const std::string& address, int cardMinor,
                        std::optional<int> renderMinor);

// An IOMMU group: its sysfs member links and /dev/vfio/<group>. The members must exist.
base::Status addIommuGroup(const FakeNode& node, int group,
                           const std::vector<std::string>& members);

struct UsbDevice {
  std::string portPath;  // 1-2, 1-2.3
  int devnum = 2;
  std::string vendor = "0627";
  std::string product = "0001";
  std::string serial;  // "" for none
  std::string deviceClass = "00";
};
// Under the xHCI controller 0000:00:06.0; the bus is the port path's first number. Also
// creates /dev/bus/usb/BBB/DDD.
base::Status addUsbDevice(const FakeNode& node, const UsbDevice& device);

// A node with every device class but X11 (whose socket needs a live listener, see
// FakeNode::unixSocket): /dev/udmabuf; VFIO group 7 with 0000:00:07.0 on vfio-pci and
// /dev/vfio/vfio; the Intel iGPU 0000:00:02.0 as card1 + renderD128; USB devices at
// ports 1-1 and 1-2.
base::Status addEveryDeviceClass(const FakeNode& node);

}  // namespace mvf::testing
