#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proto/supervisor.pb.h"

// What a worker tells the supervisor, as JSON in protobuf's JSON mapping
// (https://protobuf.dev/programming-guides/proto3/#json), written and read here without
// protobuf's reflection: the notify line (one mvf.supervisor.v1.WorkerEvent) and
// `--check-config=json`'s answer (one ConfigCheck). The supervisor and the workers link
// protobuf's lite runtime, which has no reflection: the full one cost each process its
// descriptor pool (about 120 kB of heap) and the six of them about 1 MB of PSS, its code
// resident (README, "Idle and memory").
namespace mvf::base {

using WorkerEvent = mvf::supervisor::v1::WorkerEvent;
using ConfigCheck = mvf::supervisor::v1::ConfigCheck;

// The kind's name in proto/supervisor.proto ("devices"); "unknown" for a value it lacks.
const char* kindName(WorkerEvent::Kind kind);

// One event as its notify line, newline included: lowerCamelCase names, the kind by
// name (by number if the .proto lacks it), 64-bit integers as strings, optional fields
// only when set, repeated and map fields and the counters always (as protobuf prints with
// always_print_primitive_fields), map entries by key, so equal events are equal lines.
// Bytes that are not UTF-8 become U+FFFD, as JSON requires.
std::string eventLine(const WorkerEvent& event);

// The event one line (without its newline) holds, read as protobuf's parser reads the
// JSON mapping with unknown fields ignored: names in lowerCamelCase or as in the .proto;
// null for a field's default; integers as numbers or decimal strings; doubles as numbers,
// decimal strings, "NaN", "Infinity" or "-Infinity"; the kind by name or number, an
// unknown name leaving it unspecified (a newer worker's kind, which the supervisor
// ignores). nullopt for anything else: not one JSON object, a value of the wrong type,
// or an integer out of its field's range. Protobuf 3.21's parser also takes a few things
// the mapping does not allow ("+1", a single value for a repeated field, null in an
// array), which no worker writes; this refuses them.
std::optional<WorkerEvent> parseEventLine(std::string_view line);

// A ConfigCheck as one line of JSON, without a newline, as protobuf prints it with
// always_print_primitive_fields: every field, defaults included, in field order; the same
// JSON, though protobuf escapes more characters (< and > as \u003c and \u003e, DEL and
// the C1 controls).
std::string configCheckJson(const ConfigCheck& check);

// The ConfigCheck `json` holds, read as parseEventLine reads (unknown fields ignored, null
// for a default); nullopt if it is not one JSON object of that shape.
std::optional<ConfigCheck> parseConfigCheck(std::string_view json);

}  // namespace mvf::base
