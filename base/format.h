#pragma once

// fmt, as spdlog brings it (Debian's libfmt): fmt::format and fmt::join for every message
// and list this code builds, instead of hand-written concatenation loops.
#include <spdlog/fmt/fmt.h>
#include <spdlog/fmt/ranges.h>
