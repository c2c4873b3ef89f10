// The kubelet stand-in's pod-resources side: what a container got from a successful
// Allocate is recorded per resource and served by List, Get and GetAllocatableResources on
// its socket as the kubelet answers them; a failed Allocate records nothing. Also that the
// stand-in's calls carry no deadline, as the kubelet's do not. Against small in-test device
// plugins over real unix sockets in a temp dir.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/support/fake_node.h"
#include "tests/support/status.h"

namespace mvf::kubelet {
namespace {

using namespace std::chrono_literals;
using mvf::testing::FakeNode;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr auto kTimeout = 10s;

v1beta1::Device device(const std::string& id, std::vector<int64_t> numaNodes = {},
                       const std::string& health = "Healthy") {
  v1beta1::Device out;
  out.set_id(id);
  out.set_health(health);
  if (!numaNodes.empty()) {
    for (int64_t node : numaNodes) out.mutable_topology()->add_nodes()->set_id(node);
  }
  return out;
}

// A device plugin of one resource: lists its devices once and holds the stream; Allocate
// fails for the ID "broken" and otherwise answers each container request.
class FakePlugin final : public v1beta1::DevicePlugin::Service {
 public:
  FakePlugin(const std::string& dir, std::string resource, std::vector<v1beta1::Device> devices)
      : resource_(std::move(resource)), devices_(std::move(devices)) {
    endpoint_ = resource_.substr(resource_.find('/') + 1) + ".sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + dir + "/" + endpoint_, grpc::InsecureServerCredentials());
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakePlugin() override { stop(); }

  grpc::Status registerWith(const std::string& kubeletSocket) {
    auto stub = v1beta1::Registration::NewStub(
        grpc::CreateChannel("unix://" + kubeletSocket, grpc::InsecureChannelCredentials()));
    v1beta1::RegisterRequest request;
    request.set_version("v1beta1");
    request.set_endpoint(endpoint_);
    request.set_resource_name(resource_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kTimeout);
    v1beta1::Empty empty;
    return stub->Register(&context, request, &empty);
  }

  // Ends the stream, as a plugin that exits.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (server_) server_->Shutdown();
    server_.reset();
  }

  int allocates() const { return allocates_; }
  // Calls of GetDevicePluginOptions and Allocate that came with a deadline.
  int callsWithADeadline() const { return callsWithADeadline_; }

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context, const v1beta1::Empty*,
                                      v1beta1::DevicePluginOptions*) override {
    noteDeadline(*context);
    return grpc::Status::OK;
  }
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty*,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override {
    v1beta1::ListAndWatchResponse list;
    for (const auto& d : devices_) *list.add_devices() = d;
    writer->Write(list);
    // The sync API has no cancellation callback: look at it between waits.
    std::unique_lock lock(mu_);
    while (!stopping_ && !context->IsCancelled()) cv_.wait_for(lock, 10ms);
    return grpc::Status::OK;
  }
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override {
    noteDeadline(*context);
    ++allocates_;
    for (const auto& container : request->container_requests()) {
      for (const auto& id : container.devices_ids()) {
        if (id == "broken") return {grpc::StatusCode::FAILED_PRECONDITION, "broken"};
      }
      (*response->add_container_responses()->mutable_envs())["GRANTED"] = "yes";
    }
    return grpc::Status::OK;
  }

 private:
  std::string resource_;
  std::string endpoint_;
  std::vector<v1beta1::Device> devices_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<int> allocates_ = 0;
  std::atomic<int> callsWithADeadline_ = 0;

  void noteDeadline(const grpc::ServerContext& context) {
    if (context.deadline() != std::chrono::system_clock::time_point::max()) ++callsWithADeadline_;
  }
};

// "ns/pod/container resource id [numa]" per ContainerDevices entry, in List's order.
std::vector<std::string> entries(const ::v1::ListPodResourcesResponse& list) {
  std::vector<std::string> out;
  for (const auto& pod : list.pod_resources()) {
    for (const auto& container : pod.containers()) {
      for (const auto& devices : container.devices()) {
        std::string line = pod.namespace_() + "/" + pod.name() + "/" + container.name() + " " +
                           devices.resource_name();
        for (const auto& id : devices.device_ids()) line += " " + id;
        for (const auto& node : devices.topology().nodes()) {
          line += " numa=" + std::to_string(node.id());
        }
        out.push_back(line);
      }
    }
  }
  return out;
}

class PodResourcesStandInTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(kubelet_.start());
    udma_ = std::make_unique<FakePlugin>(
        node_.kubeletDir(), "intel.com/udma",
        std::vector{device("udma-0"), device("udma-1"), device("udma-2", {}, "Unhealthy")});
    vfio_ = std::make_unique<FakePlugin>(node_.kubeletDir(), "intel.com/vfio",
                                         std::vector{device("7", {0}), device("9", {0, 1})});
    for (auto* plugin : {udma_.get(), vfio_.get()}) {
      grpc::Status registered = plugin->registerWith(node_.kubeletDir() + "/kubelet.sock");
      ASSERT_TRUE(registered.ok()) << registered.error_message();
    }
    ASSERT_TRUE(kubelet_.waitFor(
        [](const Node& node) {
          return node.contains("intel.com/udma") && node.at("intel.com/udma").capacity() == 3 &&
                 node.contains("intel.com/vfio") && node.at("intel.com/vfio").capacity() == 2;
        },
        kTimeout));
  }

  grpc::Status allocate(const std::string& resource, std::vector<std::string> ids,
                        const PodRef& pod) {
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (const auto& id : ids) container->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    return kubelet_.allocate(resource, request, &response, pod);
  }

  std::unique_ptr<::v1::PodResourcesLister::Stub> client() const {
    return ::v1::PodResourcesLister::NewStub(
        grpc::CreateChannel("unix://" + socket(), grpc::InsecureChannelCredentials()));
  }

  // List over the socket, as a client of the kubelet calls it.
  ::v1::ListPodResourcesResponse list() const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kTimeout);
    ::v1::ListPodResourcesResponse out;
    grpc::Status status = client()->List(&context, {}, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  std::string socket() const { return node_.dir() + "/pod-resources/kubelet.sock"; }

  FakeNode node_;
  KubeletStandIn kubelet_{node_.kubeletDir(), {.podResourcesSocket = socket()}};
  std::unique_ptr<FakePlugin> udma_;
  std::unique_ptr<FakePlugin> vfio_;
};

TEST_F(PodResourcesStandInTest, ListsWhatEachContainerGotPerResourceAsTheKubeletDoes) {
  ASSERT_TRUE(allocate("intel.com/vfio", {"9"}, {"default", "vm-a", "compute"}).ok());
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-1"}, {"default", "vm-a", "compute"}).ok());
  // An ID asked twice is held once.
  ASSERT_TRUE(
      allocate("intel.com/udma", {"udma-0", "udma-0"}, {"default", "vm-b", "compute"}).ok());
  // One entry per device and NUMA node it was advertised on; none for a device without.
  EXPECT_THAT(entries(list()), ElementsAre("default/vm-a/compute intel.com/udma udma-1",
                                           "default/vm-a/compute intel.com/vfio 9 numa=0",
                                           "default/vm-a/compute intel.com/vfio 9 numa=1",
                                           "default/vm-b/compute intel.com/udma udma-0"));
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(list(), kubelet_.listPodResources()));
}

// grpc-go with context.Background() sends no grpc-timeout, and a deadline would have the
// plugin arm a gRPC timer the kubelet never makes it arm (README, "Idle and memory").
TEST_F(PodResourcesStandInTest, GetDevicePluginOptionsAndAllocateCarryNoDeadline) {
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-0"}, {"default", "vm-a", "compute"}).ok());
  EXPECT_EQ(udma_->allocates(), 1);
  EXPECT_EQ(udma_->callsWithADeadline(), 0);
  EXPECT_EQ(vfio_->callsWithADeadline(), 0);
}

TEST_F(PodResourcesStandInTest, AFailedAllocateRecordsNothing) {
  EXPECT_EQ(allocate("intel.com/udma", {"broken"}, {"default", "vm-c", "compute"}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(allocate("example.com/none", {"x"}, {"default", "vm-c", "compute"}).error_code(),
            grpc::StatusCode::UNKNOWN);  // never registered
  EXPECT_THAT(entries(list()), IsEmpty());
}

TEST_F(PodResourcesStandInTest, OnlyOneContainerOfANamedPodPerAllocate) {
  v1beta1::AllocateRequest two;
  two.add_container_requests()->add_devices_ids("udma-0");
  two.add_container_requests()->add_devices_ids("udma-1");
  v1beta1::AllocateResponse response;
  EXPECT_EQ(
      kubelet_.allocate("intel.com/udma", two, &response, {"default", "vm", "c"}).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(allocate("intel.com/udma", {"udma-0"}, {"default", "vm", ""}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(udma_->allocates(), 0);  // refused before the plugin is asked
  EXPECT_THAT(entries(list()), IsEmpty());
}

TEST_F(PodResourcesStandInTest, AllocatingAContainerAgainReplacesItsIdsOfThatResourceOnly) {
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-0"}, {"default", "vm", "c"}).ok());
  ASSERT_TRUE(allocate("intel.com/vfio", {"7"}, {"default", "vm", "c"}).ok());
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-1"}, {"default", "vm", "c"}).ok());
  EXPECT_THAT(entries(list()), ElementsAre("default/vm/c intel.com/udma udma-1",
                                           "default/vm/c intel.com/vfio 7 numa=0"));
}

TEST_F(PodResourcesStandInTest, GetAnswersForOnePodAndSaysWhenItIsUnknown) {
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-0"}, {"default", "vm-a", "compute"}).ok());
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-1"}, {"other", "vm-a", "compute"}).ok());
  ::v1::GetPodResourcesRequest request;
  request.set_pod_namespace("other");
  request.set_pod_name("vm-a");
  ::v1::GetPodResourcesResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(client()->Get(&context, request, &response).ok());
  EXPECT_EQ(response.pod_resources().namespace_(), "other");
  ASSERT_EQ(response.pod_resources().containers_size(), 1);
  EXPECT_EQ(response.pod_resources().containers(0).devices(0).device_ids(0), "udma-1");

  request.set_pod_name("vm-z");
  grpc::ClientContext missing;
  grpc::Status status = client()->Get(&missing, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "pod vm-z in namespace other not found");
}

TEST_F(PodResourcesStandInTest, AllocatableIsTheHealthyDevicesOfLiveResources) {
  auto allocatable = [&] {
    grpc::ClientContext context;
    ::v1::AllocatableResourcesResponse response;
    EXPECT_TRUE(client()->GetAllocatableResources(&context, {}, &response).ok());
    std::vector<std::string> out;
    for (const auto& devices : response.devices()) {
      out.push_back(devices.resource_name() + " " + devices.device_ids(0));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  // udma-2 is Unhealthy; 9 is on two NUMA nodes.
  EXPECT_THAT(allocatable(),
              ElementsAre("intel.com/udma udma-0", "intel.com/udma udma-1", "intel.com/vfio 7",
                          "intel.com/vfio 9", "intel.com/vfio 9"));
  // A plugin gone: the kubelet marks its devices unhealthy.
  vfio_->stop();
  ASSERT_TRUE(kubelet_.waitFor([](const Node& node) { return node.at("intel.com/vfio").stopped; },
                               kTimeout));
  EXPECT_THAT(allocatable(), ElementsAre("intel.com/udma udma-0", "intel.com/udma udma-1"));
}

TEST_F(PodResourcesStandInTest, AllocationsOutliveAKubeletRestartAndGoWithTheirPod) {
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-0"}, {"default", "vm-a", "compute"}).ok());
  ASSERT_TRUE(allocate("intel.com/udma", {"udma-1"}, {"default", "vm-b", "compute"}).ok());
  // The checkpoint keeps them; the socket is served anew.
  ASSERT_OK(kubelet_.restart());
  EXPECT_THAT(entries(list()), ElementsAre("default/vm-a/compute intel.com/udma udma-0",
                                           "default/vm-b/compute intel.com/udma udma-1"));
  kubelet_.removePod("default", "vm-a");
  EXPECT_THAT(entries(list()), ElementsAre("default/vm-b/compute intel.com/udma udma-1"));
}

TEST_F(PodResourcesStandInTest, ConcurrentAllocatesAreAllRecorded) {
  constexpr int kPods = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failed = 0;
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] {
      PodRef pod{"default", "vm-" + std::to_string(i), "compute"};
      if (!allocate("intel.com/udma", {"udma-" + std::to_string(i % 2)}, pod).ok()) ++failed;
    });
  }
  // List meanwhile, from another thread.
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) list();
  });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(list().pod_resources_size(), kPods);
}

TEST(PodResourcesStandIn, WithoutASocketNothingIsServed) {
  FakeNode node;
  KubeletStandIn kubelet(node.kubeletDir());
  ASSERT_OK(kubelet.start());
  EXPECT_FALSE(std::filesystem::exists(node.dir() + "/pod-resources"));
}

}  // namespace
}  // namespace mvf::kubelet
