#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mvf::base {

// Bytes quoted from outside input by default: enough for any device ID, PCI address,
// driver or file name this code expects, so an operator sees the whole of a real value.
constexpr size_t kQuoteLimit = 64;

enum class Quotes {
  kAlways,    // "udma-5"
  kIfNeeded,  // udma-5 as is: only letters, digits and -._:/+@, at most `limit` bytes
};

// Bytes from outside this process (a request's device ID, a sysfs attribute, a file name
// in a host dir, an option's value, a worker's event line), quoted for a message or a log
// line: in double quotes, at most the first `limit` bytes, each printable ASCII byte as
// is but `"` and `\` (escaped with a backslash), \n \r \t as those escapes, and every
// other byte (control bytes, DEL, anything above 0x7f) as \xNN. A longer input ends in
// `..."` and says its length: `"abc..." (1048576 bytes)`. So the result is at most
// 4 × limit + 40 bytes, whatever it is given, and never contains a control byte.
// With Quotes::kIfNeeded a plain word (a driver or PCI address as the kernel names them)
// comes back as it is, so everyday messages read as before.
std::string quote(std::string_view bytes, size_t limit = kQuoteLimit,
                  Quotes quotes = Quotes::kAlways);

}  // namespace mvf::base
