#include "bench/figures.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "base/runtime.h"
#include "tests/support/worker_process.h"

namespace mvf::bench {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A step of setting up a figure: the bench stops, saying why, if it fails.
void must(const base::Status& status) {
  if (status) return;
  std::cerr << "mvf-bench: " << status.error().message << "\n";
  std::exit(1);
}

double Stats::percentile(double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t index = static_cast<size_t>(p / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(index, samples.size() - 1)];
}

void report(const std::string& what, Stats stats, const std::string& target) {
  std::printf("%-46s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  (n=%zu)  target %s\n", what.c_str(),
              stats.percentile(50), stats.percentile(99), stats.percentile(100),
              stats.samples.size(), target.c_str());
}

// Proportional set size of a process, from smaps_rollup.
long pssKb(pid_t pid) { return testing::rollupKb(pid, "Pss"); }

std::map<pid_t, ThreadUsage> threadUsage(pid_t pid) {
  std::map<pid_t, ThreadUsage> out;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    ThreadUsage usage;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("Name:")) usage.name = line.substr(line.find_first_not_of(" \t", 5));
      if (line.find("ctxt_switches:") != std::string::npos) {
        usage.switches += std::stol(line.substr(line.find(':') + 1));
      }
    }
    std::ifstream(entry.path() / "schedstat") >> usage.cpuNs;
    out[static_cast<pid_t>(std::stol(entry.path().filename()))] = usage;
  }
  return out;
}

// utime + stime of a process, in clock ticks.
long cpuTicks(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // fields 3..13
  long utime = 0, stime = 0;
  fields >> utime >> stime;
  return utime + stime;
}

std::string standInState(const KubeletStandIn& kubelet, const std::string& resource) {
  auto state = kubelet.resource(resource);
  if (!state) return resource + ": never registered\n";
  std::ostringstream out;
  out << resource << ": stream " << (state->stopped ? "stopped" : "live") << ", "
      << state->registrations << " registrations, " << state->streamsEnded << " streams ended, "
      << state->updates << " updates, " << state->healthy() << " of " << state->capacity()
      << " healthy\n";
  return out.str();
}

namespace {
std::optional<std::string> benchTunables;  // the bench's own GLIBC_TUNABLES
std::string workerTunables;
}  // namespace

void PodEnvironment::tuneForWorkers() {
  if (const char* own = std::getenv("GLIBC_TUNABLES")) benchTunables = own;
  base::tuneChildRuntime();
  workerTunables = std::getenv("GLIBC_TUNABLES");
}

PodEnvironment::PodEnvironment() {
  if (benchTunables) {
    ::setenv("GLIBC_TUNABLES", benchTunables->c_str(), 1);
  } else {
    ::unsetenv("GLIBC_TUNABLES");
  }
}

PodEnvironment::~PodEnvironment() { ::setenv("GLIBC_TUNABLES", workerTunables.c_str(), 1); }

std::vector<std::string> workerArgs(const FakeNode& node) {
  return {"--kubelet-dir", node.kubeletDir(), "--host-root", node.root(),
          "--run-dir",     node.runDir(),     "--log-level", "warn"};
}

// Context switches of a process's main thread (the worker's event loop), voluntary and not.
long mainThreadSwitches(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/status");
  long total = 0;
  for (std::string line; std::getline(status, line);) {
    if (line.find("ctxt_switches:") == std::string::npos) continue;
    total += std::stol(line.substr(line.find(':') + 1));
  }
  return total;
}

// Waits until `resource` lists `healthy` healthy devices over a live stream.
bool awaitHealthy(KubeletStandIn& kubelet, const std::string& resource, int64_t healthy) {
  return kubelet.waitFor(
      [&](const Node& node) {
        auto it = node.find(resource);
        return it != node.end() && !it->second.stopped && it->second.healthy() == healthy;
      },
      kTimeout);
}

double timedAllocate(v1beta1::DevicePlugin::Stub& stub, const v1beta1::AllocateRequest& request) {
  grpc::ClientContext context;
  v1beta1::AllocateResponse response;
  auto began = Clock::now();
  grpc::Status status = stub.Allocate(&context, request, &response);
  double took = ms(Clock::now() - began);
  if (!status.ok()) std::cerr << "Allocate failed: " << status.error_message() << "\n";
  return took;
}

}  // namespace mvf::bench
