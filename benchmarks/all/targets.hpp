// What bench_all's parts share: issue 5's targets, and reading a number from
// a child's JSON.
#pragma once

#include <cstdint>

#include "emledger/ledger/json.hpp"

namespace emledger::bench::all {

// Issue 5's targets.
inline constexpr double kOneNodeShareMin = 0.6;     // of the all-core Ed25519 rate
inline constexpr double kValidatorsShareMin = 0.5;  // of (Ed25519 rate / validators)
inline constexpr double kFinalityP99MaxMs = 1000;   // 4 validators, at half load
inline constexpr double kOverPostgresMin = 1.0;     // 1 node / PostgreSQL verified
inline constexpr double kStateProofP99MaxMs = 2.0;  // at 10M records
inline constexpr double kBundleVerifyMinPerS = 5000;
inline constexpr double kBytesPerRecordMax = 1024;
inline constexpr double kRestartMaxS = 3.0;
inline constexpr std::uint64_t kScaleTargetRecords = 10'000'000;

// j[key] when j is an object holding a number there, else 0.
inline double num(const ledger::Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0;
}

}  // namespace emledger::bench::all
