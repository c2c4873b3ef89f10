#pragma once

// What `mvfctl allocations` makes of the kubelet's pod-resources List and the supervisor's
// status, apart from calling them: which container holds which of this plugin's device
// IDs, and what a shared slot grants now. Pure, for the unit tests.
#include <string>
#include <vector>

#include "base/result.h"
#include "proto/podresources.pb.h"
#include "proto/supervisor.pb.h"

namespace mvf::mvfctl {

// One container's device IDs of one of this plugin's resources.
struct ContainerAllocation {
  std::string podNamespace;
  std::string pod;
  std::string container;
  std::string worker;    // "udma"
  std::string resource;  // "intel.com/udma"
  std::vector<std::string> deviceIds;
};

// The allocations of the resources this plugin registers (catalog::resources()), from a
// List answer: the kubelet's one-ID-per-entry device lists merged per container and
// resource, each ID once, IDs in natural order ("udma-2" before "udma-10"); sorted by
// namespace, pod, container, then the catalog's resource order. Other resources are left
// out.
std::vector<ContainerAllocation> allocationsOf(const ::v1::ListPodResourcesResponse& list);

// What one of `worker`'s device IDs grants now, from the supervisor's status: in shared
// mode every usable unit of the class (usable_units holds the first 32, usable_units_total
// counts them all); in exclusive mode the one device the ID names. `unknown` says why the
// mode cannot be told.
struct SlotGrant {
  std::string mode;  // "shared", "exclusive", or "" when unknown
  std::vector<std::string> units;
  uint32_t unitsTotal = 0;
  std::string unknown;
};
SlotGrant slotGrantOf(const std::string& worker,
                      const base::Result<mvf::supervisor::v1::SupervisorStatus>& status);

// One line per allocation, columns aligned: "default/vm-b/compute  intel.com/udma  udma-0
// (shared: grants every usable device: udmabuf)". A line saying so when there is none.
std::string formatAllocations(const std::vector<ContainerAllocation>& allocations,
                              const base::Result<mvf::supervisor::v1::SupervisorStatus>& status);

// The same as a JSON document: {"allocations": [{namespace, pod, container, resource,
// deviceIds, mode, grants, grantsTotal}...]}, with "modeUnknown" (why) where the mode is
// not known.
std::string allocationsJson(const std::vector<ContainerAllocation>& allocations,
                            const base::Result<mvf::supervisor::v1::SupervisorStatus>& status);

// "udma-2" < "udma-10": runs of digits compare as numbers.
bool naturalLess(const std::string& a, const std::string& b);

}  // namespace mvf::mvfctl
