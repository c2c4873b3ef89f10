// Soak: the supervisor and its five workers through 1000 kubelet restarts and 200 worker
// kills (SIGKILL, round robin, with short restart backoff options), and what each process
// holds before and after: open fds, threads, PSS. Nothing may grow, and no process may be
// left a zombie.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "bench/figures.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/worker_process.h"

namespace mvf::bench {

using testing::WorkerProcess;

namespace {

constexpr int kKubeletRestarts = 1000;
constexpr int kWorkerKills = 200;
const char* const kWorkers[] = {"x11", "udma", "vfio", "igpu", "usb"};

// What one process holds.
struct Held {
  long fds = 0;
  long threads = 0;
  long pssKb = 0;
};

Held heldBy(pid_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  Held held;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd", error)) {
    (void)entry;
    ++held.fds;
  }
  for (const auto& entry : std::filesystem::directory_iterator(proc + "/task", error)) {
    (void)entry;
    ++held.threads;
  }
  held.pssKb = pssKb(pid);
  return held;
}

// The supervisor's children by worker name ("vfio"), from their executables' names.
std::map<std::string, pid_t> workersOf(pid_t supervisor) {
  std::string self = std::to_string(supervisor);
  std::ifstream children("/proc/" + self + "/task/" + self + "/children");
  std::map<std::string, pid_t> workers;
  for (pid_t child; children >> child;) {
    std::error_code error;
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(child) + "/exe", error);
    std::string name = exe.filename().string();
    if (!error && name.starts_with("mvf-worker-")) workers[name.substr(11)] = child;
  }
  return workers;
}

// Zombies among the children of `parent`: state Z in /proc/<pid>/stat.
int zombiesOf(pid_t parent) {
  int zombies = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    if (!std::getline(stat, text) || text.rfind(')') == std::string::npos) continue;
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    char state = 0;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (state == 'Z' && ppid == parent) ++zombies;
  }
  return zombies;
}

// Every resource registered at least as often as `registrations` says, with a live
// stream and all 1000 IDs healthy.
bool settled(KubeletStandIn& kubelet, const std::map<std::string, int>& registrations) {
  return kubelet.waitFor(
      [&](const Node& node) {
        for (const auto& [resource, count] : registrations) {
          auto it = node.find(resource);
          if (it == node.end() || it->second.stopped || it->second.registrations < count ||
              it->second.healthy() != 1000) {
            return false;
          }
        }
        return true;
      },
      kTimeout);
}

std::map<std::string, int> registrationsNow(KubeletStandIn& kubelet) {
  std::map<std::string, int> counts;
  for (const char* worker : kWorkers) {
    std::string resource = std::string("intel.com/") + worker;
    auto state = kubelet.resource(resource);
    counts[resource] = state ? state->registrations : 0;
  }
  return counts;
}

// One more registration of each resource than now.
std::map<std::string, int> oneMoreEach(KubeletStandIn& kubelet) {
  auto counts = registrationsNow(kubelet);
  for (auto& [resource, count] : counts) ++count;
  return counts;
}

// What the supervisor and each worker hold once the node is quiet, by process name.
std::map<std::string, Held> snapshot(pid_t supervisor) {
  // gRPC's threads that served the last calls and the kernel's lazy freeing settle first.
  std::this_thread::sleep_for(2s);
  std::map<std::string, Held> held{{"supervisor", heldBy(supervisor)}};
  for (const auto& [worker, pid] : workersOf(supervisor)) held["worker " + worker] = heldBy(pid);
  return held;
}

}  // namespace

int soakFigures() {
  PodEnvironment pod;  // the supervisor as a pod starts it
  FakeNode node;
  must(mvf::testing::addEveryDeviceClass(node));
  auto display = node.unixSocket("/tmp/.X11-unix/X0");
  KubeletStandIn kubelet(node.kubeletDir());
  must(kubelet.start());
  // Short backoff: a killed worker starts again at once, and never counts as crash looping.
  WorkerProcess supervisor(
      MVF_SUPERVISOR,
      {"--kubelet-dir", node.kubeletDir(), "--host-root", node.root(), "--run-dir", node.runDir(),
       "--status-socket", node.runDir() + "/status.sock", "--log-level", "warn",
       "--restart-backoff", "1ms", "--restart-backoff-max", "10ms", "--stable-after", "1ms",
       "--reset-after", "1ms"},
      node.dir() + "/s.log", false);
  std::map<std::string, int> once;
  for (const char* worker : kWorkers) once[std::string("intel.com/") + worker] = 1;
  if (!settled(kubelet, once)) {
    std::cerr << "the five never registered:\n" << supervisor.log();
    return 1;
  }
  // One round of each before the first snapshot, so what is made once (gRPC's pools, a
  // slot's pipes) is in both snapshots.
  must(kubelet.restart());
  auto warm = workersOf(supervisor.pid());
  for (const auto& [worker, pid] : warm) ::kill(pid, SIGKILL);
  if (!settled(kubelet, oneMoreEach(kubelet))) {
    std::cerr << "the warm-up round never settled:\n" << supervisor.log();
    return 1;
  }
  auto before = snapshot(supervisor.pid());

  auto began = Clock::now();
  for (int i = 0; i < kKubeletRestarts; ++i) {
    auto next = oneMoreEach(kubelet);
    must(kubelet.restart());
    if (!settled(kubelet, next)) {
      std::cerr << "kubelet restart " << i + 1 << ": not all re-registered:\n" << supervisor.log();
      return 1;
    }
  }
  double restartsSeconds = ms(Clock::now() - began) / 1000.0;
  began = Clock::now();
  for (int i = 0; i < kWorkerKills; ++i) {
    std::string worker = kWorkers[static_cast<size_t>(i) % std::size(kWorkers)];
    std::string resource = "intel.com/" + worker;
    auto next = registrationsNow(kubelet);
    ++next[resource];
    pid_t pid = workersOf(supervisor.pid())[worker];
    if (pid <= 0 || ::kill(pid, SIGKILL) != 0) {
      std::cerr << "kill " << i + 1 << ": no running " << worker << " worker\n";
      return 1;
    }
    if (!settled(kubelet, next)) {
      std::cerr << "kill " << i + 1 << ": " << worker << " never came back:\n" << supervisor.log();
      return 1;
    }
  }
  double killsSeconds = ms(Clock::now() - began) / 1000.0;
  auto afterAll = snapshot(supervisor.pid());

  std::printf("soak: %d kubelet restarts in %.0f s, %d worker kills in %.0f s\n", kKubeletRestarts,
              restartsSeconds, kWorkerKills, killsSeconds);
  for (const auto& [process, was] : before) {
    auto now = afterAll.find(process);
    if (now == afterAll.end()) {
      std::printf("%-46s GONE  target: no growth\n", ("  " + process).c_str());
      continue;
    }
    const Held& is = now->second;
    std::printf(
        "%-46s fds %ld -> %ld, threads %ld -> %ld, PSS %.1f -> %.1f MB  target: no growth\n",
        ("  " + process).c_str(), was.fds, is.fds, was.threads, is.threads,
        static_cast<double>(was.pssKb) / 1024.0, static_cast<double>(is.pssKb) / 1024.0);
  }
  std::printf("%-46s %d of the supervisor's, %zu workers running  target: none; 5 running\n",
              "  zombies after", zombiesOf(supervisor.pid()), workersOf(supervisor.pid()).size());
  return 0;
}

}  // namespace mvf::bench
