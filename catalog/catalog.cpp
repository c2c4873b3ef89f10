#include "catalog/catalog.h"

#include <algorithm>
#include <sstream>

namespace mvf::catalog {

using namespace std::chrono_literals;
using base::OptionSpec;
using base::Scope;

const std::vector<std::string>& resources() {
  // MVF_RESOURCES: "x11 udma vfio igpu usb", from CMakeLists.txt.
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    std::istringstream list(MVF_RESOURCES);
    for (std::string name; list >> name;) out.push_back(name);
    return out;
  }();
  return names;
}

bool isResource(std::string_view name) {
  return std::find(resources().begin(), resources().end(), name) != resources().end();
}

std::string resourceName(std::string_view name) { return "intel.com/" + std::string(name); }

const std::vector<std::string>& configSections() {
  static const std::vector<std::string> sections = [] {
    std::vector<std::string> out = {"global", "supervisor"};
    out.insert(out.end(), resources().begin(), resources().end());
    return out;
  }();
  return sections;
}

std::string workerOfFlag(std::string_view flag) {
  if (!flag.starts_with("--")) return "";
  for (const auto& name : resources()) {
    if (flag.substr(2).starts_with(name + "-")) return name;
  }
  return "";
}

std::vector<OptionSpec> commonWorkerOptions() {
  return {
      {"config", "", "INI config file", Scope::kNoConfigFile, nullptr},
      {"kubelet-dir", "/var/lib/kubelet/device-plugins", "the kubelet's device plugin dir",
       Scope::kGlobalSection, base::absolutePath()},
      {"host-root", "/", "where the host's / is mounted; every host path is read under it",
       Scope::kGlobalSection, base::absolutePath()},
      {"run-dir", "/run/mvf", "dir for the single-instance lock", Scope::kGlobalSection,
       base::absolutePath()},
      {"log-level", "info", "trace, debug, info, warn, error, critical or off",
       Scope::kGlobalSection,
       base::oneOf({"trace", "debug", "info", "warn", "error", "critical", "off"})},
      {"log-format", "text", "text or json", Scope::kGlobalSection, base::oneOf({"text", "json"})},
      {"shared-count", "1000", "device IDs advertised in shared mode", Scope::kGlobalSection,
       base::integerIn(1, 10000)},
      {"resync-interval", "30s", "full rescan and plugin dir check, for what inotify misses",
       Scope::kGlobalSection, base::durationIn(10ms, 24h)},
      {"recheck-interval", "100ms",
       "rescan delay while a device may become usable without an event (a new X socket)",
       Scope::kGlobalSection, base::durationIn(1ms, 1h)},
      {"health-interval", "500ms",
       "re-check of devices whose health no filesystem event reports (0: off)",
       Scope::kGlobalSection, base::offOrDurationIn(10ms, 1h)},
      {"heartbeat-interval", "5s", "heartbeat events on the notify fd", Scope::kGlobalSection,
       base::durationIn(10ms, 1h)},
      {"register-backoff", "50ms", "first delay before retrying registration",
       Scope::kGlobalSection, base::durationIn(1ms, 1h)},
      {"register-backoff-max", "5s", "longest delay between registration attempts",
       Scope::kGlobalSection, base::durationIn(1ms, 1h)},
      {"register-timeout", "15s",
       "how long a Register call may take (the kubelet dials back inside it, for 10 s at most)",
       Scope::kGlobalSection, base::durationIn(1s, 1h)},
      {"poll-interval", "2s", "rescan period when inotify is not available", Scope::kGlobalSection,
       base::durationIn(10ms, 1h)},
      {"watch", "inotify", "inotify (falls back to polling when unavailable) or poll",
       Scope::kGlobalSection, base::oneOf({"inotify", "poll"})},
      // CDI (README, "CDI"): each worker keeps a spec in --cdi-dir, and Allocate names
      // its devices there.
      {"cdi-devices", "off",
       "name CDI devices in Allocate: off, cri (the cdi_devices field, kubelet >= 1.29) or "
       "annotations (cdi.k8s.io/, older kubelets)",
       Scope::kGlobalSection, base::oneOf({"off", "cri", "annotations"})},
      {"device-specs", "on",
       "also hand out the plain device specs (on: runtimes without CDI get the devices too)",
       Scope::kGlobalSection, base::oneOf({"on", "off"})},
      {"cdi-dir", "/var/run/cdi", "where the worker keeps its CDI spec (a directory, no symlink)",
       Scope::kGlobalSection, base::absolutePath()},
      {"cdi-node-uid", "", "owner of the container's device nodes (default: the host node's)",
       Scope::kGlobalSection, base::integerIn(0, 4294967294)},
      {"cdi-node-gid", "", "group of the container's device nodes (default: the host node's)",
       Scope::kGlobalSection, base::integerIn(0, 4294967294)},
      {"cdi-node-file-mode", "",
       "octal mode of the container's device nodes, like 0660 (default: the host node's)",
       Scope::kGlobalSection, base::fileMode()},
  };
}

}  // namespace mvf::catalog
