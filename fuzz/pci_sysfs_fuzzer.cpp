// The iGPU worker's scan over a sysfs tree whose PCI function has what the input says,
// line by line: vendor, class, numa_node, its driver's name, whether it is an SR-IOV
// virtual function ("vf"), its card and render node names in its drm/ dir; then an
// --igpu-pci value and --igpu-vendor any ("any").
#include <cstdint>

#include "fuzz/fuzz_input.h"
#include "tests/support/fake_node.h"
#include "tests/support/fake_sysfs.h"
#include "workers/igpu/gpus.h"

namespace mvf::fuzz {
namespace {

constexpr const char* kAddress = "0000:00:02.0";

void scanGpus(const std::vector<std::string>& in) {
  testing::FakeNode node;
  std::string device = std::string("/sys/devices/pci0000:00/") + kAddress;
  (void)testing::addPciFunction(
      node,
      {.address = kAddress, .driver = entryName(in[3], "i915"), .virtualFunction = in[4] == "vf"});
  // The attributes as the input has them, newline-terminated as the kernel writes them.
  (void)node.file(device + "/vendor", in[0] + "\n");
  (void)node.file(device + "/class", in[1] + "\n");
  (void)node.file(device + "/numa_node", in[2] + "\n");
  for (const auto& name : {entryName(in[5], "card1"), entryName(in[6], "renderD128")}) {
    (void)node.mkdirs(device + "/drm/" + name);
    (void)node.symlink("/sys/class/drm/" + name,
                       "../../devices/pci0000:00/" + std::string(kAddress) + "/drm/" + name);
    (void)node.symlink(device + "/drm/" + name + "/device", "../../../" + std::string(kAddress));
    (void)node.charDevice("/dev/dri/" + name, 226, 1);
  }
  auto pci = igpu::normalizePciAddress(in[7]);
  for (auto mode : {core::Mode::kShared, core::Mode::kExclusive}) {
    igpu::Gpus gpus(testing::hostFsOf(node), mode, pci.value_or(""), in[8] == "any");
    core::Scan scan = gpus.scan();
    for (const auto& unit : scan.units) {
      check(igpu::isPciAddress(unit.id), "a GPU is named by its PCI address");
      check(!unit.numaNode || *unit.numaNode >= 0, "a NUMA node is never negative");
      for (const auto& granted : unit.grant.nodes) {
        check(granted.path.starts_with("/dev/dri/"), "a GPU grants /dev/dri nodes only");
      }
    }
  }
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { scanGpus(lines(data, size, 9)); }

}  // namespace mvf::fuzz
