// The vfio worker's scan and re-check over an IOMMU group the input describes, line by
// line: the group's entry name in /dev/vfio (and /sys/kernel/iommu_groups), the kernel
// release, then three members, each as three lines: its name in the group's devices/
// dir, its driver link's target name ("" for no driver), "vfio-dev" when it has a
// vfio-dev/ dir.
#include <cstdint>

#include "fuzz/fuzz_input.h"
#include "tests/support/fake_node.h"
#include "workers/vfio/iommu_groups.h"

namespace mvf::fuzz {
namespace {

void scanGroups(const std::vector<std::string>& in) {
  testing::FakeNode node;
  std::string group = entryName(in[0], "7");
  std::string members = "/sys/kernel/iommu_groups/" + group + "/devices/";
  (void)node.charDevice("/dev/vfio/vfio", 10, 196);
  (void)node.charDevice("/dev/vfio/" + group, 244, 0);
  (void)node.mkdirs(members);
  for (size_t i = 2; i + 2 < in.size(); i += 3) {
    if (in[i].empty()) continue;
    std::string member = entryName(in[i], "0000:00:07.0");
    std::string device = "/sys/devices/pci0000:00/" + member;
    (void)node.mkdirs(device);
    (void)node.symlink(members + member, "../../../../devices/pci0000:00/" + member);
    if (!in[i + 1].empty()) {
      (void)node.symlink(device + "/driver",
                         "../../../bus/pci/drivers/" + entryName(in[i + 1], "vfio-pci"));
    }
    if (in[i + 2] == "vfio-dev") (void)node.mkdirs(device + "/vfio-dev/vfio0");
  }
  auto kernel = vfio::parseKernelVersion(in[1]).value_or(vfio::KernelVersion{6, 1});
  vfio::IommuGroups groups(testing::hostFsOf(node), kernel);
  core::Scan scan = groups.scan();
  for (const auto& unit : scan.units) {
    check(unit.id == group, "a group is named by its number");
    check(unit.grant.nodes.size() >= 2 && unit.grant.nodes[0].path == "/dev/vfio/vfio" &&
              unit.grant.nodes[1].path == "/dev/vfio/" + group,
          "a group grants the container node and its own node first");
    if (unit.usable()) {
      check(groups.recheck(unit).empty(),
            "a usable group passes its re-check on an unchanged node");
    }
  }
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { scanGroups(lines(data, size, 11)); }

}  // namespace mvf::fuzz
