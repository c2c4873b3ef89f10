// The real mvf-worker-usb against the kubelet stand-in: matching, replugs, new buses.
#include "tests/integration/worker_test.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class UsbWorkerTest : public WorkerTest {
 protected:
  int occurrences(const std::string& text) {
    std::string log = worker_->log();
    int count = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++count;
    }
    return count;
  }
};

TEST_F(UsbWorkerTest, ASelectorMatchingNothingIsLoggedOnceAndAgainWhenItFirstMatches) {
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  start(MVF_WORKER_USB, {"--usb-match", "0403:6001", "--usb-match", "0627:0001"});
  ASSERT_TRUE(counts("intel.com/usb", 1000, 1000));
  ASSERT_TRUE(worker_->awaitLog("--usb-match 0403:6001 matches nothing on this node", kTimeout));
  // Rescans change nothing to say: a device nobody selects comes and goes.
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-2", .devnum = 3, .vendor = "1d6b"}));
  worker_->signal(SIGHUP);  // a rescan, awaited through its log line
  ASSERT_TRUE(worker_->awaitLog("SIGHUP: rescanning", kTimeout));
  // The device is plugged in later.
  ASSERT_OK(
      addUsbDevice(node_, {.portPath = "1-3", .devnum = 4, .vendor = "0403", .product = "6001"}));
  ASSERT_TRUE(worker_->awaitLog("--usb-match 0403:6001 now matches usb-1-3", kTimeout))
      << worker_->log();
  EXPECT_EQ(occurrences("--usb-match 0403:6001 matches nothing"), 1) << worker_->log();
  EXPECT_EQ(occurrences("--usb-match 0627:0001 matches usb-1-1"), 1) << worker_->log();
}

// Nothing usable before and after, but for another reason: that is said, though the
// advertised list does not change.
TEST_F(UsbWorkerTest, ANewReasonForNothingUsableIsLoggedThoughTheListStaysTheSame) {
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-1", .devnum = 2, .vendor = "zzzz"}));
  start(MVF_WORKER_USB);
  ASSERT_TRUE(counts("intel.com/usb", 1000, 0));
  ASSERT_TRUE(worker_->awaitLog("1 ignored as unreadable or not valid", kTimeout))
      << worker_->log();
  ASSERT_OK(node_.notADirectory("/sys/bus/usb/devices"));
  worker_->signal(SIGHUP);
  EXPECT_TRUE(worker_->awaitLog(
      "still no device usable (SIGHUP): cannot read /sys/bus/usb/devices: Not a directory",
      kTimeout))
      << worker_->log();
}

TEST_F(UsbWorkerTest, SharedModeGrantsEveryMatchedDevice) {
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-2", .devnum = 3, .deviceClass = "09"}));
  ASSERT_OK(addUsbDevice(node_, {.portPath = "2-3", .devnum = 2, .vendor = "46f4"}));
  start(MVF_WORKER_USB);
  ASSERT_TRUE(counts("intel.com/usb", 1000, 1000));
  auto containers = allocate("intel.com/usb", {{"usb-0"}, {"usb-1"}});
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& container : containers) {
    EXPECT_THAT(container.nodes, ElementsAre("/dev/bus/usb/001/002:rw", "/dev/bus/usb/002/002:rw"));
    EXPECT_THAT(container.envs, ElementsAre(Pair("USB_RESOURCE_INTEL_COM_USB", "1:2,2:2")));
  }
}

TEST_F(UsbWorkerTest, ExclusiveIdSurvivesAReplugAtTheSamePortWithANewDevnum) {
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-1", .devnum = 2}));
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-2", .devnum = 3, .vendor = "046d"}));
  start(MVF_WORKER_USB, {"--mode", "exclusive", "--usb-match", "0627:0001"});
  ASSERT_TRUE(lists("intel.com/usb", {"usb-1-1"}));

  // Unplugged: the kernel removes its sysfs dir and its node.
  ASSERT_OK(node_.remove("/sys/devices/pci0000:00/0000:00:06.0/usb1/1-1"));
  ASSERT_OK(node_.remove("/sys/bus/usb/devices/1-1"));
  ASSERT_OK(node_.remove("/sys/bus/usb/devices/1-1:1.0"));
  ASSERT_OK(node_.remove("/dev/bus/usb/001/002"));
  ASSERT_TRUE(lists("intel.com/usb", {}, {"usb-1-1"}));

  // Plugged back into the same port: a new device number.
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-1", .devnum = 7}));
  ASSERT_TRUE(lists("intel.com/usb", {"usb-1-1"}));
  auto containers = allocate("intel.com/usb", {{"usb-1-1"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].nodes, ElementsAre("/dev/bus/usb/001/007:rw"));
  EXPECT_THAT(containers[0].envs, ElementsAre(Pair("USB_RESOURCE_INTEL_COM_USB", "1:7")));
}

TEST_F(UsbWorkerTest, ADeviceOnANewBusIsSeen) {
  ASSERT_OK(node_.mkdirs("/dev/bus/usb"));
  start(MVF_WORKER_USB, {"--mode", "exclusive"});
  ASSERT_TRUE(lists("intel.com/usb", {}));
  // Bus 3 did not exist: its dir and the device's node appear together.
  ASSERT_OK(addUsbDevice(node_, {.portPath = "3-1", .devnum = 2}));
  ASSERT_TRUE(lists("intel.com/usb", {"usb-3-1"}));
  ASSERT_OK(addUsbDevice(node_, {.portPath = "3-2", .devnum = 3}));
  ASSERT_TRUE(lists("intel.com/usb", {"usb-3-1", "usb-3-2"}));
}

}  // namespace
}  // namespace mvf::testing
