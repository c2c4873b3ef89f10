// Which USB devices the usb worker finds, from /sys/bus/usb/devices as a real kernel lays
// it out, and what a container gets for them.
#include "workers/usb/usb_devices.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/fake_sysfs.h"
#include "tests/support/log_capture.h"
#include "tests/support/status.h"

namespace mvf::usb {
namespace {

using ::testing::ElementsAre;
using testing::FakeNode;
using ::testing::HasSubstr;
using testing::UsbDevice;

class UsbDevicesTest : public ::testing::Test {
 protected:
  core::Scan scan(std::vector<std::string> matches = {}, bool hubs = false) {
    std::vector<UsbMatch> parsed;
    for (const auto& text : matches) parsed.push_back(*parseUsbMatch(text));
    return UsbDevices(testing::hostFsOf(node_), parsed, hubs).scan();
  }

  static std::vector<std::string> ids(const core::Scan& scan) {
    std::vector<std::string> out;
    for (const auto& unit : scan.units) out.push_back(unit.id);
    return out;
  }

  FakeNode node_;
};

TEST_F(UsbDevicesTest, FindsDevicesByPortPathAndSkipsHubs) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-3", .devnum = 4, .deviceClass = "09"}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-3.2", .devnum = 5}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "2-3", .devnum = 2, .vendor = "46f4"}));
  EXPECT_THAT(ids(scan()), ElementsAre("usb-1-1", "usb-1-3.2", "usb-2-3"));
  EXPECT_THAT(ids(scan({}, /*hubs=*/true)),
              ElementsAre("usb-1-1", "usb-1-3", "usb-1-3.2", "usb-2-3"));
}

TEST_F(UsbDevicesTest, AContainerGetsTheNodesAndKubevirtsEnv) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-2", .devnum = 14}));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 2u);
  UsbDevices devices(testing::hostFsOf(node_), {}, false);
  core::Grant grant = devices.compose({&found.units[0], &found.units[1]});
  std::vector<std::string> paths;
  for (const auto& n : grant.nodes) paths.push_back(n.path);
  EXPECT_THAT(paths, ElementsAre("/dev/bus/usb/001/002", "/dev/bus/usb/001/014"));
  EXPECT_THAT(grant.envs, ElementsAre(std::pair<std::string, std::string>(
                              "USB_RESOURCE_INTEL_COM_USB", "1:2,1:14")));
}

TEST_F(UsbDevicesTest, MatchSelectsByVendorProductAndSerial) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2, .serial = "A1"}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-2", .devnum = 3, .serial = "B2"}));
  ASSERT_OK(testing::addUsbDevice(
      node_, {.portPath = "1-4", .devnum = 6, .vendor = "046D", .product = "C52B"}));
  EXPECT_THAT(ids(scan({"0627:0001"})), ElementsAre("usb-1-1", "usb-1-2"));
  EXPECT_THAT(ids(scan({"0627:0001:B2"})), ElementsAre("usb-1-2"));
  EXPECT_THAT(ids(scan({"046d:c52b", "0627:0001:A1"})), ElementsAre("usb-1-1", "usb-1-4"));
  core::Scan none = scan({"ffff:0001"});
  EXPECT_TRUE(none.units.empty());
  EXPECT_THAT(none.missing, HasSubstr("--usb-match"));
}

TEST_F(UsbDevicesTest, ASelectorMatchesTheSerialAsCatShowsItWhateverThePadding) {
  // The kernel pads some serial strings; an operator copies the value as `cat` shows it.
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-3",
                                          .devnum = 4,
                                          .vendor = "0403",
                                          .product = "6001",
                                          .serial = "   A12B34  "}));
  EXPECT_THAT(ids(scan({"0403:6001:   A12B34  "})), ElementsAre("usb-1-3"));
  EXPECT_THAT(ids(scan({"0403:6001:A12B34"})), ElementsAre("usb-1-3"));
  EXPECT_THAT(ids(scan({" 0403 : 6001 "})), ElementsAre("usb-1-3"));
}

TEST_F(UsbDevicesTest, HexIdsMatchInEitherCase) {
  ASSERT_OK(testing::addUsbDevice(
      node_, {.portPath = "1-4", .devnum = 6, .vendor = "046d", .product = "c52b"}));
  EXPECT_THAT(ids(scan({"046D:C52B"})), ElementsAre("usb-1-4"));
}

TEST_F(UsbDevicesTest, AMissingOrFakeNodeMakesTheDeviceUnusable) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(node_.remove("/dev/bus/usb/001/002"));
  ASSERT_OK(node_.file("/dev/bus/usb/001/002"));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_THAT(found.units[0].problem, HasSubstr("/dev/bus/usb/001/002 is a regular file"));
}

TEST_F(UsbDevicesTest, JunkOrMissingAttributesSkipTheDevice) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-2", .devnum = 3, .vendor = "xyz"}));
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-5", .devnum = 5}));
  ASSERT_OK(node_.remove("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-5/devnum"));
  ASSERT_OK(node_.fifo("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-5/devnum"));  // never blocks
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-6", .devnum = 6}));
  ASSERT_OK(node_.file("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-6/busnum", "99999999999\n"));
  ASSERT_OK(node_.remove("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-6/busnum"));
  ASSERT_OK(node_.file("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-6/busnum", "99999999999\n"));
  ASSERT_OK(node_.symlink("/sys/bus/usb/devices/1-9", "1-9"));  // a loop
  EXPECT_THAT(ids(scan()), ElementsAre("usb-1-1"));
}

// What could not be read is said, with its path and why, never taken for "no device".
TEST_F(UsbDevicesTest, AnUnreadableDevicesDirIsSaidAsSuchNotAsNoDevice) {
  ASSERT_OK(node_.notADirectory("/sys/bus/usb/devices"));
  core::Scan found = scan();
  EXPECT_TRUE(found.units.empty());
  EXPECT_EQ(found.missing, "cannot read /sys/bus/usb/devices: Not a directory");
}

TEST_F(UsbDevicesTest, AnUnreadableBusDirIsSaidAsSuchNotAsAMissingNode) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(node_.notADirectory("/dev/bus/usb/001"));
  core::Scan found = scan();
  ASSERT_EQ(found.units.size(), 1u);
  EXPECT_EQ(found.units[0].problem, "cannot read /dev/bus/usb/001: Not a directory");
}

TEST_F(UsbDevicesTest, AnUnreadableAttributeIsNamedWithWhy) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(node_.remove("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-1/idVendor"));
  ASSERT_OK(node_.mkdirs("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-1/idVendor"));
  testing::LogCapture log("usb");
  EXPECT_TRUE(scan().units.empty());
  EXPECT_THAT(log.text(), HasSubstr("ignoring /sys/bus/usb/devices/1-1: idVendor: a directory, "
                                    "not a regular file"));
}

TEST_F(UsbDevicesTest, JunkAttributesAreNamedAndNothingUsableSaysDevicesWereIgnored) {
  ASSERT_OK(testing::addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(node_.file("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-1/busnum", "\xff\x1b[31m\n"));
  ASSERT_OK(node_.file("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-1/idVendor", "zzzz\n"));
  testing::LogCapture log("usb");
  core::Scan found = scan();
  EXPECT_TRUE(found.units.empty());
  EXPECT_THAT(log.text(),
              HasSubstr("ignoring /sys/bus/usb/devices/1-1: busnum, idVendor not valid"));
  // Not "no USB device other than hubs": there was one, and it was ignored.
  EXPECT_EQ(found.missing,
            "no usable USB device in /sys/bus/usb/devices: 1 ignored as unreadable or not valid");
}

TEST_F(UsbDevicesTest, ThousandsOfDevicesAreAllFound) {
  // 8 buses of 125 devices: more than a real machine has, to show nothing is capped.
  for (int bus = 1; bus <= 8; ++bus) {
    for (int i = 0; i < 125; ++i) {
      std::string port =
          std::to_string(bus) + "-" + std::to_string(1 + i / 10) + "." + std::to_string(1 + i % 10);
      ASSERT_OK(testing::addUsbDevice(node_, {.portPath = port, .devnum = 2 + i}));
    }
  }
  core::Scan found = scan();
  EXPECT_EQ(found.units.size(), 1000u);
  EXPECT_TRUE(std::all_of(found.units.begin(), found.units.end(),
                          [](const core::Unit& unit) { return unit.usable(); }));
}

TEST(IsPortPath, AcceptsBusDashPortsOnly) {
  for (const char* good : {"1-2", "1-2.3", "12-1.2.3.4"}) EXPECT_TRUE(isPortPath(good)) << good;
  for (const char* bad : {"usb1", "1-2:1.0", "1-", "-2", "1-2.", "1-a", "1--2"}) {
    EXPECT_FALSE(isPortPath(bad)) << bad;
  }
}

TEST(ParseUsbMatch, TakesVidPidAndAnOptionalSerial) {
  auto match = parseUsbMatch("046D:C52B:SN:1");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->vendor, "046d");
  EXPECT_EQ(match->product, "c52b");
  EXPECT_EQ(match->serial, "SN:1");
  EXPECT_EQ(match->text, "046D:C52B:SN:1");
  EXPECT_EQ(parseUsbMatch("0403:6001:   A12B34  ")->serial, "A12B34");
  for (const char* bad :
       {"046d", "046d:", "46d:c52b", "046d:c52b:", "046d:c52b:   ", "zzzz:0001"}) {
    EXPECT_FALSE(parseUsbMatch(bad)) << bad;
  }
}

}  // namespace
}  // namespace mvf::usb
