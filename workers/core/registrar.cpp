#include "workers/core/registrar.h"

#include <chrono>

#include "proto/deviceplugin.grpc.pb.h"

namespace mvf::core {

// The kubelet's Register dials back with a 10 s timeout and then asks for our options
// with no deadline (docs/architecture.md, "What the kubelet does"); 15 s covers both without
// hanging forever.
constexpr auto kRegisterDeadline = std::chrono::seconds(15);

struct Registrar::Attempt {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1beta1::Registration::Stub> stub;
  grpc::ClientContext context;
  v1beta1::RegisterRequest request;
  v1beta1::Empty response;
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

void Registrar::start(std::function<void(grpc::Status)> done) {
  auto attempt = std::make_shared<Attempt>();
  // gRPC shares subchannels, and with them reconnect backoff (1 s and growing), between
  // channels to the same address; a private pool makes this channel really fresh.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  attempt->channel = grpc::CreateCustomChannel("unix://" + kubeletSocket_,
                                               grpc::InsecureChannelCredentials(), args);
  attempt->stub = v1beta1::Registration::NewStub(attempt->channel);
  attempt->context.set_deadline(std::chrono::system_clock::now() + kRegisterDeadline);
  attempt->request.set_version("v1beta1");
  attempt->request.set_endpoint(endpoint_);
  attempt->request.set_resource_name(resourceName_);
  {
    std::lock_guard lock(mu_);
    current_ = attempt;
  }
  // The callback holds the attempt, so context and messages outlive the call.
  attempt->stub->async()->Register(&attempt->context, &attempt->request, &attempt->response,
                                   [this, attempt, done = std::move(done)](grpc::Status status) {
                                     done(std::move(status));
                                     std::lock_guard lock(mu_);
                                     if (current_ == attempt) current_.reset();
                                     idle_.notify_all();
                                   });
}

void Registrar::cancel() {
  std::lock_guard lock(mu_);
  if (current_) current_->context.TryCancel();
}

}  // namespace mvf::core
