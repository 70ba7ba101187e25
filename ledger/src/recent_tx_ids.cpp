#include "emledger/ledger/recent_tx_ids.hpp"

#include "emledger/crypto/result.hpp"

namespace emledger::ledger {

RecentTxIds::RecentTxIds(std::size_t blocks_max, std::uint64_t head_height)
    : blocks_max_(blocks_max), from_(head_height + 1) {
  EMLEDGER_ASSERT(blocks_max >= 1);
}

void RecentTxIds::reset(std::uint64_t head_height) {
  std::lock_guard lock(mu_);
  blocks_.clear();
  ids_.clear();
  from_ = head_height + 1;
}

void RecentTxIds::add_block(std::uint64_t height, const std::vector<Hash>& ids) {
  std::lock_guard lock(mu_);
  if (height != from_ + blocks_.size()) {
    blocks_.clear();
    ids_.clear();
    from_ = height;
  }
  ids_.insert(ids.begin(), ids.end());
  blocks_.push_back(ids);
  if (blocks_.size() > blocks_max_) {
    // An id is committed once, so the dropped block's ids are in no other.
    for (const Hash& id : blocks_.front()) ids_.erase(id);
    blocks_.pop_front();
    ++from_;
  }
  EMLEDGER_ASSERT(blocks_.size() <= blocks_max_);
}

bool RecentTxIds::absent_since(const Hash& id, std::uint64_t absent_at) const {
  std::lock_guard lock(mu_);
  // Blocks absent_at + 1 and up must all be held: the first is from_ or later.
  if (absent_at + 1 < from_) return false;
  return ids_.find(id) == ids_.end();
}

std::uint64_t RecentTxIds::from_height() const {
  std::lock_guard lock(mu_);
  return from_;
}

}  // namespace emledger::ledger
