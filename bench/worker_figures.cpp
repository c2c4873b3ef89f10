// The udma worker alone against the kubelet stand-in, with default options (so Allocate
// pays for its info-level audit line, as in production).
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

namespace {

constexpr const char* kResource = "intel.com/udma";

auto healthyCount(int64_t healthy, int registrations = 0) {
  return [=](const Node& node) {
    auto it = node.find(kResource);
    return it != node.end() && !it->second.stopped && it->second.healthy() == healthy &&
           it->second.capacity() == 1000 &&
           (registrations == 0 || it->second.registrations == registrations);
  };
}

}  // namespace

int workerFigures(int rounds) {
  // start → registered (with devices listed), then SIGTERM → exited
  Stats start, stop;
  for (int i = 0; i < std::min(rounds, 20); ++i) {
    FakeNode node;
    must(node.charDevice("/dev/udmabuf"));
    KubeletStandIn kubelet(node.kubeletDir());
    must(kubelet.start());
    auto began = Clock::now();
    WorkerProcess worker(MVF_WORKER_UDMA, workerArgs(node), node.dir() + "/w.log", false);
    if (!kubelet.waitFor(healthyCount(1000), kTimeout)) {
      std::cerr << "worker never registered:\n" << worker.log();
      return 1;
    }
    start.samples.push_back(ms(Clock::now() - began));
    auto asked = Clock::now();
    worker.signal(SIGTERM);
    if (!worker.wait(kTimeout)) {
      std::cerr << "the worker did not stop on SIGTERM:\n" << worker.log();
      return 1;
    }
    stop.samples.push_back(ms(Clock::now() - asked));
  }
  report("start -> registered, devices listed", start, "<= 300 ms");
  report("SIGTERM -> worker exited", stop, "<= 1 s");

  FakeNode node;
  must(node.charDevice("/dev/udmabuf"));
  KubeletStandIn kubelet(node.kubeletDir());
  must(kubelet.start());
  WorkerProcess worker(MVF_WORKER_UDMA, workerArgs(node), node.dir() + "/w.log", false);
  if (!kubelet.waitFor(healthyCount(1000, 1), kTimeout)) {
    std::cerr << "worker never registered:\n" << worker.log();
    return 1;
  }

  Stats restart;
  for (int i = 0; i < rounds; ++i) {
    auto began = Clock::now();
    must(kubelet.restart());
    if (!kubelet.waitFor(healthyCount(1000, i + 2), kTimeout)) {
      std::cerr << "no re-registration:\n" << standInState(kubelet, kResource) << worker.log();
      return 1;
    }
    restart.samples.push_back(ms(Clock::now() - began));
  }
  report("kubelet restart -> re-registered", restart, "<= 500 ms");

  Stats appear, vanish;
  for (int i = 0; i < rounds; ++i) {
    auto began = Clock::now();
    must(node.remove("/dev/udmabuf"));
    if (!kubelet.waitFor(healthyCount(0), kTimeout)) {
      std::cerr << "removal never reached the kubelet:\n"
                << standInState(kubelet, kResource) << worker.log();
      return 1;
    }
    vanish.samples.push_back(ms(Clock::now() - began));
    began = Clock::now();
    must(node.charDevice("/dev/udmabuf"));
    if (!kubelet.waitFor(healthyCount(1000), kTimeout)) {
      std::cerr << "creation never reached the kubelet:\n"
                << standInState(kubelet, kResource) << worker.log();
      return 1;
    }
    appear.samples.push_back(ms(Clock::now() - began));
  }
  report("device node created -> ListAndWatch update", appear, "<= 100 ms");
  report("device node removed -> ListAndWatch update", vanish, "<= 100 ms");

  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("udma-0");
  auto channel = grpc::CreateChannel("unix://" + node.kubeletDir() + "/udma.sock",
                                     grpc::InsecureChannelCredentials());
  auto stub = v1beta1::DevicePlugin::NewStub(channel);
  for (int i = 0; i < 100; ++i) timedAllocate(*stub, request);  // warm up the connection
  Stats sequential;
  for (int i = 0; i < rounds * 40; ++i) sequential.samples.push_back(timedAllocate(*stub, request));
  report("Allocate, sequential", sequential, "p99 <= 0.5 ms");
  Stats opts;
  for (int i = 0; i < rounds * 40; ++i) {
    grpc::ClientContext context;
    v1beta1::DevicePluginOptions o;
    auto began = Clock::now();
    stub->GetDevicePluginOptions(&context, v1beta1::Empty(), &o);
    opts.samples.push_back(ms(Clock::now() - began));
  }
  report("GetDevicePluginOptions (the gRPC floor)", opts, "-");

  Stats concurrent;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      auto own = v1beta1::DevicePlugin::NewStub(grpc::CreateChannel(
          "unix://" + node.kubeletDir() + "/udma.sock", grpc::InsecureChannelCredentials()));
      for (int i = 0; i < 50; ++i) timedAllocate(*own, request);
      std::vector<double> mine;
      for (int i = 0; i < rounds * 10; ++i) mine.push_back(timedAllocate(*own, request));
      std::lock_guard lock(mu);
      concurrent.samples.insert(concurrent.samples.end(), mine.begin(), mine.end());
    });
  }
  for (auto& client : clients) client.join();
  report("Allocate, 8 concurrent clients", concurrent, "p99 <= 2 ms");

  // Idle: nothing changes for a while.
  int updates = kubelet.resource(kResource)->updates;
  long ticks = cpuTicks(worker.pid());
  auto idleFor = 5s;
  std::this_thread::sleep_for(idleFor);
  double cpu = static_cast<double>(cpuTicks(worker.pid()) - ticks) /
               static_cast<double>(sysconf(_SC_CLK_TCK)) / 5.0 * 100.0;
  std::printf("%-46s %.2f %% CPU, %d ListAndWatch messages in 5 s  target ~0 %%, 0 messages\n",
              "idle", cpu, kubelet.resource(kResource)->updates - updates);
  std::printf("%-46s %ld kB PSS after %d kubelet restarts\n", "memory, one worker",
              pssKb(worker.pid()), rounds);
  return 0;
}

}  // namespace mvf::bench
