// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
// vote write-ahead log (docs/formats/wal.md). Same parameters as iSCSI
// (RFC 3720 B.4), LevelDB and ext4: initial value and final xor 0xFFFFFFFF.
//
// Pure functions, thread-safe, no allocation.
#pragma once

#include <cstdint>

#include "emledger/crypto/bytes.hpp"

namespace emledger::consensus {

// The CRC-32C of `prefix ‖ data`, given `crc` = the CRC-32C of `prefix`
// (0 for the empty prefix). Lets a record be checksummed in pieces.
std::uint32_t crc32c_extend(std::uint32_t crc, ByteView data);

// Whether crc32c_extend uses the CPU's CRC-32C instruction (x86-64 with
// SSE4.2).
bool crc32c_uses_instruction();

// crc32c_extend without the CPU's CRC-32C instruction, which crc32c_extend
// uses where the CPU has it (SSE4.2): the same result, for tests to compare.
std::uint32_t crc32c_extend_portable(std::uint32_t crc, ByteView data);

// The CRC-32C of `data`; crc32c("123456789") == 0xE3069283.
inline std::uint32_t crc32c(ByteView data) { return crc32c_extend(0, data); }

}  // namespace emledger::consensus
