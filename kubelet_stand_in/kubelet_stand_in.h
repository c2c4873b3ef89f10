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
class KubeletStandIn {
 public:
  struct Options {
    // After this long stopped, a resource's capacity reads 0 (endpointStopGracePeriod).
    std::chrono::milliseconds gracePeriod = std::chrono::minutes(5);
    // Called after every change of state, with a line saying what happened.
    std::function<void(const std::string&)> onEvent;
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

  Node node() const;
  std::optional<ResourceState> resource(const std::string& name) const;

  // Waits until `ready(node)` holds; false when `timeout` passed first.
  bool waitFor(const std::function<bool(const Node&)>& ready, std::chrono::milliseconds timeout);

  // The Capacity and Allocatable sections of `kubectl describe node`.
  std::string describeNode() const;

  // Calls Allocate on a registered resource's plugin, as the kubelet does.
  grpc::Status allocate(const std::string& resource, const v1beta1::AllocateRequest& request,
                        v1beta1::AllocateResponse* response);

  const std::string& dir() const { return dir_; }

 private:
  class Registration;
  struct Client;

  grpc::Status registerPlugin(const v1beta1::RegisterRequest& request);
  void readStream(std::shared_ptr<Client> client);
  void changed(const std::string& event);

  const std::string dir_;
  const Options options_;
  std::unique_ptr<Registration> service_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Node node_;
  std::map<std::string, std::shared_ptr<Client>> clients_;  // by resource: the current one
  std::vector<std::shared_ptr<Client>> allClients_;         // every stream reader, to join
};

}  // namespace mvf::kubelet
