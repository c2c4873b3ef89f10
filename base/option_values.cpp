// The values of options: checks, durations, names, and Settings (what parsing decided).
// The parsing itself (flags, env, INI, precedence) is options.cpp.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include "base/digest.h"
#include "base/format.h"
#include "base/options.h"

namespace mvf::base {
namespace {

std::optional<int64_t> parseInteger(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

std::string trim(std::string_view text) {
  auto isSpace = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return std::string(text);
}

bool isDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool isHexDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

ValueCheck integerIn(int64_t min, int64_t max) {
  return [min, max](std::string_view text) -> std::string {
    auto value = parseInteger(text);
    if (value && *value >= min && *value <= max) return "";
    return "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  };
}

ValueCheck oneOf(std::vector<std::string> choices) {
  return [choices = std::move(choices)](std::string_view text) -> std::string {
    if (std::find(choices.begin(), choices.end(), text) != choices.end()) return "";
    return fmt::format("expected one of: {}", fmt::join(choices, ", "));
  };
}

std::string formatDuration(Duration duration) {
  auto ms = duration.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

ValueCheck durationIn(Duration min, Duration max) {
  return [min, max](std::string_view text) -> std::string {
    auto value = parseDuration(text);
    if (value && *value >= min && *value <= max) return "";
    return "expected a duration from " + formatDuration(min) + " to " + formatDuration(max) +
           ", written like 500ms, 30s or 2m";
  };
}

ValueCheck offOrDurationIn(Duration min, Duration max) {
  return [check = durationIn(min, max)](std::string_view text) -> std::string {
    if (text == "0") return "";
    std::string problem = check(text);
    return problem.empty() ? ""
                           : "expected 0 (off) or " + problem.substr(problem.find("a duration"));
  };
}

std::optional<uint32_t> parseFileMode(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  uint32_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

ValueCheck fileMode() {
  return [](std::string_view text) -> std::string {
    return parseFileMode(text) ? "" : "expected an octal file mode from 0 to 0777, like 0660";
  };
}

ValueCheck absolutePath() {
  return [](std::string_view text) -> std::string {
    if (!text.empty() && text.front() == '/') return "";
    return "expected an absolute path";
  };
}

std::optional<Duration> parseDuration(std::string_view text) {
  if (text == "0") return Duration(0);  // zero needs no unit
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  auto number = parseInteger(text.substr(0, digits));
  if (!number) return std::nullopt;
  std::string_view unit = text.substr(digits);
  int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  } else {
    return std::nullopt;
  }
  if (*number > INT64_MAX / scale) return std::nullopt;
  return Duration(*number * scale);
}

std::string envName(std::string_view option) {
  std::string name = "MVF_";
  for (char c : option) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

std::optional<std::string> processEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

bool Settings::has(const std::string& name) const {
  auto it = entries_.find(name);
  return it != entries_.end() && !it->second.values.empty();
}

const std::string& Settings::text(const std::string& name) const {
  static const std::string kEmpty;
  const auto& values = list(name);
  return values.empty() ? kEmpty : values.front();
}

const std::vector<std::string>& Settings::list(const std::string& name) const {
  return entries_.at(name).values;
}

int64_t Settings::integer(const std::string& name) const { return *parseInteger(text(name)); }

Duration Settings::duration(const std::string& name) const { return *parseDuration(text(name)); }

const std::string& Settings::source(const std::string& name) const {
  return entries_.at(name).source;
}

void Settings::set(const std::string& name, Entry entry) {
  if (!entries_.contains(name)) order_.push_back(name);
  entries_[name] = std::move(entry);
}

std::string Settings::describe() const {
  std::ostringstream out;
  for (const auto& name : order_) {
    const Entry& entry = entries_.at(name);
    out << fmt::format("{} = {}  # {}\n", name, fmt::join(entry.values, ","), entry.source);
  }
  return out.str();
}

std::string qualifiedName(std::string_view qualifier, std::string_view name) {
  std::string prefix = std::string(qualifier) + "-";
  if (qualifier.empty() || name.starts_with(prefix)) return std::string(name);
  return prefix + std::string(name);
}

std::string Settings::digest() const {
  std::string lines;  // "name=value,value\n" in declaration order
  for (const auto& name : order_) {
    const Entry& entry = entries_.at(name);
    if (!entry.fromFlagOnly) lines += fmt::format("{}={}\n", name, fmt::join(entry.values, ","));
  }
  return fnv1a(lines);
}

std::vector<std::pair<std::string, const Settings::Entry*>> Settings::entries() const {
  std::vector<std::pair<std::string, const Entry*>> out;
  for (const auto& name : order_) out.emplace_back(name, &entries_.at(name));
  return out;
}

}  // namespace mvf::base
