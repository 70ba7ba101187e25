// The transaction ids of the last blocks a Ledger committed (ADR 022).
//
// Block execution must refuse a transaction whose id is committed already,
// which is a store lookup of an id that is nearly always absent. The node has
// made that lookup once before, when it admitted the transaction (from a
// client or by gossip), so it can tell prepare() "absent from the committed
// state at height H". Then only the blocks above H can hold the id; when this
// set holds every one of them, and none holds the id, the answer is known
// without reading the store. The answer is the store's own: this set changes
// how a node finds it, never what it is, so it needs no agreement between
// nodes. It is filled before each commit writes: a block whose write fails
// leaves extra ids, which only send prepare() back to the store.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "emledger/ledger/types.hpp"

namespace emledger::ledger {

// Blocks whose ids are held. A transaction waits in a mempool a few blocks at
// most in normal running (100,000 pending fill about 25 blocks of 4,096); an
// older stamp costs one store lookup. 64 blocks of 4,096 ids take about 20 MiB.
inline constexpr std::size_t kRecentTxBlocksMax = 64;

class RecentTxIds {
 public:
  // Holds nothing yet: every block above `head_height` will be added.
  RecentTxIds(std::size_t blocks_max, std::uint64_t head_height);

  // Forgets every block: as the constructor. Thread safe.
  void reset(std::uint64_t head_height);

  // Adds the ids of the block at `height`. The next height after the last
  // block added (or the head given at construction) extends the set, and the
  // oldest block past `blocks_max` is dropped. Any other height (a block
  // committed again after a failed write, or a gap) starts the set afresh at
  // `height`. Thread safe.
  void add_block(std::uint64_t height, const std::vector<Hash>& ids);

  // True when the committed state is known to lack `id`, given that it lacked
  // it at height `absent_at`: every block above `absent_at` up to the last one
  // added is held, and none of them holds `id`. False means "look it up".
  // Thread safe.
  bool absent_since(const Hash& id, std::uint64_t absent_at) const;

  // The lowest height whose block is held (one above the last added when
  // none is), for tests and diagnostics. Thread safe.
  std::uint64_t from_height() const;

 private:
  const std::size_t blocks_max_;
  mutable std::mutex mu_;
  std::uint64_t from_;                    // guarded by mu_: the height of blocks_.front()
  std::deque<std::vector<Hash>> blocks_;  // guarded by mu_: heights from_, from_ + 1, ...
  // Guarded by mu_: every id of blocks_. Only looked up, never iterated, so
  // its order cannot reach any output.
  std::unordered_set<Hash, HashHasher> ids_;
};

}  // namespace emledger::ledger
