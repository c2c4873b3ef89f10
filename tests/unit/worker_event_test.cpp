// The supervisor's reading of a notify line against protobuf's own JSON parser, which it
// replaces: for each line, both accept it and read the same event, or both refuse it.
#include "base/worker_event.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "proto/reflection.h"

namespace mvf::base {
namespace {

// Protobuf's parser, as the supervisor used it before: unknown fields ignored.
std::optional<WorkerEvent> protobufParse(const std::string& line) {
  WorkerEvent event;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!proto::jsonToMessage(line, &event, options).ok()) return std::nullopt;
  return event;
}

void expectSameAsProtobuf(const std::string& line, bool valid) {
  SCOPED_TRACE(line);
  auto ours = parseEventLine(line);
  auto theirs = protobufParse(line);
  EXPECT_EQ(theirs.has_value(), valid) << "protobuf's parser";
  ASSERT_EQ(ours.has_value(), valid) << "ours";
  if (valid) {
    EXPECT_TRUE(proto::equals(*ours, *theirs))
        << "ours: " << proto::debugString(*ours) << "\nprotobuf's: " << proto::debugString(*theirs);
  }
}

TEST(WorkerEventTest, ReadsWhatTheJsonMappingAllowsAsProtobufDoes) {
  for (const char* line : {
           R"({"event":"devices","worker":"udma","total":"12","healthy":3,"mode":"shared"})",
           R"({"event":4,"worker":"udma","usableUnitsTotal":0})",
           R"({"event":"ready","settings_digest":"ab","usable_units":["a","b"]})",
           R"({"event":"heartbeat","worker":null,"total":null,"counts":null})",
           R"({"event":"heartbeat","fromANewerWorker":{"x":[1,2,null]}})",
           R"({"event":"a_kind_from_a_newer_worker","worker":"usb"})",
           R"({"event":99,"worker":"usb"})",
           R"({"total":1e3,"healthy":5.0})",
           R"({"event":"metrics","counts":{"registrations":"18446744073709551615",
               "kubelet_restarts":2,"allocateCalls":{"OK":"5","NOT_FOUND":1},
               "scanSeconds":{"upperBounds":[0.1,"0.5","Infinity","-Infinity"],
                              "cumulativeCounts":["1",2,3],"count":"3","sum":"Infinity"},
               "allocateSeconds":{},"cdiSpecWrites":"0","cdiSpecWriteErrors":1}})",
           R"({"detail":"\u00e9\ud83d\ude00","worker":""})",
           "{}",
       }) {
    expectSameAsProtobuf(line, true);
  }
}

TEST(WorkerEventTest, RefusesWhatTheJsonMappingDoesNot) {
  for (const char* line : {
           "not json",
           "",
           "[]",
           R"("devices")",
           "null",
           R"({"event":"heartbeat"} trailing)",
           R"({"total":-1})",
           R"({"total":4294967296})",
           R"({"total":"4294967296"})",
           R"({"total":"x"})",
           R"({"total":" 1"})",
           R"({"total":""})",
           R"({"total":1.5})",
           R"({"total":true})",
           R"({"worker":5})",
           R"({"worker":["udma"]})",
           R"({"usableUnits":[1]})",
           R"({"counts":3})",
           R"({"counts":{"registrations":"18446744073709551616"}})",
           R"({"counts":{"registrations":-1}})",
           R"({"counts":{"allocateCalls":{"OK":-1}}})",
           R"({"counts":{"allocateCalls":["OK"]}})",
           R"({"counts":{"scanSeconds":{"sum":"inf"}}})",
           R"({"counts":{"scanSeconds":{"sum":"x"}}})",
           R"({"counts":{"scanSeconds":{"upperBounds":[true]}}})",
           R"({"event":true})",
           R"({"event":2147483648})",
           R"({"event":1.5})",
       }) {
    expectSameAsProtobuf(line, false);
  }
}

// Protobuf 3.21's parser takes these, though the JSON mapping does not allow them (a sign,
// a single value for a repeated field, null inside an array); no worker writes them.
TEST(WorkerEventTest, RefusesWhatOnlyProtobufsLaxParserTakes) {
  for (const char* line :
       {R"({"total":"+1"})", R"({"usableUnits":"a"})", R"({"usableUnits":[null]})"}) {
    EXPECT_TRUE(protobufParse(line).has_value()) << line;
    EXPECT_FALSE(parseEventLine(line).has_value()) << line;
  }
}

// What protobuf's printer writes, in each of its forms, reads back as the same event.
TEST(WorkerEventTest, ReadsEveryFormProtobufsPrinterWrites) {
  WorkerEvent event;
  event.set_event(WorkerEvent::metrics);
  event.set_worker("igpu");
  event.set_total(7);
  event.set_healthy(0);
  event.set_detail("d");
  event.set_settings_digest("0f");
  event.set_mode("exclusive");
  event.add_usable_units("igpu-0");
  event.set_usable_units_total(1);
  auto* counts = event.mutable_counts();
  counts->set_registrations(UINT64_MAX);
  (*counts->mutable_allocate_calls())["OK"] = 3;
  counts->mutable_scan_seconds()->add_upper_bounds(0.25);
  counts->mutable_scan_seconds()->add_cumulative_counts(1);
  counts->mutable_scan_seconds()->set_sum(-0.5);
  for (bool primitives : {false, true}) {
    for (bool protoNames : {false, true}) {
      for (bool enumsAsInts : {false, true}) {
        google::protobuf::util::JsonPrintOptions options;
        options.always_print_primitive_fields = primitives;
        options.preserve_proto_field_names = protoNames;
        options.always_print_enums_as_ints = enumsAsInts;
        std::string line;
        ASSERT_TRUE(proto::messageToJson(event, &line, options).ok());
        auto parsed = parseEventLine(line);
        ASSERT_TRUE(parsed.has_value()) << line;
        EXPECT_TRUE(proto::equals(*parsed, event)) << line;
      }
    }
  }
}

// JSON has no NaN or infinities: eventLine writes the mapping's strings for them, which
// both parsers read back.
TEST(WorkerEventTest, NonFiniteDoublesAreWrittenAsTheMappingsStrings) {
  WorkerEvent event;
  event.set_event(WorkerEvent::metrics);
  auto* seconds = event.mutable_counts()->mutable_scan_seconds();
  seconds->add_upper_bounds(std::numeric_limits<double>::infinity());
  seconds->set_sum(std::numeric_limits<double>::quiet_NaN());
  std::string line = eventLine(event);
  EXPECT_NE(line.find(R"("upperBounds":["Infinity"])"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("sum":"NaN")"), std::string::npos) << line;
  for (const auto& parsed : {parseEventLine(line), protobufParse(line)}) {
    ASSERT_TRUE(parsed.has_value()) << line;
    EXPECT_TRUE(std::isinf(parsed->counts().scan_seconds().upper_bounds(0)));
    EXPECT_TRUE(std::isnan(parsed->counts().scan_seconds().sum()));
  }
}

// A protobuf map has no order; the line has one, so equal events are equal lines (the
// fuzz target compares them).
TEST(WorkerEventTest, MapEntriesAreWrittenByKey) {
  WorkerEvent event;
  event.set_event(WorkerEvent::metrics);
  auto& calls = *event.mutable_counts()->mutable_allocate_calls();
  for (const char* code : {"UNAVAILABLE", "OK", "NOT_FOUND", "CANCELLED", "INTERNAL"}) {
    calls[code] = 1;
  }
  EXPECT_NE(
      eventLine(event).find(
          R"("allocateCalls":{"CANCELLED":"1","INTERNAL":"1","NOT_FOUND":"1","OK":"1","UNAVAILABLE":"1"})"),
      std::string::npos)
      << eventLine(event);
}

// A kind from a newer worker is kept by number (proto3 enums are open), so it is written
// as that number, as protobuf's printer writes it, and reads back as the same event.
TEST(WorkerEventTest, AnUnknownKindIsWrittenAsItsNumber) {
  WorkerEvent event;
  event.set_event(static_cast<WorkerEvent::Kind>(55678));
  event.set_worker("vfio");
  std::string line = eventLine(event);
  EXPECT_EQ(line, "{\"event\":55678,\"worker\":\"vfio\",\"usableUnits\":[]}\n");
  std::string printed;
  ASSERT_TRUE(proto::messageToJson(event, &printed).ok());
  EXPECT_NE(printed.find(R"("event":55678)"), std::string::npos) << printed;
  auto parsed = parseEventLine(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(parsed.has_value()) << line;
  EXPECT_TRUE(proto::equals(*parsed, event)) << proto::debugString(*parsed);
}

TEST(WorkerEventTest, KindNamesAreTheProtosOwn) {
  for (int kind = WorkerEvent::Kind_MIN; kind <= WorkerEvent::Kind_MAX; ++kind) {
    EXPECT_EQ(kindName(static_cast<WorkerEvent::Kind>(kind)),
              WorkerEvent::Kind_Name(static_cast<WorkerEvent::Kind>(kind)));
  }
  EXPECT_STREQ(kindName(static_cast<WorkerEvent::Kind>(42)), "unknown");
}

// --check-config=json's answer: the worker writes it and the supervisor reads it without
// protobuf's reflection; protobuf's printer and parser, which they replace, agree.
ConfigCheck sampleCheck() {
  ConfigCheck check;
  check.set_valid(true);
  check.set_error("--vfio-mode: \"x\" is not one of exclusive, shared");
  auto* mode = check.add_settings();
  mode->set_name("vfio-mode");
  mode->add_values("exclusive");
  mode->set_source("MVF_VFIO_MODE");
  auto* selectors = check.add_settings();
  selectors->set_name("vfio-devices");
  selectors->add_values("8086:*");
  selectors->add_values("10de:1eb8");
  selectors->set_source("default");
  check.add_settings()->set_name("usb-devices");  // no values, no source
  check.set_digest("3f2a");
  return check;
}

TEST(ConfigCheckTest, IsWrittenAsProtobufPrintsItWithEveryField) {
  for (const ConfigCheck& check : {sampleCheck(), ConfigCheck()}) {
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    std::string printed;
    ASSERT_TRUE(proto::messageToJson(check, &printed, options).ok());
    EXPECT_EQ(configCheckJson(check), printed);
    ConfigCheck parsed;
    ASSERT_TRUE(proto::jsonToMessage(configCheckJson(check), &parsed).ok());
    EXPECT_TRUE(proto::equals(parsed, check)) << proto::debugString(parsed);
  }
  // Escapes differ (protobuf writes < as \u003c), the values do not; bytes that are not
  // UTF-8 become U+FFFD, as JSON requires.
  ConfigCheck odd;
  odd.set_error("invalid value \"\xc3\xa9<>&\x01\" for mode");
  odd.add_settings()->add_values("\xff");
  auto parsed = parseConfigCheck(configCheckJson(odd));
  ASSERT_TRUE(parsed.has_value()) << configCheckJson(odd);
  EXPECT_EQ(parsed->error(), odd.error());
  EXPECT_EQ(parsed->settings(0).values(0), "\xEF\xBF\xBD");
}

TEST(ConfigCheckTest, ReadsEveryFormProtobufsPrinterWrites) {
  ConfigCheck check = sampleCheck();
  for (bool primitives : {false, true}) {
    for (bool protoNames : {false, true}) {
      google::protobuf::util::JsonPrintOptions options;
      options.always_print_primitive_fields = primitives;
      options.preserve_proto_field_names = protoNames;
      options.add_whitespace = protoNames;
      std::string json;
      ASSERT_TRUE(proto::messageToJson(check, &json, options).ok());
      auto parsed = parseConfigCheck(json);
      ASSERT_TRUE(parsed.has_value()) << json;
      EXPECT_TRUE(proto::equals(*parsed, check)) << json;
    }
  }
  auto empty = parseConfigCheck(R"({"valid":null,"future":{"x":[1]},"settings":[]})");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(proto::equals(*empty, ConfigCheck()));
}

TEST(ConfigCheckTest, RefusesWhatIsNoConfigCheck) {
  for (const char* json :
       {"", "not json", "[]", "true", R"({"valid":1})", R"({"error":7})", R"({"settings":[1]})",
        R"({"settings":[{"values":[2]}]})", R"({"digest":["a"]})", R"({"valid":true} trailing)"}) {
    SCOPED_TRACE(json);
    EXPECT_FALSE(parseConfigCheck(json).has_value());
    ConfigCheck parsed;
    EXPECT_FALSE(proto::jsonToMessage(json, &parsed).ok()) << "protobuf's parser";
  }
  // The mapping does not allow these either, and no worker writes them; protobuf 3.21's
  // parser takes them (a string for a bool, an object or one value for a repeated field).
  for (const char* json :
       {R"({"valid":"yes"})", R"({"settings":{}})", R"({"settings":[{"values":"a"}]})"}) {
    EXPECT_FALSE(parseConfigCheck(json).has_value()) << json;
  }
}

}  // namespace
}  // namespace mvf::base
