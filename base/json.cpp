#include "base/json.h"

#include <google/protobuf/util/json_util.h>

namespace mvf::base {

std::string toJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string json;
  // Fails only for messages holding an Any of an unknown type; ours hold none.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace mvf::base
