// Scans of large fake trees: 500 USB devices, 256 IOMMU groups.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "bench/figures.h"
#include "proto/deviceplugin.grpc.pb.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/worker_process.h"
#include "workers/usb/usb_devices.h"
#include "workers/vfio/iommu_groups.h"

namespace mvf::bench {

using testing::WorkerProcess;

namespace {

// Times `resource.scan()` over a fake tree.
Stats timeScans(mvf::core::Resource& resource, int rounds, size_t expectUnits) {
  Stats stats;
  for (int i = 0; i < rounds; ++i) {
    auto began = Clock::now();
    auto scan = resource.scan();
    stats.samples.push_back(ms(Clock::now() - began));
    if (scan.units.size() != expectUnits) {
      std::cerr << "scan found " << scan.units.size() << " units, expected " << expectUnits << "\n";
    }
  }
  return stats;
}

}  // namespace

int scanFigures(int rounds) {
  FakeNode usbNode;
  for (int i = 0; i < 500; ++i) {
    // 5 buses of 100 devices, every other one behind a hub port.
    std::string port = std::to_string(1 + i / 100) + "-" + std::to_string(1 + (i % 100) / 10);
    if (i % 10 != 0) port += "." + std::to_string(i % 10);
    must(mvf::testing::addUsbDevice(
        usbNode, {.portPath = port, .devnum = 2 + i % 100, .serial = "SN" + std::to_string(i)}));
  }
  mvf::usb::UsbDevices usb(mvf::core::HostFs(usbNode.root()), {}, false);
  report("scan of 500 USB devices", timeScans(usb, rounds, 500), "well under 50 ms");

  FakeNode vfioNode;
  must(vfioNode.charDevice("/dev/vfio/vfio", 10, 196));
  for (int group = 0; group < 256; ++group) {
    char address[16];
    std::snprintf(address, sizeof(address), "0000:%02x:00.0", group);
    must(mvf::testing::addPciFunction(vfioNode, {.address = address, .driver = "vfio-pci"}));
    must(mvf::testing::addIommuGroup(vfioNode, group, {address}));
  }
  mvf::vfio::IommuGroups vfio(mvf::core::HostFs(vfioNode.root()), mvf::vfio::runningKernel());
  report("scan of 256 IOMMU groups", timeScans(vfio, rounds, 256), "well under 50 ms");
  return 0;
}

}  // namespace mvf::bench
