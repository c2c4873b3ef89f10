#include "proto/reflection.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <stdexcept>

namespace mvf::proto {

// proto/embed_descriptor_set.cmake writes these: a FileDescriptorSet of both files.
extern const unsigned char kDescriptorSet[];
extern const std::size_t kDescriptorSetSize;

namespace {

using google::protobuf::Message;
using google::protobuf::MessageLite;

struct Types {
  google::protobuf::DescriptorPool pool;
  google::protobuf::DynamicMessageFactory factory{&pool};

  Types() {
    google::protobuf::FileDescriptorSet files;
    // Written by the build from our own .proto files: a failure is a build defect.
    if (!files.ParseFromArray(kDescriptorSet, static_cast<int>(kDescriptorSetSize))) {
      throw std::logic_error("the embedded FileDescriptorSet does not parse");
    }
    for (const auto& file : files.file()) {
      if (pool.BuildFile(file) == nullptr) {
        throw std::logic_error("the embedded descriptor of " + file.name() + " does not build");
      }
    }
  }
};

// Never destroyed: a DynamicMessage must not outlive its factory, even one in a static.
Types& types() {
  static Types& instance = *new Types;
  return instance;
}

}  // namespace

const google::protobuf::Descriptor* descriptorOf(std::string_view fullName) {
  return types().pool.FindMessageTypeByName(std::string(fullName));
}

std::unique_ptr<Message> reflect(const MessageLite& message) {
  std::unique_ptr<Message> copy;
  if (const auto* full = dynamic_cast<const Message*>(&message)) {
    copy.reset(full->New());
    copy->CopyFrom(*full);
    return copy;
  }
  const auto* type = descriptorOf(message.GetTypeName());
  if (type == nullptr) {
    throw std::invalid_argument("no descriptor for message type " + message.GetTypeName());
  }
  copy.reset(types().factory.GetPrototype(type)->New());
  // Both sides are the same .proto, so every field, unknown enum values and proto3
  // presence included, survives the wire format. Only a string field that is not UTF-8,
  // which the lite code keeps and reflection refuses, does not.
  if (!copy->ParseFromString(message.SerializeAsString())) {
    throw std::invalid_argument("a " + message.GetTypeName() +
                                " whose string fields are not all UTF-8 cannot be reflected");
  }
  return copy;
}

google::protobuf::util::Status messageToJson(
    const MessageLite& message, std::string* json,
    const google::protobuf::util::JsonPrintOptions& options) {
  json->clear();
  return google::protobuf::util::MessageToJsonString(*reflect(message), json, options);
}

google::protobuf::util::Status jsonToMessage(
    const std::string& json, MessageLite* message,
    const google::protobuf::util::JsonParseOptions& options) {
  std::unique_ptr<Message> parsed = reflect(*message);
  parsed->Clear();
  auto status = google::protobuf::util::JsonStringToMessage(json, parsed.get(), options);
  if (!status.ok()) return status;
  if (!message->ParseFromString(parsed->SerializeAsString())) {
    return google::protobuf::util::InternalError("the parsed " + message->GetTypeName() +
                                                 " does not read back from its wire format");
  }
  return status;
}

std::string toJson(const MessageLite& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string json;
  // Fails only for messages holding an Any of an unknown type; ours hold none.
  (void)messageToJson(message, &json, options);
  return json;
}

std::string debugString(const MessageLite& message) { return reflect(message)->DebugString(); }

bool equals(const MessageLite& a, const MessageLite& b) {
  return google::protobuf::util::MessageDifferencer::Equals(*reflect(a), *reflect(b));
}

}  // namespace mvf::proto
