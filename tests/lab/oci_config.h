#pragma once

#include <string>
#include <vector>

#include "proto/deviceplugin.pb.h"

namespace mvf::testing {

// An OCI runtime config (config.json) for runc that applies one container's Allocate
// response the way containerd applies it for the kubelet: each DeviceSpec becomes a node
// in the container's /dev plus a devices-cgroup allow rule for its permissions, each
// Mount a bind mount, each env an env. `denied` nodes are created too, but without an
// allow rule: opening one must fail with EPERM (not merely ENOENT). The rootfs is
// read-only; the container has its own network namespace.
std::string ociConfig(const v1beta1::ContainerAllocateResponse& response, const std::string& rootfs,
                      const std::vector<std::string>& args,
                      const std::vector<std::string>& denied = {});

}  // namespace mvf::testing
