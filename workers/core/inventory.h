#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proto/deviceplugin.pb.h"
#include "workers/core/request_limits.h"
#include "workers/core/resource.h"

namespace mvf::core {

class CdiSpec;

// How one advertised list differs from the one before, by device ID.
struct ListChange {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> nowHealthy;
  std::vector<std::string> nowUnhealthy;
  std::vector<std::string> topologyChanged;

  bool empty() const;
  // "added 2 (usb-1-2, usb-1-3); unhealthy 1 (usb-1-4)"
  std::string summary() const;
};

// How `after` differs from `before`. A duplicate ID counts once, by its first entry on
// each side; `removed` is sorted, the rest in `after`'s order.
ListChange diffLists(const v1beta1::ListAndWatchResponse& before,
                     const v1beta1::ListAndWatchResponse& after);

// An advertised list as ListAndWatch sends it, serialized once per change: every stream
// writes the same bytes, and a worker holds 1000 IDs in about 21 kB, where 1000 protobuf
// Devices took about 170 kB of heap.
struct WireList {
  std::string bytes;  // a serialized v1beta1.ListAndWatchResponse
  uint32_t total = 0;
  uint32_t healthy = 0;
};

// The list `wire` holds, parsed back (for the next diff, and for tests).
v1beta1::ListAndWatchResponse parseList(const WireList& wire);

// What the worker advertises and what each advertised ID gives a container, rebuilt from
// every scan. Thread-safe: the main loop calls update(); gRPC threads read.
//
// Shared mode (the old plugin's): IDs <name>-0 … <name>-<count-1>, all Healthy while at
// least one unit is usable, and every one of them grants all usable units.
// Exclusive mode: one ID per unit; a unit that vanishes stays listed, Unhealthy, so the
// kubelet never sees an ID it has checkpointed disappear under a running pod.
class Inventory {
 public:
  // Told, on the gRPC thread of an Allocate, that units the last scan found usable failed
  // their re-check ("X0: /tmp/.X11-unix/X0 refuses connections"): the advertised list is
  // stale until the next scan.
  using OnStale = std::function<void(const std::string& why)>;

  // `cdi`, when given, shapes each container's response (CdiSpec::respond); without it
  // the response is the plain grant (toResponse). Requests beyond `limits` are refused.
  Inventory(const Resource& resource, std::string name, Mode mode, uint32_t sharedCount,
            OnStale onStale = nullptr, const CdiSpec* cdi = nullptr, RequestLimits limits = {});

  // Takes a new scan; returns how the advertised list changed (empty if it did not).
  ListChange update(Scan scan);

  // The advertised list; the same object until it changes.
  std::shared_ptr<const WireList> list() const;

  struct Counts {
    uint32_t total = 0;
    uint32_t healthy = 0;
  };
  Counts counts() const;

  // Why nothing is usable ("/dev/udmabuf does not exist"), or "" when something is.
  std::string whyNothingUsable() const;

  // One response per container request, in order. A request beyond the RequestLimits,
  // or naming an ID never advertised, is INVALID_ARGUMENT. Every unit about to be handed out is
  // re-checked at this moment (Resource::recheck), once per call, and one that fails is never
  // handed out: exclusive mode refuses a requested ID whose device is not usable now with
  // FAILED_PRECONDITION naming it; shared mode hands out the units that pass, and
  // FAILED_PRECONDITION only if none does. Either refusal fails the whole request: a VM
  // must not start with half its devices. Failed re-checks go to OnStale.
  grpc::Status allocate(const v1beta1::AllocateRequest& request,
                        v1beta1::AllocateResponse* response) const;

  // Offered in exclusive mode only: there IDs are real devices with NUMA nodes.
  bool offersPreferredAllocation() const { return mode_ == Mode::kExclusive; }

  // Per container request: the must-include IDs first, then available IDs on the NUMA
  // nodes those sit on (with none given, on the node with the most available IDs), then
  // the rest in the kubelet's order, up to allocation_size. A request beyond the
  // RequestLimits is INVALID_ARGUMENT.
  grpc::Status preferredAllocation(const v1beta1::PreferredAllocationRequest& request,
                                   v1beta1::PreferredAllocationResponse* response) const;

 private:
  struct State {
    Scan scan;
    bool scanned = false;  // scan is a real one (the first update always builds the list)
    std::shared_ptr<const WireList> list;
    // Exclusive mode only, so a request's lookups cost no more than its IDs: each unit of
    // the scan by ID (the first of a duplicate ID), and each listed ID's NUMA node. The
    // listed IDs are every ID ever advertised, as the list never drops one (a vanished
    // unit stays listed); shared mode's are fixed (advertised()).
    std::unordered_map<std::string_view, const Unit*> units;
    std::unordered_map<std::string, std::optional<int64_t>> numa;
  };

  using Recheck = std::function<const std::string&(const Unit&)>;
  grpc::Status allocate(const v1beta1::AllocateRequest& request, const State& current,
                        const Recheck& recheck, v1beta1::AllocateResponse* response) const;
  std::shared_ptr<const State> state() const;
  // Whether `id` was ever advertised: in shared mode <prefix><i>, i < sharedCount, written
  // as advertise() writes it, once the first scan is in.
  bool advertised(const State& state, const std::string& id) const;
  v1beta1::ListAndWatchResponse advertise(const Scan& scan,
                                          const v1beta1::ListAndWatchResponse& before) const;
  static std::string whyNothingUsable(const Scan& scan);

  const Resource& resource_;
  const std::string name_;
  const Mode mode_;
  const uint32_t sharedCount_;
  const std::string sharedPrefix_;  // "udma-" for intel.com/udma
  const OnStale onStale_;
  const CdiSpec* const cdi_;
  const RequestLimits limits_;

  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;
};

// The protobuf form of a grant.
void toResponse(const Grant& grant, v1beta1::ContainerAllocateResponse* response);

// "devices=/dev/udmabuf:rw mounts= envs=" — the audit line for one container.
std::string describe(const v1beta1::ContainerAllocateResponse& response);

// A request's device IDs for a log line, bounded whatever the request: "udma-1,udma-2";
// at most 8 IDs, each by base::quote(..., Quotes::kIfNeeded) (so a plain ID as is), then
// ",... (N IDs)" when there were more.
std::string describeIds(const google::protobuf::RepeatedPtrField<std::string>& ids);

}  // namespace mvf::core
