#include "workers/vfio/iommu_groups.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstring>

#include "base/format.h"
#include "base/logging.h"
#include "base/options.h"
#include "base/quote.h"

namespace mvf::vfio {
namespace {

constexpr const char* kContainer = "/dev/vfio/vfio";
constexpr const char* kIommu = "/dev/iommu";
// Group numbers are small; a long run of digits is junk, not a group.
constexpr size_t kMaxGroupDigits = 6;

bool isGroupName(const std::string& name) {
  return name.size() <= kMaxGroupDigits && base::isDigits(name);
}

// The first kernel whose sysfs shows a device's registration with VFIO (vfio-dev/).
constexpr KernelVersion kVfioDevInSysfs{6, 1};

bool isCharDevice(const core::HostFs& host, const std::string& path) {
  return host.lstat(path) == core::FileType::kCharDevice;
}

// "" when the host path is a character device, else why not ("cannot read …: …" when its
// type cannot be read at all).
std::string notCharDevice(const core::HostFs& host, const std::string& path) {
  auto type = host.typeOf(path);
  if (!type) return type.error().message;
  if (type.value() == core::FileType::kCharDevice) return "";
  return path + " is " + std::string(core::describe(type.value())) + ", not a character device";
}

// A name from a host dir or link, for a message: as is when plain, else quoted.
std::string named(const std::string& name) {
  return base::quote(name, base::kQuoteLimit, base::Quotes::kIfNeeded);
}

}  // namespace

std::optional<KernelVersion> parseKernelVersion(std::string_view release) {
  size_t dot = release.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto major = core::parseNumber(release.substr(0, dot));
  size_t end = dot + 1;
  while (end < release.size() && (release[end] >= '0' && release[end] <= '9')) ++end;
  auto minor = core::parseNumber(release.substr(dot + 1, end - dot - 1));
  if (!major || !minor || *major < 0 || *major > 1000 || *minor < 0 || *minor > 1000) {
    return std::nullopt;
  }
  return KernelVersion{static_cast<int>(*major), static_cast<int>(*minor)};
}

KernelVersion runningKernel() {
  utsname names{};
  if (::uname(&names) == 0) {
    if (auto version = parseKernelVersion(names.release)) return *version;
  }
  // Unknown: assume a current kernel, whose sysfs tells the truth.
  return kVfioDevInSysfs;
}

Member vfioMember(const core::HostDir& device, const std::optional<std::string>& driver,
                  KernelVersion kernel) {
  if (device.exists("vfio-dev")) return Member::kVfio;
  if (!driver || *driver == "pci-stub" || *driver == "pcieport") return Member::kHarmless;
  if (kernel < kVfioDevInSysfs && driver->find("vfio") != std::string::npos) return Member::kVfio;
  return Member::kBlocking;
}

IommuGroups::Common IommuGroups::common() const {
  Common common;
  auto container = host_.typeOf(kContainer);
  if (!container) {
    common.containerProblem = container.error().message;
  } else if (container.value() != core::FileType::kCharDevice) {
    common.containerProblem = std::string(kContainer) + " is " +
                              std::string(core::describe(container.value())) +
                              ", not a character device (is the vfio module loaded?)";
  }
  common.iommufd = isCharDevice(host_, kIommu);
  return common;
}

core::Scan IommuGroups::scan() {
  core::Scan scan;
  Common now = common();
  warnings_.begin();
  std::vector<std::pair<int, std::string>> groups;
  auto listed = host_.entries("/dev/vfio");
  std::vector<std::string> names = listed ? std::move(listed).value() : std::vector<std::string>{};
  for (const auto& name : names) {
    if (name == "vfio" || name == "devices") continue;
    if (!isGroupName(name)) {
      warnings_.warn("ignoring /dev/vfio/" + named(name) + ": not an IOMMU group number");
      continue;
    }
    std::string node = "/dev/vfio/" + name;
    if (std::string problem = notCharDevice(host_, node); !problem.empty()) {
      warnings_.warn("ignoring " + node + ": " + problem);
      continue;
    }
    groups.emplace_back(std::stoi(name), name);
  }
  warnings_.end();
  std::sort(groups.begin(), groups.end());
  for (const auto& [number, name] : groups) scan.units.push_back(group(name, now));
  if (!listed) {
    scan.missing = listed.error().message;  // not the same as finding no group
  } else if (scan.units.empty()) {
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
  auto listed = host_.entries(membersDir);
  std::vector<std::string> members =
      listed ? std::move(listed).value() : std::vector<std::string>{};
  if (!listed && unit.problem.empty()) unit.problem = listed.error().message;
  if (members.empty() && unit.problem.empty()) {
    unit.problem = membersDir + " lists no member device";
  }
  // Only a member of a group of several can change drivers without an event.
  unit.healthPolled = members.size() > 1;
  std::vector<std::string> vfioBound;  // members on a vfio driver
  bool memberNodes = false;
  for (const auto& member : members) {
    auto opened = host_.dir(membersDir + "/" + member);
    if (!opened) {
      if (unit.problem.empty()) {
        unit.problem = "member " + named(member) +
                       " cannot be read in sysfs: " + std::strerror(opened.error().code);
      }
      continue;
    }
    const core::HostDir* device = &opened.value();
    auto driver = device->linkName("driver");
    switch (vfioMember(*device, driver, kernel_)) {
      case Member::kVfio:
        vfioBound.push_back(member);
        break;
      case Member::kHarmless:
        break;
      case Member::kBlocking:
        if (unit.problem.empty()) {
          unit.problem = "member " + named(member) + " is bound to " + named(*driver) +
                         (driver->find("vfio") == std::string::npos
                              ? ", not to a vfio driver"
                              : ", which has not registered it with VFIO (no vfio-dev/ in sysfs)") +
                         ": the group is not viable";
        }
        break;
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
  // A group node without a member on a vfio driver is a moment of a bind or unbind:
  // nothing in it for QEMU to open.
  if (vfioBound.empty() && !members.empty() && unit.problem.empty()) {
    unit.problem = "no member of group " + name + " is bound to a vfio driver";
  }
  // Member device nodes are opened through iommufd, which lives in /dev/iommu.
  if (memberNodes) unit.grant.nodes.push_back({kIommu});
  if (!vfioBound.empty())
    unit.grant.envs.emplace_back(kEnv, fmt::format("{}", fmt::join(vfioBound, ",")));
  return unit;
}

std::string IommuGroups::recheck(const core::Unit& unit) const {
  std::string problem = notCharDevice(host_, "/dev/vfio/" + unit.id);
  return problem.empty() ? group(unit.id, common()).problem : problem;
}

const core::ResourceSpec kSpec{
    .name = "vfio",
    .hasExclusiveMode = true,
    .create = [](const base::Settings&,
                 const core::HostFs& host) -> std::unique_ptr<core::Resource> {
      return std::make_unique<IommuGroups>(host, runningKernel());
    }};

}  // namespace mvf::vfio
