// The Prometheus endpoint's cost: Allocate through the supervisor's udma worker with
// metrics off, on, and on under 100 concurrent scrapes; a scrape's own time; and what the
// exposer's threads wake for while nobody scrapes.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "base/unique_fd.h"
#include "bench/figures.h"
#include "tests/support/tcp_port.h"
#include "tests/support/worker_process.h"

namespace mvf::bench {
namespace {

using testing::WorkerProcess;

// A port of 127.0.0.1 free now (bound to port 0 and let go), for the endpoint.
const int kPort = [] {
  auto port = testing::bindFreePort(false);
  if (!port) must(port.error());
  return port.value().number;
}();

// One HTTP/1.0 GET of /metrics on 127.0.0.1:kPort; the bytes of the response, 0 on
// failure.
size_t scrapeOnce() {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(kPort));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 0;
  const char request[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (::write(fd.get(), request, sizeof(request) - 1) < 0) return 0;
  size_t total = 0;
  char buffer[16384];
  for (ssize_t n; (n = ::read(fd.get(), buffer, sizeof(buffer))) > 0;) {
    total += static_cast<size_t>(n);
  }
  return total;
}

// Context switches (voluntary and not) of each thread of `pid`, by "tid name".
struct Plugin {
  FakeNode node;
  KubeletStandIn kubelet{node.kubeletDir()};
  std::unique_ptr<WorkerProcess> supervisor;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub;

  // The supervisor with the udma worker only, metrics on kPort or off.
  bool start(bool metrics) {
    must(node.charDevice("/dev/udmabuf"));
    must(kubelet.start());
    supervisor = std::make_unique<WorkerProcess>(
        MVF_SUPERVISOR,
        std::vector<std::string>{
            "--kubelet-dir", node.kubeletDir(), "--host-root", node.root(), "--run-dir",
            node.runDir(), "--status-socket", node.runDir() + "/status.sock", "--workers", "udma",
            "--metrics-address", metrics ? "127.0.0.1:" + std::to_string(kPort) : "off"},
        node.dir() + "/s.log", false);
    if (!awaitHealthy(kubelet, "intel.com/udma", 1000)) {
      std::cerr << "udma never registered:\n" << supervisor->log();
      return false;
    }
    stub = v1beta1::DevicePlugin::NewStub(grpc::CreateChannel(
        "unix://" + node.kubeletDir() + "/udma.sock", grpc::InsecureChannelCredentials()));
    if (metrics && scrapeOnce() == 0) {
      std::cerr << "nothing serves metrics on port " << kPort << ":\n" << supervisor->log();
      return false;
    }
    return true;
  }

  Stats allocates(int count) {
    v1beta1::AllocateRequest request;
    request.add_container_requests()->add_devices_ids("udma-0");
    for (int i = 0; i < 100; ++i) timedAllocate(*stub, request);  // warm up the connection
    Stats stats;
    for (int i = 0; i < count; ++i) stats.samples.push_back(timedAllocate(*stub, request));
    return stats;
  }
};

}  // namespace

int metricsFigures(int rounds) {
  PodEnvironment pod;  // the supervisor as a pod starts it
  Stats off, on, scraped, scrapes;
  {
    Plugin plugin;
    if (!plugin.start(false)) return 1;
    off = plugin.allocates(rounds * 40);
  }
  Plugin plugin;
  if (!plugin.start(true)) return 1;
  on = plugin.allocates(rounds * 40);

  std::atomic<bool> stop = false;
  std::atomic<long> failed = 0;
  std::mutex mu;
  std::vector<std::thread> scrapers;
  for (int i = 0; i < 100; ++i) {
    scrapers.emplace_back([&] {
      // A Prometheus scrapes from another machine: here its stand-ins take the lowest
      // priority, so that what they cost themselves does not count against Allocate.
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
      std::vector<double> mine;
      while (!stop) {
        auto began = Clock::now();
        if (scrapeOnce() == 0) ++failed;
        mine.push_back(ms(Clock::now() - began));
      }
      std::lock_guard lock(mu);
      scrapes.samples.insert(scrapes.samples.end(), mine.begin(), mine.end());
    });
  }
  scraped = plugin.allocates(rounds * 40);
  stop = true;
  for (auto& scraper : scrapers) scraper.join();

  report("Allocate, sequential, metrics off", off, "-");
  report("Allocate, sequential, metrics on", on, "p99 within 10 % of off");
  report("Allocate, sequential, 100 concurrent scrapes", scraped, "p99 within 10 % of off");
  report("one scrape, 100 concurrent (four exposer threads)", scrapes,
         failed == 0 ? "-" : std::to_string(failed.load()) + " FAILED");

  return 0;
}

}  // namespace mvf::bench
