// bench_all's ceilings (issue 5): Ed25519 verifications per second on all
// cores and LevelDB synced-batch commits per second, of batches holding one
// real block's writes and of one 311-byte write. The ratios divide by them.
#pragma once

#include <cstddef>
#include <filesystem>

#include "emledger/crypto/result.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::bench::all {

// The value of the single-write ceiling: one register transaction's bytes.
inline constexpr std::size_t kSingleWriteBytes = 311;

struct LevelDbCeiling {
  std::size_t block_txs = 0;
  std::size_t block_puts = 0;
  std::size_t block_bytes = 0;  // keys and values
  double block_commits_per_s = 0;
  double single_commits_per_s = 0;
};

struct Ceiling {
  double ed25519_per_s = 0;
  LevelDbCeiling leveldb;
};

// Both ceilings, measured in a fresh DIR (removed after); `when` names the
// measurement in the progress lines ("start", "end").
Result<Ceiling> measure_ceiling(const std::filesystem::path& dir, const char* when);
ledger::Json ceiling_json(const Ceiling& c);

}  // namespace emledger::bench::all
