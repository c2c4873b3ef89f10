#include "tests/support/fake_sysfs.h"

#include <cstdio>
#include <filesystem>
#include <iterator>

namespace mvf::testing {
namespace {

constexpr const char* kPciRoot = "/sys/devices/pci0000:00";
constexpr const char* kUsbController = "0000:00:06.0";

// Runs the steps in order and stops at the first error.
base::Status all(std::initializer_list<base::Status> results) {
  for (const auto& result : results) {
    if (!result) return result;
  }
  return base::ok();
}

size_t countEntries(const FakeNode& node, const std::string& hostPath) {
  std::error_code ec;
  auto entries = std::filesystem::directory_iterator(node.host(hostPath), ec);
  return ec ? 0 : static_cast<size_t>(std::distance(entries, {}));
}

std::string pad3(int value) {
  char text[8];
  std::snprintf(text, sizeof(text), "%03d", value);
  return text;
}

}  // namespace

base::Status addPciFunction(const FakeNode& node, const PciFunction& function) {
  std::string dir = std::string(kPciRoot) + "/" + function.address;
  base::Status error = all({node.file(dir + "/vendor", function.vendor + "\n"),
                            node.file(dir + "/class", function.pciClass + "\n"),
                            node.file(dir + "/numa_node", std::to_string(function.numaNode) + "\n"),
                            node.symlink("/sys/bus/pci/devices/" + function.address,
                                         "../../../devices/pci0000:00/" + function.address)});
  if (!error) return error;
  if (!function.driver.empty()) {
    error = node.symlink(dir + "/driver", "../../../bus/pci/drivers/" + function.driver);
  }
  if (error && function.virtualFunction) {
    error = node.symlink(dir + "/physfn", "../0000:00:01.0");
  }
  bool registered =
      function.vfioRegistered.value_or(function.driver.find("vfio") != std::string::npos);
  if (error && registered) {
    std::string name = "vfio" + std::to_string(countEntries(node, "/sys/class/vfio-dev"));
    error =
        all({node.mkdirs(dir + "/vfio-dev/" + name),
             node.symlink("/sys/class/vfio-dev/" + name,
                          "../../devices/pci0000:00/" + function.address + "/vfio-dev/" + name)});
  }
  return error;
}

base::Status addDrmCard(const FakeNode& node, const std::string& address, int cardMinor,
                        std::optional<int> renderMinor) {
  std::string device = std::string(kPciRoot) + "/" + address;
  std::string card = "card" + std::to_string(cardMinor);
  base::Status error =
      all({node.mkdirs(device + "/drm/" + card),
           node.symlink(device + "/drm/" + card + "/device", "../../../" + address),
           node.symlink("/sys/class/drm/" + card,
                        "../../devices/pci0000:00/" + address + "/drm/" + card),
           // A connector: listed in /sys/class/drm too, and never a card of its own.
           node.symlink(
               "/sys/class/drm/" + card + "-HDMI-A-1",
               "../../devices/pci0000:00/" + address + "/drm/" + card + "/" + card + "-HDMI-A-1"),
           node.charDevice("/dev/dri/" + card, 226, static_cast<unsigned>(cardMinor))});
  if (!error || !renderMinor) return error;
  std::string render = "renderD" + std::to_string(*renderMinor);
  return all({node.mkdirs(device + "/drm/" + render),
              node.symlink("/sys/class/drm/" + render,
                           "../../devices/pci0000:00/" + address + "/drm/" + render),
              node.charDevice("/dev/dri/" + render, 226, static_cast<unsigned>(*renderMinor))});
}

base::Status addIommuGroup(const FakeNode& node, int group,
                           const std::vector<std::string>& members) {
  std::string dir = "/sys/kernel/iommu_groups/" + std::to_string(group) + "/devices";
  base::Status error = node.mkdirs(dir);
  for (const auto& member : members) {
    if (error) {
      error = node.symlink(dir + "/" + member, "../../../../devices/pci0000:00/" + member);
    }
  }
  if (error) {
    error =
        node.charDevice("/dev/vfio/" + std::to_string(group), 244, static_cast<unsigned>(group));
  }
  return error;
}

base::Status addUsbDevice(const FakeNode& node, const UsbDevice& device) {
  int bus = std::stoi(device.portPath.substr(0, device.portPath.find('-')));
  // Nested ports sit below their hub: usb1/1-2/1-2.3.
  std::string path = std::string(kPciRoot) + "/" + kUsbController + "/usb" + std::to_string(bus);
  std::string prefix = device.portPath.substr(0, device.portPath.find('.'));
  path += "/" + prefix;
  for (size_t dot = device.portPath.find('.'); dot != std::string::npos;
       dot = device.portPath.find('.', dot + 1)) {
    size_t next = device.portPath.find('.', dot + 1);
    path += "/" + device.portPath.substr(0, next);
  }
  std::string relative = "../../.." + path.substr(4);  // from /sys/bus/usb/devices
  base::Status error = all({node.file(path + "/busnum", std::to_string(bus) + "\n"),
                            node.file(path + "/devnum", std::to_string(device.devnum) + "\n"),
                            node.file(path + "/idVendor", device.vendor + "\n"),
                            node.file(path + "/idProduct", device.product + "\n"),
                            node.file(path + "/bDeviceClass", device.deviceClass + "\n"),
                            node.symlink("/sys/bus/usb/devices/" + device.portPath, relative),
                            // An interface: listed beside the device, never one itself.
                            node.mkdirs(path + "/" + device.portPath + ":1.0"),
                            node.symlink("/sys/bus/usb/devices/" + device.portPath + ":1.0",
                                         relative + "/" + device.portPath + ":1.0"),
                            node.charDevice("/dev/bus/usb/" + pad3(bus) + "/" + pad3(device.devnum),
                                            189, static_cast<unsigned>(device.devnum))});
  if (error && !device.serial.empty()) {
    error = node.file(path + "/serial", device.serial + "\n");
  }
  return error;
}

base::Status addEveryDeviceClass(const FakeNode& node) {
  return all(
      {node.charDevice("/dev/udmabuf", 10, 125), node.charDevice("/dev/vfio/vfio", 10, 196),
       addPciFunction(node, {.address = "0000:00:07.0",
                             .vendor = "0x1234",
                             .pciClass = "0x00ff00",
                             .driver = "vfio-pci"}),
       addIommuGroup(node, 7, {"0000:00:07.0"}),
       // card0 belongs to another device on many machines; this iGPU is card1.
       addPciFunction(node, {.address = "0000:00:02.0", .driver = "i915"}),
       addDrmCard(node, "0000:00:02.0", 1, 128),
       addUsbDevice(node, {.portPath = "1-1", .devnum = 2, .serial = "kbd-1"}),
       addUsbDevice(node, {.portPath = "1-2", .devnum = 3, .product = "0002", .serial = "tab-1"})});
}

}  // namespace mvf::testing
