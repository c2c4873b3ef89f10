// The x11, vfio, igpu and usb worker binaries against the kubelet stand-in, on fake nodes
// laid out like a real kernel's, in each of their modes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <map>
#include <sstream>
#include <string_view>
#include <thread>

#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using kubelet::KubeletStandIn;
using kubelet::Node;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr auto kTimeout = 10s;

// What a container got, in a form that compares in one line.
struct Granted {
  std::vector<std::string> nodes;   // host path (== container path) + ":" + permissions
  std::vector<std::string> mounts;  // host -> container, ro/rw
  std::map<std::string, std::string> envs;
};

Granted granted(const v1beta1::ContainerAllocateResponse& response) {
  Granted out;
  for (const auto& spec : response.devices()) {
    EXPECT_EQ(spec.host_path(), spec.container_path());
    out.nodes.push_back(spec.host_path() + ":" + spec.permissions());
  }
  for (const auto& mount : response.mounts()) {
    out.mounts.push_back(mount.host_path() + "->" + mount.container_path() +
                         (mount.read_only() ? ":ro" : ":rw"));
  }
  out.envs.insert(response.envs().begin(), response.envs().end());
  return out;
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FakeNode::canMknod()) GTEST_SKIP() << "needs CAP_MKNOD to build device nodes";
    ASSERT_OK(kubelet_.start());
  }

  void start(const std::string& binary, std::vector<std::string> extra = {}) {
    auto args = nodeArgs(node_);
    args.insert(args.end(), extra.begin(), extra.end());
    worker_ = std::make_unique<WorkerProcess>(binary, args, node_.dir() + "/worker.log");
  }

  // Waits until `resource` lists exactly these IDs as healthy and these as unhealthy.
  bool lists(const std::string& resource, std::vector<std::string> healthy,
             std::vector<std::string> unhealthy = {}) {
    std::sort(healthy.begin(), healthy.end());
    std::sort(unhealthy.begin(), unhealthy.end());
    bool ok = kubelet_.waitFor(
        [&](const Node& node) {
          auto it = node.find(resource);
          return it != node.end() && !it->second.stopped && it->second.ids(true) == healthy &&
                 it->second.ids(false) == unhealthy;
        },
        kTimeout);
    if (!ok)
      ADD_FAILURE() << "the list never became as expected\n"
                    << kubelet_.describeNode() << worker_->log();
    return ok;
  }

  // Waits until `resource` advertises `total` devices of which `healthy` are healthy.
  bool counts(const std::string& resource, int64_t total, int64_t healthy) {
    bool ok = kubelet_.waitFor(
        [&](const Node& node) {
          auto it = node.find(resource);
          return it != node.end() && !it->second.stopped && it->second.capacity() == total &&
                 it->second.healthy() == healthy;
        },
        kTimeout);
    if (!ok) ADD_FAILURE() << kubelet_.describeNode() << worker_->log();
    return ok;
  }

  std::vector<Granted> allocate(const std::string& resource,
                                std::vector<std::vector<std::string>> containers,
                                grpc::Status* status = nullptr) {
    v1beta1::AllocateRequest request;
    for (const auto& ids : containers) {
      auto* container = request.add_container_requests();
      for (const auto& id : ids) container->add_devices_ids(id);
    }
    v1beta1::AllocateResponse response;
    grpc::Status result = kubelet_.allocate(resource, request, &response);
    if (status != nullptr) {
      *status = result;
    } else {
      EXPECT_TRUE(result.ok()) << result.error_message();
    }
    std::vector<Granted> out;
    for (const auto& container : response.container_responses()) out.push_back(granted(container));
    return out;
  }

  FakeNode node_;
  KubeletStandIn kubelet_{node_.kubeletDir()};
  std::unique_ptr<WorkerProcess> worker_;
};

// ---- intel.com/x11 ----

class X11WorkerTest : public WorkerTest {};

TEST_F(X11WorkerTest, HandsOutTheSocketDirReadOnlyAndTheLowestDisplay) {
  auto x3 = node_.unixSocket("/tmp/.X11-unix/X3");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  start(MVF_WORKER_X11);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  auto containers = allocate("intel.com/x11", {{"x11-0"}, {"x11-5", "x11-6"}});
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& container : containers) {
    EXPECT_TRUE(container.nodes.empty());
    EXPECT_THAT(container.mounts, ElementsAre("/tmp/.X11-unix->/tmp/.X11-unix:ro"));
    EXPECT_THAT(container.envs, ElementsAre(Pair("DISPLAY", ":1")));
  }
}

TEST_F(X11WorkerTest, HealthFollowsDisplaySocketsComingAndGoing) {
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  start(MVF_WORKER_X11);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
  grpc::Status status;
  allocate("intel.com/x11", {{"x11-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no X server socket"));

  {
    auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
    ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
    // The X server goes away: its socket is removed.
  }
  ASSERT_OK(node_.remove("/tmp/.X11-unix/X0"));
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
}

TEST_F(X11WorkerTest, ASocketThatStartsListeningLaterBecomesHealthy) {
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  start(MVF_WORKER_X11);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
  // An X server creates its socket, then listens: inotify reports only the creation.
  base::UniqueFd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = node_.host("/tmp/.X11-unix/X0");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // Seen refusing first, so only the recheck (no inotify event) can find it listening.
  ASSERT_TRUE(worker_->awaitLog("refuses connections; rechecking", kTimeout)) << worker_->log();
  ASSERT_EQ(::listen(server.get(), 4), 0);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
}

TEST_F(X11WorkerTest, AnXServerThatDiesLeavingItsSocketIsUnhealthyAtOnce) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  // No resync during the test: only the connection the worker holds can tell.
  start(MVF_WORKER_X11, {"--resync-interval", "1h"});
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  x0.reset();  // the X server crashes; its socket file stays, and no event comes
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
  grpc::Status status;
  allocate("intel.com/x11", {{"x11-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("/tmp/.X11-unix/X0 refuses connections"));
}

TEST_F(X11WorkerTest, AllocateRechecksEachDisplayAtThatMomentAndPublishesWhatItFound) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  // No resync and no health check: only Allocate's own re-check can tell.
  start(MVF_WORKER_X11, {"--resync-interval", "1h", "--health-interval", "0"});
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  x0.reset();
  auto containers = allocate("intel.com/x11", {{"x11-0"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].envs, ElementsAre(Pair("DISPLAY", ":1"))) << "never the dead :0";
  x1.reset();
  grpc::Status status;
  allocate("intel.com/x11", {{"x11-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("X1: /tmp/.X11-unix/X1 refuses connections"));
  // What the re-check found reaches the kubelet without waiting for a resync.
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
}

TEST_F(X11WorkerTest, AListenerThatHangsUpOnTheHeldConnectionIsPolledNotHeldInALoop) {
  // Accepts and closes at once, as any host user may have a socket do in /tmp/.X11-unix
  // (and Xorg does to a client that sends nothing): held again after each hang-up, it
  // would spin the worker.
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  auto listener = node_.unixSocket("/tmp/.X11-unix/X57");
  std::atomic<bool> stop = false;
  std::thread closer([&] {
    while (!stop) {
      pollfd pfd{listener.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 20) > 0) ::close(::accept(listener.get(), nullptr, nullptr));
    }
  });
  start(MVF_WORKER_X11, {"--health-interval", "20ms"});
  EXPECT_TRUE(worker_->awaitLog("still accepts", kTimeout)) << worker_->log();
  worker_->signal(SIGHUP);  // a rescan: still usable, still not held again
  EXPECT_TRUE(worker_->awaitLog("SIGHUP: rescanning", kTimeout));
  stop = true;
  closer.join();
  std::string log = worker_->log();
  const std::string held = "holding a connection to /tmp/.X11-unix/X57";
  ASSERT_NE(log.find(held), std::string::npos) << log;
  EXPECT_EQ(log.find(held, log.find(held) + 1), std::string::npos) << "held again:\n" << log;
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
}

TEST_F(X11WorkerTest, DisplayPinsTheDisplayAndXauthorityIsMounted) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  ASSERT_OK(node_.file("/etc/mvf/Xauthority", "cookie"));
  start(MVF_WORKER_X11, {"--display", "1", "--xauthority", "/etc/mvf/Xauthority"});
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  auto containers = allocate("intel.com/x11", {{"x11-0"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].mounts, ElementsAre("/tmp/.X11-unix->/tmp/.X11-unix:ro",
                                                "/etc/mvf/Xauthority->/etc/mvf/Xauthority:ro"));
  EXPECT_THAT(containers[0].envs,
              ElementsAre(Pair("DISPLAY", ":1"), Pair("XAUTHORITY", "/etc/mvf/Xauthority")));
  EXPECT_THAT(worker_->log(), HasSubstr("--display 1 matches X1"));
}

// ---- intel.com/vfio ----

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
    uint32_t code = length == 1 ? c : c & (0x7f >> length);
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

// ---- intel.com/igpu ----

class IgpuWorkerTest : public WorkerTest {
 protected:
  void SetUp() override {
    WorkerTest::SetUp();
    if (IsSkipped()) return;
    // A discrete card took card0; the integrated GPU is card1.
    ASSERT_OK(addPciFunction(node_, {.address = "0000:03:00.0", .vendor = "0x10de"}));
    ASSERT_OK(addDrmCard(node_, "0000:03:00.0", 0, 128));
    ASSERT_OK(addPciFunction(node_, {.address = "0000:00:02.0", .numaNode = 0}));
    ASSERT_OK(addDrmCard(node_, "0000:00:02.0", 1, 129));
  }
};

TEST_F(IgpuWorkerTest, SharedModeHandsOutTheIntelGpusOwnNodes) {
  start(MVF_WORKER_IGPU);
  ASSERT_TRUE(counts("intel.com/igpu", 1000, 1000));
  auto containers = allocate("intel.com/igpu", {{"igpu-0"}, {"igpu-1"}});
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& container : containers) {
    EXPECT_THAT(container.nodes, ElementsAre("/dev/dri/card1:rw", "/dev/dri/renderD129:rw"));
    EXPECT_TRUE(container.envs.empty());
  }
  ASSERT_OK(node_.remove("/dev/dri/renderD129"));
  ASSERT_TRUE(counts("intel.com/igpu", 1000, 0));
}

TEST_F(IgpuWorkerTest, IgpuPciMatchesInLspcisFormAndAnyCase) {
  ASSERT_OK(addPciFunction(node_, {.address = "0000:00:0a.0", .numaNode = 0}));
  ASSERT_OK(addDrmCard(node_, "0000:00:0a.0", 2, 130));
  start(MVF_WORKER_IGPU, {"--igpu-pci", "00:0A.0"});
  ASSERT_TRUE(counts("intel.com/igpu", 1000, 1000));
  auto containers = allocate("intel.com/igpu", {{"igpu-0"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].nodes, ElementsAre("/dev/dri/card2:rw", "/dev/dri/renderD130:rw"));
  EXPECT_THAT(worker_->log(), HasSubstr("--igpu-pci 0000:00:0a.0 matches 0000:00:0a.0"));
}

TEST_F(IgpuWorkerTest, ExclusiveModeListsGpusByPciAddress) {
  start(MVF_WORKER_IGPU, {"--mode", "exclusive", "--igpu-vendor", "any"});
  ASSERT_TRUE(lists("intel.com/igpu", {"0000:00:02.0", "0000:03:00.0"}));
  auto containers = allocate("intel.com/igpu", {{"0000:03:00.0"}, {"0000:00:02.0"}});
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_THAT(containers[0].nodes, ElementsAre("/dev/dri/card0:rw", "/dev/dri/renderD128:rw"));
  EXPECT_THAT(containers[1].nodes, ElementsAre("/dev/dri/card1:rw", "/dev/dri/renderD129:rw"));
}

// ---- intel.com/usb ----

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
