#include "workers/core/plugin_service.h"

#include <algorithm>
#include <chrono>

#include "base/format.h"
#include "base/logging.h"

namespace mvf::core {

using List = WireList;

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

// One ListAndWatch call on the async API. The schedule decides what to write; this makes
// the gRPC calls, under mu_ (the async API never runs a completion inline, so that cannot
// deadlock), and counts the operations gRPC holds a tag of: the object keeps itself alive
// (self_) until the last one is back.
class ListAndWatchStream final : public std::enable_shared_from_this<ListAndWatchStream> {
 public:
  using Service = DevicePluginService;

  // Asks `server` for the next ListAndWatch call.
  static void request(rpc::AsyncServer& server, Service& service, StreamHub& hub) {
    auto stream = std::shared_ptr<ListAndWatchStream>(new ListAndWatchStream(server, service, hub));
    stream->self_ = stream;
    // Before the call starts, as gRPC requires; its tag comes back only if it does start.
    stream->context_.AsyncNotifyWhenDone(&stream->doneTag_);
    if (!server.begin([&] {
          service.RequestListAndWatch(&stream->context_, &stream->request_, &stream->writer_,
                                      &server.queue(), &server.queue(), &stream->startedTag_);
        })) {
      stream->self_.reset();
    }
  }

  void setTags(uint64_t generation, bool kubelet) {
    generation_ = generation;
    kubelet_ = kubelet;
  }
  uint64_t generation() const { return generation_; }
  bool kubelet() const { return kubelet_; }

  void offer(StreamSchedule::ListPtr list, uint64_t number) {
    std::lock_guard lock(mu_);
    write(schedule_.offer(std::move(list), number));
  }

  void end(grpc::Status status) {
    std::lock_guard lock(mu_);
    end(std::move(status), false);
  }

 private:
  ListAndWatchStream(rpc::AsyncServer& server, Service& service, StreamHub& hub)
      : server_(server), service_(service), hub_(hub) {}

  // The call arrived; not ok: the server shut down first, and the done tag never comes.
  void started(bool ok) {
    if (!ok) {
      self_.reset();  // may destroy this object; nothing may follow
      return;
    }
    request(server_, service_, hub_);
    {
      std::lock_guard lock(mu_);
      --pending_;
    }
    hub_.add(shared_from_this(), context_.peer());
  }

  void written(bool ok) {
    if (ok) hub_.sent();
    std::shared_ptr<ListAndWatchStream> last;  // destroyed after the lock is released
    std::lock_guard lock(mu_);
    --pending_;
    StreamSchedule::Next next = schedule_.writeDone(ok);
    if (next.finish) {
      finish();
    } else {
      write(std::move(next.write));
    }
    last = releaseIfLast();
  }

  void finished(bool) {
    std::shared_ptr<ListAndWatchStream> last;
    std::lock_guard lock(mu_);
    --pending_;
    last = releaseIfLast();
  }

  // The call is over: finished by us, or cancelled (the peer left, or the server stops).
  void done(bool) {
    std::shared_ptr<ListAndWatchStream> last;
    std::lock_guard lock(mu_);
    --pending_;
    if (context_.IsCancelled()) end(grpc::Status::CANCELLED, true);
    last = releaseIfLast();
  }

  // Under mu_:
  // A write or Finish not begun (the server is stopping, the call cancelled) leaves the
  // done tag to release the stream.
  void write(StreamSchedule::ListPtr list) {
    if (!list) return;
    grpc::Slice bytes(list->bytes);  // a copy, which gRPC then holds by reference
    if (server_.begin([&] { writer_.Write(grpc::ByteBuffer(&bytes, 1), &writtenTag_); })) {
      ++pending_;
    }
  }
  void end(grpc::Status status, bool byPeer) {
    if (schedule_.end(std::move(status), byPeer)) finish();
  }
  void finish() {
    if (server_.begin([&] { writer_.Finish(schedule_.status(), &finishedTag_); })) ++pending_;
  }
  // With no operation left in gRPC's hands, the stream leaves the hub and returns its
  // hold on itself, for the caller to drop once mu_ is released; whoever holds it last
  // (a publish under way, maybe) destroys it.
  std::shared_ptr<ListAndWatchStream> releaseIfLast() {
    if (pending_ > 0 || !self_) return nullptr;
    hub_.remove(this, schedule_.endedByPeer());
    return std::move(self_);
  }

  rpc::AsyncServer& server_;
  Service& service_;
  StreamHub& hub_;
  grpc::ServerContext context_;
  grpc::ByteBuffer request_;  // an Empty, unread
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_{&context_};
  rpc::Step<ListAndWatchStream> startedTag_{*this, &ListAndWatchStream::started};
  rpc::Step<ListAndWatchStream> writtenTag_{*this, &ListAndWatchStream::written};
  rpc::Step<ListAndWatchStream> finishedTag_{*this, &ListAndWatchStream::finished};
  rpc::Step<ListAndWatchStream> doneTag_{*this, &ListAndWatchStream::done};
  uint64_t generation_ = 0;  // set once, by the hub, before anything is written
  bool kubelet_ = false;

  std::mutex mu_;
  StreamSchedule schedule_;
  int pending_ = 2;  // operations gRPC holds a tag of: first the start and the done tag
  std::shared_ptr<ListAndWatchStream> self_;  // while gRPC may hand back a tag of ours
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

size_t StreamHub::openKubeletStreams() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(streams_.begin(), streams_.end(), [&](const auto& s) {
    return s->kubelet() && s->generation() == generation_;
  }));
}

void StreamHub::setGeneration(uint64_t generation) {
  std::lock_guard lock(mu_);
  generation_ = generation;
  kubeletPeers_.clear();
}

void StreamHub::registering(bool inFlight) {
  std::lock_guard lock(mu_);
  registering_ = inFlight;
}

void StreamHub::optionsAsked(const std::string& peer) {
  std::lock_guard lock(mu_);
  if (registering_ &&
      std::find(kubeletPeers_.begin(), kubeletPeers_.end(), peer) == kubeletPeers_.end()) {
    kubeletPeers_.push_back(peer);
  }
}

void StreamHub::add(const std::shared_ptr<ListAndWatchStream>& stream, const std::string& peer) {
  std::shared_ptr<const List> latest;
  uint64_t number;
  bool kubelet;
  {
    std::lock_guard lock(mu_);
    kubelet = kubeletPeers_.empty() ||
              std::find(kubeletPeers_.begin(), kubeletPeers_.end(), peer) != kubeletPeers_.end();
    stream->setTags(generation_, kubelet);
    streams_.push_back(stream);
    latest = latest_;
    number = published_;
  }
  base::logger("service")->info("ListAndWatch opened by {} ({}); sending {} devices", peer,
                                kubelet ? "the kubelet" : "another client",
                                latest ? latest->total : 0);
  // A publish that raced with us may have offered a newer list already; the number
  // makes this offer a no-op then.
  if (latest) stream->offer(std::move(latest), number);
}

void StreamHub::remove(ListAndWatchStream* stream, bool endedByPeer) {
  std::shared_ptr<ListAndWatchStream> held;  // destroyed after the lock is released
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [&](const auto& open) { return open.get() == stream; });
    if (it == streams_.end()) return;
    held = std::move(*it);
    streams_.erase(it);
  }
  if (endedByPeer && stream->kubelet() && onPeerGone_) onPeerGone_(stream->generation());
}

PluginService::PluginService(const Inventory& inventory, StreamHub& hub, WorkerMetrics* metrics)
    : inventory_(inventory), hub_(hub), metrics_(metrics) {}

void PluginService::serve(rpc::AsyncServer& server) {
  using Service = DevicePluginService;
  rpc::serveUnary(server, service_, &Service::RequestGetDevicePluginOptions,
                  [this](grpc::ServerContext& context, const v1beta1::Empty&,
                         v1beta1::DevicePluginOptions* response) {
                    return getDevicePluginOptions(context.peer(), response);
                  });
  rpc::serveUnary(server, service_, &Service::RequestGetPreferredAllocation,
                  [this](grpc::ServerContext&, const v1beta1::PreferredAllocationRequest& request,
                         v1beta1::PreferredAllocationResponse* response) {
                    return getPreferredAllocation(request, response);
                  });
  rpc::serveUnary(
      server, service_, &Service::RequestAllocate,
      [this](grpc::ServerContext&, const v1beta1::AllocateRequest& request,
             v1beta1::AllocateResponse* response) { return allocate(request, response); });
  rpc::serveUnary(server, service_, &Service::RequestPreStartContainer,
                  [this](grpc::ServerContext&, const v1beta1::PreStartContainerRequest& request,
                         v1beta1::PreStartContainerResponse* response) {
                    return preStartContainer(request, response);
                  });
  ListAndWatchStream::request(server, service_, hub_);
}

grpc::Status PluginService::getDevicePluginOptions(const std::string& peer,
                                                   v1beta1::DevicePluginOptions* response) const {
  hub_.optionsAsked(peer);
  response->set_pre_start_required(false);
  response->set_get_preferred_allocation_available(inventory_.offersPreferredAllocation());
  return grpc::Status::OK;
}

grpc::Status PluginService::getPreferredAllocation(
    const v1beta1::PreferredAllocationRequest& request,
    v1beta1::PreferredAllocationResponse* response) const {
  if (!inventory_.offersPreferredAllocation()) {
    return {grpc::StatusCode::UNIMPLEMENTED,
            "shared mode offers no preferred allocation "
            "(get_preferred_allocation_available is false)"};
  }
  return inventory_.preferredAllocation(request, response);
}

grpc::Status PluginService::allocate(const v1beta1::AllocateRequest& request,
                                     v1beta1::AllocateResponse* response) const {
  auto began = std::chrono::steady_clock::now();
  grpc::Status status = inventory_.allocate(request, response);
  auto log = base::logger("allocate");
  // A line per container request granted (at most RequestLimits::containerRequests); a
  // refused request, of whatever size, gets one line: its first container's IDs and why.
  if (!status.ok()) {
    log->warn(
        "Allocate of {} container requests refused{}: {}", request.container_requests_size(),
        request.container_requests_size() == 0
            ? ""
            : " (container 0 ids=" + describeIds(request.container_requests(0).devices_ids()) + ")",
        status.error_message());
    response->Clear();
  } else if (request.container_requests_size() == 0) {
    log->info("empty Allocate request; empty response");
  }
  for (int i = 0; status.ok() && i < request.container_requests_size(); ++i) {
    log->info("container {} ids={} -> {}", i,
              describeIds(request.container_requests(i).devices_ids()),
              describe(response->container_responses(i)));
  }
  if (metrics_ != nullptr) {
    metrics_->allocated(status.error_code(), std::chrono::steady_clock::now() - began);
  }
  return status;
}

grpc::Status PluginService::preStartContainer(const v1beta1::PreStartContainerRequest&,
                                              v1beta1::PreStartContainerResponse*) const {
  // Never asked for (pre_start_required is false); answered empty if called anyway.
  return grpc::Status::OK;
}

}  // namespace mvf::core
