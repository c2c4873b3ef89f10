#pragma once

// What the bench's figure groups share: timing, reporting, processes' CPU and memory, and
// fake nodes' setup. One file per group (scan, worker, health, supervisor); main.cpp runs
// them.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "proto/deviceplugin.grpc.pb.h"
#include "tests/support/fake_node.h"

namespace mvf::bench {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using kubelet::KubeletStandIn;
using kubelet::Node;
using testing::FakeNode;

constexpr auto kTimeout = 10s;  // a safety net for every wait

double ms(Clock::duration d);

// A step of setting up a figure: the bench stops, saying why, if it fails.
void must(const base::Status& status);

struct Stats {
  std::vector<double> samples;  // milliseconds
  double percentile(double p);
};

// One line: what, p50, p99, max and n, and the target.
void report(const std::string& what, Stats stats, const std::string& target);

// Proportional set size of a process, from smaps_rollup, in kB.
long pssKb(pid_t pid);
// utime + stime of a process, in clock ticks.
long cpuTicks(pid_t pid);
// Context switches of a process's main thread (a worker's event loop).
long mainThreadSwitches(pid_t pid);

// One thread of a process: its name, its context switches (voluntary and involuntary:
// each is a wakeup) and its CPU time in ns, from /proc/<pid>/task/<tid>/{status,schedstat}.
struct ThreadUsage {
  std::string name;
  long switches = 0;
  long long cpuNs = 0;
};
// Every thread of `pid`, by thread ID; empty if the process is gone.
std::map<pid_t, ThreadUsage> threadUsage(pid_t pid);

// The environment of what the bench starts. Workers get GLIBC_TUNABLES as the supervisor
// gives it to them (base::tuneChildRuntime(), which main() calls first), so that the
// worker groups measure them as they run in a pod. A PodEnvironment, while it lives, puts
// back what the bench itself was started with, as a pod starts the supervisor; the
// supervisor and the bare gRPC servers are started under one.
class PodEnvironment {
 public:
  // Takes the bench's own GLIBC_TUNABLES ("" if unset) and gives its children the
  // workers' value; call once, in main(), before any thread starts.
  static void tuneForWorkers();
  PodEnvironment();
  ~PodEnvironment();
  PodEnvironment(const PodEnvironment&) = delete;
  PodEnvironment& operator=(const PodEnvironment&) = delete;
};

// The common flags that point a worker at a fake node, default timers, quiet logs.
std::vector<std::string> workerArgs(const FakeNode& node);
// Waits until `resource` lists `healthy` healthy devices over a live stream.
bool awaitHealthy(KubeletStandIn& kubelet, const std::string& resource, int64_t healthy);

// What the stand-in knows of `resource`, for a failure message: "intel.com/udma: stream
// live, 51 registrations, 50 streams ended, 152 updates, 1000 of 1000 healthy".
std::string standInState(const KubeletStandIn& kubelet, const std::string& resource);

// One Allocate call's round trip, in milliseconds; a failure is said on stderr.
double timedAllocate(v1beta1::DevicePlugin::Stub& stub, const v1beta1::AllocateRequest& request);

// The figure groups; each returns 0, or 1 after saying what failed.
int scanFigures(int rounds);
int workerFigures(int rounds);
int healthFigures(int rounds);
int cdiFigures(int rounds);
int metricsFigures(int rounds);
int requestFigures(int rounds);
int supervisorFigures(int rounds);
// 1000 kubelet restarts and 200 worker kills; fixed counts, whatever --rounds says.
int soakFigures();

}  // namespace mvf::bench
