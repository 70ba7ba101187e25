#include "emledger/consensus/crc32c.hpp"

#include <doctest/doctest.h>

#include <array>

using emledger::as_bytes;
using emledger::ByteView;
using emledger::consensus::crc32c;
using emledger::consensus::crc32c_extend;

TEST_CASE("crc32c: the standard check value of \"123456789\" is 0xE3069283") {
  CHECK(crc32c(as_bytes("123456789")) == 0xE3069283u);
  CHECK(crc32c(ByteView{}) == 0u);
}

TEST_CASE("crc32c: RFC 3720 B.4 vectors") {
  std::array<std::uint8_t, 32> buf{};
  CHECK(crc32c(buf) == 0x8A9136AAu);  // 32 bytes of zeros
  buf.fill(0xFF);
  CHECK(crc32c(buf) == 0x62A8AB43u);  // 32 bytes of ones
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::uint8_t>(i);
  CHECK(crc32c(buf) == 0x46DD794Eu);  // incrementing
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::uint8_t>(31 - i);
  CHECK(crc32c(buf) == 0x113FDB5Cu);  // decrementing
  // An iSCSI SCSI Read (10) command PDU.
  const std::array<std::uint8_t, 48> pdu = {
      0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK(crc32c(pdu) == 0xD9963A56u);
}

TEST_CASE("crc32c: extending piece by piece equals the CRC of the whole") {
  const ByteView whole = as_bytes("the quick brown fox jumps over the lazy dog");
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    const std::uint32_t head = crc32c(whole.first(cut));
    CHECK(crc32c_extend(head, whole.subspan(cut)) == crc32c(whole));
  }
}

TEST_CASE("crc32c: every single-bit flip of a record changes the CRC") {
  std::array<std::uint8_t, 64> buf{};
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::uint8_t>(i * 7);
  const std::uint32_t good = crc32c(buf);
  for (std::size_t i = 0; i < buf.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      buf[i] ^= static_cast<std::uint8_t>(1u << bit);
      CHECK(crc32c(buf) != good);
      buf[i] ^= static_cast<std::uint8_t>(1u << bit);
    }
  }
}

TEST_CASE("crc32c: the CPU's instruction and the table agree, at every length and alignment") {
  // Lengths across the eight-byte steps and their tails, from offsets that
  // leave the words unaligned, extended from a non-zero CRC.
  std::array<std::uint8_t, 300> buf{};
  std::uint32_t x = 0x9E3779B9u;
  for (auto& b : buf) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  const ByteView all(buf);
  for (std::size_t offset = 0; offset < 9; ++offset) {
    for (std::size_t n = 0; offset + n <= all.size(); n += 7) {
      const ByteView part = all.subspan(offset, n);
      CHECK(crc32c_extend(0x12345678u, part) ==
            emledger::consensus::crc32c_extend_portable(0x12345678u, part));
    }
  }
  CHECK(emledger::consensus::crc32c_extend_portable(0, as_bytes("123456789")) == 0xE3069283u);
#if defined(__x86_64__)
  // Where the CPU has the instruction, the comparison above compared it.
  __builtin_cpu_init();
  CHECK(emledger::consensus::crc32c_uses_instruction() == (__builtin_cpu_supports("sse4.2") != 0));
#endif
}
