#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "proto/deviceplugin.grpc.pb.h"
#include "proto/podresources.grpc.pb.h"

namespace mvf::kubelet {

// What the stand-in knows of one extended resource, as the kubelet's device manager
// keeps it (docs/architecture.md, "What the kubelet does").
struct ResourceState {
  std::string endpoint;  // the socket file name the plugin registered
  bool stopped = true;   // no live ListAndWatch stream (endpoint stopped)
  std::chrono::steady_clock::time_point stoppedAt{};
  std::vector<v1beta1::Device> devices;
  v1beta1::DevicePluginOptions options;
  int registrations = 0;  // successful Register calls
  int streamsEnded = 0;   // ListAndWatch streams that ended, for any reason
  int updates = 0;        // ListAndWatch messages received

  int64_t healthy() const;
  int64_t capacity() const { return static_cast<int64_t>(devices.size()); }
  // The IDs listed as Healthy (or, with false, as anything else), sorted.
  std::vector<std::string> ids(bool healthy) const;
};

using Node = std::map<std::string, ResourceState>;

// One container of one pod, as the pod-resources API names it.
struct PodRef {
  std::string podNamespace;
  std::string pod;
  std::string container;

  std::string text() const { return podNamespace + "/" + pod + "/" + container; }
};

// "1000" → "1k", as kubectl prints a DecimalSI quantity.
std::string formatQuantity(int64_t value);

// The kubelet's v1helper.IsExtendedResourceName: "intel.com/udma" yes, "udma" no.
bool isExtendedResourceName(const std::string& name);

// A kubelet device manager, for tests and `mvfctl kubelet`: it serves Registration on
// <dir>/kubelet.sock and behaves as the real one does — validates a registration, dials
// the plugin back and asks its options inside Register, then reads ListAndWatch, each
// message replacing the resource's device list. When a stream ends, the resource's
// devices all become unhealthy, by resource name, even if a newer registration exists
// (the v1.32 hazard: docs/architecture.md, "What the kubelet does"). restart() is a kubelet
// restart: connections drop, every plain file in the dir but the checkpoint is deleted, and it
// listens anew with every known resource at zero until its plugin registers again.
//
// With Options::podResourcesSocket it also serves the pod-resources API v1 there, as the
// kubelet does on /var/lib/kubelet/pod-resources/kubelet.sock: List reports what each
// container got from a successful allocate() for a PodRef, Get one pod of it, and
// GetAllocatableResources the healthy devices of every resource with a live stream. What
// was allocated outlives restart(), as the kubelet's checkpoint keeps it.
class KubeletStandIn {
 public:
  struct Options {
    // After this long stopped, a resource's capacity reads 0 (endpointStopGracePeriod).
    std::chrono::milliseconds gracePeriod = std::chrono::minutes(5);
    // Called after every change of state, with a line saying what happened.
    std::function<void(const std::string&)> onEvent;
    // Where to serve the pod-resources API (its dir is created); "" for nowhere.
    std::string podResourcesSocket;
  };

  explicit KubeletStandIn(std::string dir);
  KubeletStandIn(std::string dir, Options options);
  ~KubeletStandIn();

  // Starts as the kubelet starts: the plugin dir emptied of plain files, then kubelet.sock.
  base::Status start();
  // Dies as a killed kubelet dies: every connection drops; files stay.
  void stop();
  // stop() + start().
  base::Status restart();
  // Ends the resource's live ListAndWatch stream from the kubelet's side and keeps
  // running, as the kubelet does when its stream fails (client.go: Run returns, the
  // endpoint is stopped and waits for the plugin to register again). False when the
  // resource has no registered plugin.
  bool endStream(const std::string& resource);

  Node node() const;
  std::optional<ResourceState> resource(const std::string& name) const;

  // Waits until `ready(node)` holds; false when `timeout` passed first.
  bool waitFor(const std::function<bool(const Node&)>& ready, std::chrono::milliseconds timeout);

  // The Capacity and Allocatable sections of `kubectl describe node`.
  std::string describeNode() const;

  // Calls Allocate on a registered resource's plugin, as the kubelet does.
  grpc::Status allocate(const std::string& resource, const v1beta1::AllocateRequest& request,
                        v1beta1::AllocateResponse* response);
  // The same for one container of a pod, whose request is its one container request (the
  // kubelet allocates container by container). When the plugin answers OK with a container
  // response, the container's IDs of `resource` are recorded, replacing any it had, for
  // the pod-resources API to report; a failed Allocate records nothing.
  grpc::Status allocate(const std::string& resource, const v1beta1::AllocateRequest& request,
                        v1beta1::AllocateResponse* response, const PodRef& pod);
  // The pod is gone: List no longer reports it. False when no pod of that name held any.
  bool removePod(const std::string& podNamespace, const std::string& pod);

  // What the pod-resources API answers now.
  ::v1::ListPodResourcesResponse listPodResources() const;
  ::v1::AllocatableResourcesResponse allocatableResources() const;

  const std::string& dir() const { return dir_; }

 private:
  class Registration;
  class PodResources;
  struct Client;
  // Per container name, per resource: the devices Allocate succeeded for (their IDs and
  // the NUMA nodes advertised with them), as the kubelet's podDevices keeps them.
  using PodDevices = std::map<std::string, std::map<std::string, std::vector<v1beta1::Device>>>;

  grpc::Status registerPlugin(const v1beta1::RegisterRequest& request);
  void readStream(std::shared_ptr<Client> client);
  void changed(const std::string& event);
  base::Status servePodResources();
  // The pod-resources message of one pod; mu_ held.
  ::v1::PodResources podResourcesOf(const std::string& podNamespace, const std::string& pod,
                                    const PodDevices& devices) const;

  const std::string dir_;
  const Options options_;
  std::unique_ptr<Registration> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<PodResources> podResourcesService_;
  std::unique_ptr<grpc::Server> podResourcesServer_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Node node_;
  std::map<std::string, std::shared_ptr<Client>> clients_;          // by resource: the current one
  std::vector<std::shared_ptr<Client>> allClients_;                 // every stream reader, to join
  std::map<std::pair<std::string, std::string>, PodDevices> pods_;  // by namespace, name
};

}  // namespace mvf::kubelet
