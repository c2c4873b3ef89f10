#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/format.h"

namespace mvf::base {

// FNV-1a, 64 bits (the FNV reference: offset basis 0xcbf29ce484222325, prime
// 0x100000001b3), of `text`, as 16 lowercase hex digits. A fingerprint that stays the
// same across builds and machines, for telling contents apart; not a cryptographic hash.
inline std::string fnv1a(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return fmt::format("{:016x}", hash);
}

}  // namespace mvf::base
