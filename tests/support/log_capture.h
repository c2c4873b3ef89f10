#pragma once

#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>
#include <string>

#include "base/logging.h"

namespace mvf::testing {

// What one component's logger writes while this lives, for tests of log lines: a sink
// added to base::logger(component) and removed again on destruction.
class LogCapture {
 public:
  explicit LogCapture(const std::string& component)
      : logger_(base::logger(component)),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_)) {
    sink_->set_pattern("%v");
    logger_->sinks().push_back(sink_);
  }
  ~LogCapture() { std::erase(logger_->sinks(), sink_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every message logged so far, one a line.
  std::string text() const { return lines_.str(); }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::ostringstream lines_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace mvf::testing
