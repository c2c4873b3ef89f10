#pragma once

// fmt, as spdlog brings it (Debian's libfmt): fmt::format and fmt::join for every message
// and list this code builds, instead of hand-written concatenation loops.
#include <spdlog/fmt/fmt.h>
#include <spdlog/fmt/ranges.h>

// Every fmt::format and every spdlog line ends in fmt::detail::vformat_to<char>, which
// libfmt.so already holds (an explicit instantiation in fmt's src/format.cc). fmt 9.1's
// header does not say so, so each of our objects compiled its own copy of the whole
// formatting engine (about 0.5 MB of text over our libraries and binaries, README "Idle
// and memory"); fmt 10 declares this itself. base/logging.h includes this, so every file
// that logs or formats declares it before its own code first uses fmt (the calls in fmt's
// and spdlog's headers are in templates, which that code instantiates).
// g++ only: Debian's libfmt.so is built with g++, and clang mangles this signature
// differently (`std::is_same` inside the dependent type), so clang (the fuzz build) keeps
// its own copy.
#if FMT_VERSION < 100000 && !defined(FMT_HEADER_ONLY) && !defined(__clang__)
FMT_BEGIN_NAMESPACE
namespace detail {
extern template void vformat_to<char>(buffer<char>&, basic_string_view<char>,
                                      basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);
}  // namespace detail
FMT_END_NAMESPACE
#endif
