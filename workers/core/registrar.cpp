#include "workers/core/registrar.h"

#include <grpcpp/create_channel_posix.h>

#include <climits>

#include "base/unix_socket.h"
#include "proto/deviceplugin.grpc.pb.h"

namespace mvf::core {

// One Register call; gRPC hands it back as the tag of its Finish. It holds itself until
// then, so context and messages outlive the call.
class Registrar::Attempt final : public rpc::Tag {
 public:
  Attempt(Registrar& owner, std::function<void(grpc::Status)> done)
      : owner_(owner), done_(std::move(done)) {}

  void call(rpc::AsyncServer& server, std::shared_ptr<Attempt> self) {
    self_ = std::move(self);
    // Our own connection, and a direct channel over it: no resolver, no subchannel, so
    // nothing reconnects. A kubelet.sock nobody listens on yet (the kubelet restarting) fails
    // here at once, and RegistrationLoop retries on its own backoff. Through a subchannel,
    // gRPC 1.51 also armed a 1 s reconnect timer on its EventEngine
    // (Subchannel::OnConnectingFinishedLocked): one timer that short shrinks its timer
    // shard's window, and the shard wakes on a phase of its own from then on, once a second
    // for good (README, "Idle and memory").
    auto connection = base::connectUnix(owner_.kubeletSocket_);
    if (!connection) {
      status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, connection.error().message);
      proceed(true);
      return;
    }
    grpc::ChannelArguments args;
    // What gRPC sends for a unix: target; over an fd it would send "test.authority".
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // as the server: rpc/async_server.h
    // No keepalive pings, as the server. Said explicitly: gRPC 1.51 reads a client's default
    // (INT_MAX ms) as a real keepalive timer of 24.8 days, and only an explicit INT_MAX as
    // none (chttp2_transport.cc, read_channel_args; ChannelArgs::GetDurationFromIntMillis).
    // Any gRPC timer sets its timer shard waking on a phase of its own (README, "Idle and
    // memory"). The call has no deadline for the same reason: RegistrationLoop times it out.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, INT_MAX);
    channel_ = grpc::CreateCustomInsecureChannelFromFd("unix:" + owner_.kubeletSocket_,
                                                       connection.value().release(), args);
    stub_ = v1beta1::Registration::NewStub(channel_);
    request_.set_version("v1beta1");
    request_.set_endpoint(owner_.endpoint_);
    request_.set_resource_name(owner_.resourceName_);
    bool started = server.begin([&] {
      reader_ = stub_->AsyncRegister(&context_, request_, &server.queue());
      reader_->Finish(&response_, &status_, this);
    });
    if (!started) {
      status_ = grpc::Status(grpc::StatusCode::CANCELLED, "the worker is stopping");
      proceed(true);
    }
  }

  void cancel() { context_.TryCancel(); }

  // Finish's tag: the outcome is in status_.
  void proceed(bool) override {
    std::shared_ptr<Attempt> self = std::move(self_);  // this lives until the end
    done_(std::move(status_));
    std::lock_guard lock(owner_.mu_);
    if (owner_.current_ == self) owner_.current_.reset();
    owner_.idle_.notify_all();
  }

 private:
  Registrar& owner_;
  std::function<void(grpc::Status)> done_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1beta1::Registration::Stub> stub_;
  grpc::ClientContext context_;
  v1beta1::RegisterRequest request_;
  v1beta1::Empty response_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1beta1::Empty>> reader_;
  std::shared_ptr<Attempt> self_;
};

Registrar::Registrar(std::string kubeletSocket, std::string resourceName, std::string endpoint)
    : kubeletSocket_(std::move(kubeletSocket)),
      resourceName_(std::move(resourceName)),
      endpoint_(std::move(endpoint)) {}

Registrar::~Registrar() {
  cancel();
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return current_ == nullptr; });
}

void Registrar::start(rpc::AsyncServer& server, std::function<void(grpc::Status)> done) {
  auto attempt = std::make_shared<Attempt>(*this, std::move(done));
  {
    std::lock_guard lock(mu_);
    current_ = attempt;
  }
  attempt->call(server, attempt);
}

void Registrar::cancel() {
  std::lock_guard lock(mu_);
  if (current_) current_->cancel();
}

}  // namespace mvf::core
