// mvfctl kubelet: the kubelet stand-in on a plugin dir; SIGHUP restarts it as a kubelet restarts.
// With --pod-resources-socket it also serves the pod-resources API, and commands on stdin
// allocate for a pod's container as the kubelet does, for `mvfctl allocations` to show.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "base/options.h"
#include "base/process.h"
#include "base/signals.h"
#include "catalog/catalog.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "mvfctl/command.h"

namespace mvf::mvfctl {
namespace {

constexpr const char* kCommands =
    "allocate RESOURCE NAMESPACE/POD/CONTAINER ID[,ID...] | remove NAMESPACE/POD";

// One line of input: what to say back, "" when the stand-in's own event says it.
std::string obey(const std::string& line, kubelet::KubeletStandIn& standIn) {
  std::istringstream in(line);
  std::vector<std::string> words{std::istream_iterator<std::string>(in), {}};
  if (words.empty()) return "";
  if (words[0] == "allocate" && words.size() == 4) {
    // A worker's name stands for its resource: udma for intel.com/udma.
    std::string resource =
        catalog::isResource(words[1]) ? catalog::resourceName(words[1]) : words[1];
    auto names = base::splitList(words[2], '/');
    if (names.size() != 3) return "expected NAMESPACE/POD/CONTAINER, not " + words[2];
    kubelet::PodRef pod{names[0], names[1], names[2]};
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (const auto& id : base::splitList(words[3], ',')) container->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    grpc::Status status = standIn.allocate(resource, request, &response, pod);
    if (status.ok()) return "";
    return "Allocate of " + resource + " for " + pod.text() +
           " failed: " + codeName(status.error_code()) + ": " + status.error_message();
  }
  if (words[0] == "remove" && words.size() == 2) {
    auto names = base::splitList(words[1], '/');
    if (names.size() != 2) return "expected NAMESPACE/POD, not " + words[1];
    if (standIn.removePod(names[0], names[1])) return "";
    return "no pod " + words[1] + " holds a device";
  }
  return "unknown command '" + line + "'; commands: " + kCommands;
}

}  // namespace

int runKubelet(const std::vector<std::string>& args) {
  po::options_description options("kubelet options");
  const std::string podResourcesHelp =
      std::string("also serve the pod-resources API on this socket (the kubelet's: ") +
      kDefaultPodResourcesSocket + "); stdin then takes commands: " + kCommands;
  options.add_options()("dir", po::value<std::string>()->required(), "the plugin dir")(
      "grace-period", po::value<std::string>()->default_value("5m"),
      "how long a disconnected resource keeps its capacity")(
      "pod-resources-socket", po::value<std::string>(), podResourcesHelp.c_str());
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "kubelet")) return *code;
  auto grace = mvf::base::parseDuration(values["grace-period"].as<std::string>());
  if (!grace) {
    std::cerr << "mvfctl kubelet: invalid --grace-period, expected e.g. 30s or 5m\n";
    return base::kExitUsage;
  }

  // SIGHUP restarts the stand-in; SIGINT and SIGTERM end it.
  mvf::base::UniqueFd signals =
      mvf::base::blockedSignalFd({SIGINT, SIGTERM, SIGHUP}, /*nonBlocking=*/false);
  std::mutex tableMu;  // the stand-in's threads report concurrently
  std::string lastTable;
  mvf::kubelet::KubeletStandIn* standInPtr = nullptr;
  mvf::kubelet::KubeletStandIn::Options standInOptions;
  standInOptions.gracePeriod = *grace;
  if (values.count("pod-resources-socket")) {
    standInOptions.podResourcesSocket = values["pod-resources-socket"].as<std::string>();
  }
  standInOptions.onEvent = [&](const std::string& event) {
    say("[kubelet] " + event);
    if (standInPtr == nullptr) return;
    std::string table = standInPtr->describeNode();
    std::lock_guard lock(tableMu);
    if (table != lastTable && !standInPtr->node().empty()) {
      lastTable = table;
      print(table);
    }
  };
  mvf::kubelet::KubeletStandIn standIn(values["dir"].as<std::string>(), standInOptions);
  standInPtr = &standIn;
  if (auto started = standIn.start(); !started) {
    std::cerr << "mvfctl kubelet: " << started.error().message << "\n";
    return base::kExitFailure;
  }
  // Commands come on stdin, until it ends. Run in the background of a terminal, a read
  // fails (EIO, with SIGTTIN ignored) instead of stopping the process, and ends them too.
  ::signal(SIGTTIN, SIG_IGN);
  bool commands = !standInOptions.podResourcesSocket.empty();
  std::string input;
  while (true) {
    pollfd fds[2] = {{signals.get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(fds, commands ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      signalfd_siginfo info{};
      if (::read(signals.get(), &info, sizeof(info)) != sizeof(info)) break;
      if (info.ssi_signo != SIGHUP) break;
      say("[kubelet] SIGHUP: restarting like a kubelet restart");
      if (auto restarted = standIn.restart(); !restarted) {
        std::cerr << "mvfctl kubelet: " << restarted.error().message << "\n";
        return base::kExitFailure;
      }
      continue;
    }
    if (commands && fds[1].revents != 0) {
      char chunk[4096];
      ssize_t got = ::read(STDIN_FILENO, chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        commands = false;
        continue;
      }
      input.append(chunk, static_cast<size_t>(got));
      for (size_t newline; (newline = input.find('\n')) != std::string::npos;) {
        std::string reply = obey(input.substr(0, newline), standIn);
        input.erase(0, newline + 1);
        if (!reply.empty()) say("[kubelet] " + reply);
      }
    }
  }
  standIn.stop();
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
