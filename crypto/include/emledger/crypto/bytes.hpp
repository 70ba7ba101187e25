// Byte containers shared by every library.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace emledger {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline constexpr std::size_t kHashSize = 32;
using Hash = std::array<std::uint8_t, kHashSize>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
// The hasher of hash tables keyed by a Hash. Every Hash is a SHA-256 output,
// so any 8 of its bytes are uniform: the first 8 are the table hash.
struct HashHasher {
  std::size_t operator()(const Hash& h) const {
    std::size_t v = 0;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

inline bool is_zero(const Hash& h) {
  for (auto b : h)
    if (b != 0) return false;
  return true;
}

}  // namespace emledger
