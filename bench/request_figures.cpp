// Large requests: the usb worker in exclusive mode (so GetPreferredAllocation is offered),
// asked for requests at the limits of workers/core/request_limits.h, and a normal Allocate
// measured alone and while 8 other clients send such requests without pause; the worker's
// PSS before and after, which must come back once the bursts are over.
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "bench/figures.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/worker_process.h"
#include "workers/core/request_limits.h"

namespace mvf::bench {

using testing::WorkerProcess;

namespace {

constexpr const char* kResource = "intel.com/usb";

std::unique_ptr<v1beta1::DevicePlugin::Stub> connect(const FakeNode& node) {
  return v1beta1::DevicePlugin::NewStub(grpc::CreateChannel(
      "unix://" + node.kubeletDir() + "/usb.sock", grpc::InsecureChannelCredentials()));
}

// At the limit: as many IDs as a request may name, the kubelet's way (its IDs, each
// once) for GetPreferredAllocation, and one real ID over and over for Allocate.
v1beta1::PreferredAllocationRequest largePreferred() {
  v1beta1::PreferredAllocationRequest request;
  auto* container = request.add_container_requests();
  auto ids = static_cast<int>(core::RequestLimits().ids);
  for (int i = 0; i < ids; ++i) container->add_available_deviceids("usb-9-" + std::to_string(i));
  container->add_must_include_deviceids("usb-9-0");
  container->set_allocation_size(ids);
  return request;
}

v1beta1::AllocateRequest largeAllocate() {
  v1beta1::AllocateRequest request;
  auto* container = request.add_container_requests();
  for (size_t i = 0; i < core::RequestLimits().ids; ++i) container->add_devices_ids("usb-1-2");
  return request;
}

// The call's status; a refusal for a full large-call lane is expected under load.
grpc::Status preferredCall(v1beta1::DevicePlugin::Stub& stub,
                           const v1beta1::PreferredAllocationRequest& request) {
  grpc::ClientContext context;
  v1beta1::PreferredAllocationResponse response;
  return stub.GetPreferredAllocation(&context, request, &response);
}

grpc::Status allocateCall(v1beta1::DevicePlugin::Stub& stub,
                          const v1beta1::AllocateRequest& request) {
  grpc::ClientContext context;
  v1beta1::AllocateResponse response;
  return stub.Allocate(&context, request, &response);
}

double timedPreferred(v1beta1::DevicePlugin::Stub& stub,
                      const v1beta1::PreferredAllocationRequest& request) {
  auto began = Clock::now();
  grpc::Status status = preferredCall(stub, request);
  double took = ms(Clock::now() - began);
  if (!status.ok())
    std::cerr << "GetPreferredAllocation failed: " << status.error_message() << "\n";
  return took;
}

}  // namespace

int requestFigures(int rounds) {
  FakeNode node;
  for (int port = 1; port <= 4; ++port) {
    must(
        testing::addUsbDevice(node, {.portPath = "1-" + std::to_string(port), .devnum = port + 1}));
  }
  KubeletStandIn kubelet(node.kubeletDir());
  must(kubelet.start());
  auto args = workerArgs(node);
  args.insert(args.end(), {"--mode", "exclusive"});
  WorkerProcess worker(MVF_WORKER_USB, args, node.dir() + "/w.log", false);
  if (!awaitHealthy(kubelet, kResource, 4)) {
    std::cerr << "the usb worker never listed its 4 devices:\n" << worker.log();
    return 1;
  }

  auto stub = connect(node);
  v1beta1::AllocateRequest normal;
  normal.add_container_requests()->add_devices_ids("usb-1-1");
  for (int i = 0; i < 100; ++i) timedAllocate(*stub, normal);  // warm up the connection
  long pssBefore = pssKb(worker.pid());
  long anonBefore = testing::rollupKb(worker.pid(), "Pss_Anon");

  auto preferred = largePreferred();
  auto allocate = largeAllocate();
  Stats largePreferredAlone, largeAllocateAlone;
  for (int i = 0; i < rounds; ++i) {
    largePreferredAlone.samples.push_back(timedPreferred(*stub, preferred));
    largeAllocateAlone.samples.push_back(timedAllocate(*stub, allocate));
  }
  report("GetPreferredAllocation, 10000 IDs (the limit)", largePreferredAlone, "linear: ~ms");
  report("Allocate, 10000 IDs (the limit)", largeAllocateAlone, "linear: ~ms");

  Stats alone;
  for (int i = 0; i < rounds * 40; ++i) alone.samples.push_back(timedAllocate(*stub, normal));
  report("Allocate, alone", alone, "p99 <= 0.5 ms");

  // 8 other clients, each on its own channel, half sending the largest
  // GetPreferredAllocation and half the largest Allocate, without pause.
  std::atomic<bool> stop = false;
  std::atomic<long> served = 0, refused = 0;
  std::vector<std::thread> others;
  for (int c = 0; c < 8; ++c) {
    others.emplace_back([&, c] {
      auto own = connect(node);
      while (!stop) {
        grpc::Status status =
            c % 2 == 0 ? preferredCall(*own, preferred) : allocateCall(*own, allocate);
        if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++refused;
        } else if (!status.ok()) {
          std::cerr << "a large request failed: " << status.error_message() << "\n";
        }
        ++served;
      }
    });
  }
  while (served < 16) std::this_thread::yield();  // all 8 under way
  Stats loaded;
  for (int i = 0; i < rounds * 40; ++i) loaded.samples.push_back(timedAllocate(*stub, normal));
  stop = true;
  for (auto& other : others) other.join();
  report("Allocate, 8 clients sending 10000-ID requests", loaded, "p99 <= 2 ms");
  std::printf("%-46s %ld large requests meanwhile, %ld of them refused (lane full)\n", "",
              served.load(), refused.load());
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last calls' ends
  // Code run for the first time adds library pages to PSS for good; what a burst must
  // give back is its anonymous memory.
  std::printf("%-46s %ld kB before the bursts, %ld kB after\n", "worker PSS", pssBefore,
              pssKb(worker.pid()));
  std::printf("%-46s %ld kB before the bursts, %ld kB after (target: within 1024 kB)\n",
              "worker PSS, anonymous", anonBefore, testing::rollupKb(worker.pid(), "Pss_Anon"));
  return 0;
}

}  // namespace mvf::bench
