#include "workers/core/plugin_service.h"

#include <algorithm>

#include "workers/core/logging.h"

namespace mvf::core {

using List = v1beta1::ListAndWatchResponse;

// One ListAndWatch call. gRPC allows one write in flight per stream and one Finish; the
// state below enforces both, and no gRPC operation is started with mu_ held, so a
// reaction that gRPC runs inline cannot deadlock on it.
class ListAndWatchStream final : public grpc::ServerWriteReactor<List> {
 public:
  explicit ListAndWatchStream(StreamHub& hub) : hub_(hub) {}

  void setGeneration(uint64_t generation) { generation_ = generation; }

  // Sends `list` unless a newer one was offered first.
  void offer(std::shared_ptr<const List> list) {
    std::shared_ptr<const List> next;
    {
      std::lock_guard lock(mu_);
      pending_ = std::move(list);
      next = takeNextLocked();
    }
    if (next) StartWrite(next.get());
  }

  void end(grpc::Status status) {
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      finishing_ = true;
      status_ = std::move(status);
      if (writing_) return;  // OnWriteDone finishes
    }
    Finish(status_);
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<const List> next;
    bool finishNow = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      inFlight_.reset();
      if (!ok && !finishing_) {
        // The client is gone; OnCancel says so too, but Finish is ours to call.
        finishing_ = true;
        endedByPeer_ = true;
        status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
      }
      if (finishing_) {
        finishNow = true;
      } else {
        next = takeNextLocked();
      }
    }
    if (finishNow) {
      Finish(status_);
    } else if (next) {
      StartWrite(next.get());
    }
  }

  void OnCancel() override {
    {
      std::lock_guard lock(mu_);
      if (!finishing_) endedByPeer_ = true;
    }
    end(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    bool byPeer;
    {
      std::lock_guard lock(mu_);
      byPeer = endedByPeer_;
    }
    // May destroy this object; nothing may follow.
    hub_.remove(this, byPeer, generation_);
  }

 private:
  std::shared_ptr<const List> takeNextLocked() {
    if (writing_ || finishing_ || !pending_ || pending_ == sent_) return nullptr;
    sent_ = pending_;
    inFlight_ = pending_;
    writing_ = true;
    return inFlight_;
  }

  StreamHub& hub_;
  uint64_t generation_ = 0;  // set once, before any callback can run
  std::mutex mu_;
  std::shared_ptr<const List> pending_;   // the newest list offered
  std::shared_ptr<const List> sent_;      // the last list written (or being written)
  std::shared_ptr<const List> inFlight_;  // kept alive until its write is done
  bool writing_ = false;
  bool finishing_ = false;
  bool endedByPeer_ = false;
  grpc::Status status_;
};

StreamHub::StreamHub(PeerGone onPeerGone) : onPeerGone_(std::move(onPeerGone)) {}

void StreamHub::publish(std::shared_ptr<const List> list) {
  std::vector<std::shared_ptr<ListAndWatchStream>> streams;
  {
    std::lock_guard lock(mu_);
    latest_ = list;
    streams = streams_;
  }
  for (auto& stream : streams) stream->offer(list);
}

void StreamHub::endAll() {
  std::vector<std::shared_ptr<ListAndWatchStream>> streams;
  {
    std::lock_guard lock(mu_);
    streams = streams_;
  }
  for (auto& stream : streams) stream->end(grpc::Status::OK);
}

size_t StreamHub::openStreams() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

std::pair<std::shared_ptr<const List>, uint64_t> StreamHub::add(
    std::shared_ptr<ListAndWatchStream> stream) {
  std::lock_guard lock(mu_);
  streams_.push_back(std::move(stream));
  return {latest_, generation_};
}

void StreamHub::setGeneration(uint64_t generation) {
  std::lock_guard lock(mu_);
  generation_ = generation;
}

void StreamHub::remove(ListAndWatchStream* stream, bool endedByPeer, uint64_t generation) {
  std::shared_ptr<ListAndWatchStream> last;  // destroyed after the lock is released
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [&](const auto& held) { return held.get() == stream; });
    if (it != streams_.end()) {
      last = std::move(*it);
      streams_.erase(it);
    }
  }
  if (endedByPeer && onPeerGone_) onPeerGone_(generation);
}

PluginService::PluginService(const Inventory& inventory, StreamHub& hub)
    : inventory_(inventory), hub_(hub) {}

grpc::ServerUnaryReactor* PluginService::GetDevicePluginOptions(
    grpc::CallbackServerContext* context, const v1beta1::Empty*,
    v1beta1::DevicePluginOptions* response) {
  response->set_pre_start_required(false);
  response->set_get_preferred_allocation_available(inventory_.offersPreferredAllocation());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<List>* PluginService::ListAndWatch(grpc::CallbackServerContext*,
                                                            const v1beta1::Empty*) {
  auto stream = std::make_shared<ListAndWatchStream>(hub_);
  ListAndWatchStream* raw = stream.get();
  auto [latest, generation] = hub_.add(std::move(stream));
  raw->setGeneration(generation);
  logger("service")->info("ListAndWatch opened; sending {} devices",
                          latest ? latest->devices_size() : 0);
  if (latest) raw->offer(std::move(latest));
  return raw;
}

grpc::ServerUnaryReactor* PluginService::GetPreferredAllocation(
    grpc::CallbackServerContext* context, const v1beta1::PreferredAllocationRequest* request,
    v1beta1::PreferredAllocationResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!inventory_.offersPreferredAllocation()) {
    reactor->Finish({grpc::StatusCode::UNIMPLEMENTED,
                     "shared mode offers no preferred allocation "
                     "(get_preferred_allocation_available is false)"});
  } else {
    reactor->Finish(inventory_.preferredAllocation(*request, response));
  }
  return reactor;
}

grpc::ServerUnaryReactor* PluginService::Allocate(grpc::CallbackServerContext* context,
                                                  const v1beta1::AllocateRequest* request,
                                                  v1beta1::AllocateResponse* response) {
  grpc::Status status = inventory_.allocate(*request, response);
  auto log = logger("allocate");
  for (int i = 0; i < request->container_requests_size(); ++i) {
    const auto& ids = request->container_requests(i).devices_ids();
    std::string idList;
    for (const auto& id : ids) idList += (idList.empty() ? "" : ",") + id;
    if (status.ok()) {
      log->info("container {} ids={} -> {}", i, idList, describe(response->container_responses(i)));
    } else {
      log->warn("container {} ids={} refused", i, idList);
    }
  }
  if (!status.ok()) {
    log->warn("Allocate failed: {}", status.error_message());
    response->Clear();
  } else if (request->container_requests_size() == 0) {
    log->info("empty Allocate request; empty response");
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* PluginService::PreStartContainer(grpc::CallbackServerContext* context,
                                                           const v1beta1::PreStartContainerRequest*,
                                                           v1beta1::PreStartContainerResponse*) {
  // Never asked for (pre_start_required is false); answered empty if called anyway.
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace mvf::core
