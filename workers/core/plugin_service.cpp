#include "workers/core/plugin_service.h"

#include <algorithm>
#include <chrono>

#include "base/format.h"
#include "base/logging.h"

namespace mvf::core {

using List = v1beta1::ListAndWatchResponse;

StreamSchedule::ListPtr StreamSchedule::offer(ListPtr list, uint64_t number) {
  if (number <= pendingNumber_) return nullptr;
  pending_ = std::move(list);
  pendingNumber_ = number;
  return takeNext();
}

StreamSchedule::Next StreamSchedule::writeDone(bool ok) {
  writing_ = false;
  if (!ok) end(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"), true);
  if (ending_) return {.finish = true};
  return {.write = takeNext()};
}

bool StreamSchedule::end(grpc::Status status, bool byPeer) {
  if (ending_) return false;
  ending_ = true;
  endedByPeer_ = byPeer;
  status_ = std::move(status);
  return !writing_;
}

StreamSchedule::ListPtr StreamSchedule::takeNext() {
  if (writing_ || ending_ || !pending_ || pending_ == sent_) return nullptr;
  sent_ = pending_;
  writing_ = true;
  return sent_;
}

// One ListAndWatch call: the schedule decides, this makes the gRPC calls, never with mu_
// held, so a reaction that gRPC runs inline cannot deadlock on it.
class ListAndWatchStream final : public grpc::ServerWriteReactor<List> {
 public:
  explicit ListAndWatchStream(StreamHub& hub) : hub_(hub) {}

  void setGeneration(uint64_t generation) { generation_ = generation; }

  void offer(StreamSchedule::ListPtr list, uint64_t number) {
    StreamSchedule::ListPtr write;
    {
      std::lock_guard lock(mu_);
      write = schedule_.offer(std::move(list), number);
    }
    if (write) StartWrite(write.get());
  }

  void end(grpc::Status status) { end(std::move(status), false); }

  void OnWriteDone(bool ok) override {
    if (ok) hub_.sent();
    StreamSchedule::Next next;
    grpc::Status status;
    {
      std::lock_guard lock(mu_);
      next = schedule_.writeDone(ok);
      status = schedule_.status();
    }
    if (next.finish) {
      Finish(status);
    } else if (next.write) {
      StartWrite(next.write.get());
    }
  }

  void OnCancel() override { end(grpc::Status::CANCELLED, true); }

  void OnDone() override {
    bool byPeer;
    {
      std::lock_guard lock(mu_);
      byPeer = schedule_.endedByPeer();
    }
    // May destroy this object; nothing may follow.
    hub_.remove(this, byPeer, generation_);
  }

 private:
  void end(grpc::Status status, bool byPeer) {
    {
      std::lock_guard lock(mu_);
      if (!schedule_.end(std::move(status), byPeer)) return;
      status = schedule_.status();
    }
    Finish(status);
  }

  StreamHub& hub_;
  uint64_t generation_ = 0;  // set once, before any callback can run
  std::mutex mu_;
  StreamSchedule schedule_;
};

StreamHub::StreamHub(PeerGone onPeerGone, WorkerMetrics* metrics)
    : onPeerGone_(std::move(onPeerGone)), metrics_(metrics) {}

void StreamHub::sent() {
  if (metrics_ != nullptr) metrics_->listAndWatchSent();
}

void StreamHub::publish(std::shared_ptr<const List> list) {
  std::vector<std::shared_ptr<ListAndWatchStream>> streams;
  uint64_t number;
  {
    std::lock_guard lock(mu_);
    latest_ = list;
    number = ++published_;
    streams = streams_;
  }
  for (auto& stream : streams) stream->offer(list, number);
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

void StreamHub::add(const std::shared_ptr<ListAndWatchStream>& stream) {
  std::shared_ptr<const List> latest;
  uint64_t number;
  {
    std::lock_guard lock(mu_);
    streams_.push_back(stream);
    stream->setGeneration(generation_);
    latest = latest_;
    number = published_;
  }
  base::logger("service")->info("ListAndWatch opened; sending {} devices",
                                latest ? latest->devices_size() : 0);
  // A publish that raced with us may have offered a newer list already; the number
  // makes this offer a no-op then.
  if (latest) stream->offer(std::move(latest), number);
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

PluginService::PluginService(const Inventory& inventory, StreamHub& hub, WorkerMetrics* metrics)
    : inventory_(inventory), hub_(hub), metrics_(metrics) {}

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
  hub_.add(stream);
  return stream.get();
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
  auto began = std::chrono::steady_clock::now();
  grpc::Status status = inventory_.allocate(*request, response);
  auto log = base::logger("allocate");
  for (int i = 0; i < request->container_requests_size(); ++i) {
    const auto& ids = request->container_requests(i).devices_ids();
    if (status.ok()) {
      log->info("container {} ids={} -> {}", i, fmt::join(ids, ","),
                describe(response->container_responses(i)));
    } else {
      log->warn("container {} ids={} refused", i, fmt::join(ids, ","));
    }
  }
  if (!status.ok()) {
    log->warn("Allocate failed: {}", status.error_message());
    response->Clear();
  } else if (request->container_requests_size() == 0) {
    log->info("empty Allocate request; empty response");
  }
  if (metrics_ != nullptr) {
    metrics_->allocated(status.error_code(), std::chrono::steady_clock::now() - began);
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
