#include "kubelet_stand_in/kubelet_stand_in.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

#include "base/format.h"
#include "rpc/unary_call.h"

namespace mvf::kubelet {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kCheckpoint = "kubelet_internal_checkpoint";
// The kubelet dials a registering plugin with a 10 s blocking dial (plugin/v1beta1/client.go).
constexpr auto kDialTimeout = 10s;
// The kubelet puts no deadline on GetDevicePluginOptions or Allocate; a stand-in that
// hangs forever on a broken plugin would hang the test, so it gives up after this, with no
// deadline on the wire either (rpc::callUntil).
constexpr auto kCallTimeout = 30s;

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool isLowerAlnum(char c) {
  return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
}

// RFC 1123 subdomain: lower-case labels of [a-z0-9-], starting and ending alphanumeric.
bool isDnsSubdomain(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    std::string_view label = text.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!isLowerAlnum(label.front()) || !isLowerAlnum(label.back())) return false;
    for (char c : label) {
      if (!isLowerAlnum(c) && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

// The name part of a qualified name: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, ≤ 63.
bool isQualifiedNamePart(std::string_view text) {
  if (text.empty() || text.size() > 63) return false;
  if (!isAlnum(text.front()) || !isAlnum(text.back())) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// Go's filepath.Join(dir, endpoint): an absolute endpoint is appended, not used as is.
std::string joinEndpoint(const std::string& dir, const std::string& endpoint) {
  std::string relative = endpoint;
  while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
  return (fs::path(dir) / relative).lexically_normal().string();
}

}  // namespace

int64_t ResourceState::healthy() const {
  return std::count_if(devices.begin(), devices.end(),
                       [](const v1beta1::Device& d) { return d.health() == "Healthy"; });
}

std::vector<std::string> ResourceState::ids(bool healthy) const {
  std::vector<std::string> out;
  for (const auto& device : devices) {
    if ((device.health() == "Healthy") == healthy) out.push_back(device.id());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string formatQuantity(int64_t value) {
  static const char* kSuffixes[] = {"", "k", "M", "G", "T", "P", "E"};
  size_t scale = 0;
  while (value != 0 && value % 1000 == 0 && scale + 1 < std::size(kSuffixes)) {
    value /= 1000;
    ++scale;
  }
  return std::to_string(value) + kSuffixes[scale];
}

bool isExtendedResourceName(const std::string& name) {
  size_t slash = name.find('/');
  if (slash == std::string::npos || name.find('/', slash + 1) != std::string::npos) return false;
  if (name.find("kubernetes.io/") != std::string::npos) return false;
  if (name.rfind("requests.", 0) == 0) return false;
  return isDnsSubdomain("requests." + name.substr(0, slash)) &&
         isQualifiedNamePart(std::string_view(name).substr(slash + 1));
}

struct KubeletStandIn::Client {
  std::string resource;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub;
  grpc::ClientContext streamContext;
  std::thread reader;
};

class KubeletStandIn::Registration final : public v1beta1::Registration::Service {
 public:
  explicit Registration(KubeletStandIn& owner) : owner_(owner) {}
  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override {
    return owner_.registerPlugin(*request);
  }

 private:
  KubeletStandIn& owner_;
};

// The kubelet's pod-resources server (pkg/kubelet/apis/podresources/server_v1.go), answered
// from what the stand-in recorded.
class KubeletStandIn::PodResources final : public ::v1::PodResourcesLister::Service {
 public:
  explicit PodResources(KubeletStandIn& owner) : owner_(owner) {}
  grpc::Status List(grpc::ServerContext*, const ::v1::ListPodResourcesRequest*,
                    ::v1::ListPodResourcesResponse* response) override {
    *response = owner_.listPodResources();
    return grpc::Status::OK;
  }
  grpc::Status GetAllocatableResources(grpc::ServerContext*,
                                       const ::v1::AllocatableResourcesRequest*,
                                       ::v1::AllocatableResourcesResponse* response) override {
    *response = owner_.allocatableResources();
    return grpc::Status::OK;
  }
  grpc::Status Get(grpc::ServerContext*, const ::v1::GetPodResourcesRequest* request,
                   ::v1::GetPodResourcesResponse* response) override {
    std::lock_guard lock(owner_.mu_);
    auto it = owner_.pods_.find({request->pod_namespace(), request->pod_name()});
    if (it == owner_.pods_.end()) {
      // The kubelet's words; a Go error reaches the client as UNKNOWN.
      return {grpc::StatusCode::UNKNOWN, "pod " + request->pod_name() + " in namespace " +
                                             request->pod_namespace() + " not found"};
    }
    *response->mutable_pod_resources() =
        owner_.podResourcesOf(it->first.first, it->first.second, it->second);
    return grpc::Status::OK;
  }

 private:
  KubeletStandIn& owner_;
};

base::Status KubeletStandIn::servePodResources() {
  const std::string& socket = options_.podResourcesSocket;
  std::error_code ec;
  fs::create_directories(fs::path(socket).parent_path(), ec);
  if (ec) return base::Error{"mkdir for " + socket + ": " + ec.message(), ec.value()};
  // The kubelet removes the socket it left and listens anew on each start.
  fs::remove(socket, ec);
  podResourcesService_ = std::make_unique<PodResources>(*this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(podResourcesService_.get());
  podResourcesServer_ = builder.BuildAndStart();
  if (!podResourcesServer_) return base::Error{"cannot listen on " + socket};
  changed("pod-resources API listening on " + socket);
  return base::ok();
}

KubeletStandIn::KubeletStandIn(std::string dir) : KubeletStandIn(std::move(dir), Options{}) {}

KubeletStandIn::KubeletStandIn(std::string dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

KubeletStandIn::~KubeletStandIn() { stop(); }

base::Status KubeletStandIn::start() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return base::Error{"mkdir " + dir_ + ": " + ec.message(), ec.value()};
  // CleanupPluginDirectory: every entry but directories and the checkpoint goes.
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.is_directory() || entry.path().filename() == kCheckpoint) continue;
    fs::remove(entry.path(), ec);
  }
  service_ = std::make_unique<Registration>(*this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + dir_ + "/kubelet.sock", grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) return base::Error{"cannot listen on " + dir_ + "/kubelet.sock"};
  changed("kubelet listening on " + dir_ + "/kubelet.sock");
  return options_.podResourcesSocket.empty() ? base::ok() : servePodResources();
}

void KubeletStandIn::stop() {
  if (podResourcesServer_) {
    podResourcesServer_->Shutdown(std::chrono::system_clock::now() + 1s);
    podResourcesServer_.reset();
  }
  if (server_) {
    // Waits for Register handlers, so none adds a client after this.
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    server_.reset();
  }
  std::vector<std::shared_ptr<Client>> clients;
  {
    std::lock_guard lock(mu_);
    clients.swap(allClients_);
    clients_.clear();
  }
  for (auto& client : clients) client->streamContext.TryCancel();
  for (auto& client : clients) {
    if (client->reader.joinable()) client->reader.join();
  }
}

bool KubeletStandIn::endStream(const std::string& resource) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(resource);
  if (it == clients_.end()) return false;
  it->second->streamContext.TryCancel();
  return true;
}

base::Status KubeletStandIn::restart() {
  stop();
  {
    std::lock_guard lock(mu_);
    // The checkpoint brings every resource back with empty device sets and a stopped
    // endpoint: capacity 0 until its plugin registers again (manager.go, readCheckpoint).
    // It keeps what each container was allocated: pods_ stays.
    for (auto& [name, state] : node_) {
      state.devices.clear();
      state.stopped = true;
      state.stoppedAt = std::chrono::steady_clock::now();
    }
  }
  changed("kubelet restarting");
  return start();
}

grpc::Status KubeletStandIn::registerPlugin(const v1beta1::RegisterRequest& request) {
  const std::string& name = request.resource_name();
  if (request.version() != "v1beta1") {
    return {grpc::StatusCode::UNKNOWN, "requested API version \"" + request.version() +
                                           "\" is not supported by kubelet. Supported version "
                                           "is [\"v1beta1\"]"};
  }
  if (!isExtendedResourceName(name)) {
    return {grpc::StatusCode::UNKNOWN, "the ResourceName \"" + name + "\" is invalid"};
  }
  auto client = std::make_shared<Client>();
  client->resource = name;
  // Every dial is a new connection, as with the kubelet's grpc-go: no subchannel (and its
  // reconnect backoff) shared with an earlier dial to the same socket.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  client->channel = grpc::CreateCustomChannel("unix://" + joinEndpoint(dir_, request.endpoint()),
                                              grpc::InsecureChannelCredentials(), args);
  if (!client->channel->WaitForConnected(std::chrono::system_clock::now() + kDialTimeout)) {
    return {grpc::StatusCode::UNKNOWN, "failed to dial device plugin: context deadline exceeded"};
  }
  client->stub = v1beta1::DevicePlugin::NewStub(client->channel);
  v1beta1::DevicePluginOptions options;
  grpc::Status status = rpc::callUntil(
      std::chrono::system_clock::now() + kCallTimeout,
      [&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return client->stub->AsyncGetDevicePluginOptions(context, v1beta1::Empty(), queue);
      },
      &options);
  if (!status.ok()) {
    return {grpc::StatusCode::UNKNOWN,
            "failed to get device plugin options: " + status.error_message()};
  }
  {
    std::lock_guard lock(mu_);
    ResourceState& state = node_[name];
    state.endpoint = request.endpoint();
    state.stopped = false;
    state.options = options;
    ++state.registrations;
    clients_[name] = client;
    allClients_.push_back(client);
    client->reader = std::thread([this, client] { readStream(client); });
  }
  changed("registered " + name + " (endpoint " + request.endpoint() + ")");
  return grpc::Status::OK;
}

void KubeletStandIn::readStream(std::shared_ptr<Client> client) {
  auto reader = client->stub->ListAndWatch(&client->streamContext, v1beta1::Empty());
  v1beta1::ListAndWatchResponse message;
  while (reader->Read(&message)) {
    std::string event;
    {
      std::lock_guard lock(mu_);
      ResourceState& state = node_[client->resource];
      // Each message replaces the whole list; duplicate IDs collapse.
      std::map<std::string, v1beta1::Device> byId;
      for (const auto& device : message.devices()) byId[device.id()] = device;
      state.devices.clear();
      for (auto& [id, device] : byId) state.devices.push_back(std::move(device));
      ++state.updates;
      event = client->resource + ": " + std::to_string(state.capacity()) + " devices, " +
              std::to_string(state.healthy()) + " healthy";
    }
    changed(event);
  }
  grpc::Status status = reader->Finish();
  {
    std::lock_guard lock(mu_);
    // PluginDisconnected works by resource name, whichever registration the stream
    // belonged to.
    ResourceState& state = node_[client->resource];
    for (auto& device : state.devices) device.set_health("Unhealthy");
    state.stopped = true;
    state.stoppedAt = std::chrono::steady_clock::now();
    ++state.streamsEnded;
  }
  changed("ListAndWatch of " + client->resource + " ended (" +
          (status.ok() ? std::string("OK") : status.error_message()) +
          "); its devices are unhealthy");
}

void KubeletStandIn::changed(const std::string& event) {
  cv_.notify_all();
  if (options_.onEvent) options_.onEvent(event);
}

Node KubeletStandIn::node() const {
  std::lock_guard lock(mu_);
  return node_;
}

std::optional<ResourceState> KubeletStandIn::resource(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = node_.find(name);
  if (it == node_.end()) return std::nullopt;
  return it->second;
}

bool KubeletStandIn::waitFor(const std::function<bool(const Node&)>& ready,
                             std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ready(node_); });
}

std::string KubeletStandIn::describeNode() const {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  size_t width = 0;
  for (const auto& [name, state] : node_) width = std::max(width, name.size());
  std::ostringstream capacity, allocatable;
  for (const auto& [name, state] : node_) {
    bool expired = state.stopped && now - state.stoppedAt > options_.gracePeriod;
    std::string pad(width - name.size() + 2, ' ');
    capacity << "  " << name << ":" << pad << formatQuantity(expired ? 0 : state.capacity())
             << "\n";
    allocatable << "  " << name << ":" << pad << formatQuantity(expired ? 0 : state.healthy())
                << "\n";
  }
  return "Capacity:\n" + capacity.str() + "Allocatable:\n" + allocatable.str();
}

grpc::Status KubeletStandIn::allocate(const std::string& resource,
                                      const v1beta1::AllocateRequest& request,
                                      v1beta1::AllocateResponse* response) {
  std::shared_ptr<Client> client;
  {
    std::lock_guard lock(mu_);
    auto it = clients_.find(resource);
    if (it == clients_.end()) {
      return {grpc::StatusCode::UNKNOWN, "cannot allocate unregistered device " + resource};
    }
    if (node_[resource].stopped) {
      return {grpc::StatusCode::UNKNOWN, "endpoint " + resource + " has been stopped"};
    }
    client = it->second;
  }
  return rpc::callUntil(
      std::chrono::system_clock::now() + kCallTimeout,
      [&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return client->stub->AsyncAllocate(context, request, queue);
      },
      response);
}

}  // namespace mvf::kubelet
