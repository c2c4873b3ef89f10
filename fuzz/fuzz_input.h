#pragma once

// What the fuzz targets share: an input cut into fields, entry names a directory can
// hold, quiet logs, and the invariants a target checks beside the sanitizers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mvf::fuzz {

// What each target defines: its work on one input. libFuzzer's entry points are in
// fuzz_input.cpp, which also quiets the logs once.
void fuzzOne(const uint8_t* data, size_t size);

// The input as text.
inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input's first `count` lines ('\n' ends each; the last may lack it); lines the
// input does not have are "". The rest of the input, if any, is left out.
std::vector<std::string> lines(const uint8_t* data, size_t size, size_t count);

// `name` when a directory can hold an entry called that (not empty, no '/' or NUL, not
// "." or "..", at most 255 bytes), else `fallback`: the fake node takes only real names.
std::string entryName(const std::string& name, const std::string& fallback);

// A finding: prints what does not hold and aborts, which libFuzzer saves as a crash.
void check(bool holds, const std::string& what);

}  // namespace mvf::fuzz
