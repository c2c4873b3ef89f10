// Deaths no filesystem event reports, and what the health check costs.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "bench/figures.h"
#include "proto/deviceplugin.grpc.pb.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/worker_process.h"

namespace mvf::bench {

using testing::WorkerProcess;

int healthFigures(int rounds) {
  FakeNode x11Node;
  KubeletStandIn x11Kubelet(x11Node.kubeletDir());
  must(x11Kubelet.start());
  auto display = x11Node.unixSocket("/tmp/.X11-unix/X0");
  WorkerProcess x11(MVF_WORKER_X11, workerArgs(x11Node), x11Node.dir() + "/x11.log", false);
  Stats xDies;
  for (int i = 0; i < std::min(rounds, 20); ++i) {
    if (!awaitHealthy(x11Kubelet, "intel.com/x11", 1000)) {
      std::cerr << "x11 never healthy:\n" << x11.log();
      return 1;
    }
    auto began = Clock::now();
    display.reset();  // dies; the socket file stays
    if (!awaitHealthy(x11Kubelet, "intel.com/x11", 0)) {
      std::cerr << "the dead X server was never noticed:\n" << x11.log();
      return 1;
    }
    xDies.samples.push_back(ms(Clock::now() - began));
    must(x11Node.remove("/tmp/.X11-unix/X0"));
    display = x11Node.unixSocket("/tmp/.X11-unix/X0");  // a new server starts
  }
  report("X server dies (socket stays) -> Unhealthy", xDies, "p99 <= 1 s");

  FakeNode vfioNode;
  must(vfioNode.charDevice("/dev/vfio/vfio", 10, 196));
  must(mvf::testing::addPciFunction(vfioNode, {.address = "0000:02:00.0", .driver = "vfio-pci"}));
  must(mvf::testing::addPciFunction(vfioNode, {.address = "0000:02:00.1"}));
  must(mvf::testing::addIommuGroup(vfioNode, 13, {"0000:02:00.0", "0000:02:00.1"}));
  const std::string driver = "/sys/devices/pci0000:00/0000:02:00.1/driver";
  KubeletStandIn vfioKubelet(vfioNode.kubeletDir());
  must(vfioKubelet.start());
  WorkerProcess vfio(MVF_WORKER_VFIO, workerArgs(vfioNode), vfioNode.dir() + "/vfio.log", false);
  Stats rebound;
  for (int i = 0; i < std::min(rounds, 20); ++i) {
    if (!awaitHealthy(vfioKubelet, "intel.com/vfio", 1000)) {
      std::cerr << "vfio never healthy:\n" << vfio.log();
      return 1;
    }
    auto began = Clock::now();
    must(vfioNode.symlink(driver, "../../../bus/pci/drivers/e1000e"));
    if (!awaitHealthy(vfioKubelet, "intel.com/vfio", 0)) {
      std::cerr << "the re-bound member was never noticed:\n" << vfio.log();
      return 1;
    }
    rebound.samples.push_back(ms(Clock::now() - began));
    must(vfioNode.remove(driver));
  }
  report("vfio member re-bound to a host driver -> Unhealthy", rebound, "p99 <= 1 s");

  // The main thread's wakeups while nothing changes: with a polled group, and without.
  if (!awaitHealthy(vfioKubelet, "intel.com/vfio", 1000)) return 1;
  auto idleFor = 5s;
  long vfioBefore = mainThreadSwitches(vfio.pid());
  long x11Before = mainThreadSwitches(x11.pid());
  std::this_thread::sleep_for(idleFor);
  double seconds = std::chrono::duration<double>(idleFor).count();
  double vfioRate = static_cast<double>(mainThreadSwitches(vfio.pid()) - vfioBefore) / seconds;
  double x11Rate = static_cast<double>(mainThreadSwitches(x11.pid()) - x11Before) / seconds;
  std::printf(
      "%-46s %.1f/s with a polled IOMMU group (--health-interval 500ms: 2/s), "
      "%.1f/s with a held X connection (0/s)\n",
      "health check: worker main thread wakeups", vfioRate, x11Rate);
  return 0;
}

}  // namespace mvf::bench
