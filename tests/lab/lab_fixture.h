#pragma once

// What the device lab's suites share (tests/lab/lab_test.cpp, lab_cdi_test.cpp): helpers
// over the guest's real devices, and the Lab fixture — Xvfb, the kubelet stand-in and the
// supervisor per suite, Allocate, and runc containers running mvf-lab-probe.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <thread>

#include "base/options.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/lab/oci_config.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using kubelet::KubeletStandIn;
using kubelet::Node;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

// Everything is slower under TCG emulation: generous safety nets, still never slept out.
inline constexpr auto kTimeout = 60s;
inline const std::string kBase =
    "/run/mvf-lab";  // the guest's own tmpfs: the 9p share holds no sockets
inline const std::string kLab = MVF_LAB_DIR;

inline void say(const std::string& line) { std::cout << "LAB " << line << std::endl; }

inline std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

inline std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

inline bool isPortPath(const std::string& name) {
  return !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])) &&
         name.find('-') != std::string::npos && name.find(':') == std::string::npos;
}

// What the guest's kernel shows, read straight from sysfs and /dev: the expected lists.
inline std::vector<std::string> realVfioGroups() {
  std::vector<std::string> groups;
  for (const auto& name : listDir("/dev/vfio")) {
    if (base::isDigits(name)) {
      groups.push_back(name);
    }
  }
  return groups;
}

inline std::vector<std::string> realUsbDevices() {
  std::vector<std::string> ids;
  for (const auto& name : listDir("/sys/bus/usb/devices")) {
    std::string dir = "/sys/bus/usb/devices/" + name;
    if (isPortPath(name) && readFile(dir + "/bDeviceClass") != "09") ids.push_back("usb-" + name);
  }
  return ids;
}

class Lab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { startLab(kBase, {}); }
  static void TearDownTestSuite() { stopLab(); }

  // Xvfb, the kubelet stand-in and the supervisor with `extraArgs`, their files in `dir`.
  // Each suite starts its own and stops them when it ends.
  static void startLab(const std::string& dir, const std::vector<std::string>& extraArgs) {
    if (!inGuest()) return;
    fs::create_directories(dir);
    // -noreset: by default the server resets whenever its last client leaves (the x11
    // worker's probe, a test's container), and a client that connects meanwhile is reset.
    xvfb_ = new WorkerProcess(
        "/usr/bin/Xvfb", {":99", "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-noreset"},
        dir + "/xvfb.log", false);
    kubelet_ = new KubeletStandIn(dir + "/kd");
    ASSERT_OK(kubelet_->start());
    std::ofstream(dir + "/mvf.ini") << "[vfio]\nmode = exclusive\n"
                                       "[igpu]\nmode = exclusive\nigpu-vendor = any\n"
                                       "[usb]\nmode = exclusive\n";
    std::vector<std::string> args = {"--kubelet-dir", dir + "/kd",       "--run-dir",
                                     dir + "/run",    "--status-socket", dir + "/status.sock",
                                     "--config",      dir + "/mvf.ini"};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    supervisor_ = new WorkerProcess(MVF_SUPERVISOR, args, dir + "/supervisor.log", false);
  }

  static bool inGuest() {
    const char* guest = std::getenv("LAB_GUEST");
    return guest != nullptr && std::string(guest) == "1";
  }

  static void stopLab() {
    // SIGTERM first: Xvfb then removes its lock file, and the next suite's Xvfb can start.
    for (WorkerProcess* process : {supervisor_, xvfb_}) {
      if (process == nullptr) continue;
      process->signal(SIGTERM);
      process->wait(10s);
    }
    delete supervisor_;
    delete kubelet_;
    delete xvfb_;
    supervisor_ = nullptr;
    kubelet_ = nullptr;
    xvfb_ = nullptr;
  }

  void SetUp() override {
    if (!inGuest()) GTEST_SKIP() << "runs in the device lab's guest (ctest -L lab)";
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
    ContainerGrant grant = grantOf(response);
    grant.deny(denied);
    return inContainer(grant, checks);
  }

  static CommandResult inContainer(const ContainerGrant& grant,
                                   const std::vector<std::string>& checks) {
    static int count = 0;
    std::string bundle = kBase + "/bundle" + std::to_string(++count);
    std::string rootfs = probeRootfs(kBase + "/rootfs");
    fs::create_directories(bundle);
    std::vector<std::string> args = {"/probe"};
    args.insert(args.end(), checks.begin(), checks.end());
    std::ofstream(bundle + "/config.json") << ociConfig(grant, rootfs, args);
    return runCommand(
        {"timeout", "120", "runc", "run", "--bundle", bundle, "mvf-lab-" + std::to_string(count)});
  }

  // `rootfs`, made once: the mount points a container needs, and the probe as /probe.
  static std::string probeRootfs(const std::string& rootfs) {
    if (!fs::exists(rootfs + "/probe")) {
      for (const char* dir : {"proc", "dev", "sys", "tmp", "run"}) {
        fs::create_directories(rootfs + "/" + dir);
      }
      fs::copy_file(MVF_LAB_PROBE, rootfs + "/probe");
    }
    return rootfs;
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

  static inline WorkerProcess* xvfb_ = nullptr;
  static inline KubeletStandIn* kubelet_ = nullptr;
  static inline WorkerProcess* supervisor_ = nullptr;
};

}  // namespace mvf::testing
