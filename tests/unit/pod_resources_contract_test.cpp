// Pins the kubelet's pod-resources API v1 as the kubelet serves it
// (k8s.io/kubelet/pkg/apis/podresources/v1/api.proto): package, service, methods, and every
// message's fields by number, type and label. A change to proto/podresources.proto that a
// real kubelet would not understand fails here.
#include "proto/podresources.pb.h"
#include "tests/unit/proto_contract.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using namespace mvf::testing::field_types;

// message → field name → field.
const mvf::testing::ContractMessages kMessages = {
    {"AllocatableResourcesRequest", {}},
    {"AllocatableResourcesResponse",
     {{"devices", {1, kMessage, true, "v1.ContainerDevices"}},
      {"cpu_ids", {2, kInt64, true}},
      {"memory", {3, kMessage, true, "v1.ContainerMemory"}}}},
    {"ListPodResourcesRequest", {}},
    {"ListPodResourcesResponse", {{"pod_resources", {1, kMessage, true, "v1.PodResources"}}}},
    {"PodResources",
     {{"name", {1, kString, false}},
      {"namespace", {2, kString, false}},
      {"containers", {3, kMessage, true, "v1.ContainerResources"}},
      {"cpu_ids", {4, kInt64, true}},
      {"memory", {5, kMessage, true, "v1.ContainerMemory"}}}},
    {"ContainerResources",
     {{"name", {1, kString, false}},
      {"devices", {2, kMessage, true, "v1.ContainerDevices"}},
      {"cpu_ids", {3, kInt64, true}},
      {"memory", {4, kMessage, true, "v1.ContainerMemory"}},
      {"dynamic_resources", {5, kMessage, true, "v1.DynamicResource"}}}},
    {"ContainerMemory",
     {{"memory_type", {1, kString, false}},
      {"size", {2, kUint64, false}},
      {"topology", {3, kMessage, false, "v1.TopologyInfo"}}}},
    {"ContainerDevices",
     {{"resource_name", {1, kString, false}},
      {"device_ids", {2, kString, true}},
      {"topology", {3, kMessage, false, "v1.TopologyInfo"}}}},
    {"TopologyInfo", {{"nodes", {1, kMessage, true, "v1.NUMANode"}}}},
    {"NUMANode", {{"ID", {1, kInt64, false}}}},
    {"DynamicResource",
     {{"claim_name", {2, kString, false}},
      {"claim_namespace", {3, kString, false}},
      {"claim_resources", {4, kMessage, true, "v1.ClaimResource"}}}},
    {"ClaimResource",
     {{"cdi_devices", {1, kMessage, true, "v1.CDIDevice"}},
      {"driver_name", {2, kString, false}},
      {"pool_name", {3, kString, false}},
      {"device_name", {4, kString, false}},
      {"share_id", {5, kString, false}}}},
    {"CDIDevice", {{"name", {1, kString, false}}}},
    {"GetPodResourcesRequest",
     {{"pod_name", {1, kString, false}}, {"pod_namespace", {2, kString, false}}}},
    {"GetPodResourcesResponse", {{"pod_resources", {1, kMessage, false, "v1.PodResources"}}}},
};

const FileDescriptor* file() { return v1::PodResources::descriptor()->file(); }

TEST(PodResourcesContract, PackageIsV1SoRpcPathsMatchTheKubelets) {
  EXPECT_EQ(file()->package(), "v1");
  EXPECT_EQ(file()->syntax(), FileDescriptor::SYNTAX_PROTO3);
  EXPECT_EQ(file()->dependency_count(), 0);
}

TEST(PodResourcesContract, EveryMessageHasExactlyTheKubeletsFields) {
  mvf::testing::expectExactlyTheseMessages(file(), kMessages);
  EXPECT_EQ(file()->enum_type_count(), 0);
  for (const auto& [name, fields] : kMessages) {
    const Descriptor* message = file()->FindMessageTypeByName(name);
    ASSERT_NE(message, nullptr) << name;
    EXPECT_EQ(message->nested_type_count(), 0) << name;  // no map fields
  }
}

TEST(PodResourcesContract, ShareIdIsProto3OptionalAndTheRestIsNot) {
  // `optional string share_id = 5`: presence is tracked (a synthetic oneof), as upstream.
  const FieldDescriptor* shareId = v1::ClaimResource::descriptor()->FindFieldByName("share_id");
  ASSERT_NE(shareId, nullptr);
  EXPECT_TRUE(shareId->has_optional_keyword());
  for (const auto& [name, fields] : kMessages) {
    const Descriptor* message = file()->FindMessageTypeByName(name);
    ASSERT_NE(message, nullptr) << name;
    for (int i = 0; i < message->field_count(); ++i) {
      if (message->field(i) == shareId) continue;
      EXPECT_FALSE(message->field(i)->has_optional_keyword()) << message->field(i)->full_name();
    }
  }
}

TEST(PodResourcesContract, TheServiceAndItsMethods) {
  ASSERT_EQ(file()->service_count(), 1);
  // RPC paths such as /v1.PodResourcesLister/List.
  mvf::testing::expectExactlyTheseMethods(
      file()->FindServiceByName("PodResourcesLister"),
      {{"List", {"ListPodResourcesRequest", "ListPodResourcesResponse"}},
       {"GetAllocatableResources", {"AllocatableResourcesRequest", "AllocatableResourcesResponse"}},
       {"Get", {"GetPodResourcesRequest", "GetPodResourcesResponse"}}});
}

// The same contract seen as bytes: tags are (field number << 3) | wire type.
TEST(PodResourcesContract, EncodesAsTheKubeletDoes) {
  v1::PodResources pod;
  pod.set_name("p");
  pod.set_namespace_("n");
  auto* container = pod.add_containers();
  container->set_name("c");
  auto* devices = container->add_devices();
  devices->set_resource_name("r");
  devices->add_device_ids("7");
  devices->mutable_topology()->add_nodes()->set_id(1);
  const std::string expected(
      "\x0a\x01"
      "p"
      "\x12\x01"
      "n"
      "\x1a\x11"                   // containers, 17 bytes
      "\x0a\x01"                   //   name
      "c"                          //
      "\x12\x0c"                   //   devices, 12 bytes
      "\x0a\x01r\x12\x01"          //     resource_name, device_ids
      "7"                          //
      "\x1a\x04\x0a\x02\x08\x01",  //     topology { nodes { ID: 1 } }
      25);
  EXPECT_EQ(pod.SerializeAsString(), expected);

  v1::GetPodResourcesRequest get;
  get.set_pod_name("a");
  get.set_pod_namespace("b");
  EXPECT_EQ(get.SerializeAsString(), std::string("\x0a\x01"
                                                 "a\x12\x01"
                                                 "b",
                                                 6));
}

}  // namespace
