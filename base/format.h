#pragma once

// fmt, as spdlog brings it (Debian's libfmt): fmt::format and fmt::join for every message
// and list this code builds, instead of hand-written concatenation loops.
#include <spdlog/fmt/fmt.h>
#include <spdlog/fmt/ranges.h>

// Every fmt::format and every spdlog line ends in fmt::detail::vformat_to<char>, which
// libfmt.so already holds (an explicit instantiation in fmt's src/format.cc). fmt 9.1's
// header does not say so, so each of our objects compiled its own copy of the whole
// formatting engine (about 0.5 MB of text over our libraries and binaries, README "Idle
// and memory"); fmt 10 declares this itself. Included before spdlog (base/logging.h), so
// that it comes before any use.
#if FMT_VERSION < 100000
FMT_BEGIN_NAMESPACE
namespace detail {
extern template void vformat_to<char>(buffer<char>&, basic_string_view<char>,
                                      basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);
}  // namespace detail
FMT_END_NAMESPACE
#endif
