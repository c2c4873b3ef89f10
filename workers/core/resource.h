#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/options.h"
#include "workers/core/host_fs.h"

namespace mvf::core {

// shared: <count> IDs that each grant every usable device; exclusive: one ID per device.
enum class Mode { kShared, kExclusive };

// The --mode setting; shared for a resource that has no exclusive mode (and no option).
inline Mode modeOf(const base::Settings& settings) {
  return settings.has("mode") && settings.text("mode") == "exclusive" ? Mode::kExclusive
                                                                      : Mode::kShared;
}

// A host device node handed to a container at the same path, e.g. /dev/udmabuf.
struct DeviceNode {
  std::string path;
  std::string permissions = "rw";
  bool operator==(const DeviceNode&) const = default;
};

struct BindMount {
  std::string hostPath;
  std::string containerPath;
  bool readOnly = true;
  bool operator==(const BindMount&) const = default;
};

// What a container gets: nodes, mounts and envs, all with host paths as the host sees
// them (never prefixed with --host-root).
struct Grant {
  std::vector<DeviceNode> nodes;
  std::vector<BindMount> mounts;
  std::vector<std::pair<std::string, std::string>> envs;
  bool operator==(const Grant&) const = default;
};

// One real device a scan found: a display, a GPU, an IOMMU group, a USB device, udmabuf.
struct Unit {
  std::string id;       // stable across restarts; the device ID in exclusive mode
  std::string problem;  // why it is not usable now; empty when usable
  std::optional<int64_t> numaNode;
  Grant grant;
  // How the worker learns between scans that this unit's usability changed. By default
  // an inotify event on a watched dir tells (a device node appears or vanishes).
  // healthPolled: usability rests on something no filesystem event reports (a sysfs
  // driver link), so the health check re-checks the unit every --health-interval.
  bool healthPolled = false;
  // A unix socket (host path) whose listener makes the unit usable, an X server's: while
  // the unit is usable the worker holds a connection to it, and its hang-up is the event.
  std::string heldSocket;
  bool usable() const { return problem.empty(); }
  bool operator==(const Unit&) const = default;
};

struct Scan {
  std::vector<Unit> units;
  // When no unit was found at all: what is missing, in words an operator can act on
  // ("/dev/udmabuf does not exist"). Used in logs and in Allocate's error.
  std::string missing;
  // Something may become usable in a moment without any inotify event (an X server
  // creates its socket before it listens): rescan after --recheck-interval.
  bool recheck = false;

  bool operator==(const Scan&) const = default;
};

// Why each unit of a scan is not usable: unit ID → Unit::problem ("" when usable).
using Problems = std::map<std::string, std::string>;
Problems problemsOf(const Scan& scan);

// What an operator should read in the log about units between two scans (`before` empty
// for the first): each unit that is not usable now and was not, or not for that reason
// ("device 13 is not usable: member 0000:02:00.1 is bound to e1000e"), each usable again,
// each gone. At most `limit` lines, the last then saying how many more there were.
std::vector<std::string> usabilityChanges(const Problems& before, const Problems& after,
                                          size_t limit = 10);

// One device class. The core does everything generic (serving, registration, diffing,
// Allocate); a resource only says what is there. scan() runs on the worker's main loop;
// compose() and recheck() may run on any gRPC thread at the same time, so they must not
// touch state that scan() changes.
class Resource {
 public:
  explicit Resource(HostFs host) : host_(std::move(host)) {}
  virtual ~Resource() = default;

  // Reads the host (through the HostFs it was made with) and reports every unit.
  virtual Scan scan() = 0;

  // Host dirs on devtmpfs/tmpfs whose entries appearing or vanishing should trigger a
  // rescan. sysfs sends no inotify events; the periodic resync covers it.
  virtual std::vector<std::string> watchDirs() const = 0;

  // Hook: what a container gets for these usable units. The default is the union of
  // their grants, with the values of an env var that several units set joined by ','.
  virtual Grant compose(const std::vector<const Unit*>& units) const;

  // Hook: whether a unit the last scan found is usable at this moment, by cheap checks
  // only (lstat, readlink, a non-blocking connect): "" when it is, else why not, in the
  // words of Unit::problem. Allocate calls it for every unit it is about to hand out, and
  // the health check for healthPolled units. The default: every device node of the
  // grant is a character device.
  virtual std::string recheck(const Unit& unit) const;

  const HostFs& host() const { return host_; }

 protected:
  const HostFs host_;
};

// How a worker binary describes its resource to runWorker().
struct ResourceSpec {
  std::string name;  // "udma": resource intel.com/udma, socket udma.sock, INI section [udma]
  bool hasExclusiveMode = false;
  std::vector<base::OptionSpec> options;  // the resource's own options
  std::function<std::unique_ptr<Resource>(const base::Settings&, const HostFs&)> create;
};

}  // namespace mvf::core
