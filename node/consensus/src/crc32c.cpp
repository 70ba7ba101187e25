#include "emledger/consensus/crc32c.hpp"

#include <array>

namespace emledger::consensus {
namespace {

constexpr std::uint32_t kCastagnoliReflected = 0x82F63B78;

// One byte at a time through a 256-entry table: the WAL checksums a few
// hundred bytes per vote, so slicing-by-8 or SSE4.2 would buy nothing
// measurable and add code to trust.
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ kCastagnoliReflected : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kTable = make_table();
static_assert(kTable[1] == 0xF26B8303, "CRC-32C table entry 1 (Castagnoli, reflected)");
static_assert(kTable[128] == kCastagnoliReflected, "entry 0x80 is the polynomial itself");

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, ByteView data) {
  std::uint32_t c = ~crc;
  for (std::uint8_t b : data) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return ~c;
}

}  // namespace emledger::consensus
