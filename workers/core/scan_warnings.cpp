#include "workers/core/scan_warnings.h"

#include "base/logging.h"

namespace mvf::core {

bool ScanWarnings::warn(const std::string& message) {
  current_.insert(message);
  if (previous_.contains(message)) return false;
  base::logger(component_)->warn("{}", message);
  return true;
}

}  // namespace mvf::core
