#pragma once

// gRPC's async (completion-queue) API, as every process here uses it: one thread of ours
// blocks on one completion queue with no timeout and runs each call's next step there.
// Answers to large requests (no kubelet sends one) run on a second thread, started when
// the first such request arrives, so they never hold up the kubelet's calls.
//
// Why not the callback API: in gRPC 1.51 each process using it runs two `nexting_thread`s
// that wait on a completion queue for at most 1 s and sleep 100 ms after each timeout,
// about 2 wakeups a second each while nothing happens (README, "Idle and memory"). The
// thread here wakes only when a call does something.
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <grpcpp/support/async_unary_call.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/format.h"
#include "base/runtime.h"

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

// Answers large requests one after another on a thread of its own (named mvf-grpc-large,
// started by the first post()), holding at most a budget of request bytes; the completion
// thread goes on with other calls meanwhile.
class LargeCallLane {
 public:
  explicit LargeCallLane(size_t budgetBytes) : budget_(budgetBytes) {}
  ~LargeCallLane() { stop(); }

  // Queues `answer` for a request of `bytes`. False, with nothing queued, after stop() or
  // when the requests queued and being answered would hold more than the budget (a request
  // that finds the lane empty is always taken).
  bool post(size_t bytes, std::function<void()> answer) {
    std::lock_guard lock(mu_);
    if (stopped_ || (held_ > 0 && held_ + bytes > budget_)) return false;
    held_ += bytes;
    jobs_.push_back({bytes, std::move(answer)});
    if (!thread_.joinable()) {
      thread_ = std::thread([this] {
        // Lowest priority (nice 19; Linux keeps a nice value per thread, setpriority(2)):
        // on a busy node the completion thread, which answers the kubelet, goes first.
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
        run();
      });
      ::pthread_setname_np(thread_.native_handle(), "mvf-grpc-large");
    }
    ready_.notify_one();
    return true;
  }

  // Request bytes queued or being answered now.
  size_t held() const {
    std::lock_guard lock(mu_);
    return held_;
  }
  size_t budget() const { return budget_; }

  // Answers what is queued, then ends the thread; post() refuses from now on.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Job {
    size_t bytes;
    std::function<void()> answer;
  };

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      ready_.wait(lock, [this] { return stopped_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job.answer();
      lock.lock();
      held_ -= job.bytes;
    }
  }

  const size_t budget_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  size_t held_ = 0;
  bool stopped_ = false;
  std::thread thread_;
};

// A gRPC server on the async API with its completion queue and the thread that serves it.
// Every method of the services registered must be async or raw (the generated
// WithAsyncMethod_/WithRawMethod_ mixins; a sync one would make gRPC start its own thread
// pool); calls are asked for through request().
class AsyncServer {
 public:
  // Builds and starts a server with `services`, listening on `address` ("unix:///path"),
  // or on nothing for "" (connections are then handed in: adopt(); the daemons do, and
  // only the unit test listens through gRPC).
  // Null when gRPC cannot build it (it has logged why).
  static std::unique_ptr<AsyncServer> start(const std::vector<grpc::Service*>& services,
                                            const std::string& address = "") {
    grpc::ServerBuilder builder;
    // No keepalive pings (a server's default is one every 2 h): on a unix socket a peer
    // that goes away closes the connection, which gRPC sees at once. And its 2 h timer,
    // armed on each connection, would set a timer shard waking on a phase of its own (see
    // below): with it, a worker's iomgr timer thread woke 2-3 times a second, not once.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, INT_MAX);
    // No BDP probing (it sizes flow-control windows for long-haul links): its 100 ms timer
    // after each connection's first data shortens the window of one of gRPC's timer
    // shards, which from then on wakes apart from the others, once a second.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    if (!address.empty()) builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    for (grpc::Service* service : services) builder.RegisterService(service);
    std::unique_ptr<grpc::ServerCompletionQueue> queue = builder.AddCompletionQueue();
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) return nullptr;
    return std::unique_ptr<AsyncServer>(new AsyncServer(std::move(server), std::move(queue)));
  }

  ~AsyncServer() { stop(std::chrono::milliseconds(0)); }

  // A request larger than this is answered on the large-call lane. A kubelet's request is
  // a few hundred bytes (a container's device IDs); one this large names thousands.
  static constexpr size_t kLargeRequestBytes = 64 * 1024;
  // What the lane holds at most: gRPC's default limit for one message, so a client
  // sending many large requests makes the process hold no more than one message could.
  static constexpr size_t kLargeCallBudgetBytes = 4 * 1024 * 1024;

  // Serves a connection accepted elsewhere (base::ListeningSocket); takes `fd`. Only
  // before stop().
  void adopt(int fd) { grpc::AddInsecureChannelFromFd(server_.get(), fd); }
  // Every call and client operation of this process's gRPC work completes here.
  grpc::ServerCompletionQueue& queue() { return *queue_; }

  // Runs `begin`, which begins operations onto queue(), unless stop() has begun; false
  // then, and no tag of them comes back. gRPC aborts the process on an operation begun
  // after the queue is shut down (grpc_cq_begin_op), which this rules out. Every operation
  // that may come once stop() has begun goes through here: call requests, client calls, a
  // stream's writes and Finish. A unary call's answer does not: it follows the arrival of
  // its call, whose tag stop() waits for, or comes from the lane, which stop() ends first.
  bool begin(const std::function<void()>& begin) {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    begin();
    return true;
  }

  // The lane that answers requests over kLargeRequestBytes.
  LargeCallLane& largeCalls() { return largeCalls_; }

  // Shuts the server down, cancelling the calls still open after `grace`, then the lane
  // (its queued answers are sent, or fail on their cancelled calls), then the queue;
  // returns once every pending operation has come back and both threads have ended. Not
  // from the completion thread.
  void stop(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) return;
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    largeCalls_.stop();  // before the queue: an answer it sends posts to the queue
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    // A call gRPC matched before the shutdown may still wait in the queue, and taking it
    // out begins an operation of gRPC's own (the call's done notification), which needs
    // the queue open. An alarm due now lands behind everything queued so far: once the
    // completion thread reaches it, no such call is left, and nothing of ours begins
    // another operation (begin()).
    std::promise<void> drained;
    Drained marker(drained);
    grpc::Alarm alarm;
    alarm.Set(queue_.get(), std::chrono::system_clock::now(), &marker);
    drained.get_future().wait();
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

  // stop()'s marker in the queue.
  class Drained final : public Tag {
   public:
    explicit Drained(std::promise<void>& reached) : reached_(reached) {}
    void proceed(bool) override { reached_.set_value(); }

   private:
    std::promise<void>& reached_;
  };

  // Next() blocks without a deadline: this thread sleeps until an operation completes.
  void serve() {
    void* tag = nullptr;
    bool ok = false;
    while (queue_->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
  }

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::ServerCompletionQueue> queue_;
  LargeCallLane largeCalls_{kLargeCallBudgetBytes};
  std::mutex mu_;
  bool stopping_ = false;
  std::thread thread_;
};

// Serves one unary method: each call is answered by `handler` on the completion thread,
// or, when its request is over kLargeRequestBytes, on the server's large-call lane (then
// RESOURCE_EXHAUSTED when the lane is full); each call that arrives asks for the next, so
// one is always waiting. A handler may thus run on two threads at once.
//
// The method must be raw (the generated WithRawMethod_<Method> mixin): gRPC hands over the
// request's bytes, so its size is known before anything is parsed, and a large request is
// parsed on the lane, or never when it is refused.
//
//   rpc::serveUnary(server, service, &Service::RequestAllocate,
//                   [](grpc::ServerContext&, const AllocateRequest&, AllocateResponse*) {...});
template <class Service, class Request, class Response>
class UnaryCall final : public Tag {
 public:
  // The generated Request<Method> of a WithRawMethod_<Method> mixin of `Service`.
  using Requester = void (Service::*)(grpc::ServerContext*, grpc::ByteBuffer*,
                                      grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>*,
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
    if (!server.begin([&] {
          (service.*requester)(&call->context_, &call->request_, &call->writer_, &server.queue(),
                               &server.queue(), call);
        })) {
      delete call;
    }
  }

  void proceed(bool ok) override {
    if (!ok || answered_) {
      bool large = large_;
      delete this;  // answered, or never arrived: the server is shutting down
      if (large) base::releaseFreeMemory();  // what the burst used is free only now
      return;
    }
    serve(server_, service_, requester_, handler_);
    size_t bytes = request_.Length();
    large_ = bytes > AsyncServer::kLargeRequestBytes;
    if (!large_) return answer();
    LargeCallLane& lane = server_.largeCalls();
    if (!lane.post(bytes, [this] { answer(); })) {
      finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          fmt::format("a request of {} bytes waits for no more than {} bytes of "
                                      "large requests; {} are being answered: retry later",
                                      bytes, lane.budget(), lane.held())));
    }
  }

 private:
  UnaryCall(AsyncServer& server, Service& service, Requester requester,
            std::shared_ptr<const Handler> handler)
      : server_(server), service_(service), requester_(requester), handler_(std::move(handler)) {}

  // Parses the request, runs the handler and sends its answer.
  void answer() {
    grpc::ByteBuffer bytes;
    grpc::Status status = respond(bytes);
    // The request and response are freed by now: once the answer is sent, the completion
    // thread deletes this call and, after a large one, trims the heap.
    if (!status.ok()) return finish(status);
    answered_ = true;
    writer_.Finish(bytes, grpc::Status::OK, this);
  }

  // The handler's status and, when OK, its response serialized into `bytes`.
  grpc::Status respond(grpc::ByteBuffer& bytes) {
    Request request;
    // Deserialize takes the bytes: they are freed here, not when the call ends.
    if (!grpc::SerializationTraits<Request>::Deserialize(&request_, &request).ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          fmt::format("the request is not a valid {} message",
                                      Request::default_instance().GetTypeName()));
    }
    Response response;
    grpc::Status status = (*handler_)(context_, request, &response);
    if (!status.ok()) return status;
    bool ownBuffer = false;
    return grpc::SerializationTraits<Response>::Serialize(response, &bytes, &ownBuffer);
  }

  // Ends the call with an error. From here on nothing of this object may be touched by
  // the thread that called: the completion thread deletes it once the answer is sent.
  void finish(const grpc::Status& status) {
    answered_ = true;
    writer_.FinishWithError(status, this);
  }

  AsyncServer& server_;
  Service& service_;
  const Requester requester_;
  const std::shared_ptr<const Handler> handler_;
  grpc::ServerContext context_;
  grpc::ByteBuffer request_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> writer_{&context_};
  bool answered_ = false;
  bool large_ = false;  // answered on the lane; leaves a burst of freed memory behind
};

// The request and response types of a handler, from its call operator.
template <class Call>
struct HandlerTypes;
template <class Lambda, class Req, class Resp>
struct HandlerTypes<grpc::Status (Lambda::*)(grpc::ServerContext&, const Req&, Resp*) const> {
  using Request = Req;
  using Response = Resp;
};

// serveUnary(server, service, &Service::RequestX, handler): UnaryCall<...>::serve with the
// message types taken from the handler, a lambda
// `grpc::Status (grpc::ServerContext&, const XRequest&, XResponse*)`.
template <class Service, class Handler>
void serveUnary(AsyncServer& server, std::type_identity_t<Service>& service,
                void (Service::*requester)(grpc::ServerContext*, grpc::ByteBuffer*,
                                           grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>*,
                                           grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                           void*),
                Handler handler) {
  using Types = HandlerTypes<decltype(&Handler::operator())>;
  using Call = UnaryCall<Service, typename Types::Request, typename Types::Response>;
  Call::serve(server, service, requester,
              std::make_shared<const typename Call::Handler>(std::move(handler)));
}

}  // namespace mvf::rpc
