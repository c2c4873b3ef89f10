#pragma once

namespace mvf::base {

// Set by the build from the project version in CMakeLists.txt.
inline constexpr const char* kVersion = MVF_VERSION;

}  // namespace mvf::base
