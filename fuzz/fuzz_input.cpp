#include "fuzz/fuzz_input.h"

#include <cstdio>
#include <cstdlib>

#include "base/logging.h"

namespace mvf::fuzz {

std::vector<std::string> lines(const uint8_t* data, size_t size, size_t count) {
  std::string_view rest = text(data, size);
  std::vector<std::string> out;
  while (out.size() < count && !rest.empty()) {
    size_t end = rest.find('\n');
    out.emplace_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  }
  out.resize(count);
  return out;
}

std::string entryName(const std::string& name, const std::string& fallback) {
  bool usable = !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
                name.find_first_of(std::string("/\0", 2)) == std::string::npos;
  return usable ? name : fallback;
}

void check(bool holds, const std::string& what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace mvf::fuzz

// Log lines at every scan would swamp the fuzzer's output and slow it down.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mvf::base::setupLogging("fuzz", spdlog::level::off, mvf::base::LogFormat::kText);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mvf::fuzz::fuzzOne(data, size);
  return 0;
}
