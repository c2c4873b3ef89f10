#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/options.h"
#include "base/result.h"
#include "cdi/spec.h"
#include "cdi/spec_file.h"
#include "proto/deviceplugin.pb.h"
#include "workers/core/host_fs.h"
#include "workers/core/resource.h"
#include "workers/core/worker_metrics.h"

namespace mvf::core {

// How a worker hands out devices through CDI (README, "CDI"), from its options.
struct CdiConfig {
  enum class Names { kOff, kCri, kAnnotations };
  Names names = Names::kOff;  // --cdi-devices
  bool deviceSpecs = true;    // --device-specs
  std::string dir;            // --cdi-dir, on our own filesystem
  // --cdi-node-uid, --cdi-node-gid, --cdi-node-file-mode; unset: the host node's.
  std::optional<uint32_t> nodeUid, nodeGid, nodeFileMode;
};

// The CDI settings from a worker's options.
CdiConfig cdiConfigOf(const base::Settings& settings);

// "cdi.k8s.io/mvf-<name>_devices", the annotation that names resource `name`'s CDI devices:
// one key per resource, since the kubelet merges the annotations of every resource of a
// container and keeps the first value of a key.
std::string cdiAnnotationKey(const std::string& name);

// A worker's CDI spec, kept in step with its scans, and how Allocate hands out units with
// it (docs/architecture.md, "CDI").
//
// The spec has one CDI device per unit the last scan found, usable or not, named by the
// unit's ID (names never change: the kubelet checkpoints Allocate responses, and a
// container restarting from one must still resolve them). Its edits are the unit's
// device nodes and mounts, /dev/vfio/vfio included in every group's (a runtime applies
// a node once per path, so two groups give one); envs that join several units stay in
// the Allocate response. A unit is left out while its ID is no CDI name or a node's
// owner cannot be read; Allocate hands out its plain device specs instead.
//
// update() runs on the worker's main loop; respond() on any gRPC thread.
class CdiSpec {
 public:
  // `name`: the resource's ("vfio", kind intel.com/vfio). `metrics`, when given, counts
  // the spec's writes.
  CdiSpec(CdiConfig config, const std::string& name, HostFs host, WorkerMetrics* metrics = nullptr);

  // Brings the spec in line with `scan`: rewritten when its content changed or the file
  // was removed or replaced. While the dir is unusable (missing, a file or a symlink, not
  // writable, a foreign file claiming our kind, a spec we did not write at our name),
  // that is logged once and Allocate names no CDI device; a failed write (a full disk)
  // keeps the spec before it, and Allocate keeps naming what that one has.
  void update(const Scan& scan);

  // The spec dir changed (an inotify event): checks it again, and writes the spec of the
  // last update() again if the file was removed or replaced.
  void refresh();

  // One container's response for `units` whose composed grant is `grant`: the plain
  // response (toResponse), with the units the spec on disk has named as CDI devices
  // (--cdi-devices cri: cdi_devices; annotations: the key annotationKey()), and their
  // device specs dropped when --device-specs is off. A unit not in the spec keeps its
  // device specs whatever --device-specs says.
  void respond(const std::vector<const Unit*>& units, const Grant& grant,
               v1beta1::ContainerAllocateResponse* response) const;

  // The spec file's path.
  const std::string& path() const { return file_.path(); }
  // The dir the spec lives in, to watch; "" when --cdi-devices is off.
  std::string watchDir() const;

 private:
  struct Built {
    std::vector<cdi::Device> devices;
    std::set<std::string> names;
  };
  // The spec's devices for `scan`.
  Built build(const Scan& scan);
  // Checks the dir and writes `built` where needed; then Allocate names what is on disk.
  void apply(const Built& built);
  void publish(std::set<std::string> names);
  void unusable(const std::string& why);

  const CdiConfig config_;
  const std::string kind_;
  const HostFs host_;
  WorkerMetrics* const metrics_;
  const std::string annotationKey_;
  cdi::SpecFile file_;
  std::string problem_;             // why the spec is unusable now, as last logged
  std::set<std::string> badNames_;  // unit IDs already warned about
  Built last_;                      // of the last update()
  std::set<std::string> onDisk_;    // the names in the spec last written (or found) on disk

  mutable std::mutex mu_;
  std::shared_ptr<const std::set<std::string>> named_;  // names in the spec on disk
};

}  // namespace mvf::core
