// Which IOMMU groups the vfio worker finds usable — the kernel's viability rule — and
// what a container gets for them.
#include "workers/vfio/iommu_groups.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/fake_sysfs.h"
#include "tests/support/log_capture.h"
#include "tests/support/status.h"

namespace mvf::vfio {
namespace {

using ::testing::ElementsAre;
using testing::FakeNode;
using ::testing::HasSubstr;

class IommuGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(node_.charDevice("/dev/vfio/vfio", 10, 196)); }

  void group(int number, std::vector<std::pair<std::string, std::string>> members) {
    std::vector<std::string> addresses;
    for (const auto& [address, driver] : members) {
      ASSERT_OK(testing::addPciFunction(node_, {.address = address, .driver = driver}));
      addresses.push_back(address);
    }
    ASSERT_OK(testing::addIommuGroup(node_, number, addresses));
  }

  core::Scan scan(KernelVersion kernel = {6, 1}) {
    return IommuGroups(testing::hostFsOf(node_), kernel).scan();
  }

  static const core::Unit* find(const core::Scan& scan, const std::string& id) {
    for (const auto& unit : scan.units) {
      if (unit.id == id) return &unit;
    }
    return nullptr;
  }

  FakeNode node_;
};

struct ViabilityCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> members;  // address, driver
  bool usable;
  const char* problem;
};

class Viability : public IommuGroupsTest, public ::testing::WithParamInterface<ViabilityCase> {};

TEST_P(Viability, FollowsTheKernelsRule) {
  group(7, GetParam().members);
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_EQ(found.units[0].usable(), GetParam().usable) << found.units[0].problem;
  EXPECT_THAT(found.units[0].problem, HasSubstr(GetParam().problem));
}

INSTANTIATE_TEST_SUITE_P(
    Table, Viability,
    ::testing::Values(
        ViabilityCase{"VfioPci", {{"0000:00:07.0", "vfio-pci"}}, true, ""},
        ViabilityCase{"WithBridgeStubAndUnbound",
                      {{"0000:00:1c.0", "pcieport"},
                       {"0000:01:00.0", "vfio-pci"},
                       {"0000:01:00.1", "pci-stub"},
                       {"0000:01:00.2", ""}},
                      true,
                      ""},
        ViabilityCase{
            "NoMemberOnAVfioDriver",
            {{"0000:00:1c.0", "pcieport"}, {"0000:01:00.1", "pci-stub"}, {"0000:01:00.2", ""}},
            false,
            "no member of group 7 is bound to a vfio driver"},
        ViabilityCase{"MemberOnAHostDriver",
                      {{"0000:01:00.0", "vfio-pci"}, {"0000:01:00.1", "snd_hda_intel"}},
                      false,
                      "member 0000:01:00.1 is bound to snd_hda_intel"}),
    [](const auto& param) { return std::string(param.param.name); });

// One member beside a vfio-pci anchor (a group node exists only where some member is
// bound to vfio): its driver, whether sysfs shows it registered with VFIO, the kernel.
struct MemberCase {
  const char* name;
  std::string driver;  // "" for none
  bool vfioDev;
  KernelVersion kernel;
  bool usable;
  bool inEnv;  // listed in PCI_RESOURCE_INTEL_COM_VFIO
};

class MemberDriver : public IommuGroupsTest, public ::testing::WithParamInterface<MemberCase> {};

TEST_P(MemberDriver, CountsAsTheKernelDoes) {
  const MemberCase& c = GetParam();
  ASSERT_OK(testing::addPciFunction(node_, {.address = "0000:01:00.0", .driver = "vfio-pci"}));
  ASSERT_OK(testing::addPciFunction(
      node_, {.address = "0000:01:00.1", .driver = c.driver, .vfioRegistered = c.vfioDev}));
  ASSERT_OK(testing::addIommuGroup(node_, 21, {"0000:01:00.0", "0000:01:00.1"}));
  core::Scan found = scan(c.kernel);
  ASSERT_EQ(found.units.size(), 1u);
  const core::Unit& group = found.units[0];
  EXPECT_EQ(group.usable(), c.usable) << group.problem;
  if (!c.usable) {
    EXPECT_THAT(group.problem, HasSubstr("member 0000:01:00.1 is bound to " + c.driver));
  }
  std::string env = c.inEnv ? "0000:01:00.0,0000:01:00.1" : "0000:01:00.0";
  EXPECT_THAT(group.grant.envs,
              ElementsAre(std::pair<std::string, std::string>("PCI_RESOURCE_INTEL_COM_VFIO", env)));
  EXPECT_TRUE(group.healthPolled) << "a member of a group of two can change drivers unseen";
}

constexpr KernelVersion k61{6, 1};
constexpr KernelVersion k515{5, 15};

INSTANTIATE_TEST_SUITE_P(
    Table, MemberDriver,
    ::testing::Values(
        // Linux ≥ 6.1: registered with VFIO (vfio-dev/) is what counts, whatever the name.
        MemberCase{"VfioPci", "vfio-pci", true, k61, true, true},
        MemberCase{"VfioPciUnregistered", "vfio-pci", false, k61, false, false},
        MemberCase{"XeVfioPci", "xe-vfio-pci", true, k61, true, true},
        MemberCase{"XeVfioPciUnregistered", "xe-vfio-pci", false, k61, false, false},
        MemberCase{"HisiAccVfioPci", "hisi_acc_vfio_pci", true, k61, true, true},
        MemberCase{"HisiAccVfioPciUnregistered", "hisi_acc_vfio_pci", false, k61, false, false},
        MemberCase{"VirtioVfioPci", "virtio_vfio_pci", true, k61, true, true},
        MemberCase{"VirtioVfioPciUnregistered", "virtio_vfio_pci", false, k61, false, false},
        MemberCase{"PciStub", "pci-stub", false, k61, true, false},
        MemberCase{"PciStubRegistered", "pci-stub", true, k61, true, true},
        MemberCase{"Pcieport", "pcieport", false, k61, true, false},
        MemberCase{"PcieportRegistered", "pcieport", true, k61, true, true},
        MemberCase{"NoDriver", "", false, k61, true, false},
        MemberCase{"NoDriverRegistered", "", true, k61, true, true},
        MemberCase{"HostDriver", "e1000e", false, k61, false, false},
        MemberCase{"HostDriverRegistered", "e1000e", true, k61, true, true},
        // Before 6.1 sysfs has no vfio-dev/: the driver's name is all there is.
        MemberCase{"OldKernelVfioPci", "vfio-pci", false, k515, true, true},
        MemberCase{"OldKernelXeVfioPci", "xe-vfio-pci", false, k515, true, true},
        MemberCase{"OldKernelHisiAcc", "hisi_acc_vfio_pci", false, k515, true, true},
        MemberCase{"OldKernelVirtio", "virtio_vfio_pci", false, k515, true, true},
        MemberCase{"OldKernelPciStub", "pci-stub", false, k515, true, false},
        MemberCase{"OldKernelPcieport", "pcieport", false, k515, true, false},
        MemberCase{"OldKernelNoDriver", "", false, k515, true, false},
        MemberCase{"OldKernelHostDriver", "e1000e", false, k515, false, false}),
    [](const auto& param) { return std::string(param.param.name); });

TEST_F(IommuGroupsTest, ASingleXeVfioPciFunctionIsAUsableGroup) {
  // An Intel Xe SR-IOV virtual function, this product's own use case.
  ASSERT_OK(testing::addPciFunction(node_, {.address = "0000:00:02.3",
                                            .pciClass = "0x030000",
                                            .driver = "xe-vfio-pci",
                                            .virtualFunction = true}));
  ASSERT_OK(testing::addIommuGroup(node_, 21, {"0000:00:02.3"}));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_TRUE(found.units[0].usable()) << found.units[0].problem;
  EXPECT_FALSE(found.units[0].healthPolled) << "its unbinding removes /dev/vfio/21: an event";
  EXPECT_THAT(found.units[0].grant.envs, ElementsAre(std::pair<std::string, std::string>(
                                             "PCI_RESOURCE_INTEL_COM_VFIO", "0000:00:02.3")));
}

TEST(KernelVersion, ParsesUnamesRelease) {
  EXPECT_EQ(parseKernelVersion("6.1.0-27-amd64"), (KernelVersion{6, 1}));
  EXPECT_EQ(parseKernelVersion("5.15.0-91-generic"), (KernelVersion{5, 15}));
  EXPECT_EQ(parseKernelVersion("6.12"), (KernelVersion{6, 12}));
  EXPECT_EQ(parseKernelVersion("4"), std::nullopt);
  EXPECT_EQ(parseKernelVersion("x.y"), std::nullopt);
  EXPECT_LT((KernelVersion{5, 15}), (KernelVersion{6, 1}));
}

TEST_F(IommuGroupsTest, ContainersGetTheContainerNodeGroupNodesAndVfioBoundMembers) {
  group(7, {{"0000:00:07.0", "vfio-pci"}});
  group(11,
        {{"0000:00:1c.0", "pcieport"}, {"0000:01:00.0", "vfio-pci"}, {"0000:01:00.1", "vfio-pci"}});
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 2u);
  IommuGroups groups(testing::hostFsOf(node_), {6, 1});
  core::Grant grant = groups.compose({&found.units[0], &found.units[1]});
  std::vector<std::string> paths;
  for (const auto& n : grant.nodes) paths.push_back(n.path);
  EXPECT_THAT(paths, ElementsAre("/dev/vfio/vfio", "/dev/vfio/7", "/dev/vfio/11"));
  EXPECT_THAT(grant.envs,
              ElementsAre(std::pair<std::string, std::string>(
                  "PCI_RESOURCE_INTEL_COM_VFIO", "0000:00:07.0,0000:01:00.0,0000:01:00.1")));
}

TEST_F(IommuGroupsTest, GroupsAreSortedByNumberAndCarryTheirNumaNode) {
  ASSERT_OK(testing::addPciFunction(
      node_, {.address = "0000:81:00.0", .driver = "vfio-pci", .numaNode = 1}));
  ASSERT_OK(testing::addIommuGroup(node_, 12, {"0000:81:00.0"}));
  group(7, {{"0000:00:07.0", "vfio-pci"}});
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 2u);
  EXPECT_EQ(found.units[0].id, "7");
  EXPECT_EQ(found.units[0].numaNode, std::nullopt);
  EXPECT_EQ(found.units[1].id, "12");
  EXPECT_EQ(found.units[1].numaNode, 1);
}

TEST_F(IommuGroupsTest, WithoutTheContainerNodeNoGroupIsUsable) {
  group(7, {{"0000:00:07.0", "vfio-pci"}});
  ASSERT_OK(node_.remove("/dev/vfio/vfio"));
  ASSERT_OK(node_.file("/dev/vfio/vfio"));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_THAT(found.units[0].problem, HasSubstr("/dev/vfio/vfio is a regular file"));
}

TEST_F(IommuGroupsTest, HostileEntriesInDevVfioAreSkipped) {
  group(7, {{"0000:00:07.0", "vfio-pci"}});
  ASSERT_OK(node_.file("/dev/vfio/8"));          // a regular file named like a group
  ASSERT_OK(node_.symlink("/dev/vfio/9", "7"));  // a symlink to a real group
  ASSERT_OK(node_.charDevice("/dev/vfio/99999999999", 244, 9));  // a huge number
  ASSERT_OK(node_.charDevice("/dev/vfio/abc", 244, 10));
  ASSERT_OK(node_.mkdirs("/dev/vfio/devices"));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_EQ(found.units[0].id, "7");
}

TEST_F(IommuGroupsTest, AGroupWithoutSysfsMembersIsUnusable) {
  ASSERT_OK(node_.charDevice("/dev/vfio/3", 244, 3));
  ASSERT_OK(node_.mkdirs("/sys/kernel/iommu_groups/3/devices"));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_THAT(found.units[0].problem, HasSubstr("lists no member device"));
}

// What could not be read is said, with its path and why, never taken for "nothing there".
TEST_F(IommuGroupsTest, AGroupWhoseMembersCannotBeReadSaysWhy) {
  ASSERT_OK(node_.charDevice("/dev/vfio/3", 244, 3));
  core::Scan found = scan();  // no /sys/kernel/iommu_groups/3 at all
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_EQ(found.units[0].problem,
            "cannot read /sys/kernel/iommu_groups/3/devices: No such file or directory");
  ASSERT_OK(node_.notADirectory("/sys/kernel/iommu_groups/3/devices"));
  found = scan();
  EXPECT_EQ(found.units[0].problem,
            "cannot read /sys/kernel/iommu_groups/3/devices: Not a directory");
}

TEST_F(IommuGroupsTest, AnUnreadableDevVfioIsSaidAsSuchNotAsNoGroup) {
  ASSERT_OK(node_.notADirectory("/dev/vfio"));
  core::Scan found = scan();
  EXPECT_TRUE(found.units.empty());
  EXPECT_EQ(found.missing, "cannot read /dev/vfio: Not a directory");
}

TEST_F(IommuGroupsTest, HostNamesInProblemsAndWarningsAreQuotedBoundedAndEscaped) {
  group(7, {{"0000:00:07.0", "e1000e\n\x1b[2J"}});
  testing::LogCapture log("vfio");
  ASSERT_OK(node_.charDevice("/dev/vfio/" + std::string(200, 'z') + "\r", 244, 9));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_THAT(found.units[0].problem, HasSubstr("bound to \"e1000e\\n\\x1b[2J\""));
  EXPECT_THAT(log.text(), HasSubstr("\"zzz"));
  EXPECT_THAT(log.text(), HasSubstr("(201 bytes)"));
  EXPECT_LT(log.text().size(), 400u);
}

TEST_F(IommuGroupsTest, NoGroupsSaysWhatIsMissing) {
  core::Scan found = scan();
  EXPECT_TRUE(found.units.empty());
  EXPECT_THAT(found.missing, HasSubstr("no VFIO group in /dev/vfio"));
}

TEST_F(IommuGroupsTest, IncludesIommufdNodesWhenTheKernelHasThem) {
  group(7, {{"0000:00:07.0", "vfio-pci"}});
  ASSERT_OK(node_.mkdirs("/sys/devices/pci0000:00/0000:00:07.0/vfio-dev/vfio0"));
  ASSERT_OK(node_.charDevice("/dev/vfio/devices/vfio0", 511, 0));
  // Without /dev/iommu (before Linux 6.6) the cdev is not offered.
  EXPECT_EQ(scan().units[0].grant.nodes.size(), 2u);
  ASSERT_OK(node_.charDevice("/dev/iommu", 10, 123));
  core::Scan found = scan();
  std::vector<std::string> paths;
  for (const auto& n : found.units[0].grant.nodes) paths.push_back(n.path);
  EXPECT_THAT(
      paths, ElementsAre("/dev/vfio/vfio", "/dev/vfio/7", "/dev/vfio/devices/vfio0", "/dev/iommu"));
}

}  // namespace
}  // namespace mvf::vfio
