#include "base/quote.h"

#include <algorithm>
#include <cctype>

namespace mvf::base {
namespace {

bool plain(std::string_view bytes, size_t limit) {
  return !bytes.empty() && bytes.size() <= limit &&
         std::all_of(bytes.begin(), bytes.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                  std::string_view("-._:/+@").find(c) != std::string_view::npos;
         });
}

}  // namespace

std::string quote(std::string_view bytes, size_t limit, Quotes quotes) {
  if (quotes == Quotes::kIfNeeded && plain(bytes, limit)) return std::string(bytes);
  constexpr char kHex[] = "0123456789abcdef";
  std::string_view shown = bytes.substr(0, limit);
  std::string out = "\"";
  out.reserve(shown.size() + 2);
  for (char c : shown) {
    auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
      case '\\':
        out += '\\';
        out += c;
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte >= 0x20 && byte < 0x7f) {
          out += c;
        } else {
          out += "\\x";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xf];
        }
    }
  }
  if (shown.size() < bytes.size()) {
    out += "...\" (" + std::to_string(bytes.size()) + " bytes)";
  } else {
    out += '"';
  }
  return out;
}

}  // namespace mvf::base
