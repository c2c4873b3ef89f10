#include "workers/core/request_limits.h"

#include "base/format.h"

namespace mvf::core {
namespace {

grpc::Status refuse(std::string message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, std::move(message)};
}

grpc::Status checkContainers(const char* call, int containers, const RequestLimits& limits) {
  if (static_cast<size_t>(containers) <= limits.containerRequests) return grpc::Status::OK;
  return refuse(fmt::format(
      "{} request has {} container requests; at most {} are answered (the kubelet sends one)", call,
      containers, limits.containerRequests));
}

// Counts the IDs of one list into `total`, refusing an over-long ID or a total over the
// limit. `what` names the list in the message.
grpc::Status countIds(const google::protobuf::RepeatedPtrField<std::string>& ids, int container,
                      const char* what, const RequestLimits& limits, size_t& total) {
  total += static_cast<size_t>(ids.size());
  if (total > limits.ids) {
    return refuse(
        fmt::format("the {} of container requests 0..{} name more than {} device IDs; "
                    "no worker advertises that many",
                    what, container, limits.ids));
  }
  for (const auto& id : ids) {
    if (id.size() > limits.idLength) {
      return refuse(fmt::format(
          "container request {}: a device ID of {} bytes in {}; no advertised ID is longer "
          "than {} bytes",
          container, id.size(), what, limits.idLength));
    }
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status checkRequest(const v1beta1::AllocateRequest& request, const RequestLimits& limits) {
  if (auto status = checkContainers("Allocate", request.container_requests_size(), limits);
      !status.ok()) {
    return status;
  }
  size_t total = 0;
  for (int i = 0; i < request.container_requests_size(); ++i) {
    auto status =
        countIds(request.container_requests(i).devices_ids(), i, "devices_ids", limits, total);
    if (!status.ok()) return status;
  }
  return grpc::Status::OK;
}

grpc::Status checkRequest(const v1beta1::PreferredAllocationRequest& request,
                          const RequestLimits& limits) {
  if (auto status =
          checkContainers("GetPreferredAllocation", request.container_requests_size(), limits);
      !status.ok()) {
    return status;
  }
  size_t available = 0, mustInclude = 0;
  for (int i = 0; i < request.container_requests_size(); ++i) {
    const auto& container = request.container_requests(i);
    auto status =
        countIds(container.available_deviceids(), i, "available_deviceids", limits, available);
    if (status.ok()) {
      status = countIds(container.must_include_deviceids(), i, "must_include_deviceids", limits,
                        mustInclude);
    }
    if (!status.ok()) return status;
    if (container.allocation_size() < 0 ||
        static_cast<size_t>(container.allocation_size()) > limits.ids) {
      return refuse(fmt::format("container request {}: allocation_size {} is not in 0..{}", i,
                                container.allocation_size(), limits.ids));
    }
  }
  return grpc::Status::OK;
}

}  // namespace mvf::core
