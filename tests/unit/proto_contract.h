#pragma once

// What the wire contract tests of the kubelet's APIs share (wire_contract_test.cpp for the
// device plugin API, pod_resources_contract_test.cpp for pod-resources): a proto file's
// messages with their fields by number, type and label, and a service's methods, checked
// to be exactly the ones the kubelet has.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace mvf::testing {

struct ContractField {
  int number;
  google::protobuf::FieldDescriptor::Type type;
  bool repeated;
  std::string messageType = "";  // full name, for message fields
};

// message → field name → field.
using ContractMessages = std::map<std::string, std::map<std::string, ContractField>>;

// The field types the kubelet's APIs use, short, for the tables of ContractMessages.
namespace field_types {
constexpr auto kString = google::protobuf::FieldDescriptor::TYPE_STRING;
constexpr auto kBool = google::protobuf::FieldDescriptor::TYPE_BOOL;
constexpr auto kInt32 = google::protobuf::FieldDescriptor::TYPE_INT32;
constexpr auto kInt64 = google::protobuf::FieldDescriptor::TYPE_INT64;
constexpr auto kUint64 = google::protobuf::FieldDescriptor::TYPE_UINT64;
constexpr auto kMessage = google::protobuf::FieldDescriptor::TYPE_MESSAGE;
}  // namespace field_types

inline void expectExactlyTheseMessages(const google::protobuf::FileDescriptor* file,
                                       const ContractMessages& messages) {
  std::set<std::string> declared;
  for (int i = 0; i < file->message_type_count(); ++i) {
    declared.insert(file->message_type(i)->name());
  }
  std::set<std::string> expected;
  for (const auto& [name, fields] : messages) expected.insert(name);
  EXPECT_EQ(declared, expected);

  for (const auto& [name, fields] : messages) {
    const google::protobuf::Descriptor* message = file->FindMessageTypeByName(name);
    ASSERT_NE(message, nullptr) << name;
    EXPECT_EQ(message->field_count(), static_cast<int>(fields.size())) << name;
    for (const auto& [fieldName, want] : fields) {
      const google::protobuf::FieldDescriptor* field = message->FindFieldByName(fieldName);
      ASSERT_NE(field, nullptr) << name << "." << fieldName;
      EXPECT_EQ(field->number(), want.number) << name << "." << fieldName;
      EXPECT_EQ(field->type(), want.type) << name << "." << fieldName;
      EXPECT_EQ(field->is_repeated(), want.repeated) << name << "." << fieldName;
      if (want.type == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        EXPECT_EQ(field->message_type()->full_name(), want.messageType) << name << "." << fieldName;
      }
    }
  }
}

struct ContractMethod {
  std::string input;
  std::string output;
  bool serverStreaming = false;
};

// The service has exactly these methods, none client-streaming; its package is part of
// every RPC path (/v1beta1.DevicePlugin/Allocate).
inline void expectExactlyTheseMethods(const google::protobuf::ServiceDescriptor* service,
                                      const std::map<std::string, ContractMethod>& methods) {
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->method_count(), static_cast<int>(methods.size())) << service->name();
  for (const auto& [methodName, want] : methods) {
    const auto* method = service->FindMethodByName(methodName);
    ASSERT_NE(method, nullptr) << methodName;
    EXPECT_EQ(method->full_name(), service->full_name() + "." + methodName);
    EXPECT_EQ(method->input_type()->name(), want.input) << methodName;
    EXPECT_EQ(method->output_type()->name(), want.output) << methodName;
    EXPECT_EQ(method->server_streaming(), want.serverStreaming) << methodName;
    EXPECT_FALSE(method->client_streaming()) << methodName;
  }
}

}  // namespace mvf::testing
