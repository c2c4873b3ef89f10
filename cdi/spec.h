#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// The Container Device Interface's spec format, as this plugin writes it: names, device
// nodes, mounts, and the JSON text. The rules come from the CDI specification
// (github.com/cncf-tags/container-device-interface, SPEC.md) and the Go package Debian 12
// ships with it (golang-github-container-orchestrated-devices-container-device-interface-
// dev 0.5.2, pkg/cdi), which containerd, CRI-O and podman use to apply specs.
namespace mvf::cdi {

// The version written: the lowest that allows `hostPath` and device names beginning with
// a digit (IOMMU group 21, GPU 0000:00:02.0). Debian 12's podman 4.3.1 reads up to it.
constexpr const char* kVersion = "0.5.0";

// Whether `name` is a valid device name: letters, digits, '_', '-', '.' and ':', beginning
// and ending with a letter or a digit (pkg/cdi/qualified-device.go, ValidateDeviceName).
bool isDeviceName(std::string_view name);

// The fully qualified name a runtime resolves: ("intel.com/vfio", "21") → "intel.com/vfio=21".
std::string qualifiedName(std::string_view kind, std::string_view name);

// Whether `key` may carry CDI devices in annotations (pkg/cdi/annotations.go): the prefix
// "cdi.k8s.io/", then at most 63 of [A-Za-z0-9_.-], beginning with a letter or a digit.
bool isAnnotationKey(std::string_view key);

// A device node the runtime creates in the container. Owner and mode are always written:
// a runtime fills what is missing from the container's user (podman) or as root 0666
// (runc's default), not from the host node. Type, major and minor are left out, so the
// runtime reads them from hostPath when it creates the container (pkg/cdi
// container-edits_unix.go, fillMissingInfo) and a node re-created with a new minor
// needs no rewrite.
struct DeviceNode {
  std::string path;         // in the container
  std::string hostPath;     // on the host, as the host sees it
  std::string permissions;  // cgroup access: "rw"
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t fileMode = 0;  // permission bits, 0660; JSON holds it in decimal (432)
  bool operator==(const DeviceNode&) const = default;
};

// A bind mount of a host path into the container.
struct Mount {
  std::string hostPath;
  std::string containerPath;
  bool readOnly = true;
  bool operator==(const Mount&) const = default;
};

// One CDI device: its name within the kind and its container edits. A device must edit
// something (pkg/cdi/device.go rejects empty edits).
struct Device {
  std::string name;
  std::vector<DeviceNode> nodes;
  std::vector<Mount> mounts;
  bool operator==(const Device&) const = default;
};

// The spec of `kind` ("intel.com/vfio") with `devices`, as indented JSON ending in a
// newline: {"cdiVersion", "kind", "devices": [{"name", "containerEdits": {"deviceNodes",
// "mounts"}}]}. Mounts are written as {"type": "bind", "options": ["rbind", "ro"|"rw"]},
// the way the kubelet's Allocate mounts reach runc.
std::string specJson(std::string_view kind, const std::vector<Device>& devices);

// The "kind" of a spec file's text as a runtime reads it: pkg/cdi parses every spec file,
// .json included, as YAML turned into JSON (sigs.k8s.io/yaml), and Go's encoding/json
// matches keys case-insensitively, so "Kind" counts, and YAML in a .json file too. An
// exact "kind" key wins over another spelling. "" when the text is no map or has none.
std::string kindOf(std::string_view text);

}  // namespace mvf::cdi
