#pragma once

// gRPC's async (completion-queue) API, as every process here uses it: one thread of ours
// blocks on one completion queue with no timeout and runs each call's next step there.
//
// Why not the callback API: in gRPC 1.51 each process using it runs two `nexting_thread`s
// that wait on a completion queue for at most 1 s and sleep 100 ms after each timeout,
// about 2 wakeups a second each while nothing happens (README, "Idle and memory"). The
// thread here wakes only when a call does something.
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <chrono>
#include <climits>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/memory.h"

namespace mvf::rpc {

// One pending operation of a call; gRPC hands `this` back on the completion queue.
class Tag {
 public:
  // Runs on the completion thread. `ok` is gRPC's: false when the operation could not
  // complete (the call was cancelled or its peer left, or the server is shutting down).
  virtual void proceed(bool ok) = 0;

 protected:
  ~Tag() = default;
};

// A Tag that calls `(owner.*on)(ok)`: a call with several kinds of pending operation
// holds one Step per kind.
template <class Owner>
class Step final : public Tag {
 public:
  Step(Owner& owner, void (Owner::*on)(bool)) : owner_(owner), on_(on) {}
  void proceed(bool ok) override { (owner_.*on_)(ok); }

 private:
  Owner& owner_;
  void (Owner::*on_)(bool);
};

// A gRPC server on the async API with its completion queue and the thread that serves it.
// The services registered must be AsyncServices; calls are asked for through request().
class AsyncServer {
 public:
  // Builds and starts a server with `services`, listening on `address` ("unix:///path"),
  // or on nothing for "" (connections are then handed in: grpc::AddInsecureChannelFromFd).
  // Null when gRPC cannot build it (it has logged why).
  static std::unique_ptr<AsyncServer> start(const std::vector<grpc::Service*>& services,
                                            const std::string& address = "") {
    grpc::ServerBuilder builder;
    // No keepalive pings (a server's default is one every 2 h, a timer per connection):
    // on a unix socket a peer that goes away closes the connection, which gRPC sees at once.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, INT_MAX);
    if (!address.empty()) builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    for (grpc::Service* service : services) builder.RegisterService(service);
    std::unique_ptr<grpc::ServerCompletionQueue> queue = builder.AddCompletionQueue();
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) return nullptr;
    return std::unique_ptr<AsyncServer>(new AsyncServer(std::move(server), std::move(queue)));
  }

  ~AsyncServer() { stop(std::chrono::milliseconds(0)); }

  grpc::Server& server() { return *server_; }
  // Every call and client operation of this process's gRPC work completes here.
  grpc::ServerCompletionQueue& queue() { return *queue_; }

  // Runs `ask`, which asks gRPC for one more call onto queue(), unless stop() has begun;
  // false then. A call asked for while the server shuts down comes back not ok; one asked
  // for after the queue is shut down would abort the process, which this rules out.
  bool request(const std::function<void()>& ask) {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    ask();
    return true;
  }

  // Shuts the server down, cancelling the calls still open after `grace`, then the queue;
  // returns once every pending operation has come back and the thread has ended.
  void stop(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) return;
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    queue_->Shutdown();
    thread_.join();
  }

 private:
  AsyncServer(std::unique_ptr<grpc::Server> server,
              std::unique_ptr<grpc::ServerCompletionQueue> queue)
      : server_(std::move(server)), queue_(std::move(queue)), thread_([this] { serve(); }) {
    // Named, so that a per-thread view (top -H, the bench's wakeups) tells it apart.
    ::pthread_setname_np(thread_.native_handle(), "mvf-grpc-cq");
  }

  // Next() blocks without a deadline: this thread sleeps until an operation completes.
  void serve() {
    void* tag = nullptr;
    bool ok = false;
    while (queue_->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
  }

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::ServerCompletionQueue> queue_;
  std::mutex mu_;
  bool stopping_ = false;
  std::thread thread_;
};

// Serves one unary method: each call is answered by `handler` on the completion thread,
// and each call that arrives asks for the next, so one is always waiting.
//
//   rpc::serveUnary(server, service, &Service::RequestAllocate, handler);
template <class Service, class Request, class Response>
class UnaryCall final : public Tag {
 public:
  // The generated Request<Method> of an AsyncService; `Service` is the generated class that
  // declares it (a base of the AsyncService).
  using Requester = void (Service::*)(grpc::ServerContext*, Request*,
                                      grpc::ServerAsyncResponseWriter<Response>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  // Takes the call's context and request; fills the response and returns the status
  // (the response is not sent unless the status is OK).
  using Handler =
      std::function<grpc::Status(grpc::ServerContext& context, const Request&, Response*)>;

  // Asks for the method's next call. The call object lives until its answer is sent,
  // or until the server shuts down.
  static void serve(AsyncServer& server, Service& service, Requester requester,
                    std::shared_ptr<const Handler> handler) {
    auto* call = new UnaryCall(server, service, requester, std::move(handler));
    if (!server.request([&] {
          (service.*requester)(&call->context_, &call->request_, &call->writer_, &server.queue(),
                               &server.queue(), call);
        })) {
      delete call;
    }
  }

  void proceed(bool ok) override {
    if (!ok || answered_) {
      bool large = answered_ && request_.ByteSizeLong() > kLargeRequestBytes;
      delete this;  // answered, or never arrived: the server is shutting down
      if (large) base::releaseFreeMemory();  // what the burst used is free only now
      return;
    }
    serve(server_, service_, requester_, handler_);
    Response response;
    grpc::Status status = (*handler_)(context_, request_, &response);
    answered_ = true;
    writer_.Finish(response, status, this);
  }

 private:
  UnaryCall(AsyncServer& server, Service& service, Requester requester,
            std::shared_ptr<const Handler> handler)
      : server_(server), service_(service), requester_(requester), handler_(std::move(handler)) {}

  // A kubelet's request is a few hundred bytes; one this large (a client's 10000 IDs)
  // leaves a burst of freed memory behind.
  static constexpr size_t kLargeRequestBytes = 64 * 1024;

  AsyncServer& server_;
  Service& service_;
  const Requester requester_;
  const std::shared_ptr<const Handler> handler_;
  grpc::ServerContext context_;
  Request request_;
  grpc::ServerAsyncResponseWriter<Response> writer_{&context_};
  bool answered_ = false;
};

// serveUnary(server, service, &AsyncService::RequestX, handler): UnaryCall<...>::serve with
// the types deduced from the generated Request method.
template <class Service, class Request, class Response, class Handler>
void serveUnary(AsyncServer& server, std::type_identity_t<Service>& service,
                void (Service::*requester)(grpc::ServerContext*, Request*,
                                           grpc::ServerAsyncResponseWriter<Response>*,
                                           grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                           void*),
                Handler handler) {
  using Call = UnaryCall<Service, Request, Response>;
  Call::serve(server, service, requester,
              std::make_shared<const typename Call::Handler>(std::move(handler)));
}

}  // namespace mvf::rpc
