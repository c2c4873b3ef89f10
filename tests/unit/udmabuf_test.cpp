// What the udma worker reports for each kind of thing that may sit at /dev/udmabuf.
#include "workers/udma/udmabuf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "tests/support/fake_node.h"
#include "tests/support/status.h"

namespace mvf::udma {
namespace {

using testing::FakeNode;
using ::testing::HasSubstr;

struct Case {
  const char* name;
  std::function<base::Status(const FakeNode&)> build;
  bool usable;
  const char* problem;
};

class UdmabufScan : public ::testing::TestWithParam<Case> {};

TEST_P(UdmabufScan, ReportsOneUnitGrantingDevUdmabuf) {
  FakeNode node;
  ASSERT_OK(node.mkdirs("/dev"));
  ASSERT_OK(GetParam().build(node));
  Udmabuf resource{testing::hostFsOf(node)};
  core::Scan scan = resource.scan();
  ASSERT_EQ(scan.units.size(), 1u);
  const core::Unit& unit = scan.units[0];
  EXPECT_EQ(unit.usable(), GetParam().usable) << unit.problem;
  EXPECT_THAT(unit.problem, HasSubstr(GetParam().problem));
  ASSERT_EQ(unit.grant.nodes.size(), 1u);
  EXPECT_EQ(unit.grant.nodes[0].path, "/dev/udmabuf");  // never prefixed with the root
  EXPECT_EQ(unit.grant.nodes[0].permissions, "rw");
}

INSTANTIATE_TEST_SUITE_P(
    Table, UdmabufScan,
    ::testing::Values(
        Case{"CharDevice", [](const FakeNode& n) { return n.charDevice("/dev/udmabuf"); }, true,
             ""},
        Case{"Missing", [](const FakeNode&) -> base::Status { return base::ok(); }, false,
             "does not exist"},
        Case{"RegularFile", [](const FakeNode& n) { return n.file("/dev/udmabuf"); }, false,
             "a regular file"},
        Case{"Directory", [](const FakeNode& n) { return n.mkdirs("/dev/udmabuf"); }, false,
             "a directory"},
        Case{"Fifo", [](const FakeNode& n) { return n.fifo("/dev/udmabuf"); }, false, "a fifo"},
        // What cannot be looked at is said with why, not taken for a missing module.
        Case{"DevIsNoDirectory", [](const FakeNode& n) { return n.notADirectory("/dev"); }, false,
             "cannot read /dev/udmabuf: Not a directory"},
        Case{"SymlinkLoopOnTheWay",
             [](const FakeNode& n) {
               auto removed = n.remove("/dev");
               return removed ? n.symlink("/dev", "/dev") : removed;
             },
             false, "cannot read /dev/udmabuf: Too many levels of symbolic links"},
        // Even to a real character device: a symlink is not the node the kernel made.
        Case{"SymlinkToCharDevice",
             [](const FakeNode& n) {
               auto made = n.charDevice("/dev/real");
               return made ? n.symlink("/dev/udmabuf", "real") : made;
             },
             false, "a symlink"},
        Case{"SymlinkOutOfTheRoot",
             [](const FakeNode& n) { return n.symlink("/dev/udmabuf", "/../../../dev/null"); },
             false, "a symlink"}),
    [](const auto& param) { return std::string(param.param.name); });

TEST(Udmabuf, WatchesDevForTheNodeToComeAndGo) {
  Udmabuf resource{core::HostFs("/")};
  EXPECT_EQ(resource.watchDirs(), std::vector<std::string>{"/dev"});
}

}  // namespace
}  // namespace mvf::udma
