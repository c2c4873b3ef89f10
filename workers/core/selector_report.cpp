#include "workers/core/selector_report.h"

#include "base/format.h"
#include "base/logging.h"

namespace mvf::core {

std::string SelectorReport::report(const std::string& selector,
                                   const std::vector<std::string>& matched) {
  Told& told = told_[selector];
  std::string line;
  if (matched.empty() && told == Told::kNothing) {
    line = fmt::format("{} matches nothing on this node (yet)", selector);
    base::logger(component_)->warn(line);
    told = Told::kUnmatched;
  } else if (!matched.empty() && told != Told::kMatched) {
    line = fmt::format("{} {}matches {}", selector, told == Told::kUnmatched ? "now " : "",
                       fmt::join(matched, ", "));
    base::logger(component_)->info(line);
    told = Told::kMatched;
  }
  return line;
}

}  // namespace mvf::core
