// The USB worker's scan over a sysfs tree whose device has what the input says, line by
// line: its entry name in /sys/bus/usb/devices, busnum, devnum, idVendor, idProduct,
// serial, bDeviceClass; then a --usb-match selector and --usb-hubs.
#include <cstdint>
#include <regex>

#include "fuzz/fuzz_input.h"
#include "tests/support/fake_node.h"
#include "workers/usb/usb_devices.h"

namespace mvf::fuzz {
namespace {

void scanUsb(const std::vector<std::string>& in) {
  testing::FakeNode node;
  std::string name = entryName(in[0], "1-2");
  std::string dir = "/sys/bus/usb/devices/" + name;
  const char* attributes[] = {"busnum",    "devnum", "idVendor",
                              "idProduct", "serial", "bDeviceClass"};
  for (size_t i = 0; i < std::size(attributes); ++i) {
    // The kernel ends each attribute with a newline; the input says the rest.
    (void)node.file(dir + "/" + attributes[i], in[i + 1] + "\n");
  }
  (void)node.charDevice("/dev/bus/usb/001/002");
  std::vector<usb::UsbMatch> matches;
  if (auto match = usb::parseUsbMatch(in[7])) matches.push_back(*match);
  usb::UsbDevices devices(testing::hostFsOf(node), matches, in[8] == "true");
  core::Scan scan = devices.scan();
  static const std::regex kNode("/dev/bus/usb/[0-9]{3}/[0-9]{3}");
  static const std::regex kEnv("[1-9][0-9]{0,2}:[1-9][0-9]{0,2}");
  for (const auto& unit : scan.units) {
    check(unit.id == "usb-" + name, "the unit is named by its port path");
    check(usb::isPortPath(name), "only port paths are devices");
    check(unit.grant.nodes.size() == 1 && std::regex_match(unit.grant.nodes[0].path, kNode),
          "the grant is one node /dev/bus/usb/BBB/DDD");
    check(unit.grant.envs.size() == 1 && std::regex_match(unit.grant.envs[0].second, kEnv),
          "the env is <bus>:<devnum> in decimal");
  }
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { scanUsb(lines(data, size, 9)); }

}  // namespace mvf::fuzz
