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
class IommuGroups final : public core::Resource {
 public:
  explicit IommuGroups(core::HostFs host) : host_(std::move(host)) {}

  core::Scan scan() override;
  std::vector<std::string> watchDirs() const override { return {"/dev/vfio", "/dev/vfio/devices"}; }

  static constexpr const char* kEnv = "PCI_RESOURCE_INTEL_COM_VFIO";

 private:
  core::HostFs host_;
};

extern const core::ResourceSpec kSpec;

}  // namespace mvf::vfio
