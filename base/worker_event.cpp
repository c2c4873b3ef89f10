#include "base/worker_event.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace mvf::base {
namespace {

using Json = nlohmann::ordered_json;
using mvf::supervisor::v1::Histogram;
using mvf::supervisor::v1::WorkerMetrics;

constexpr std::pair<WorkerEvent::Kind, const char*> kKinds[] = {
    {WorkerEvent::unspecified, "unspecified"},   {WorkerEvent::ready, "ready"},
    {WorkerEvent::registered, "registered"},     {WorkerEvent::unregistered, "unregistered"},
    {WorkerEvent::devices, "devices"},           {WorkerEvent::heartbeat, "heartbeat"},
    {WorkerEvent::config_error, "config_error"}, {WorkerEvent::metrics, "metrics"},
};

// --- writing ---

// A double as the JSON mapping writes it: JSON has no NaN or infinities, so those are
// strings.
Json number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

// A repeated field as an array; the JSON mapping writes 64-bit integers as strings.
template <class Values>
Json array(const Values& values) {
  Json out = Json::array();
  for (const auto& value : values) {
    using Value = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<Value, uint64_t>) {
      out.push_back(std::to_string(value));
    } else if constexpr (std::is_same_v<Value, double>) {
      out.push_back(number(value));
    } else {
      out.push_back(value);
    }
  }
  return out;
}

Json histogramJson(const Histogram& histogram) {
  Json out;
  out["upperBounds"] = array(histogram.upper_bounds());
  out["cumulativeCounts"] = array(histogram.cumulative_counts());
  out["count"] = std::to_string(histogram.count());
  out["sum"] = number(histogram.sum());
  return out;
}

Json metricsJson(const WorkerMetrics& metrics) {
  Json out;
  out["registrations"] = std::to_string(metrics.registrations());
  out["kubeletRestarts"] = std::to_string(metrics.kubelet_restarts());
  out["listAndWatchMessages"] = std::to_string(metrics.list_and_watch_messages());
  // By code, so that equal events are equal lines (a protobuf map has no order).
  std::map<std::string, uint64_t> sorted(metrics.allocate_calls().begin(),
                                         metrics.allocate_calls().end());
  Json calls = Json::object();
  for (const auto& [code, count] : sorted) calls[code] = std::to_string(count);
  out["allocateCalls"] = std::move(calls);
  if (metrics.has_allocate_seconds())
    out["allocateSeconds"] = histogramJson(metrics.allocate_seconds());
  if (metrics.has_scan_seconds()) out["scanSeconds"] = histogramJson(metrics.scan_seconds());
  out["cdiSpecWrites"] = std::to_string(metrics.cdi_spec_writes());
  out["cdiSpecWriteErrors"] = std::to_string(metrics.cdi_spec_write_errors());
  return out;
}

// --- reading: each function says whether `json` held a valid value of its type ---

// The JSON name of a field given by its .proto name ("usable_units" → "usableUnits");
// a JSON name stays as it is.
std::string jsonName(std::string_view key) {
  std::string name;
  bool upper = false;
  for (char c : key) {
    if (c == '_') {
      upper = true;
    } else {
      name += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    }
  }
  return name;
}

// Calls read(name, value) for each member of the object `json` but null ones (a
// field's default), by JSON name; false if `json` is no object or a read fails.
template <class Read>
bool readObject(const Json& json, Read read) {
  if (!json.is_object()) return false;
  for (const auto& [key, value] : json.items()) {
    if (!value.is_null() && !read(jsonName(key), value)) return false;
  }
  return true;
}

// Calls read(element) for each element of the array `json`.
template <class Read>
bool readArray(const Json& json, Read read) {
  if (!json.is_array()) return false;
  for (const auto& element : json) {
    if (!read(element)) return false;
  }
  return true;
}

template <class Unsigned>
bool readUnsigned(const Json& json, Unsigned* out) {
  constexpr auto kMax = std::numeric_limits<Unsigned>::max();
  if (json.is_number_unsigned()) {
    auto value = json.get<uint64_t>();
    if (value > kMax) return false;
    *out = static_cast<Unsigned>(value);
    return true;
  }
  if (json.is_number_float()) {  // 1e3 or 5.0: integral, in range
    auto value = json.get<double>();
    // kMax + 1, exactly (kMax itself is no double when it has 64 bits).
    double limit = std::ldexp(1.0, std::numeric_limits<Unsigned>::digits);
    if (!(value >= 0 && value < limit) || std::trunc(value) != value) return false;
    *out = static_cast<Unsigned>(value);
    return true;
  }
  if (json.is_string()) {
    const auto& text = json.get_ref<const std::string&>();
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return error == std::errc() && end == text.data() + text.size() && !text.empty();
  }
  return false;  // negative integers too
}

bool readDouble(const Json& json, double* out) {
  if (json.is_number()) {
    *out = json.get<double>();
    return true;
  }
  if (!json.is_string()) return false;
  const auto& text = json.get_ref<const std::string&>();
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
  } else if (text == "Infinity" || text == "-Infinity") {
    *out = (text[0] == '-' ? -1 : 1) * std::numeric_limits<double>::infinity();
  } else {
    // from_chars reads "inf" and "nan" too; the mapping spells those as above.
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return error == std::errc() && end == text.data() + text.size() && std::isfinite(*out);
  }
  return true;
}

bool readString(const Json& json, std::string* out) {
  if (!json.is_string()) return false;
  *out = json.get<std::string>();
  return true;
}

// A failed read leaves a half-filled message; the caller then drops the whole event.
bool readHistogram(const Json& json, Histogram* out) {
  return readObject(json, [&](const std::string& name, const Json& value) {
    if (name == "upperBounds") {
      return readArray(value, [&](const Json& bound) {
        return readDouble(bound, out->mutable_upper_bounds()->Add());
      });
    }
    if (name == "cumulativeCounts") {
      return readArray(value, [&](const Json& count) {
        return readUnsigned(count, out->mutable_cumulative_counts()->Add());
      });
    }
    if (name == "count") {
      uint64_t count = 0;
      if (!readUnsigned(value, &count)) return false;
      out->set_count(count);
      return true;
    }
    if (name == "sum") {
      double sum = 0;
      if (!readDouble(value, &sum)) return false;
      out->set_sum(sum);
      return true;
    }
    return true;  // a field this build does not know
  });
}

bool readMetrics(const Json& json, WorkerMetrics* out) {
  using Setter = void (WorkerMetrics::*)(uint64_t);
  static const std::pair<const char*, Setter> kCounters[] = {
      {"registrations", &WorkerMetrics::set_registrations},
      {"kubeletRestarts", &WorkerMetrics::set_kubelet_restarts},
      {"listAndWatchMessages", &WorkerMetrics::set_list_and_watch_messages},
      {"cdiSpecWrites", &WorkerMetrics::set_cdi_spec_writes},
      {"cdiSpecWriteErrors", &WorkerMetrics::set_cdi_spec_write_errors},
  };
  return readObject(json, [&](const std::string& name, const Json& value) {
    for (const auto& [counter, setter] : kCounters) {
      if (name != counter) continue;
      uint64_t count = 0;
      if (!readUnsigned(value, &count)) return false;
      (out->*setter)(count);
      return true;
    }
    if (name == "allocateCalls") {
      if (!value.is_object()) return false;
      for (const auto& [code, count] : value.items()) {
        uint64_t calls = 0;
        if (!readUnsigned(count, &calls)) return false;
        (*out->mutable_allocate_calls())[code] = calls;
      }
      return true;
    }
    if (name == "allocateSeconds") return readHistogram(value, out->mutable_allocate_seconds());
    if (name == "scanSeconds") return readHistogram(value, out->mutable_scan_seconds());
    return true;
  });
}

bool readKind(const Json& json, WorkerEvent::Kind* out) {
  *out = WorkerEvent::unspecified;
  if (json.is_string()) {
    for (const auto& [kind, name] : kKinds) {
      if (json.get_ref<const std::string&>() == name) *out = kind;
    }
    return true;
  }
  if (json.is_number_integer()) {  // an enum is an int32
    constexpr int64_t kMin = std::numeric_limits<int32_t>::min();
    constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
    bool inRange = json.is_number_unsigned()
                       ? json.get<uint64_t>() <= static_cast<uint64_t>(kMax)
                       : json.get<int64_t>() >= kMin && json.get<int64_t>() <= kMax;
    if (!inRange) return false;
    // Proto3 enums are open: a number the .proto lacks is kept, as protobuf keeps it.
    *out = static_cast<WorkerEvent::Kind>(json.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

const char* kindName(WorkerEvent::Kind kind) {
  for (const auto& [known, name] : kKinds) {
    if (kind == known) return name;
  }
  return "unknown";
}

std::string eventLine(const WorkerEvent& event) {
  Json out;
  // A kind this build lacks is written as its number, as protobuf's printer writes it, so
  // the line reads back as the same event.
  if (WorkerEvent::Kind_IsValid(event.event())) {
    out["event"] = kindName(event.event());
  } else {
    out["event"] = static_cast<int32_t>(event.event());
  }
  out["worker"] = event.worker();
  if (event.has_total()) out["total"] = event.total();
  if (event.has_healthy()) out["healthy"] = event.healthy();
  if (event.has_detail()) out["detail"] = event.detail();
  if (event.has_settings_digest()) out["settingsDigest"] = event.settings_digest();
  if (event.has_mode()) out["mode"] = event.mode();
  out["usableUnits"] = array(event.usable_units());
  if (event.has_usable_units_total()) out["usableUnitsTotal"] = event.usable_units_total();
  if (event.has_counts()) out["counts"] = metricsJson(event.counts());
  return out.dump(-1, ' ', false, Json::error_handler_t::replace) + '\n';
}

std::optional<WorkerEvent> parseEventLine(std::string_view line) {
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  WorkerEvent event;
  using Setter = void (WorkerEvent::*)(uint32_t);
  static const std::pair<const char*, Setter> kNumbers[] = {
      {"total", &WorkerEvent::set_total},
      {"healthy", &WorkerEvent::set_healthy},
      {"usableUnitsTotal", &WorkerEvent::set_usable_units_total},
  };
  using Field = std::string* (WorkerEvent::*)();
  static const std::pair<const char*, Field> kStrings[] = {
      {"worker", &WorkerEvent::mutable_worker},
      {"detail", &WorkerEvent::mutable_detail},
      {"settingsDigest", &WorkerEvent::mutable_settings_digest},
      {"mode", &WorkerEvent::mutable_mode},
  };
  bool valid = readObject(json, [&](const std::string& name, const Json& value) {
    if (name == "event") {
      WorkerEvent::Kind kind = WorkerEvent::unspecified;
      if (!readKind(value, &kind)) return false;
      event.set_event(kind);
      return true;
    }
    for (const auto& [field, setter] : kNumbers) {
      if (name != field) continue;
      uint32_t number = 0;
      if (!readUnsigned(value, &number)) return false;
      (event.*setter)(number);
      return true;
    }
    for (const auto& [text, field] : kStrings) {
      if (name == text) return readString(value, (event.*field)());
    }
    if (name == "usableUnits") {
      return readArray(
          value, [&](const Json& unit) { return readString(unit, event.add_usable_units()); });
    }
    if (name == "counts") return readMetrics(value, event.mutable_counts());
    return true;  // a field this build does not know: a newer worker may say more
  });
  if (!valid) return std::nullopt;
  return event;
}

std::string configCheckJson(const ConfigCheck& check) {
  Json out;
  out["valid"] = check.valid();
  out["error"] = check.error();
  Json settings = Json::array();
  for (const auto& setting : check.settings()) {
    Json entry;
    entry["name"] = setting.name();
    entry["values"] = array(setting.values());
    entry["source"] = setting.source();
    settings.push_back(std::move(entry));
  }
  out["settings"] = std::move(settings);
  out["digest"] = check.digest();
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<ConfigCheck> parseConfigCheck(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  ConfigCheck check;
  auto readSetting = [](const Json& value, ConfigCheck::Setting* setting) {
    return readObject(value, [&](const std::string& name, const Json& field) {
      if (name == "name") return readString(field, setting->mutable_name());
      if (name == "source") return readString(field, setting->mutable_source());
      if (name == "values") {
        return readArray(field,
                         [&](const Json& v) { return readString(v, setting->add_values()); });
      }
      return true;
    });
  };
  bool valid = readObject(json, [&](const std::string& name, const Json& value) {
    if (name == "valid") {
      if (!value.is_boolean()) return false;
      check.set_valid(value.get<bool>());
      return true;
    }
    if (name == "error") return readString(value, check.mutable_error());
    if (name == "digest") return readString(value, check.mutable_digest());
    if (name == "settings") {
      return readArray(value,
                       [&](const Json& entry) { return readSetting(entry, check.add_settings()); });
    }
    return true;  // a field this build does not know
  });
  if (!valid) return std::nullopt;
  return check;
}

}  // namespace mvf::base
