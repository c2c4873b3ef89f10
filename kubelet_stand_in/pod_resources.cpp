// The kubelet stand-in's pod-resources record: which pod's container holds which device
// IDs, from the Allocates made for a pod, and the answers of the kubelet's pod-resources
// API v1 (pkg/kubelet/apis/podresources) from that record; the service that serves them
// is in kubelet_stand_in.cpp.
#include <algorithm>

#include "base/format.h"
#include "kubelet_stand_in/kubelet_stand_in.h"

namespace mvf::kubelet {
namespace {

// As the kubelet's containerDevicesFromResourceDeviceInstances: one entry per device and
// NUMA node it was advertised on, or one without topology for a device advertised without.
void addContainerDevices(const std::string& resource, const v1beta1::Device& device,
                         google::protobuf::RepeatedPtrField<::v1::ContainerDevices>* out) {
  auto add = [&] {
    ::v1::ContainerDevices* entry = out->Add();
    entry->set_resource_name(resource);
    entry->add_device_ids(device.id());
    return entry;
  };
  if (!device.has_topology()) {
    add();
    return;
  }
  for (const auto& node : device.topology().nodes()) {
    add()->mutable_topology()->add_nodes()->set_id(node.id());
  }
}

}  // namespace

grpc::Status KubeletStandIn::allocate(const std::string& resource,
                                      const v1beta1::AllocateRequest& request,
                                      v1beta1::AllocateResponse* response, const PodRef& pod) {
  if (pod.podNamespace.empty() || pod.pod.empty() || pod.container.empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "a container needs its namespace, pod and name: \"" + pod.text() + "\""};
  }
  if (request.container_requests_size() != 1) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "the kubelet allocates one container at a time; this request has " +
                std::to_string(request.container_requests_size())};
  }
  grpc::Status status = allocate(resource, request, response);
  if (!status.ok()) return status;
  if (response->container_responses_size() == 0) {
    // The kubelet's check (manager.go, allocateContainerResources), and its words.
    return {grpc::StatusCode::UNKNOWN, "no containers return in allocation response"};
  }
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    const auto& advertised = node_[resource].devices;
    std::vector<v1beta1::Device> devices;
    for (const auto& id : request.container_requests(0).devices_ids()) {
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) continue;  // a set, as kept
      ids.push_back(id);
      auto it = std::find_if(advertised.begin(), advertised.end(),
                             [&](const v1beta1::Device& d) { return d.id() == id; });
      v1beta1::Device device = it != advertised.end() ? *it : v1beta1::Device();
      device.set_id(id);
      device.clear_health();
      devices.push_back(std::move(device));
    }
    pods_[{pod.podNamespace, pod.pod}][pod.container][resource] = std::move(devices);
  }
  changed(fmt::format("allocated {} {} to {}", resource, fmt::join(ids, ","), pod.text()));
  return status;
}

bool KubeletStandIn::removePod(const std::string& podNamespace, const std::string& pod) {
  size_t removed = 0;
  {
    std::lock_guard lock(mu_);
    removed = pods_.erase({podNamespace, pod});
  }
  if (removed > 0) changed("pod " + podNamespace + "/" + pod + " removed");
  return removed > 0;
}

::v1::PodResources KubeletStandIn::podResourcesOf(const std::string& podNamespace,
                                                  const std::string& pod,
                                                  const PodDevices& devices) const {
  ::v1::PodResources out;
  out.set_namespace_(podNamespace);
  out.set_name(pod);
  for (const auto& [container, byResource] : devices) {
    ::v1::ContainerResources* entry = out.add_containers();
    entry->set_name(container);
    for (const auto& [resource, held] : byResource) {
      for (const auto& device : held) {
        addContainerDevices(resource, device, entry->mutable_devices());
      }
    }
  }
  return out;
}

::v1::ListPodResourcesResponse KubeletStandIn::listPodResources() const {
  std::lock_guard lock(mu_);
  ::v1::ListPodResourcesResponse out;
  for (const auto& [key, devices] : pods_) {
    *out.add_pod_resources() = podResourcesOf(key.first, key.second, devices);
  }
  return out;
}

::v1::AllocatableResourcesResponse KubeletStandIn::allocatableResources() const {
  std::lock_guard lock(mu_);
  // GetAllocatableDevices: the healthy ones. A stopped resource has none: its devices
  // turned unhealthy when its stream ended, or were dropped by a restart.
  ::v1::AllocatableResourcesResponse out;
  for (const auto& [name, state] : node_) {
    for (const auto& device : state.devices) {
      if (device.health() == "Healthy") addContainerDevices(name, device, out.mutable_devices());
    }
  }
  return out;
}
}  // namespace mvf::kubelet
