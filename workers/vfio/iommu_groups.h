#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "workers/core/resource.h"
#include "workers/core/scan_warnings.h"

namespace mvf::vfio {

// A Linux kernel's major.minor version, from uname's release ("6.1.0-27-amd64").
struct KernelVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const KernelVersion&) const = default;
};
std::optional<KernelVersion> parseKernelVersion(std::string_view release);
// The running kernel's, which a container shares with its node.
KernelVersion runningKernel();

// How a member PCI function bears on its IOMMU group's viability (vfioMember()).
enum class Member {
  kVfio,      // bound to a vfio driver: QEMU opens it; listed in PCI_RESOURCE_*
  kHarmless,  // no driver, pci-stub or pcieport: lets the group be viable
  kBlocking,  // any other driver: the group is not viable
};

// intel.com/vfio: VFIO IOMMU groups, the numeric character devices in /dev/vfio, with
// their member PCI functions from /sys/kernel/iommu_groups/<N>/devices. A group is
// usable only if no member is kBlocking — the kernel's own viability rule — and the
// container node /dev/vfio/vfio exists. A container gets /dev/vfio/vfio, the
// group nodes (and the members' iommufd nodes /dev/vfio/devices/vfio<X> with /dev/iommu,
// where the kernel has them), and PCI_RESOURCE_INTEL_COM_VFIO listing the vfio-bound
// members: KubeVirt's convention for devices from an external provider.
//
// A member re-bound to another driver sends no filesystem event; unbinding the only
// member of a group removes /dev/vfio/<N>, which inotify sees, but in a group of several
// members the others can change drivers unnoticed: those groups are health-polled.
class IommuGroups final : public core::Resource {
 public:
  IommuGroups(core::HostFs host, KernelVersion kernel)
      : Resource(std::move(host)), kernel_(kernel) {}

  core::Scan scan() override;
  std::vector<std::string> watchDirs() const override { return {"/dev/vfio", "/dev/vfio/devices"}; }
  // The group's node is still there and the group is still viable.
  std::string recheck(const core::Unit& unit) const override;

  static constexpr const char* kEnv = "PCI_RESOURCE_INTEL_COM_VFIO";

 private:
  // What a scan learns once for all groups: why /dev/vfio/vfio is unusable (or ""), and
  // whether the kernel has iommufd (/dev/iommu).
  struct Common {
    std::string containerProblem;
    bool iommufd = false;
  };
  Common common() const;
  // Group `name` as it is now, its node assumed to be a character device.
  core::Unit group(const std::string& name, const Common& common) const;

  const KernelVersion kernel_;
  core::ScanWarnings warnings_{"vfio"};
};

// Where `device` (a member's sysfs dir, bound to `driver` or to none) stands, as the
// kernel decides as closely as sysfs shows it. The kernel lets a group be used while
// every member is driverless or bound to a driver that manages DMA itself
// (driver_managed_dma: every vfio driver, the vfio-pci variants such as xe-vfio-pci or
// hisi_acc_vfio_pci included, and pci-stub and pcieport); that flag is not in sysfs, but
// since Linux 6.1 a device a vfio driver registered with the VFIO core has
// vfio-dev/vfio<N> (drivers/vfio/vfio_main.c, the "vfio-dev" class, whatever
// CONFIG_VFIO_DEVICE_CDEV says). Older kernels have no such entry: there, and only
// there, a driver whose name contains "vfio" counts as a vfio driver.
Member vfioMember(const core::HostDir& device, const std::optional<std::string>& driver,
                  KernelVersion kernel);

extern const core::ResourceSpec kSpec;

}  // namespace mvf::vfio
