#include "emledger/consensus/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace emledger::consensus {
namespace {

constexpr std::uint32_t kCastagnoliReflected = 0x82F63B78;

// One byte at a time through a 256-entry table: enough for the WAL, which
// checksums a few hundred bytes per vote. A pending block's record is
// megabytes (pending_blocks.hpp), written on the validator thread before
// each vote: there the CPU's own CRC-32C instruction (SSE4.2) takes eight
// bytes a step, when the CPU has it.
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

// Both take and return the register form (the CRC's complement).
std::uint32_t extend_by_table(std::uint32_t c, ByteView data) {
  for (std::uint8_t b : data) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// The crc32 instruction computes this same reflected CRC-32C step.
__attribute__((target("sse4.2"))) std::uint32_t extend_by_instruction(std::uint32_t c,
                                                                      ByteView data) {
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  std::uint64_t wide = c;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);  // little endian: the bytes in order
    wide = _mm_crc32_u64(wide, word);
  }
  c = static_cast<std::uint32_t>(wide);
  for (; n > 0; ++p, --n) c = _mm_crc32_u8(c, *p);
  return c;
}
#endif

}  // namespace

bool crc32c_uses_instruction() {
#if defined(__x86_64__)
  // Asked once, after the CPU model is read (a static initializer could run
  // before libgcc's own).
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

std::uint32_t crc32c_extend(std::uint32_t crc, ByteView data) {
#if defined(__x86_64__)
  if (crc32c_uses_instruction()) return ~extend_by_instruction(~crc, data);
#endif
  return ~extend_by_table(~crc, data);
}

std::uint32_t crc32c_extend_portable(std::uint32_t crc, ByteView data) {
  return ~extend_by_table(~crc, data);
}

}  // namespace emledger::consensus
