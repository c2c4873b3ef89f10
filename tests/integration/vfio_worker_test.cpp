// The real mvf-worker-vfio against the kubelet stand-in: groups in both modes, groups
// coming and going, members re-bound without an event, and logs that stay valid JSON.
#include <sstream>
#include <string_view>

#include "tests/integration/worker_test.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class VfioWorkerTest : public WorkerTest {
 protected:
  void SetUp() override {
    WorkerTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_OK(node_.charDevice("/dev/vfio/vfio", 10, 196));
    group(7, "0000:00:07.0", 0);
    group(11, "0000:01:00.0", 1);
  }

  void group(int number, const std::string& address, int numa) {
    ASSERT_OK(addPciFunction(node_, {.address = address, .driver = "vfio-pci", .numaNode = numa}));
    ASSERT_OK(addIommuGroup(node_, number, {address}));
  }
};

TEST_F(VfioWorkerTest, SharedModeGrantsEveryUsableGroupAndItsMembers) {
  start(MVF_WORKER_VFIO);
  ASSERT_TRUE(counts("intel.com/vfio", 1000, 1000));
  EXPECT_FALSE(kubelet_.resource("intel.com/vfio")->options.get_preferred_allocation_available());
  auto containers = allocate("intel.com/vfio", {{"vfio-0"}, {"vfio-1"}});
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& container : containers) {
    EXPECT_THAT(container.nodes,
                ElementsAre("/dev/vfio/vfio:rw", "/dev/vfio/7:rw", "/dev/vfio/11:rw"));
    EXPECT_THAT(container.envs,
                ElementsAre(Pair("PCI_RESOURCE_INTEL_COM_VFIO", "0000:00:07.0,0000:01:00.0")));
  }
}

TEST_F(VfioWorkerTest, ExclusiveModeGrantsOnlyTheAllocatedGroups) {
  start(MVF_WORKER_VFIO, {"--mode", "exclusive"});
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11"}));
  auto state = kubelet_.resource("intel.com/vfio");
  EXPECT_TRUE(state->options.get_preferred_allocation_available());
  for (const auto& device : state->devices) {
    ASSERT_EQ(device.topology().nodes_size(), 1);
    EXPECT_EQ(device.topology().nodes(0).id(), device.id() == "7" ? 0 : 1);
  }
  auto containers = allocate("intel.com/vfio", {{"11"}, {"7"}});
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_THAT(containers[0].nodes, ElementsAre("/dev/vfio/vfio:rw", "/dev/vfio/11:rw"));
  EXPECT_THAT(containers[0].envs, ElementsAre(Pair("PCI_RESOURCE_INTEL_COM_VFIO", "0000:01:00.0")));
  EXPECT_THAT(containers[1].nodes, ElementsAre("/dev/vfio/vfio:rw", "/dev/vfio/7:rw"));
}

TEST_F(VfioWorkerTest, ANewGroupNodeAppearsAndAVanishedOneStaysListedUnhealthy) {
  start(MVF_WORKER_VFIO, {"--mode", "exclusive"});
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11"}));
  group(12, "0000:02:00.0", 0);
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11", "12"}));
  ASSERT_OK(node_.remove("/dev/vfio/11"));
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "12"}, {"11"}));
  grpc::Status status;
  allocate("intel.com/vfio", {{"11"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// Whether `text` is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, ≤ U+10FFFF).
bool isUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    if (length == 0 || i + length > text.size()) return false;
    uint32_t code = length == 1 ? c : c & (0x7fu >> length);
    for (size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next >> 6) != 0x2) return false;
      code = (code << 6) | (next & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMin[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

TEST_F(VfioWorkerTest, JsonLogLinesStayValidUtf8WhateverTheNodeHolds) {
  // A file name that is not UTF-8, quoted in a warning about what the scan skipped.
  ASSERT_OK(node_.file("/dev/vfio/\xff\xfe"));
  start(MVF_WORKER_VFIO, {"--log-format", "json"});
  ASSERT_TRUE(counts("intel.com/vfio", 1000, 1000));
  std::istringstream lines(worker_->log());
  bool quoted = false;
  for (std::string line; std::getline(lines, line);) {
    ASSERT_TRUE(isUtf8(line)) << line;
    ASSERT_TRUE(parseJsonObject(line)) << line;
    quoted = quoted || line.find("not an IOMMU group number") != std::string::npos;
  }
  EXPECT_TRUE(quoted) << worker_->log();
}

// A group of two: one member on vfio-pci, the other on no driver (viable). A host driver
// taking the second member changes nothing under /dev: only sysfs shows it.
class VfioReboundMemberTest : public VfioWorkerTest {
 protected:
  void SetUp() override {
    VfioWorkerTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_OK(addPciFunction(node_, {.address = "0000:02:00.0", .driver = "vfio-pci"}));
    ASSERT_OK(addPciFunction(node_, {.address = "0000:02:00.1"}));
    ASSERT_OK(addIommuGroup(node_, 13, {"0000:02:00.0", "0000:02:00.1"}));
  }

  base::Status bind(const std::string& driver) {
    std::string link = "/sys/devices/pci0000:00/0000:02:00.1/driver";
    auto removed = node_.remove(link);
    if (!removed || driver.empty()) return removed;
    return node_.symlink(link, "../../../bus/pci/drivers/" + driver);
  }
};

TEST_F(VfioReboundMemberTest, TheHealthCheckSeesTheGroupGoAndComeBack) {
  start(MVF_WORKER_VFIO,
        {"--mode", "exclusive", "--resync-interval", "1h", "--health-interval", "20ms"});
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11", "13"}));
  ASSERT_OK(bind("e1000e"));
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11"}, {"13"}));
  EXPECT_THAT(worker_->log(),
              HasSubstr("info [vfio] worker: device 13 is not usable: member 0000:02:00.1 is "
                        "bound to e1000e, not to a vfio driver"));
  grpc::Status status;
  allocate("intel.com/vfio", {{"13"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("0000:02:00.1 is bound to e1000e"));
  ASSERT_OK(bind(""));
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11", "13"}));
}

TEST_F(VfioReboundMemberTest, AllocateRefusesTheGroupAtThatMomentAndPublishesIt) {
  // No resync and no health check: only Allocate's own re-check can tell.
  start(MVF_WORKER_VFIO,
        {"--mode", "exclusive", "--resync-interval", "1h", "--health-interval", "0"});
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11", "13"}));
  ASSERT_OK(bind("e1000e"));
  grpc::Status status;
  allocate("intel.com/vfio", {{"7", "13"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("device 13"));
  ASSERT_TRUE(lists("intel.com/vfio", {"7", "11"}, {"13"}));
}

}  // namespace
}  // namespace mvf::testing
