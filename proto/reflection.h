#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/message_lite.h>
#include <google/protobuf/util/json_util.h>

#include <memory>
#include <string>
#include <string_view>

// Protobuf's reflection for the messages of proto/deviceplugin.proto and
// proto/supervisor.proto, which are generated for the lite runtime and have none of
// their own: from their descriptors, built into this library (proto/CMakeLists.txt),
// and protobuf's DynamicMessage. For mvfctl, the tests and the bench, which link
// protobuf's full runtime; the supervisor and the workers never link this. Every
// function also takes a message generated for the full runtime (the kubelet's
// pod-resources API) as it is.
namespace mvf::proto {

// The descriptor of the message type `fullName` ("v1beta1.Device") of those two files;
// nullptr for any other name.
const google::protobuf::Descriptor* descriptorOf(std::string_view fullName);

// A reflectable copy of `message`. Throws std::invalid_argument for a lite message of a
// type those files lack, or with a string field that is not UTF-8 (reflection refuses
// those); every function below throws the same.
std::unique_ptr<google::protobuf::Message> reflect(const google::protobuf::MessageLite& message);

// `message` in protobuf's JSON mapping, as util::MessageToJsonString prints it with
// `options`.
google::protobuf::util::Status messageToJson(
    const google::protobuf::MessageLite& message, std::string* json,
    const google::protobuf::util::JsonPrintOptions& options = {});

// Replaces `message` with what `json` holds, as util::JsonStringToMessage reads it with
// `options`; on an error status `message` is left as it was.
google::protobuf::util::Status jsonToMessage(
    const std::string& json, google::protobuf::MessageLite* message,
    const google::protobuf::util::JsonParseOptions& options = {});

// What mvfctl prints: `message` as JSON with every scalar field, zeros and false
// included, so a script reading `.healthy` or `.restarts` never gets null; a message field
// that was never set (the last exit of a worker that never exited) is left out. One line
// unless `pretty`.
std::string toJson(const google::protobuf::MessageLite& message, bool pretty = false);

// Protobuf's text format of `message`, for test failures.
std::string debugString(const google::protobuf::MessageLite& message);

// Whether `a` and `b` are equal field by field (util::MessageDifferencer::Equals).
bool equals(const google::protobuf::MessageLite& a, const google::protobuf::MessageLite& b);

}  // namespace mvf::proto
