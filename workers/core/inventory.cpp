#include "workers/core/inventory.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <unordered_set>
#include <utility>

#include "base/format.h"
#include "base/quote.h"
#include "workers/core/cdi_spec.h"

namespace mvf::core {
namespace {

constexpr const char* kHealthy = "Healthy";
constexpr const char* kUnhealthy = "Unhealthy";

// "usb-1-2, usb-1-3": the first few IDs, then "...".
std::string listIds(const std::vector<std::string>& ids) {
  constexpr size_t kShown = 5;
  auto shown = std::min(ids.size(), kShown);
  return fmt::format("{}{}", fmt::join(ids.begin(), ids.begin() + static_cast<long>(shown), ", "),
                     ids.size() > kShown ? ", ..." : "");
}

// "X0: refuses connections; X1: …"
std::string unitProblems(const std::vector<std::pair<std::string, std::string>>& problems) {
  std::vector<std::string> parts;
  for (const auto& [id, problem] : problems) parts.push_back(id + ": " + problem);
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::optional<int64_t> numaOf(const v1beta1::Device& device) {
  if (!device.has_topology() || device.topology().nodes_size() == 0) return std::nullopt;
  return device.topology().nodes(0).id();
}

void setDevice(v1beta1::Device* device, const std::string& id, bool healthy,
               std::optional<int64_t> numaNode) {
  device->set_id(id);
  device->set_health(healthy ? kHealthy : kUnhealthy);
  if (numaNode) device->mutable_topology()->add_nodes()->set_id(*numaNode);
}

std::shared_ptr<const WireList> toWire(const v1beta1::ListAndWatchResponse& list) {
  auto wire = std::make_shared<WireList>();
  wire->bytes = list.SerializeAsString();
  for (const auto& device : list.devices()) {
    ++wire->total;
    if (device.health() == kHealthy) ++wire->healthy;
  }
  return wire;
}

}  // namespace

bool ListChange::empty() const {
  return added.empty() && removed.empty() && nowHealthy.empty() && nowUnhealthy.empty() &&
         topologyChanged.empty();
}

std::string ListChange::summary() const {
  std::string out;
  auto part = [&](const char* what, const std::vector<std::string>& ids) {
    if (ids.empty()) return;
    if (!out.empty()) out += "; ";
    out += std::string(what) + " " + std::to_string(ids.size()) + " (" + listIds(ids) + ")";
  };
  part("added", added);
  part("removed", removed);
  part("healthy", nowHealthy);
  part("unhealthy", nowUnhealthy);
  part("moved NUMA node", topologyChanged);
  return out.empty() ? "no change" : out;
}

ListChange diffLists(const v1beta1::ListAndWatchResponse& before,
                     const v1beta1::ListAndWatchResponse& after) {
  // Hashed views into the two lists: in shared mode every change of health diffs 1000 IDs
  // (ordered maps of copied strings took 0.36 ms). A duplicate ID counts once, by its
  // first entry, on both sides.
  struct Old {
    const v1beta1::Device* device;
    bool kept = false;
  };
  std::unordered_map<std::string_view, Old> old;
  old.reserve(static_cast<size_t>(before.devices_size()));
  for (const auto& device : before.devices()) old.try_emplace(device.id(), Old{&device});
  ListChange change;
  std::unordered_set<std::string_view> added;
  for (const auto& device : after.devices()) {
    auto it = old.find(device.id());
    if (it == old.end()) {
      if (added.insert(device.id()).second) change.added.push_back(device.id());
      continue;
    }
    if (std::exchange(it->second.kept, true)) continue;
    const v1beta1::Device& was = *it->second.device;
    bool healthy = device.health() == kHealthy;
    if (healthy != (was.health() == kHealthy)) {
      (healthy ? change.nowHealthy : change.nowUnhealthy).push_back(device.id());
    }
    if (numaOf(device) != numaOf(was)) change.topologyChanged.push_back(device.id());
  }
  for (const auto& [id, entry] : old) {
    if (!entry.kept) change.removed.emplace_back(id);
  }
  std::sort(change.removed.begin(), change.removed.end());
  return change;
}

v1beta1::ListAndWatchResponse parseList(const WireList& wire) {
  v1beta1::ListAndWatchResponse list;
  // Bytes we serialized ourselves.
  (void)list.ParseFromString(wire.bytes);
  return list;
}

Inventory::Inventory(const Resource& resource, std::string name, Mode mode, uint32_t sharedCount,
                     OnStale onStale, const CdiSpec* cdi, RequestLimits limits)
    : resource_(resource),
      name_(std::move(name)),
      mode_(mode),
      sharedCount_(sharedCount),
      sharedPrefix_(name_.substr(name_.find('/') + 1) + "-"),
      onStale_(std::move(onStale)),
      cdi_(cdi),
      limits_(limits) {
  auto empty = std::make_shared<State>();
  empty->list = std::make_shared<WireList>();
  state_ = std::move(empty);
}

std::shared_ptr<const Inventory::State> Inventory::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

v1beta1::ListAndWatchResponse Inventory::advertise(
    const Scan& scan, const v1beta1::ListAndWatchResponse& before) const {
  v1beta1::ListAndWatchResponse list;
  if (mode_ == Mode::kShared) {
    bool anyUsable = std::any_of(scan.units.begin(), scan.units.end(),
                                 [](const Unit& unit) { return unit.usable(); });
    for (uint32_t i = 0; i < sharedCount_; ++i) {
      setDevice(list.add_devices(), sharedPrefix_ + std::to_string(i), anyUsable, std::nullopt);
    }
    return list;
  }
  std::set<std::string> present;
  for (const auto& unit : scan.units) {
    if (!present.insert(unit.id).second) continue;
    setDevice(list.add_devices(), unit.id, unit.usable(), unit.numaNode);
  }
  for (const auto& device : before.devices()) {
    if (!present.contains(device.id())) {
      setDevice(list.add_devices(), device.id(), false, numaOf(device));
    }
  }
  return list;
}

ListChange Inventory::update(Scan scan) {
  auto before = state();
  // The resync's usual case, every --resync-interval in every worker: nothing changed,
  // and building and diffing the list (1000 IDs in shared mode) would be most of an idle
  // worker's CPU.
  if (before->scanned && scan == before->scan) return {};
  auto next = std::make_shared<State>();
  v1beta1::ListAndWatchResponse old = parseList(*before->list);
  v1beta1::ListAndWatchResponse list = advertise(scan, old);
  ListChange change = diffLists(old, list);
  next->scan = std::move(scan);
  next->scanned = true;
  // An unchanged list keeps its old object, so streams can tell by pointer that there is
  // nothing new to send.
  next->list = change.empty() ? before->list : toWire(list);
  if (mode_ == Mode::kExclusive) {
    for (const auto& unit : next->scan.units) next->units.emplace(unit.id, &unit);
    for (const auto& device : list.devices()) next->numa.emplace(device.id(), numaOf(device));
  }
  std::lock_guard lock(mu_);
  state_ = std::move(next);
  return change;
}

std::shared_ptr<const WireList> Inventory::list() const { return state()->list; }

Inventory::Counts Inventory::counts() const {
  auto list = state()->list;
  return {.total = list->total, .healthy = list->healthy};
}

bool Inventory::advertised(const State& state, const std::string& id) const {
  if (mode_ == Mode::kExclusive) return state.numa.contains(id);
  if (!state.scanned || !id.starts_with(sharedPrefix_)) return false;
  std::string_view index = std::string_view(id).substr(sharedPrefix_.size());
  uint32_t i = 0;
  // Only as std::to_string writes it: digits only (from_chars takes no sign or space), no
  // leading zero.
  auto [end, error] = std::from_chars(index.data(), index.data() + index.size(), i);
  return error == std::errc() && end == index.data() + index.size() &&
         (index.size() == 1 || index[0] != '0') && i < sharedCount_;
}

std::string Inventory::whyNothingUsable(const Scan& scan) {
  if (scan.units.empty()) return scan.missing.empty() ? "no device found" : scan.missing;
  std::vector<std::pair<std::string, std::string>> problems;
  for (const auto& unit : scan.units) {
    if (unit.usable()) return "";
    problems.emplace_back(unit.id, unit.problem);
  }
  return unitProblems(problems);
}

std::string Inventory::whyNothingUsable() const { return whyNothingUsable(state()->scan); }

grpc::Status Inventory::allocate(const v1beta1::AllocateRequest& request,
                                 v1beta1::AllocateResponse* response) const {
  if (auto status = checkRequest(request, limits_); !status.ok()) return status;
  auto current = state();
  // Each unit is re-checked once per call, however many container requests name it.
  std::map<std::string, std::string> problemNow;  // unit ID → "" or why not usable now
  std::vector<std::pair<std::string, std::string>> stale;
  auto recheck = [&](const Unit& unit) -> const std::string& {
    auto [it, fresh] = problemNow.try_emplace(unit.id);
    if (fresh) {
      it->second = resource_.recheck(unit);
      if (!it->second.empty()) stale.emplace_back(unit.id, it->second);
    }
    return it->second;
  };
  grpc::Status status = allocate(request, *current, recheck, response);
  if (!stale.empty() && onStale_) onStale_(unitProblems(stale));
  return status;
}

grpc::Status Inventory::allocate(const v1beta1::AllocateRequest& request, const State& current,
                                 const Recheck& recheck,
                                 v1beta1::AllocateResponse* response) const {
  const Scan& scan = current.scan;
  // Shared mode hands every container request the same units, so one grant serves all.
  std::optional<std::pair<std::vector<const Unit*>, Grant>> shared;
  for (int i = 0; i < request.container_requests_size(); ++i) {
    const auto& ids = request.container_requests(i).devices_ids();
    std::string where = " (container request " + std::to_string(i) + ")";
    for (const auto& id : ids) {
      if (!advertised(current, id)) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "unknown device ID " + base::quote(id) + where +
                                                        ": " + name_ + " never advertised it"};
      }
    }
    std::vector<const Unit*> units;
    Grant grant;
    if (ids.empty()) {
      // Nothing asked for, nothing given.
    } else if (mode_ == Mode::kShared) {
      if (!shared) {
        std::vector<std::pair<std::string, std::string>> failed;
        for (const auto& unit : scan.units) {
          if (!unit.usable()) continue;
          const std::string& problem = recheck(unit);
          if (problem.empty()) {
            units.push_back(&unit);
          } else {
            failed.emplace_back(unit.id, problem);
          }
        }
        if (units.empty()) {
          return {grpc::StatusCode::FAILED_PRECONDITION,
                  "no usable device for " + name_ + where + ": " +
                      (failed.empty() ? whyNothingUsable(scan) : unitProblems(failed))};
        }
        shared.emplace(units, resource_.compose(units));
      }
      units = shared->first;
      grant = shared->second;
    } else {
      std::unordered_set<std::string_view> taken;
      for (const auto& id : ids) {
        if (!taken.insert(id).second) continue;
        auto it = current.units.find(id);
        if (it == current.units.end()) {
          return {grpc::StatusCode::FAILED_PRECONDITION,
                  "device " + id + where + " is no longer present"};
        }
        const Unit& unit = *it->second;
        const std::string& problem = unit.usable() ? recheck(unit) : unit.problem;
        if (!problem.empty()) {
          return {grpc::StatusCode::FAILED_PRECONDITION,
                  "device " + id + where + " is not usable: " + problem};
        }
        units.push_back(&unit);
      }
      grant = resource_.compose(units);
    }
    auto* container = response->add_container_responses();
    if (cdi_ != nullptr) {
      cdi_->respond(units, grant, container);
    } else {
      toResponse(grant, container);
    }
  }
  return grpc::Status::OK;
}

grpc::Status Inventory::preferredAllocation(const v1beta1::PreferredAllocationRequest& request,
                                            v1beta1::PreferredAllocationResponse* response) const {
  if (auto status = checkRequest(request, limits_); !status.ok()) return status;
  auto current = state();
  auto numaNode = [&](const std::string& id) {
    auto it = current->numa.find(id);
    return it == current->numa.end() ? std::nullopt : it->second;
  };
  for (int i = 0; i < request.container_requests_size(); ++i) {
    const auto& container = request.container_requests(i);
    if (container.allocation_size() < container.must_include_deviceids_size()) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "container request " + std::to_string(i) + ": allocation_size " +
                  std::to_string(container.allocation_size()) + " is below the " +
                  std::to_string(container.must_include_deviceids_size()) + " must-include IDs"};
    }
    auto size = static_cast<size_t>(container.allocation_size());
    std::vector<std::string_view> chosen;
    std::unordered_set<std::string_view> taken;
    auto take = [&](const std::string& id) {
      if (chosen.size() < size && taken.insert(id).second) chosen.push_back(id);
    };
    std::set<int64_t> nodes;
    for (const auto& id : container.must_include_deviceids()) {
      take(id);
      if (auto node = numaNode(id)) nodes.insert(*node);
    }
    if (nodes.empty()) {
      std::map<int64_t, int> available;
      for (const auto& id : container.available_deviceids()) {
        if (auto node = numaNode(id)) ++available[*node];
      }
      auto most =
          std::max_element(available.begin(), available.end(),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
      if (most != available.end()) nodes.insert(most->first);
    }
    for (const auto& id : container.available_deviceids()) {
      if (auto node = numaNode(id); node && nodes.contains(*node)) take(id);
    }
    for (const auto& id : container.available_deviceids()) take(id);
    auto* out = response->add_container_responses();
    for (std::string_view id : chosen) out->add_deviceids(std::string(id));
  }
  return grpc::Status::OK;
}

void toResponse(const Grant& grant, v1beta1::ContainerAllocateResponse* response) {
  for (const auto& node : grant.nodes) {
    auto* spec = response->add_devices();
    spec->set_container_path(node.path);
    spec->set_host_path(node.path);
    spec->set_permissions(node.permissions);
  }
  for (const auto& mount : grant.mounts) {
    auto* out = response->add_mounts();
    out->set_container_path(mount.containerPath);
    out->set_host_path(mount.hostPath);
    out->set_read_only(mount.readOnly);
  }
  for (const auto& [key, value] : grant.envs) (*response->mutable_envs())[key] = value;
}

std::string describe(const v1beta1::ContainerAllocateResponse& response) {
  std::vector<std::string> devices, mounts, envs;
  for (const auto& spec : response.devices()) {
    devices.push_back(spec.host_path() + ":" + spec.permissions());
  }
  for (const auto& mount : response.mounts()) {
    mounts.push_back(mount.host_path() + "->" + mount.container_path() +
                     (mount.read_only() ? ":ro" : ":rw"));
  }
  std::map<std::string, std::string> sorted(response.envs().begin(), response.envs().end());
  for (const auto& [key, value] : sorted) envs.push_back(key + "=" + value);
  return fmt::format("devices={} mounts={} envs={}", fmt::join(devices, ","),
                     fmt::join(mounts, ","), fmt::join(envs, ","));
}

std::string describeIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  constexpr int kShown = 8;
  std::vector<std::string> shown;
  for (int i = 0; i < std::min(ids.size(), kShown); ++i) {
    shown.push_back(base::quote(ids[i], base::kQuoteLimit, base::Quotes::kIfNeeded));
  }
  std::string more = ids.size() > kShown ? fmt::format(",... ({} IDs)", ids.size()) : "";
  return fmt::format("{}{}", fmt::join(shown, ","), more);
}

}  // namespace mvf::core
