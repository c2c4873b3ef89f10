#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "base/format.h"  // what libfmt.so holds, declared before our first use of fmt

namespace mvf::base {

enum class LogFormat { kText, kJson };

// Every line goes to stderr and carries the process's name (the worker's, or
// "supervisor"), so that the interleaved stderr of six processes stays readable:
//   text: 2026-11-27T19:22:03.123Z info [udma] registration: registered intel.com/udma
//   json: {"ts":"2026-11-27T19:22:03.123Z","level":"info","worker":"udma",
//          "component":"registration","msg":"registered intel.com/udma"}
void setupLogging(const std::string& process, spdlog::level::level_enum level, LogFormat format);

// The named logger of one component; all of them share the stderr sink.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace mvf::base
