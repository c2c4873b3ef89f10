#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proto/deviceplugin.pb.h"

namespace mvf::testing {

// What a container is given, whoever gives it (an Allocate response, CDI edits): the
// input of ociConfig().
struct ContainerGrant {
  struct Node {
    std::string path;      // in the container
    std::string hostPath;  // its type, major and minor are read from here
    std::string access;    // devices-cgroup allow rule: "rw"; "" = no rule (denied)
    uint32_t uid = 0, gid = 0;
    uint32_t fileMode = 0666;
  };
  struct Mount {
    std::string hostPath, containerPath, type = "bind";
    std::vector<std::string> options;
  };
  std::vector<Node> nodes;
  std::vector<Mount> mounts;
  std::map<std::string, std::string> env;
  // The container's process: its user, and RLIMIT_MEMLOCK (unset: runc's own, inherited).
  uint32_t uid = 0, gid = 0;
  std::optional<uint64_t> memlock;

  // Adds each of `paths` as a node with no allow rule, root's and mode 0666: present in
  // the container and open to any user by its mode, so only the devices cgroup can refuse
  // it (EPERM, not ENOENT or EACCES).
  void deny(const std::vector<std::string>& paths);
};

// An Allocate response applied the way containerd applies it for the kubelet: each
// DeviceSpec a node (root's, 0666) with an allow rule for its permissions, each Mount a
// bind mount, each env an env.
ContainerGrant grantOf(const v1beta1::ContainerAllocateResponse& response);

// The container edits of the CDI devices `names` ("intel.com/udma=udmabuf"), read from
// the spec files (*.json) in `cdiDir` and merged as a CDI runtime applies them: for each
// device its spec's own edits, then the device's; a node path or mount destination named
// twice (/dev/vfio/vfio by two groups) is given once. A node's uid, gid and fileMode are
// the spec's; a spec that leaves one out is an error here, since a runtime would then
// fill it from the container's user or as 0666. Sets `error` and returns what it has on
// the first of: an unknown kind or device name, two files claiming one kind, a file that
// is no JSON object, hooks (which this test does not run).
ContainerGrant grantOfCdi(const std::string& cdiDir, const std::vector<std::string>& names,
                          std::string* error);

// An OCI runtime config (config.json) for runc that gives a container `grant`: each node
// in its /dev with its owner and mode, plus a devices-cgroup allow rule for its access;
// each mount; each env. The rootfs is read-only; the container has its own network
// namespace and no capability.
std::string ociConfig(const ContainerGrant& grant, const std::string& rootfs,
                      const std::vector<std::string>& args);

}  // namespace mvf::testing
