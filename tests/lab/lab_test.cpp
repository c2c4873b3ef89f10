// Acceptance tests on real kernel device nodes, in the device lab's QEMU guest
// (../shared/lab): the supervisor, its five workers and the kubelet stand-in, against the
// guest's virtio-gpu, xhci USB devices, vfio-pci-bound edu device, udmabuf and an Xvfb
// display; every Allocate response applied to a real container by runc; USB and PCI
// hotplug through the QEMU monitor. Each check prints one "LAB ..." line with what it
// saw. Run by ctest -L lab through run-in-guest.sh; outside the guest every test skips.
// The CDI suite is lab_cdi_test.cpp; both run in one guest boot (one binary).
#include "tests/lab/lab_fixture.h"

namespace mvf::testing {
namespace {

// ---- 1. Discovery ----

TEST_F(Lab, EachResourceIsRegisteredAndHealthy) {
  for (const char* name : {"x11", "udma", "vfio", "igpu", "usb"}) {
    std::string resource = std::string("intel.com/") + name;
    ASSERT_TRUE(kubelet_->waitFor(
        [&](const Node& node) {
          auto it = node.find(resource);
          return it != node.end() && !it->second.stopped && it->second.healthy() > 0 &&
                 it->second.healthy() == it->second.capacity();
        },
        kTimeout))
        << resource << "\n"
        << kubelet_->describeNode() << supervisor_->log();
    auto state = kubelet_->resource(resource);
    say("discovery: " + resource + " registered, " + std::to_string(state->healthy()) + "/" +
        std::to_string(state->capacity()) + " Healthy");
  }
}

TEST_F(Lab, ExclusiveModesListExactlyTheRealDevices) {
  auto groups = realVfioGroups();
  ASSERT_FALSE(groups.empty()) << "the lab binds its edu device to vfio-pci";
  ASSERT_TRUE(lists("intel.com/vfio", groups)) << join(listed("intel.com/vfio"));
  std::vector<std::string> members = listDir("/sys/kernel/iommu_groups/" + groups[0] + "/devices");
  auto vfio = allocate("intel.com/vfio", {groups[0]});
  EXPECT_EQ(vfio.envs().at("PCI_RESOURCE_INTEL_COM_VFIO"), join(members, ","));
  say("discovery: intel.com/vfio lists groups [" + join(groups) + "]; group " + groups[0] +
      " gives PCI_RESOURCE_INTEL_COM_VFIO=" + vfio.envs().at("PCI_RESOURCE_INTEL_COM_VFIO") +
      " and " + deviceNodes(vfio));

  std::string gpu = fs::read_symlink("/sys/class/drm/card0/device").filename();
  ASSERT_TRUE(lists("intel.com/igpu", {gpu})) << join(listed("intel.com/igpu"));
  auto igpu = allocate("intel.com/igpu", {gpu});
  EXPECT_EQ(deviceNodes(igpu), "/dev/dri/card0:rw, /dev/dri/renderD128:rw");
  say("discovery: intel.com/igpu lists " + gpu +
      " (virtio-gpu, --igpu-vendor any): " + deviceNodes(igpu));

  auto usb = realUsbDevices();
  ASSERT_FALSE(usb.empty());
  ASSERT_TRUE(lists("intel.com/usb", usb)) << join(listed("intel.com/usb"));
  say("discovery: intel.com/usb lists the non-hub devices by port path: " + join(usb));

  auto x11 = allocate("intel.com/x11", {"x11-0"});
  EXPECT_EQ(x11.envs().at("DISPLAY"), ":99");
  say("discovery: intel.com/x11 hands out the Xvfb display: DISPLAY=" + x11.envs().at("DISPLAY"));
}

// ---- 2. Allocate, applied by runc ----

TEST_F(Lab, TheGpusNodesWorkInAContainerAndNothingElseDoes) {
  std::string gpu = fs::read_symlink("/sys/class/drm/card0/device").filename();
  auto response = allocate("intel.com/igpu", {gpu});
  auto result = inContainer(
      response, {"drm:/dev/dri/card0", "drm:/dev/dri/renderD128", "denied:/dev/udmabuf"},
      {"/dev/udmabuf"});
  say("runc igpu:\n" + result.output);
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

TEST_F(Lab, UdmabufWorksInAContainerAndNothingElseDoes) {
  auto response = allocate("intel.com/udma", {"udma-0"});
  auto result = inContainer(response, {"udmabuf:/dev/udmabuf", "denied:/dev/dri/renderD128"},
                            {"/dev/dri/renderD128"});
  say("runc udma:\n" + result.output);
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

TEST_F(Lab, AVfioGroupWorksInAContainerAndNothingElseDoes) {
  auto groups = realVfioGroups();
  ASSERT_FALSE(groups.empty());
  auto response = allocate("intel.com/vfio", {groups[0]});
  auto result = inContainer(response, {"vfio:/dev/vfio/" + groups[0], "denied:/dev/udmabuf"},
                            {"/dev/udmabuf"});
  say("runc vfio:\n" + result.output);
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

TEST_F(Lab, AUsbDeviceWorksInAContainerAndTheOthersDoNot) {
  auto usb = realUsbDevices();
  ASSERT_GE(usb.size(), 2u);
  auto response = allocate("intel.com/usb", {usb[0]});
  ASSERT_EQ(response.devices_size(), 1);
  std::string mine = response.devices(0).host_path();
  auto other = allocate("intel.com/usb", {usb[1]}).devices(0).host_path();
  auto result = inContainer(response, {"usb:" + mine, "denied:" + other}, {other});
  say("runc usb (" + usb[0] + ", USB_RESOURCE_INTEL_COM_USB=" +
      response.envs().at("USB_RESOURCE_INTEL_COM_USB") + "):\n" + result.output);
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

TEST_F(Lab, AnX11ClientConnectsThroughTheReadOnlyMountOnly) {
  auto response = allocate("intel.com/x11", {"x11-0"});
  ASSERT_EQ(response.mounts_size(), 1);
  EXPECT_TRUE(response.mounts(0).read_only());
  // Its own network namespace cuts off Xvfb's abstract socket: only the mount can work.
  auto result = inContainer(response, {"x11:99", "readonly:/tmp/.X11-unix"});
  say("runc x11 (own network namespace, DISPLAY=" + response.envs().at("DISPLAY") + "):\n" +
      result.output);
  EXPECT_EQ(result.exitCode, 0) << result.output;
  // And without the mount, nothing connects: the check proves the mount is what works.
  v1beta1::ContainerAllocateResponse bare;
  auto without = inContainer(bare, {"x11:99"});
  say("runc x11 without the mount: " + without.output);
  EXPECT_NE(without.exitCode, 0);
}

// ---- 3. Hotplug ----

TEST_F(Lab, AUsbDeviceComesGoesAndKeepsItsIdWhenReplugged) {
  auto before = realUsbDevices();
  ASSERT_EQ(hmp("device_add usb-kbd,bus=xhci.0,port=5,id=labkbd").exitCode, 0);
  ASSERT_TRUE(until([] { return fs::exists("/sys/bus/usb/devices/1-5/devnum"); }));
  std::string node;
  ASSERT_TRUE(until([&] {
    char path[32];
    std::snprintf(path, sizeof(path), "/dev/bus/usb/001/%03d",
                  std::atoi(readFile("/sys/bus/usb/devices/1-5/devnum").c_str()));
    node = path;
    return fs::exists(node);
  }));
  auto appeared = Clock::now();
  auto after = before;
  after.push_back("usb-1-5");
  ASSERT_TRUE(lists("intel.com/usb", after)) << join(listed("intel.com/usb"));
  auto seen = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - appeared);
  // A figure, not an assertion: the guest runs under TCG, at a speed nobody controls.
  say("hotplug: usb-kbd on port 5 -> " + node + "; usb-1-5 listed " + std::to_string(seen.count()) +
      " ms after the node appeared");

  ASSERT_EQ(hmp("device_del labkbd").exitCode, 0);
  ASSERT_TRUE(lists("intel.com/usb", before, {"usb-1-5"})) << join(listed("intel.com/usb"));
  say("hotplug: device_del -> usb-1-5 listed Unhealthy");

  ASSERT_EQ(hmp("device_add usb-kbd,bus=xhci.0,port=5,id=labkbd2").exitCode, 0);
  ASSERT_TRUE(lists("intel.com/usb", after)) << join(listed("intel.com/usb"));
  auto response = allocate("intel.com/usb", {"usb-1-5"});
  std::string replugged = response.devices(0).host_path();
  EXPECT_NE(replugged, node) << "a re-plug gets a new device number";
  say("hotplug: re-plugged on port 5 -> still usb-1-5, now " + replugged + " (was " + node + ")");
  hmp("device_del labkbd2");
  ASSERT_TRUE(lists("intel.com/usb", before, {"usb-1-5"}));
}

TEST_F(Lab, AHotAddedVfioGroupAppearsAndAnUnboundMemberMakesItUnusable) {
  auto before = realVfioGroups();
  ASSERT_EQ(hmp("device_add edu,bus=rp1,id=labedu").exitCode, 0);
  std::string address;
  ASSERT_TRUE(until([&] {
    for (const auto& name : listDir("/sys/bus/pci/devices")) {
      std::string dir = "/sys/bus/pci/devices/" + name;
      if (readFile(dir + "/vendor") == "0x1234" && readFile(dir + "/device") == "0x11e8" &&
          !fs::exists(dir + "/driver")) {
        address = name;
      }
    }
    return !address.empty();
  }));
  std::ofstream("/sys/bus/pci/devices/" + address + "/driver_override") << "vfio-pci";
  std::ofstream("/sys/bus/pci/drivers_probe") << address;
  std::string group =
      fs::read_symlink("/sys/bus/pci/devices/" + address + "/iommu_group").filename();
  auto with = before;
  with.push_back(group);
  ASSERT_TRUE(lists("intel.com/vfio", with)) << join(listed("intel.com/vfio"));
  auto response = allocate("intel.com/vfio", {group});
  EXPECT_EQ(response.envs().at("PCI_RESOURCE_INTEL_COM_VFIO"), address);
  say("hotplug: edu " + address + " bound to vfio-pci -> group " + group + " listed Healthy");

  std::ofstream("/sys/bus/pci/drivers/vfio-pci/unbind") << address;
  ASSERT_TRUE(lists("intel.com/vfio", before, {group})) << join(listed("intel.com/vfio"));
  say("hotplug: " + address + " unbound from vfio-pci -> group " + group + " Unhealthy");
  hmp("device_del labedu");
}

// ---- 4. Faults ----

TEST_F(Lab, AKilledVfioWorkerComesBackWithTheSameGroups) {
  auto groups = realVfioGroups();
  // A group hot-removed by an earlier test may still be listed Unhealthy.
  ASSERT_TRUE(healthyAre("intel.com/vfio", groups)) << join(listed("intel.com/vfio"));
  int registrations = kubelet_->resource("intel.com/vfio")->registrations;
  auto pids = runCommand({"pgrep", "-f", "mvf-worker-vfio"});
  pid_t pid = std::atoi(pids.output.c_str());
  ASSERT_GT(pid, 0) << pids.output;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(kubelet_->waitFor(
      [&](const Node& node) { return node.at("intel.com/vfio").registrations > registrations; },
      kTimeout))
      << supervisor_->log();
  // Registered again, and its list is the same groups, all Healthy (a fresh process no
  // longer lists the one that vanished before it started).
  ASSERT_TRUE(lists("intel.com/vfio", groups)) << join(listed("intel.com/vfio"));
  for (const char* name : {"x11", "udma", "igpu", "usb"}) {
    EXPECT_EQ(kubelet_->resource(std::string("intel.com/") + name)->registrations, 1) << name;
  }
  say("faults: vfio worker (pid " + std::to_string(pid) +
      ") SIGKILLed -> registered again, "
      "listing groups [" +
      join(groups) + "] Healthy; x11, udma, igpu and usb not re-registered");
}

}  // namespace
}  // namespace mvf::testing
