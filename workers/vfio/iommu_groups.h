#pragma once

#include "workers/core/resource.h"

namespace mvf::vfio {

// intel.com/vfio: VFIO IOMMU groups, the numeric character devices in /dev/vfio, with
// their member PCI functions from /sys/kernel/iommu_groups/<N>/devices. A group is
// usable only if every member is bound to a vfio driver (vfio-pci or a vfio-* variant),
// to pci-stub, to pcieport (bridges), or to nothing — the kernel's own viability rule —
// and the container node /dev/vfio/vfio exists. A container gets /dev/vfio/vfio, the
// group nodes (and the members' iommufd nodes /dev/vfio/devices/vfio<X> with /dev/iommu,
// where the kernel has them), and PCI_RESOURCE_INTEL_COM_VFIO listing the vfio-bound
// members: KubeVirt's convention for devices from an external provider.
//
// A member re-bound to another driver sends no filesystem event; unbinding the only
// member of a group removes /dev/vfio/<N>, which inotify sees, but in a group of several
// members the others can change drivers unnoticed: those groups are health-polled.
class IommuGroups final : public core::Resource {
 public:
  explicit IommuGroups(core::HostFs host) : Resource(std::move(host)) {}

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
};

extern const core::ResourceSpec kSpec;

}  // namespace mvf::vfio
