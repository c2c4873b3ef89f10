// The kubelet's requests from arbitrary bytes, answered in process by the functions the
// worker's gRPC service calls on its completion thread: PluginService::allocate (the
// audit log lines included), getPreferredAllocation and preStartContainer. The first byte
// picks the request (its low two bits) and the mode (bit 2); the rest is the request's
// protobuf encoding, decoded as gRPC decodes it before the call.
#include <cstdint>
#include <set>

#include "base/logging.h"
#include "fuzz/fuzz_input.h"
#include "proto/deviceplugin.pb.h"
#include "workers/core/inventory.h"
#include "workers/core/plugin_service.h"

namespace mvf::fuzz {
namespace {

// Three units, one of them failing its re-check now and one unusable at the scan, on
// two NUMA nodes: every branch of Allocate and the preferred allocation has its case.
class ThreeUnits final : public core::Resource {
 public:
  ThreeUnits() : Resource(core::HostFs("/")) {}
  core::Scan scan() override {
    core::Scan scan;
    for (int i = 0; i < 3; ++i) {
      core::Unit unit{.id = std::to_string(i), .numaNode = i % 2};
      unit.grant.nodes.push_back({"/dev/vfio/" + std::to_string(i)});
      unit.grant.envs.emplace_back("PCI_RESOURCE_INTEL_COM_VFIO",
                                   "0000:00:0" + std::to_string(i) + ".0");
      scan.units.push_back(std::move(unit));
    }
    scan.units[2].problem = "a member is bound to e1000e";
    return scan;
  }
  std::vector<std::string> watchDirs() const override { return {}; }
  std::string recheck(const core::Unit& unit) const override {
    return unit.id == "1" ? "/dev/vfio/1 is missing" : "";
  }
};

void answer(const uint8_t* data, size_t size) {
  if (size == 0) return;
  struct Services {
    ThreeUnits resource;
    core::Inventory shared{resource, "intel.com/vfio", core::Mode::kShared, 4};
    core::Inventory exclusive{resource, "intel.com/vfio", core::Mode::kExclusive, 4};
    core::StreamHub hub{nullptr};
    core::PluginService sharedService{shared, hub};
    core::PluginService exclusiveService{exclusive, hub};
    Services() {
      // The audit lines are formatted but not written: a line per input would be most
      // of the fuzzer's time.
      base::logger("allocate")->set_level(spdlog::level::off);
      shared.update(resource.scan());
      exclusive.update(resource.scan());
    }
  };
  static Services services;
  const core::PluginService& service =
      (data[0] & 4) ? services.exclusiveService : services.sharedService;
  const uint8_t* bytes = data + 1;
  int length = static_cast<int>(size - 1);
  switch (data[0] & 3) {
    case 0: {
      v1beta1::AllocateRequest request;
      if (!request.ParseFromArray(bytes, length)) return;
      v1beta1::AllocateResponse response;
      if (service.allocate(request, &response).ok()) {
        check(response.container_responses_size() == request.container_requests_size(),
              "one response per container request");
      }
      return;
    }
    case 1: {
      v1beta1::PreferredAllocationRequest request;
      if (!request.ParseFromArray(bytes, length)) return;
      v1beta1::PreferredAllocationResponse response;
      if (!service.getPreferredAllocation(request, &response).ok()) return;
      check(response.container_responses_size() == request.container_requests_size(),
            "one preferred allocation per container request");
      for (int i = 0; i < response.container_responses_size(); ++i) {
        const auto& asked = request.container_requests(i);
        const auto& chosen = response.container_responses(i).deviceids();
        std::set<std::string> offered(asked.available_deviceids().begin(),
                                      asked.available_deviceids().end());
        offered.insert(asked.must_include_deviceids().begin(),
                       asked.must_include_deviceids().end());
        std::set<std::string> distinct(chosen.begin(), chosen.end());
        check(chosen.size() <= std::max(asked.allocation_size(), 0), "never more than asked");
        check(distinct.size() == static_cast<size_t>(chosen.size()), "no ID twice");
        for (const auto& id : chosen) check(offered.contains(id), "only IDs the kubelet offered");
      }
      return;
    }
    default: {
      v1beta1::PreStartContainerRequest request;
      if (!request.ParseFromArray(bytes, length)) return;
      v1beta1::PreStartContainerResponse response;
      check(service.preStartContainer(request, &response).ok(), "PreStartContainer answers OK");
      return;
    }
  }
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { answer(data, size); }

}  // namespace mvf::fuzz
