// mvfctl kubelet: the kubelet stand-in on a plugin dir; SIGHUP restarts it as a kubelet restarts.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iostream>
#include <mutex>

#include "base/options.h"
#include "base/process.h"
#include "base/signals.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "mvfctl/command.h"

namespace mvf::mvfctl {

int runKubelet(const std::vector<std::string>& args) {
  po::options_description options("kubelet options");
  options.add_options()("dir", po::value<std::string>()->required(), "the plugin dir")(
      "grace-period", po::value<std::string>()->default_value("5m"),
      "how long a disconnected resource keeps its capacity");
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
  signalfd_siginfo info{};
  while (::read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo != SIGHUP) break;
    say("[kubelet] SIGHUP: restarting like a kubelet restart");
    if (auto restarted = standIn.restart(); !restarted) {
      std::cerr << "mvfctl kubelet: " << restarted.error().message << "\n";
      return base::kExitFailure;
    }
  }
  standIn.stop();
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
