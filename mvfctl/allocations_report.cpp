#include "mvfctl/allocations_report.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "base/format.h"
#include "catalog/catalog.h"

namespace mvf::mvfctl {
namespace {

namespace sv1 = mvf::supervisor::v1;
using StatusResult = base::Result<sv1::SupervisorStatus>;

bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The note after a line's IDs: what they grant, or why that is not known.
std::string grantNote(const SlotGrant& grant, bool statusReached) {
  if (grant.mode == "exclusive") return "";
  if (grant.mode == "shared") {
    if (grant.unitsTotal == 0) return " (shared: grants no device now: none is usable)";
    std::string units = fmt::format("{}", fmt::join(grant.units, ", "));
    if (grant.unitsTotal > grant.units.size()) {
      units += fmt::format(" and {} more", grant.unitsTotal - grant.units.size());
    }
    return " (shared: grants every usable device: " + units + ")";
  }
  // The supervisor's own error is said once, after the lines.
  return statusReached ? " (mode unknown: " + grant.unknown + ")" : " (mode unknown)";
}

}  // namespace

bool naturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (isDigit(a[i]) && isDigit(b[j])) {
      size_t iEnd = i, jEnd = j;
      while (iEnd < a.size() && isDigit(a[iEnd])) ++iEnd;
      while (jEnd < b.size() && isDigit(b[jEnd])) ++jEnd;
      // Leading zeros aside, a longer run is a larger number.
      std::string_view x = std::string_view(a).substr(i, iEnd - i);
      std::string_view y = std::string_view(b).substr(j, jEnd - j);
      x.remove_prefix(std::min(x.find_first_not_of('0'), x.size()));
      y.remove_prefix(std::min(y.find_first_not_of('0'), y.size()));
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = iEnd;
      j = jEnd;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;  // equal but for leading zeros: a total order still
}

std::vector<ContainerAllocation> allocationsOf(const ::v1::ListPodResourcesResponse& list) {
  std::map<std::string, std::string> workerOf;  // resource name → worker
  std::map<std::string, size_t> order;          // worker → its place in the catalog
  for (const auto& worker : catalog::resources()) {
    workerOf[catalog::resourceName(worker)] = worker;
    order[worker] = order.size();
  }
  using Key = std::tuple<std::string, std::string, std::string, size_t>;
  std::map<Key, ContainerAllocation> merged;
  for (const auto& pod : list.pod_resources()) {
    for (const auto& container : pod.containers()) {
      for (const auto& devices : container.devices()) {
        auto worker = workerOf.find(devices.resource_name());
        if (worker == workerOf.end()) continue;
        Key key{pod.namespace_(), pod.name(), container.name(), order[worker->second]};
        ContainerAllocation& entry = merged[key];
        if (entry.resource.empty()) {
          entry = {pod.namespace_(), pod.name(), container.name(), worker->second,
                   devices.resource_name()};
        }
        entry.deviceIds.insert(entry.deviceIds.end(), devices.device_ids().begin(),
                               devices.device_ids().end());
      }
    }
  }
  std::vector<ContainerAllocation> out;
  for (auto& [key, entry] : merged) {
    // The kubelet lists a device once per NUMA node it is on.
    std::sort(entry.deviceIds.begin(), entry.deviceIds.end(), naturalLess);
    entry.deviceIds.erase(std::unique(entry.deviceIds.begin(), entry.deviceIds.end()),
                          entry.deviceIds.end());
    out.push_back(std::move(entry));
  }
  return out;
}

SlotGrant slotGrantOf(const std::string& worker, const StatusResult& status) {
  if (!status) return {.unknown = status.error().message};
  const auto& workers = status.value().workers();
  auto it = std::find_if(workers.begin(), workers.end(),
                         [&](const sv1::WorkerStatus& w) { return w.name() == worker; });
  if (it == workers.end()) return {.unknown = "worker " + worker + " is not enabled"};
  if (it->mode() == "shared" || it->mode() == "exclusive") {
    return {.mode = it->mode(),
            .units = {it->usable_units().begin(), it->usable_units().end()},
            .unitsTotal = it->usable_units_total()};
  }
  // The mode comes with the worker's device list, and goes when it exits.
  if (it->state() != sv1::WorkerStatus::running) {
    return {.unknown = "worker " + worker + " is " + sv1::WorkerStatus::State_Name(it->state())};
  }
  return {.unknown = "worker " + worker + " has not reported it"};
}

std::string formatAllocations(const std::vector<ContainerAllocation>& allocations,
                              const StatusResult& status) {
  if (allocations.empty()) {
    std::vector<std::string> names;
    for (const auto& worker : catalog::resources()) names.push_back(catalog::resourceName(worker));
    std::string last = names.back();
    names.pop_back();
    return fmt::format("no container holds a device of {} or {}\n", fmt::join(names, ", "), last);
  }
  size_t whoWidth = 0, resourceWidth = 0;
  for (const auto& a : allocations) {
    whoWidth = std::max(whoWidth, a.podNamespace.size() + a.pod.size() + a.container.size() + 2);
    resourceWidth = std::max(resourceWidth, a.resource.size());
  }
  std::map<std::string, SlotGrant> grants;  // by worker
  std::string out;
  for (const auto& a : allocations) {
    if (!grants.contains(a.worker)) grants[a.worker] = slotGrantOf(a.worker, status);
    out += fmt::format("{:<{}}  {:<{}}  {}{}\n", a.podNamespace + "/" + a.pod + "/" + a.container,
                       whoWidth, a.resource, resourceWidth, fmt::join(a.deviceIds, ","),
                       grantNote(grants[a.worker], status.has_value()));
  }
  if (!status) out += "mode unknown: " + status.error().message + "\n";
  return out;
}

std::string allocationsJson(const std::vector<ContainerAllocation>& allocations,
                            const StatusResult& status) {
  // ordered_json: the fields in the order a reader expects them.
  using Json = nlohmann::ordered_json;
  Json list = Json::array();
  for (const auto& a : allocations) {
    SlotGrant grant = slotGrantOf(a.worker, status);
    Json entry = {{"namespace", a.podNamespace}, {"pod", a.pod},
                  {"container", a.container},    {"resource", a.resource},
                  {"deviceIds", a.deviceIds},    {"mode", grant.mode}};
    if (grant.mode == "shared") {
      entry["grants"] = grant.units;
      entry["grantsTotal"] = grant.unitsTotal;
    }
    if (grant.mode.empty()) entry["modeUnknown"] = grant.unknown;
    list.push_back(std::move(entry));
  }
  // IDs are whatever a plugin sent: bytes that are not UTF-8 become U+FFFD.
  return Json{{"allocations", std::move(list)}}.dump(2, ' ', false,
                                                     Json::error_handler_t::replace) +
         "\n";
}

}  // namespace mvf::mvfctl
