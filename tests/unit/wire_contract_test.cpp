// Pins the kubelet device plugin API v1beta1 as the kubelet speaks it
// (pkg/apis/deviceplugin/v1beta1/api.proto): package, services, methods, and every message's fields
// by number, type and label. A change to proto/deviceplugin.proto that a real kubelet would not
// understand fails here.
#include <stdexcept>

#include "proto/deviceplugin.pb.h"
#include "proto/reflection.h"
#include "tests/unit/proto_contract.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using mvf::testing::ContractMessages;
using namespace mvf::testing::field_types;

// message → field name → field. Map fields are listed as what they are on the wire: a
// repeated entry message with key = 1 and value = 2.
const ContractMessages kMessages = {
    {"DevicePluginOptions",
     {{"pre_start_required", {1, kBool, false}},
      {"get_preferred_allocation_available", {2, kBool, false}}}},
    {"RegisterRequest",
     {{"version", {1, kString, false}},
      {"endpoint", {2, kString, false}},
      {"resource_name", {3, kString, false}},
      {"options", {4, kMessage, false, "v1beta1.DevicePluginOptions"}}}},
    {"Empty", {}},
    {"ListAndWatchResponse", {{"devices", {1, kMessage, true, "v1beta1.Device"}}}},
    {"TopologyInfo", {{"nodes", {1, kMessage, true, "v1beta1.NUMANode"}}}},
    {"NUMANode", {{"ID", {1, kInt64, false}}}},
    {"Device",
     {{"ID", {1, kString, false}},
      {"health", {2, kString, false}},
      {"topology", {3, kMessage, false, "v1beta1.TopologyInfo"}}}},
    {"PreStartContainerRequest", {{"devices_ids", {1, kString, true}}}},
    {"PreStartContainerResponse", {}},
    {"PreferredAllocationRequest",
     {{"container_requests", {1, kMessage, true, "v1beta1.ContainerPreferredAllocationRequest"}}}},
    {"ContainerPreferredAllocationRequest",
     {{"available_deviceIDs", {1, kString, true}},
      {"must_include_deviceIDs", {2, kString, true}},
      {"allocation_size", {3, kInt32, false}}}},
    {"PreferredAllocationResponse",
     {{"container_responses",
       {1, kMessage, true, "v1beta1.ContainerPreferredAllocationResponse"}}}},
    {"ContainerPreferredAllocationResponse", {{"deviceIDs", {1, kString, true}}}},
    {"AllocateRequest",
     {{"container_requests", {1, kMessage, true, "v1beta1.ContainerAllocateRequest"}}}},
    {"ContainerAllocateRequest", {{"devices_ids", {1, kString, true}}}},
    {"CDIDevice", {{"name", {1, kString, false}}}},
    {"AllocateResponse",
     {{"container_responses", {1, kMessage, true, "v1beta1.ContainerAllocateResponse"}}}},
    {"ContainerAllocateResponse",
     {{"envs", {1, kMessage, true, "v1beta1.ContainerAllocateResponse.EnvsEntry"}},
      {"mounts", {2, kMessage, true, "v1beta1.Mount"}},
      {"devices", {3, kMessage, true, "v1beta1.DeviceSpec"}},
      {"annotations", {4, kMessage, true, "v1beta1.ContainerAllocateResponse.AnnotationsEntry"}},
      {"cdi_devices", {5, kMessage, true, "v1beta1.CDIDevice"}}}},
    {"Mount",
     {{"container_path", {1, kString, false}},
      {"host_path", {2, kString, false}},
      {"read_only", {3, kBool, false}}}},
    {"DeviceSpec",
     {{"container_path", {1, kString, false}},
      {"host_path", {2, kString, false}},
      {"permissions", {3, kString, false}}}},
};

// The generated code is for protobuf's lite runtime: its descriptors are the ones built
// from the same .proto into proto/reflection.h, found by the generated type's name.
const Descriptor* descriptorOf(const google::protobuf::MessageLite& message) {
  const Descriptor* descriptor = mvf::proto::descriptorOf(message.GetTypeName());
  if (descriptor == nullptr) throw std::logic_error("no descriptor for " + message.GetTypeName());
  return descriptor;
}

const FileDescriptor* file() { return descriptorOf(v1beta1::Device())->file(); }

TEST(WireContract, PackageIsV1beta1SoRpcPathsMatchTheKubelets) {
  EXPECT_EQ(file()->package(), "v1beta1");
  EXPECT_EQ(file()->syntax(), FileDescriptor::SYNTAX_PROTO3);
}

TEST(WireContract, EveryMessageHasExactlyTheKubeletsFields) {
  mvf::testing::expectExactlyTheseMessages(file(), kMessages);
}

TEST(WireContract, MapFieldsAreStringToStringEntries) {
  const Descriptor* response = descriptorOf(v1beta1::ContainerAllocateResponse());
  for (const char* name : {"envs", "annotations"}) {
    const FieldDescriptor* field = response->FindFieldByName(name);
    ASSERT_NE(field, nullptr);
    ASSERT_TRUE(field->is_map()) << name;
    const Descriptor* entry = field->message_type();
    EXPECT_EQ(entry->FindFieldByNumber(1)->type(), kString) << name;
    EXPECT_EQ(entry->FindFieldByNumber(2)->type(), kString) << name;
  }
}

TEST(WireContract, ServicesAndMethods) {
  const std::map<std::string, std::map<std::string, mvf::testing::ContractMethod>> services = {
      {"Registration", {{"Register", {"RegisterRequest", "Empty"}}}},
      {"DevicePlugin",
       {{"GetDevicePluginOptions", {"Empty", "DevicePluginOptions"}},
        {"ListAndWatch", {"Empty", "ListAndWatchResponse", true}},
        {"GetPreferredAllocation", {"PreferredAllocationRequest", "PreferredAllocationResponse"}},
        {"Allocate", {"AllocateRequest", "AllocateResponse"}},
        {"PreStartContainer", {"PreStartContainerRequest", "PreStartContainerResponse"}}}},
  };
  ASSERT_EQ(file()->service_count(), 2);
  for (const auto& [serviceName, methods] : services) {
    mvf::testing::expectExactlyTheseMethods(file()->FindServiceByName(serviceName), methods);
  }
}

// The same contract seen as bytes: tags are (field number << 3) | wire type.
TEST(WireContract, EncodesAsTheKubeletExpects) {
  v1beta1::Device device;
  device.set_id("a");
  device.set_health("Healthy");
  device.mutable_topology()->add_nodes()->set_id(1);
  const std::string expected(
      "\x0a\x01"
      "a"
      "\x12\x07"
      "Healthy"
      "\x1a\x04"
      "\x0a\x02\x08\x01",
      18);
  EXPECT_EQ(device.SerializeAsString(), expected);

  v1beta1::Mount mount;
  mount.set_container_path("/c");
  mount.set_host_path("/h");
  mount.set_read_only(true);
  EXPECT_EQ(mount.SerializeAsString(), std::string("\x0a\x02/c\x12\x02/h\x18\x01", 10));
}

}  // namespace
