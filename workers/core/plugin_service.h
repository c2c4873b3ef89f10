#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "proto/deviceplugin.grpc.pb.h"
#include "workers/core/inventory.h"

namespace mvf::core {

class ListAndWatchStream;

// The open ListAndWatch streams. publish() hands every stream the newest list; a stream
// sends it as soon as its previous write is done, skipping lists that were superseded in
// the meantime, so a slow reader never makes us queue.
class StreamHub {
 public:
  // Called (on a gRPC thread) when a stream ends by the peer's doing — the kubelet went
  // away — with the registration generation the stream was opened under.
  using PeerGone = std::function<void(uint64_t generation)>;

  explicit StreamHub(PeerGone onPeerGone);

  void publish(std::shared_ptr<const v1beta1::ListAndWatchResponse> list);

  // Ends every open stream with OK. Before a new registration this matters: the kubelet
  // marks a resource unhealthy when an *old* stream ends after a new registration
  // (KUBELET_FACTS §5 item 5), so the old one must be gone first.
  void endAll();

  size_t openStreams() const;

  // Streams opened from now on belong to this registration generation. A stream of an
  // older registration that ends late must not be taken for the kubelet leaving now.
  void setGeneration(uint64_t generation);

 private:
  friend class ListAndWatchStream;
  friend class PluginService;
  // Adds a stream; returns the newest list and the current generation.
  std::pair<std::shared_ptr<const v1beta1::ListAndWatchResponse>, uint64_t> add(
      std::shared_ptr<ListAndWatchStream> stream);
  void remove(ListAndWatchStream* stream, bool endedByPeer, uint64_t generation);

  PeerGone onPeerGone_;
  mutable std::mutex mu_;
  std::shared_ptr<const v1beta1::ListAndWatchResponse> latest_;
  std::vector<std::shared_ptr<ListAndWatchStream>> streams_;
  uint64_t generation_ = 0;
};

// The DevicePlugin service on the callback API: ListAndWatch streams end the moment
// their client goes away (OnCancel), so a kubelet restart leaks nothing.
class PluginService final : public v1beta1::DevicePlugin::CallbackService {
 public:
  PluginService(const Inventory& inventory, StreamHub& hub);

  grpc::ServerUnaryReactor* GetDevicePluginOptions(grpc::CallbackServerContext* context,
                                                   const v1beta1::Empty* request,
                                                   v1beta1::DevicePluginOptions* response) override;
  grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse>* ListAndWatch(
      grpc::CallbackServerContext* context, const v1beta1::Empty* request) override;
  grpc::ServerUnaryReactor* GetPreferredAllocation(
      grpc::CallbackServerContext* context, const v1beta1::PreferredAllocationRequest* request,
      v1beta1::PreferredAllocationResponse* response) override;
  grpc::ServerUnaryReactor* Allocate(grpc::CallbackServerContext* context,
                                     const v1beta1::AllocateRequest* request,
                                     v1beta1::AllocateResponse* response) override;
  grpc::ServerUnaryReactor* PreStartContainer(
      grpc::CallbackServerContext* context, const v1beta1::PreStartContainerRequest* request,
      v1beta1::PreStartContainerResponse* response) override;

 private:
  const Inventory& inventory_;
  StreamHub& hub_;
};

}  // namespace mvf::core
