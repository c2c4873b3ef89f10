// Which GPU the igpu worker hands out, found through /sys/class/drm as a real kernel
// lays it out, and what it refuses.
#include "workers/igpu/gpus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/fake_sysfs.h"
#include "tests/support/status.h"

namespace mvf::igpu {
namespace {

using ::testing::ElementsAre;
using testing::FakeNode;
using ::testing::HasSubstr;
using testing::PciFunction;

class GpusTest : public ::testing::Test {
 protected:
  void gpu(PciFunction function, int card, std::optional<int> render) {
    ASSERT_OK(testing::addPciFunction(node_, function));
    ASSERT_OK(testing::addDrmCard(node_, function.address, card, render));
  }

  core::Scan scan(core::Mode mode = core::Mode::kShared, std::string pci = "",
                  bool anyVendor = false) {
    Gpus gpus(testing::hostFsOf(node_), mode, std::move(pci), anyVendor);
    return gpus.scan();
  }

  static std::vector<std::string> ids(const core::Scan& scan) {
    std::vector<std::string> out;
    for (const auto& unit : scan.units) out.push_back(unit.id);
    return out;
  }

  static std::vector<std::string> nodes(const core::Unit& unit) {
    std::vector<std::string> out;
    for (const auto& node : unit.grant.nodes) out.push_back(node.path);
    return out;
  }

  FakeNode node_;
};

TEST_F(GpusTest, PrefersTheIntelGpuAt0002EvenWhenCard0IsAnotherDevice) {
  // A discrete card probed first takes card0/renderD128.
  gpu({.address = "0000:03:00.0", .vendor = "0x1002"}, 0, 128);
  gpu({.address = "0000:00:02.0"}, 1, 129);
  core::Scan found = scan();
  ASSERT_THAT(ids(found), ElementsAre("0000:00:02.0"));
  EXPECT_TRUE(found.units[0].usable()) << found.units[0].problem;
  EXPECT_THAT(nodes(found.units[0]), ElementsAre("/dev/dri/card1", "/dev/dri/renderD129"));
}

TEST_F(GpusTest, FallsBackToTheFirstIntelDisplayDeviceByAddress) {
  gpu({.address = "0000:04:00.0"}, 0, 128);
  gpu({.address = "0000:03:00.0", .pciClass = "0x038000"}, 1, 129);
  EXPECT_THAT(ids(scan()), ElementsAre("0000:03:00.0"));
}

TEST_F(GpusTest, SkipsVirtualFunctionsAndNonDisplayDevices) {
  gpu({.address = "0000:00:02.1", .virtualFunction = true}, 1, 129);
  gpu({.address = "0000:00:03.0", .pciClass = "0x040300"}, 2, std::nullopt);  // audio
  core::Scan found = scan();
  EXPECT_TRUE(found.units.empty());
  EXPECT_THAT(found.missing, HasSubstr("no Intel display-class PCI device"));
}

TEST_F(GpusTest, OtherVendorsOnlyWithIgpuVendorAny) {
  gpu({.address = "0000:00:05.0", .vendor = "0x1af4", .pciClass = "0x038000"}, 0, 128);
  EXPECT_TRUE(scan().units.empty());
  EXPECT_THAT(ids(scan(core::Mode::kShared, "", true)), ElementsAre("0000:00:05.0"));
  core::Scan pinned = scan(core::Mode::kShared, "0000:00:05.0");
  EXPECT_TRUE(pinned.units.empty());
  EXPECT_THAT(pinned.missing, HasSubstr("--igpu-vendor any"));
}

TEST_F(GpusTest, IgpuPciPicksThatDeviceOnly) {
  gpu({.address = "0000:00:02.0"}, 0, 128);
  gpu({.address = "0000:03:00.0"}, 1, 129);
  EXPECT_THAT(ids(scan(core::Mode::kShared, "0000:03:00.0")), ElementsAre("0000:03:00.0"));
  EXPECT_THAT(ids(scan(core::Mode::kExclusive, "0000:03:00.0")), ElementsAre("0000:03:00.0"));
  core::Scan absent = scan(core::Mode::kShared, "0000:09:00.0");
  EXPECT_TRUE(absent.units.empty());
  EXPECT_THAT(absent.missing, HasSubstr("0000:09:00.0"));
}

TEST_F(GpusTest, ExclusiveModeListsEveryMatchingGpuWithItsNumaNode) {
  gpu({.address = "0000:00:02.0", .numaNode = 0}, 0, 128);
  gpu({.address = "0000:83:00.0", .numaNode = 1}, 1, 129);
  gpu({.address = "0000:84:00.0", .vendor = "0x10de"}, 2, 130);
  core::Scan found = scan(core::Mode::kExclusive);
  ASSERT_THAT(ids(found), ElementsAre("0000:00:02.0", "0000:83:00.0"));
  EXPECT_EQ(found.units[0].numaNode, 0);
  EXPECT_EQ(found.units[1].numaNode, 1);
}

TEST_F(GpusTest, AMissingOrFakeDeviceNodeMakesTheGpuUnusable) {
  gpu({.address = "0000:00:02.0"}, 0, 128);
  ASSERT_OK(node_.remove("/dev/dri/renderD128"));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_THAT(found.units[0].problem, HasSubstr("/dev/dri/renderD128 is missing"));
  ASSERT_OK(node_.symlink("/dev/dri/renderD128", "card0"));
  found = scan();
  EXPECT_THAT(found.units[0].problem, HasSubstr("/dev/dri/renderD128 is a symlink"));
}

TEST_F(GpusTest, CardWithoutRenderNodeIsUsableWithItsCardAlone) {
  // bochs-display, the lab's hot-pluggable GPU, has no render node.
  gpu({.address = "0000:00:02.0"}, 0, std::nullopt);
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_TRUE(found.units[0].usable());
  EXPECT_THAT(nodes(found.units[0]), ElementsAre("/dev/dri/card0"));
}

TEST_F(GpusTest, JunkInSysfsIsSkippedNotFatal) {
  gpu({.address = "0000:00:02.0", .vendor = "garbage", .pciClass = ""}, 0, 128);
  ASSERT_OK(node_.symlink("/sys/class/drm/card7", "../../devices/virtual/drm/card7"));
  ASSERT_OK(node_.symlink("/sys/class/drm/card8", "card8"));  // a loop
  ASSERT_OK(node_.file("/sys/class/drm/version", "drm 1.1.0\n"));
  EXPECT_TRUE(scan().units.empty());
}

TEST_F(GpusTest, AnUnreadableDrmClassDirIsSaidAsSuchNotAsNoGpu) {
  ASSERT_OK(node_.notADirectory("/sys/class/drm"));
  core::Scan found = scan();
  EXPECT_TRUE(found.units.empty());
  EXPECT_EQ(found.missing, "cannot read /sys/class/drm: Not a directory");
}

TEST_F(GpusTest, AVendorFromSysfsIsQuotedBoundedAndEscaped) {
  gpu({.address = "0000:00:02.0", .vendor = "0x10de\x1b" + std::string(300, 'v')}, 1, 128);
  core::Scan found = scan(core::Mode::kShared, "0000:00:02.0");
  EXPECT_TRUE(found.units.empty());
  EXPECT_THAT(found.missing, HasSubstr("(vendor \"0x10de\\x1bvvv"));
  EXPECT_EQ(found.missing.find('\x1b'), std::string::npos);
  EXPECT_LT(found.missing.size(), 400u);
}

TEST(NormalizePciAddress, GivesTheAddressAsSysfsNamesIt) {
  EXPECT_EQ(normalizePciAddress("0000:00:02.0"), "0000:00:02.0");
  EXPECT_EQ(normalizePciAddress("0000:03:0A.1"), "0000:03:0a.1");
  EXPECT_EQ(normalizePciAddress(" 00:02.0 "), "0000:00:02.0");
  for (const char* bad : {"", "02.0", "0000:00:02", "0000:00:02.8", "zz:02.0"}) {
    EXPECT_EQ(normalizePciAddress(bad), std::nullopt) << bad;
  }
}

TEST(IsPciAddress, AcceptsDomainBusDeviceFunction) {
  EXPECT_TRUE(isPciAddress("0000:00:02.0"));
  EXPECT_TRUE(isPciAddress("10000:00:02.0") == false);
  for (const char* bad :
       {"00:02.0", "0000:00:02", "0000:00:02.8", "0000-00:02.0", "zzzz:00:02.0"}) {
    EXPECT_FALSE(isPciAddress(bad)) << bad;
  }
}

}  // namespace
}  // namespace mvf::igpu
