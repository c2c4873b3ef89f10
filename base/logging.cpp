#include "base/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace mvf::base {
namespace {

// One JSON object per line; spdlog's pattern formatter cannot escape the message.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string process)
      : process_(std::move(process)),
        time_("%Y-%m-%dT%H:%M:%S.%eZ", spdlog::pattern_time_type::utc, "") {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t ts;
    time_.format(msg, ts);
    auto level = spdlog::level::to_string_view(msg.level);
    // nlohmann/json keeps the field order (ordered_json) and replaces bytes that are not
    // UTF-8 (a junk file name quoted in a message) with U+FFFD, so every line parses.
    nlohmann::ordered_json line = {
        {"ts", std::string_view(ts.data(), ts.size())},
        {"level", std::string_view(level.data(), level.size())},
        {"worker", process_},
        {"component", std::string_view(msg.logger_name.data(), msg.logger_name.size())},
        {"msg", std::string_view(msg.payload.data(), msg.payload.size())}};
    std::string text =
        line.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(process_);
  }

 private:
  std::string process_;
  spdlog::pattern_formatter time_;
};

std::shared_ptr<spdlog::sinks::stderr_sink_mt> sink() {
  static auto shared = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return shared;
}

}  // namespace

void setupLogging(const std::string& process, spdlog::level::level_enum level, LogFormat format) {
  if (format == LogFormat::kJson) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>(process));
  } else {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l [" + process + "] %n: %v", spdlog::pattern_time_type::utc));
  }
  spdlog::set_level(level);
  spdlog::flush_on(spdlog::level::trace);
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto created = std::make_shared<spdlog::logger>(component, sink());
  spdlog::initialize_logger(created);
  return created;
}

}  // namespace mvf::base
