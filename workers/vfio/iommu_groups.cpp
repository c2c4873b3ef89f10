#include "workers/vfio/iommu_groups.h"

#include <algorithm>
#include <cctype>

#include "workers/core/logging.h"

namespace mvf::vfio {
namespace {

constexpr const char* kContainer = "/dev/vfio/vfio";
constexpr const char* kIommu = "/dev/iommu";
// Group numbers are small; a long run of digits is junk, not a group.
constexpr size_t kMaxGroupDigits = 6;

bool isGroupName(const std::string& name) {
  return !name.empty() && name.size() <= kMaxGroupDigits &&
         std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c); });
}

// A driver a member may have without breaking the group's viability.
bool viableDriver(const std::string& driver) {
  return driver.rfind("vfio", 0) == 0 || driver == "pci-stub" || driver == "pcieport";
}

bool isCharDevice(const core::HostFs& host, const std::string& path) {
  return host.lstat(path) == core::FileType::kCharDevice;
}

}  // namespace

IommuGroups::Common IommuGroups::common() const {
  Common common;
  core::FileType container = host_.lstat(kContainer);
  if (container != core::FileType::kCharDevice) {
    common.containerProblem = std::string(kContainer) + " is " +
                              std::string(core::describe(container)) +
                              ", not a character device (is the vfio module loaded?)";
  }
  common.iommufd = isCharDevice(host_, kIommu);
  return common;
}

core::Scan IommuGroups::scan() {
  auto log = core::logger("vfio");
  core::Scan scan;
  Common now = common();
  std::vector<std::pair<int, std::string>> groups;
  for (const auto& name : host_.list("/dev/vfio")) {
    if (name == "vfio" || name == "devices") continue;
    if (!isGroupName(name)) {
      log->warn("ignoring /dev/vfio/{}: not an IOMMU group number", name);
      continue;
    }
    std::string node = "/dev/vfio/" + name;
    core::FileType type = host_.lstat(node);
    if (type != core::FileType::kCharDevice) {
      log->warn("ignoring {}: {}, not a character device", node, core::describe(type));
      continue;
    }
    groups.emplace_back(std::stoi(name), name);
  }
  std::sort(groups.begin(), groups.end());
  for (const auto& [number, name] : groups) {
    scan.units.push_back(group(name, now));
    if (!scan.units.back().usable()) log->debug("group {}: {}", name, scan.units.back().problem);
  }
  if (scan.units.empty()) {
    scan.missing = now.containerProblem.empty()
                       ? "no VFIO group in /dev/vfio (is any device bound to vfio-pci?)"
                       : now.containerProblem;
  }
  return scan;
}

core::Unit IommuGroups::group(const std::string& name, const Common& common) const {
  core::Unit unit{.id = name, .problem = common.containerProblem};
  unit.grant.nodes = {{kContainer}, {"/dev/vfio/" + name}};
  std::string membersDir = "/sys/kernel/iommu_groups/" + name + "/devices";
  std::vector<std::string> members = host_.list(membersDir);
  if (members.empty() && unit.problem.empty()) {
    unit.problem = membersDir + " lists no member device";
  }
  // Only a member of a group of several can change drivers without an event.
  unit.healthPolled = members.size() > 1;
  std::string vfioBound;
  bool memberNodes = false;
  for (const auto& member : members) {
    auto device = host_.openDir(membersDir + "/" + member);
    if (!device) {
      if (unit.problem.empty()) unit.problem = "member " + member + " cannot be read in sysfs";
      continue;
    }
    auto driver = device->linkName("driver");
    if (driver && !viableDriver(*driver) && unit.problem.empty()) {
      unit.problem = "member " + member + " is bound to " + *driver +
                     ", not to vfio-pci: the group is not viable";
    }
    if (driver && driver->rfind("vfio", 0) == 0) {
      vfioBound += (vfioBound.empty() ? "" : ",") + member;
    }
    if (!unit.numaNode) unit.numaNode = core::numaNodeOf(*device);
    // iommufd: the member's VFIO device node, where the kernel made one.
    for (const auto& cdev : host_.list(membersDir + "/" + member + "/vfio-dev")) {
      std::string node = "/dev/vfio/devices/" + cdev;
      if (common.iommufd && cdev.rfind("vfio", 0) == 0 && isCharDevice(host_, node)) {
        unit.grant.nodes.push_back({node});
        memberNodes = true;
      }
    }
  }
  // Member device nodes are opened through iommufd, which lives in /dev/iommu.
  if (memberNodes) unit.grant.nodes.push_back({kIommu});
  if (!vfioBound.empty()) unit.grant.envs.emplace_back(kEnv, vfioBound);
  return unit;
}

std::string IommuGroups::recheck(const core::Unit& unit) const {
  std::string node = "/dev/vfio/" + unit.id;
  core::FileType type = host_.lstat(node);
  if (type != core::FileType::kCharDevice) {
    return node + " is " + std::string(core::describe(type)) + ", not a character device";
  }
  return group(unit.id, common()).problem;
}

const core::ResourceSpec kSpec{
    .name = "vfio",
    .hasExclusiveMode = true,
    .create = [](const core::Settings&, const core::HostFs& host)
        -> std::unique_ptr<core::Resource> { return std::make_unique<IommuGroups>(host); }};

}  // namespace mvf::vfio
