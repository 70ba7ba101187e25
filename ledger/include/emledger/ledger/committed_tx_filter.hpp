// A Bloom filter of the ids of every committed transaction (ADR 023).
//
// Admission, gossip and block execution each ask whether a transaction id is
// committed already, and the answer is nearly always no. LevelDB answers a
// missing key by searching its memtable's skip list (tens of cache misses)
// and a filter per level. This filter answers "surely not committed" from one
// cache line; only "maybe" goes on to the store. It has no false negatives
// for the ids added, so it changes how a node finds the answer, never the
// answer: nodes need not agree on it. A Ledger keeps a second one over the
// SHA-256 of every state key with a value (ADR 026): any uniform 32-byte
// name of a member of a set that only grows will do.
//
// Blocked layout: each id picks one 512-bit block from its first 8 bytes and
// sets kProbes bits inside it from the next 8 (ids are SHA-256 outputs, so
// their bytes are uniform). At kBitsPerId bits per id about 1% of absent ids
// read "maybe". When the newest segment holds its capacity, a segment twice
// its size is added, so the filter grows with the chain without a rebuild;
// a query reads one block in each segment.
#pragma once

#include <atomic>
#include <cstdint>
#include <shared_mutex>
#include <vector>

#include "emledger/ledger/types.hpp"

namespace emledger::ledger {

inline constexpr std::uint64_t kTxFilterBitsPerId = 10;
inline constexpr unsigned kTxFilterProbes = 7;
// The first segment holds at least this many ids (1.25 MiB of bits).
inline constexpr std::uint64_t kTxFilterIdsMin = std::uint64_t{1} << 20;

class CommittedTxFilter {
 public:
  // The first segment holds max(capacity_ids, kTxFilterIdsMin) ids.
  explicit CommittedTxFilter(std::uint64_t capacity_ids);

  // Adds ids (committed, or about to be). Thread safe.
  void add(const Hash& id);
  void add(const std::vector<Hash>& ids);

  // Says that every committed id has been added (the scan at open ended).
  // Thread safe.
  void set_complete();
  bool complete() const { return complete_.load(std::memory_order_acquire); }

  // True only when complete() and `id` was surely never added: then no
  // committed transaction has this id. False means "look it up". Thread safe.
  bool surely_absent(const Hash& id) const;

  // For tests and diagnostics. Thread safe.
  std::uint64_t ids_added() const;
  std::size_t segments() const;

 private:
  struct Segment {
    std::vector<std::uint64_t> words;  // blocks of 8 words (512 bits)
    std::uint64_t capacity_ids = 0;
    std::uint64_t ids = 0;
  };
  static Segment make_segment(std::uint64_t capacity_ids);
  static std::size_t block_of(std::size_t words, const Hash& id);
  static bool test(const Segment& s, const Hash& id);
  void add_locked(const Hash& id);

  std::atomic<bool> complete_{false};
  mutable std::shared_mutex mu_;
  std::vector<Segment> segments_;  // guarded by mu_; the last takes new ids
  std::uint64_t ids_added_ = 0;    // guarded by mu_
};

}  // namespace emledger::ledger
