#include "workers/core/cdi_spec.h"

#include <algorithm>

#include "base/format.h"
#include "base/logging.h"
#include "catalog/catalog.h"
#include "cdi/spec.h"
#include "workers/core/inventory.h"

namespace mvf::core {

CdiConfig cdiConfigOf(const base::Settings& settings) {
  CdiConfig config;
  const std::string& names = settings.text("cdi-devices");
  config.names = names == "cri"           ? CdiConfig::Names::kCri
                 : names == "annotations" ? CdiConfig::Names::kAnnotations
                                          : CdiConfig::Names::kOff;
  config.deviceSpecs = settings.text("device-specs") == "on";
  config.dir = settings.text("cdi-dir");
  while (config.dir.size() > 1 && config.dir.back() == '/') config.dir.pop_back();
  auto id = [&](const char* name) -> std::optional<uint32_t> {
    if (!settings.has(name)) return std::nullopt;
    return static_cast<uint32_t>(settings.integer(name));
  };
  config.nodeUid = id("cdi-node-uid");
  config.nodeGid = id("cdi-node-gid");
  if (settings.has("cdi-node-file-mode")) {
    config.nodeFileMode = base::parseFileMode(settings.text("cdi-node-file-mode"));
  }
  return config;
}

std::string cdiAnnotationKey(const std::string& name) {
  return "cdi.k8s.io/mvf-" + name + "_devices";
}

CdiSpec::CdiSpec(CdiConfig config, const std::string& name, HostFs host, WorkerMetrics* metrics)
    : config_(std::move(config)),
      kind_(catalog::resourceName(name)),
      host_(std::move(host)),
      metrics_(metrics),
      annotationKey_(cdiAnnotationKey(name)),
      file_(config_.dir, kind_),
      named_(std::make_shared<const std::set<std::string>>()) {}

std::string CdiSpec::watchDir() const {
  return config_.names == CdiConfig::Names::kOff ? "" : config_.dir;
}

CdiSpec::Built CdiSpec::build(const Scan& scan) {
  auto log = base::logger("cdi");
  Built built;
  for (const auto& unit : scan.units) {
    if (!cdi::isDeviceName(unit.id)) {
      if (badNames_.insert(unit.id).second) {
        log->warn(
            "device {:.80} is left out of {}: its ID is no CDI device name (letters, digits, "
            "'_', '-', '.', ':', beginning and ending with a letter or digit); Allocate hands "
            "it out as plain device specs",
            unit.id, file_.path());
      }
      continue;
    }
    cdi::Device device{.name = unit.id};
    for (const auto& node : unit.grant.nodes) {
      std::optional<HostFs::Owner> owner;
      if (!config_.nodeUid || !config_.nodeGid || !config_.nodeFileMode) {
        owner = host_.owner(node.path);
        if (!owner) {
          log->debug("device {} is left out of {} for now: {} cannot be read", unit.id,
                     file_.path(), node.path);
          device.nodes.clear();
          device.mounts.clear();
          break;
        }
      }
      device.nodes.push_back({.path = node.path,
                              .hostPath = node.path,
                              .permissions = node.permissions,
                              .uid = config_.nodeUid.value_or(owner ? owner->uid : 0),
                              .gid = config_.nodeGid.value_or(owner ? owner->gid : 0),
                              .fileMode = config_.nodeFileMode.value_or(owner ? owner->mode : 0)});
    }
    if (device.nodes.size() < unit.grant.nodes.size()) continue;
    for (const auto& mount : unit.grant.mounts) {
      device.mounts.push_back({mount.hostPath, mount.containerPath, mount.readOnly});
    }
    if (device.nodes.empty() && device.mounts.empty()) continue;  // CDI refuses empty edits
    built.names.insert(unit.id);
    built.devices.push_back(std::move(device));
  }
  return built;
}

void CdiSpec::update(const Scan& scan) {
  if (config_.names == CdiConfig::Names::kOff) return;
  last_ = build(scan);
  apply(last_);
}

void CdiSpec::refresh() {
  if (config_.names != CdiConfig::Names::kOff) apply(last_);
}

void CdiSpec::apply(const Built& built) {
  if (auto usable = file_.check(); !usable) {
    unusable(usable.error().message);
    publish({});
    return;
  }
  std::string content = cdi::specJson(kind_, built.devices);
  if (!file_.current(content)) {
    auto wrote = file_.write(content);
    if (metrics_ != nullptr) metrics_->cdiSpecWritten(static_cast<bool>(wrote));
    if (!wrote) {
      // Allocate may name only what a runtime can resolve: the spec written before, if it
      // is still on disk as written (a full disk), else nothing (removed, or hidden by a
      // mount over the dir).
      unusable(wrote.error().message);
      publish(file_.intact() ? onDisk_ : std::set<std::string>{});
      return;
    }
    base::logger("cdi")->debug("wrote {}: {} devices", file_.path(), built.devices.size());
  }
  if (!problem_.empty()) {
    base::logger("cdi")->info("{} is written again; Allocate names CDI devices", file_.path());
    problem_.clear();
  }
  onDisk_ = built.names;
  publish(built.names);
}

void CdiSpec::unusable(const std::string& why) {
  if (why == problem_) return;
  problem_ = why;
  base::logger("cdi")->error(
      "CDI spec not written: {}; until it is, Allocate names only what "
      "the spec on disk has, if anything",
      why);
}

void CdiSpec::publish(std::set<std::string> names) {
  auto shared = std::make_shared<const std::set<std::string>>(std::move(names));
  std::lock_guard lock(mu_);
  named_ = std::move(shared);
}

void CdiSpec::respond(const std::vector<const Unit*>& units, const Grant& grant,
                      v1beta1::ContainerAllocateResponse* response) const {
  std::shared_ptr<const std::set<std::string>> named;
  {
    std::lock_guard lock(mu_);
    named = named_;
  }
  std::vector<std::string> devices;  // qualified CDI names
  std::set<std::string> plainNodes;  // nodes of units the spec does not have
  for (const Unit* unit : units) {
    if (named->contains(unit->id)) {
      devices.push_back(cdi::qualifiedName(kind_, unit->id));
    } else {
      for (const auto& node : unit->grant.nodes) plainNodes.insert(node.path);
    }
  }
  if (devices.empty()) {
    toResponse(grant, response);
    return;
  }
  Grant plain = grant;
  if (!config_.deviceSpecs) {
    std::erase_if(plain.nodes,
                  [&](const DeviceNode& node) { return !plainNodes.contains(node.path); });
  }
  toResponse(plain, response);
  if (config_.names == CdiConfig::Names::kCri) {
    for (const auto& name : devices) response->add_cdi_devices()->set_name(name);
  } else {
    (*response->mutable_annotations())[annotationKey_] = fmt::format("{}", fmt::join(devices, ","));
  }
}

}  // namespace mvf::core
