// Named bounds of every field, list and batch (docs/formats/encoding.md).
#pragma once

#include <cstddef>
#include <cstdint>

namespace emledger::ledger {

inline constexpr std::size_t kChainIdBytesMax = 64;
inline constexpr std::size_t kOrgIdBytesMax = 64;
inline constexpr std::size_t kRegionBytesMax = 64;
inline constexpr std::size_t kTypeCodeBytesMax = 64;
inline constexpr std::size_t kMediaTypeBytesMax = 128;
inline constexpr std::size_t kLocatorBytesMax = 512;
inline constexpr std::size_t kAddressBytesMax = 256;
inline constexpr std::size_t kOrgKeysMax = 8;
inline constexpr std::size_t kOrgsMax = 1024;
inline constexpr std::size_t kValidatorsMax = 128;
inline constexpr std::size_t kPayloadBytesMax = 4096;
inline constexpr std::size_t kTxBytesMax = 8192;
inline constexpr std::size_t kBlockTxsMax = 4096;
inline constexpr std::size_t kRecordsPerHashMax = 64;
inline constexpr std::size_t kProofHashesMax = 256;
inline constexpr std::size_t kStateKeyBytesMax = 128;
inline constexpr std::size_t kStateValueBytesMax = 16384;
inline constexpr std::size_t kBundleRecordsMax = kRecordsPerHashMax;
inline constexpr std::size_t kGrantRecordsMax = 64;    // record ids in one grant's scope
inline constexpr std::size_t kGrantTypeCodesMax = 16;  // type codes in one grant's scope
inline constexpr std::size_t kServiceCodeBytesMax = 64;
inline constexpr std::size_t kCaseIdBytesMax = 128;
inline constexpr std::size_t kArchiveRecordsMax = 256;
inline constexpr std::size_t kStatutePoliciesMax = 256;
inline constexpr std::size_t kHolderKeysMax = 1;  // one bound key at a time; rotation replaces it
// A transaction may not name an expiry further ahead than this many blocks,
// so a client cannot create a transaction that stays replayable for ever.
inline constexpr std::uint64_t kTxLifetimeBlocksMax = 100000;
// Headers in a finality proof's link from a block to its finalized descendant
// (ADR 014): the longest run of notarized blocks without a finalization of
// their own that the ledger can commit. About 300 bytes each.
inline constexpr std::size_t kFinalityLinksMax = 1024;
// Validator-set changes a succession carries (validator_set.hpp): one per
// epoch since the genesis. Each is a header, a finality proof and a state
// proof, a few KiB with the largest sets.
inline constexpr std::size_t kEpochChangesMax = 4096;

static_assert(kPayloadBytesMax < kTxBytesMax);
static_assert(kBundleRecordsMax == kRecordsPerHashMax);

}  // namespace emledger::ledger
