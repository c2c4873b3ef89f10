// CDI (--cdi-devices cri): how soon a device change reaches the spec a runtime reads, and
// what naming CDI devices costs Allocate.
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "base/unique_fd.h"
#include "bench/figures.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/worker_process.h"

namespace mvf::bench {
namespace {

using testing::WorkerProcess;

std::vector<std::string> cdiArgs(const FakeNode& node, std::vector<std::string> extra) {
  std::vector<std::string> args = workerArgs(node);
  args.insert(args.end(), {"--cdi-dir", node.dir() + "/cdi", "--cdi-devices", "cri"});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

bool specHas(const std::string& path, const std::string& device) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find("\"name\": \"" + device + "\"") != std::string::npos;
}

// Waits for the spec at `path` to be renamed into place (inotify IN_MOVED_TO on its dir)
// with `device` in it, or without it; false after kTimeout.
bool awaitRewrite(int inotify, const std::string& path, const std::string& device, bool present) {
  auto deadline = Clock::now() + kTimeout;
  std::string name = std::filesystem::path(path).filename();
  while (specHas(path, device) != present) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd fd{inotify, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) <= 0) return false;
    alignas(inotify_event) char buffer[4096];
    ::read(inotify, buffer, sizeof(buffer));  // any event: look at the spec again
  }
  return true;
}

}  // namespace

int cdiFigures(int rounds) {
  // A USB device plugged in and pulled out, to the spec renamed into place with or
  // without it (the worker watches /dev/bus/usb; the spec is written before the kubelet
  // hears of the change).
  {  // the usb worker stops before the Allocate figure, which has the CPU to itself
    FakeNode node;
    must(addEveryDeviceClass(node));
    std::filesystem::create_directories(node.dir() + "/cdi");
    KubeletStandIn kubelet(node.kubeletDir());
    must(kubelet.start());
    WorkerProcess usb(MVF_WORKER_USB, cdiArgs(node, {"--mode", "exclusive"}), node.dir() + "/u.log",
                      false);
    if (!awaitHealthy(kubelet, "intel.com/usb", 2)) {
      std::cerr << "the usb worker never registered:\n" << usb.log();
      return 1;
    }
    std::string spec = node.dir() + "/cdi/intel.com-usb.json";
    base::UniqueFd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    ::inotify_add_watch(inotify.get(), (node.dir() + "/cdi").c_str(), IN_MOVED_TO);
    Stats plugged, pulled;
    for (int i = 0; i < rounds; ++i) {
      auto began = Clock::now();
      must(testing::addUsbDevice(node, {.portPath = "1-3", .devnum = 9, .serial = "pad"}));
      if (!awaitRewrite(inotify.get(), spec, "usb-1-3", true)) {
        std::cerr << "the spec never gained usb-1-3:\n" << usb.log();
        return 1;
      }
      plugged.samples.push_back(ms(Clock::now() - began));
      began = Clock::now();
      must(node.remove("/dev/bus/usb/001/009"));  // devtmpfs removes the node first
      if (!awaitRewrite(inotify.get(), spec, "usb-1-3", false)) {
        std::cerr << "the spec kept usb-1-3:\n" << usb.log();
        return 1;
      }
      pulled.samples.push_back(ms(Clock::now() - began));
      for (const char* path : {"/sys/bus/usb/devices/1-3", "/sys/bus/usb/devices/1-3:1.0",
                               "/sys/devices/pci0000:00/0000:00:06.0/usb1/1-3"}) {
        must(node.remove(path));
      }
    }
    report("USB device plugged -> CDI spec rewritten", plugged, "<= 10 ms");
    report("USB device pulled -> CDI spec rewritten", pulled, "<= 10 ms");
  }

  // Allocate with CDI names, on the udma worker as in the worker group's figure.
  FakeNode udmaNode;
  must(udmaNode.charDevice("/dev/udmabuf"));
  std::filesystem::create_directories(udmaNode.dir() + "/cdi");
  KubeletStandIn udmaKubelet(udmaNode.kubeletDir());
  must(udmaKubelet.start());
  WorkerProcess udma(MVF_WORKER_UDMA, cdiArgs(udmaNode, {}), udmaNode.dir() + "/w.log", false);
  if (!awaitHealthy(udmaKubelet, "intel.com/udma", 1000)) {
    std::cerr << "the udma worker never registered:\n" << udma.log();
    return 1;
  }
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("udma-0");
  auto stub = v1beta1::DevicePlugin::NewStub(grpc::CreateChannel(
      "unix://" + udmaNode.kubeletDir() + "/udma.sock", grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 100; ++i) timedAllocate(*stub, request);  // warm up the connection
  Stats sequential;
  for (int i = 0; i < rounds * 40; ++i) sequential.samples.push_back(timedAllocate(*stub, request));
  report("Allocate, sequential, CDI names (cri)", sequential, "p99 <= 0.5 ms");
  return 0;
}

}  // namespace mvf::bench
