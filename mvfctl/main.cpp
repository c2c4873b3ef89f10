// mvfctl, the command-line client: the supervisor's status and health, a worker's devices
// and Allocate (talking to its socket directly, for debugging a worker on a node), and the
// kubelet stand-in. One file per command.
#include <signal.h>

#include <iostream>

#include "base/process.h"
#include "base/version.h"
#include "mvfctl/command.h"

namespace {

const char* kUsage = R"(Usage: mvfctl <command> [options]

Commands:
  kubelet --dir DIR              run a kubelet stand-in on DIR/kubelet.sock; prints
                                 registrations and capacity like `kubectl describe node`.
                                 SIGHUP restarts it the way a kubelet restarts. With
                                 --pod-resources-socket PATH it serves the pod-resources
                                 API there and reads commands on stdin: allocate
                                 RESOURCE NAMESPACE/POD/CONTAINER IDS, remove NAMESPACE/POD
  devices WORKER|--socket PATH   list the devices a worker advertises (its first
                                 ListAndWatch message); --watch keeps printing updates
  allocate WORKER|--socket PATH IDS...
                                 call Allocate: each IDS argument (comma-separated IDs)
                                 is one container request; prints the response as JSON
  status [--json]                the supervisor's status: every worker's state, pid,
                                 restarts, last exit, registration and devices
  health [--ready]               exit 0 if the supervisor answers (liveness); with
                                 --ready, only if every enabled worker is registered
  allocations [--json]           which namespace/pod/container holds which device IDs
                                 (the kubelet's pod-resources API), and what a shared
                                 ID grants now (the supervisor's status)
  --version                      print the version

WORKER is x11, udma, vfio, igpu or usb: its socket in --kubelet-dir
(default /var/lib/kubelet/device-plugins). status, health and allocations take
--status-socket (default /run/mvf/status.sock); allocations --pod-resources-socket
(default /var/lib/kubelet/pod-resources/kubelet.sock). Run `mvfctl <command> --help`
for options.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace mvf;
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? base::kExitUsage : base::kExitOk;
  }
  if (args[0] == "--version") {
    std::cout << "mvfctl " << mvf::base::kVersion << "\n";
    return base::kExitOk;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "kubelet") return mvfctl::runKubelet(args);
  if (command == "devices") return mvfctl::runDevices(args);
  if (command == "allocate") return mvfctl::runAllocate(args);
  if (command == "status") return mvfctl::runStatus(args);
  if (command == "health") return mvfctl::runHealth(args);
  if (command == "allocations") return mvfctl::runAllocations(args);
  std::cerr << "mvfctl: unknown command '" << command << "'\n" << kUsage;
  return base::kExitUsage;
}