// Acceptance tests on real kernel device nodes, in the device lab's QEMU guest
// (../shared/lab): the supervisor, its five workers and the kubelet stand-in, against the
// guest's virtio-gpu, xhci USB devices, vfio-pci-bound edu device, udmabuf and an Xvfb
// display; every Allocate response applied to a real container by runc; USB and PCI
// hotplug through the QEMU monitor. Each check prints one "LAB ..." line with what it saw.
// Run by ctest -L lab through run-in-guest.sh; outside the guest every test skips. One
// file, longer than most: a guest boot costs seconds under TCG, so every check runs in
// one boot, against one supervisor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/lab/oci_config.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using kubelet::KubeletStandIn;
using kubelet::Node;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

// Everything is slower under TCG emulation: generous safety nets, still never slept out.
constexpr auto kTimeout = 60s;
const std::string kBase = "/run/mvf-lab";  // the guest's own tmpfs: the 9p share holds no sockets
const std::string kLab = MVF_LAB_DIR;

void say(const std::string& line) { std::cout << "LAB " << line << std::endl; }

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

bool isPortPath(const std::string& name) {
  return !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])) &&
         name.find('-') != std::string::npos && name.find(':') == std::string::npos;
}

// What the guest's kernel shows, read straight from sysfs and /dev: the expected lists.
std::vector<std::string> realVfioGroups() {
  std::vector<std::string> groups;
  for (const auto& name : listDir("/dev/vfio")) {
    if (std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c); })) {
      groups.push_back(name);
    }
  }
  return groups;
}

std::vector<std::string> realUsbDevices() {
  std::vector<std::string> ids;
  for (const auto& name : listDir("/sys/bus/usb/devices")) {
    std::string dir = "/sys/bus/usb/devices/" + name;
    if (isPortPath(name) && readFile(dir + "/bDeviceClass") != "09") ids.push_back("usb-" + name);
  }
  return ids;
}

class Lab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* guest = std::getenv("LAB_GUEST");
    if (guest == nullptr || std::string(guest) != "1") return;
    inGuest_ = true;
    fs::create_directories(kBase);
    xvfb_ = new WorkerProcess("/usr/bin/Xvfb",
                              {":99", "-screen", "0", "1024x768x24", "-nolisten", "tcp"},
                              kBase + "/xvfb.log", false);
    kubelet_ = new KubeletStandIn(kBase + "/kd");
    ASSERT_OK(kubelet_->start());
    std::ofstream(kBase + "/mvf.ini") << "[vfio]\nmode = exclusive\n"
                                         "[igpu]\nmode = exclusive\nigpu-vendor = any\n"
                                         "[usb]\nmode = exclusive\n";
    startSupervisor();
  }

  static void startSupervisor() {
    supervisor_ = new WorkerProcess(
        MVF_SUPERVISOR,
        {"--kubelet-dir", kBase + "/kd", "--run-dir", kBase + "/run", "--status-socket",
         kBase + "/status.sock", "--config", kBase + "/mvf.ini"},
        kBase + "/supervisor.log", false);
  }

  static void TearDownTestSuite() {
    if (supervisor_ != nullptr) {
      supervisor_->signal(SIGTERM);
      supervisor_->wait(10s);
    }
    delete supervisor_;
    delete kubelet_;
    delete xvfb_;
  }

  void SetUp() override {
    if (!inGuest_) GTEST_SKIP() << "runs in the device lab's guest (ctest -L lab)";
  }

  // Waits until `resource` lists exactly `healthy` as Healthy and `unhealthy` as not
  // (without `unhealthy`, whatever else it lists as Unhealthy).
  static bool lists(const std::string& resource, std::vector<std::string> healthy,
                    std::vector<std::string> unhealthy = {}) {
    return waitForList(resource, std::move(healthy), std::move(unhealthy));
  }
  static bool healthyAre(const std::string& resource, std::vector<std::string> healthy) {
    return waitForList(resource, std::move(healthy), std::nullopt);
  }
  static bool waitForList(const std::string& resource, std::vector<std::string> healthy,
                          std::optional<std::vector<std::string>> unhealthy) {
    std::sort(healthy.begin(), healthy.end());
    if (unhealthy) std::sort(unhealthy->begin(), unhealthy->end());
    return kubelet_->waitFor(
        [&](const Node& node) {
          auto it = node.find(resource);
          return it != node.end() && !it->second.stopped && it->second.ids(true) == healthy &&
                 (!unhealthy || it->second.ids(false) == *unhealthy);
        },
        kTimeout);
  }

  static std::vector<std::string> listed(const std::string& resource) {
    std::vector<std::string> out;
    if (auto state = kubelet_->resource(resource)) {
      for (const auto& device : state->devices) out.push_back(device.id() + ":" + device.health());
    }
    return out;
  }

  static v1beta1::ContainerAllocateResponse allocate(const std::string& resource,
                                                     const std::vector<std::string>& ids) {
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (const auto& id : ids) container->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    grpc::Status status = kubelet_->allocate(resource, request, &response);
    EXPECT_TRUE(status.ok()) << resource << ": " << status.error_message();
    EXPECT_EQ(response.container_responses_size(), 1);
    return response.container_responses_size() ? response.container_responses(0)
                                               : v1beta1::ContainerAllocateResponse();
  }

  // Runs mvf-lab-probe (static) with `checks` in a runc container made from `response`,
  // on a rootfs of nothing but the probe.
  static CommandResult inContainer(const v1beta1::ContainerAllocateResponse& response,
                                   const std::vector<std::string>& checks,
                                   const std::vector<std::string>& denied = {}) {
    static int count = 0;
    std::string bundle = kBase + "/bundle" + std::to_string(++count);
    std::string rootfs = kBase + "/rootfs";
    if (!fs::exists(rootfs + "/probe")) {
      for (const char* dir : {"proc", "dev", "sys", "tmp", "run"}) {
        fs::create_directories(rootfs + "/" + dir);
      }
      fs::copy_file(MVF_LAB_PROBE, rootfs + "/probe");
    }
    fs::create_directories(bundle);
    std::vector<std::string> args = {"/probe"};
    args.insert(args.end(), checks.begin(), checks.end());
    std::ofstream(bundle + "/config.json") << ociConfig(response, rootfs, args, denied);
    return runCommand(
        {"timeout", "120", "runc", "run", "--bundle", bundle, "mvf-lab-" + std::to_string(count)});
  }

  static CommandResult hmp(const std::string& command) {
    return runCommand({kLab + "/guest-hmp.sh", command});
  }

  // Polls the guest's /dev until `ready()`: hotplug has no event the test could block on
  // short of its own inotify, and it takes 0.5–7 s under emulation anyway.
  static bool until(const std::function<bool()>& ready,
                    std::chrono::milliseconds timeout = kTimeout) {
    auto deadline = Clock::now() + timeout;
    while (!ready()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  static std::string deviceNodes(const v1beta1::ContainerAllocateResponse& response) {
    std::vector<std::string> nodes;
    for (const auto& spec : response.devices())
      nodes.push_back(spec.host_path() + ":" + spec.permissions());
    return join(nodes);
  }

  static inline bool inGuest_ = false;
  static inline WorkerProcess* xvfb_ = nullptr;
  static inline KubeletStandIn* kubelet_ = nullptr;
  static inline WorkerProcess* supervisor_ = nullptr;
};

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
