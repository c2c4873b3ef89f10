#include "base/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <mutex>

namespace mvf::base {
namespace {

void appendJsonString(std::string_view text, spdlog::memory_buf_t& out) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out.append(std::string_view(escaped));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

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
    dest.append(std::string_view("{\"ts\":"));
    appendJsonString(std::string_view(ts.data(), ts.size()), dest);
    dest.append(std::string_view(",\"level\":"));
    appendJsonString(std::string_view(level.data(), level.size()), dest);
    dest.append(std::string_view(",\"worker\":"));
    appendJsonString(process_, dest);
    dest.append(std::string_view(",\"component\":"));
    appendJsonString(std::string_view(msg.logger_name.data(), msg.logger_name.size()), dest);
    dest.append(std::string_view(",\"msg\":"));
    appendJsonString(std::string_view(msg.payload.data(), msg.payload.size()), dest);
    dest.append(std::string_view("}\n"));
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
