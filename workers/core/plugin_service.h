#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proto/deviceplugin.grpc.pb.h"
#include "rpc/async_server.h"
#include "workers/core/inventory.h"
#include "workers/core/worker_metrics.h"

namespace mvf::core {

class ListAndWatchStream;

// The DevicePlugin service as gRPC serves it here, every method raw: the unary ones for
// rpc::serveUnary to parse (or, for a refused large request, not parse) the request;
// ListAndWatch to write the list's bytes as the inventory serialized them (WireList).
using DevicePluginService = v1beta1::DevicePlugin::WithRawMethod_ListAndWatch<
    v1beta1::DevicePlugin::WithRawMethod_GetDevicePluginOptions<
        v1beta1::DevicePlugin::WithRawMethod_GetPreferredAllocation<
            v1beta1::DevicePlugin::WithRawMethod_Allocate<
                v1beta1::DevicePlugin::WithRawMethod_PreStartContainer<
                    v1beta1::DevicePlugin::Service>>>>>;

// What one ListAndWatch stream writes, and when: one write in flight at most (gRPC's rule),
// only the newest list offered, never an older list after a newer one, one Finish and
// nothing after it. Pure state under the stream's lock; the stream makes the gRPC calls.
class StreamSchedule {
 public:
  using ListPtr = std::shared_ptr<const WireList>;

  // Offers the list of publish number `number`; returns it if it is to be written now.
  ListPtr offer(ListPtr list, uint64_t number);

  struct Next {
    ListPtr write;        // write this now, or
    bool finish = false;  // Finish(status()) now
  };
  // The write in flight is done; `ok` false means the client is gone.
  Next writeDone(bool ok);

  // Asks to end the stream with `status`; true if Finish(status()) is due now. Only the
  // first call counts; with a write in flight, writeDone() says when to finish.
  bool end(grpc::Status status, bool byPeer);

  const grpc::Status& status() const { return status_; }
  bool endedByPeer() const { return endedByPeer_; }

 private:
  ListPtr takeNext();

  ListPtr pending_;  // the newest list offered
  uint64_t pendingNumber_ = 0;
  ListPtr sent_;  // the last list written, kept alive while its write is in flight
  bool writing_ = false;
  bool ending_ = false;
  bool endedByPeer_ = false;
  grpc::Status status_;
};

// The open ListAndWatch streams. publish() hands every stream the newest list; a stream
// sends it as soon as its previous write is done, skipping lists that were superseded in
// the meantime, so a slow reader never makes us queue. Every list carries the number of
// its publish, so a stream that opens while a list is being published can never end on
// the older of the two.
//
// It also tells the kubelet's streams from other clients' (`mvfctl devices --watch`): the
// kubelet asks GetDevicePluginOptions inside our Register call, on the connection it then
// opens ListAndWatch on (docs/architecture.md, "What the kubelet does", steps 3-5). Only
// the end of a kubelet stream means the kubelet let go of the resource.
class StreamHub {
 public:
  // Called (on the completion thread) when a kubelet stream ends by the peer's doing —
  // the kubelet went away or closed it — with the registration generation the stream was
  // opened under.
  using PeerGone = std::function<void(uint64_t generation)>;

  // `metrics`, when given, counts the lists sent.
  explicit StreamHub(PeerGone onPeerGone, WorkerMetrics* metrics = nullptr);

  void publish(std::shared_ptr<const WireList> list);

  // Ends every open stream with OK. Before a new registration this matters: the kubelet
  // marks a resource unhealthy when an *old* stream ends after a new registration
  // (docs/architecture.md, "What the kubelet does"), so the old one must be gone first.
  void endAll();

  // Open streams of the current generation's kubelet connection.
  size_t openKubeletStreams() const;

  // Streams opened from now on belong to this registration generation. A stream of an
  // older registration that ends late must not be taken for the kubelet leaving now.
  void setGeneration(uint64_t generation);

  // Whether our Register call is in flight: the connections that ask for our options
  // meanwhile are the kubelet's for this generation. If none did (a client that dials
  // back without asking), every stream of the generation counts as the kubelet's.
  void registering(bool inFlight);
  // A GetDevicePluginOptions call arrived from `peer` (gRPC's peer name of a connection,
  // "fd:<n>" for the ones we accept).
  void optionsAsked(const std::string& peer);

 private:
  friend class ListAndWatchStream;
  // Adds a started stream from `peer`, tags it with the generation and whether it is the
  // kubelet's, and offers it the newest list.
  void add(const std::shared_ptr<ListAndWatchStream>& stream, const std::string& peer);
  void remove(ListAndWatchStream* stream, bool endedByPeer);
  void sent();  // a stream wrote a list

  PeerGone onPeerGone_;
  WorkerMetrics* const metrics_;
  mutable std::mutex mu_;
  std::shared_ptr<const WireList> latest_;
  uint64_t published_ = 0;  // lists published so far; numbers latest_
  std::vector<std::shared_ptr<ListAndWatchStream>> streams_;
  uint64_t generation_ = 0;
  bool registering_ = false;
  std::vector<std::string> kubeletPeers_;  // of this generation
};

// The DevicePlugin service on gRPC's async API (rpc/async_server.h). Each handler runs on
// the completion thread; ListAndWatch streams end the moment their client goes away
// (AsyncNotifyWhenDone), so a kubelet restart leaks nothing.
class PluginService {
 public:
  // `metrics`, when given, counts Allocate calls by result and their time.
  PluginService(const Inventory& inventory, StreamHub& hub, WorkerMetrics* metrics = nullptr);

  // For the server to register, before serve().
  grpc::Service* service() { return &service_; }
  // Answers every method on `server`, built with service(), until it stops.
  void serve(rpc::AsyncServer& server);

  // The unary methods' answers, as the service gives them: each fills the response and
  // returns the call's status (the response is cleared unless it is OK).
  grpc::Status getDevicePluginOptions(const std::string& peer,
                                      v1beta1::DevicePluginOptions* response) const;
  grpc::Status getPreferredAllocation(const v1beta1::PreferredAllocationRequest& request,
                                      v1beta1::PreferredAllocationResponse* response) const;
  grpc::Status allocate(const v1beta1::AllocateRequest& request,
                        v1beta1::AllocateResponse* response) const;
  grpc::Status preStartContainer(const v1beta1::PreStartContainerRequest& request,
                                 v1beta1::PreStartContainerResponse* response) const;

 private:
  DevicePluginService service_;
  const Inventory& inventory_;
  StreamHub& hub_;
  WorkerMetrics* const metrics_;
};

}  // namespace mvf::core
