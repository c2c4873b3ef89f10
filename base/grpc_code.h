#pragma once

#include <iterator>
#include <string_view>

namespace mvf::base {

// The name grpc/status.h (grpc::StatusCode) and the gRPC spec (doc/statuscodes.md) give a
// status code: 0 → "OK", 9 → "FAILED_PRECONDITION"; "UNKNOWN" for a number outside 0-16.
// Used in messages and as a Prometheus label value, so the set of names is bounded.
constexpr std::string_view grpcCodeName(int code) {
  constexpr std::string_view kNames[] = {"OK",
                                         "CANCELLED",
                                         "UNKNOWN",
                                         "INVALID_ARGUMENT",
                                         "DEADLINE_EXCEEDED",
                                         "NOT_FOUND",
                                         "ALREADY_EXISTS",
                                         "PERMISSION_DENIED",
                                         "RESOURCE_EXHAUSTED",
                                         "FAILED_PRECONDITION",
                                         "ABORTED",
                                         "OUT_OF_RANGE",
                                         "UNIMPLEMENTED",
                                         "INTERNAL",
                                         "UNAVAILABLE",
                                         "DATA_LOSS",
                                         "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "UNKNOWN";
}

}  // namespace mvf::base
