#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace mvf::base {

// Every JSON document the product prints (worker events, `mvfctl status --json`,
// `mvfctl allocate`): protobuf's JSON mapping (lowerCamelCase names, enums by name), with
// every scalar field printed, zeros and false included, so a script reading `.healthy`
// or `.restarts` never gets null. A message field that was never set (the last exit of a
// worker that never exited) is left out. One line unless `pretty`.
std::string toJson(const google::protobuf::Message& message, bool pretty = false);

}  // namespace mvf::base
