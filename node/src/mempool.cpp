#include "mempool.hpp"

#include "emledger/ledger/merkle_log.hpp"

namespace emledger::node {

Mempool::Mempool(std::size_t txs_max, std::size_t rejections_max)
    : txs_max_(txs_max), rejections_max_(rejections_max) {
  EMLEDGER_ASSERT(txs_max_ > 0);
}

Status Mempool::add(ledger::Tx tx, const Hash& id, TxWaiter waiter, bool announce,
                    std::uint64_t absent_at, Bytes encoding) {
  std::optional<Hash> leaf;
  if (!encoding.empty()) leaf = ledger::log_leaf_hash(encoding);
  std::optional<ledger::Tx> copy;
  AdmitListener listener;
  {
    std::lock_guard lock(mu_);
    if (closed_) return refusal_;
    if (entries_.count(id)) return Status::error("DUPLICATE_TX", "transaction is already pending");
    if (pending_ >= txs_max_)
      return Status::error("MEMPOOL_FULL", "mempool holds " + std::to_string(txs_max_) +
                                               " transactions; retry later");
    if (announce && admit_listener_) {
      copy = tx;
      listener = admit_listener_;
    }
    Entry e;
    e.tx = std::move(tx);
    e.absent_at = absent_at;
    e.encoding = std::move(encoding);
    e.leaf = leaf;
    if (waiter) e.waiters.push_back(std::move(waiter));
    entries_.emplace(id, std::move(e));
    order_.push_back(id);
    ++pending_;
    // A resubmission of a transaction rejected earlier starts afresh.
    rejections_.erase(id);
    cv_.notify_one();
  }
  if (copy) listener(*copy);
  return Status::ok();
}

void Mempool::set_admit_listener(AdmitListener listener) {
  std::lock_guard lock(mu_);
  admit_listener_ = std::move(listener);
}

bool Mempool::stale_locked(const Hash& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() || it->second.in_flight || !it->second.tx;
}

void Mempool::compact_order_locked() {
  EMLEDGER_ASSERT(order_.size() >= pending_);
  const std::size_t stale = order_.size() - pending_;
  if (stale <= pending_ || stale < kMempoolStaleCompactMin) return;
  std::deque<Hash> live;
  std::unordered_set<Hash, HashHasher> seen;  // a re-added id keeps one place, its newest
  for (auto it = order_.rbegin(); it != order_.rend(); ++it)
    if (!stale_locked(*it) && seen.insert(*it).second) live.push_front(*it);
  EMLEDGER_ASSERT(live.size() == pending_);
  order_.swap(live);
}

void Mempool::complete_committed(const std::vector<TxResult>& results) {
  std::vector<std::pair<std::vector<TxWaiter>, const TxResult*>> calls;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : results) {
      auto it = entries_.find(r.id);
      if (it == entries_.end()) continue;
      --(it->second.in_flight ? in_flight_ : pending_);
      calls.emplace_back(std::move(it->second.waiters), &r);
      entries_.erase(it);  // its id in order_ is now stale
    }
    compact_order_locked();
  }
  for (auto& [waiters, result] : calls)
    for (auto& w : waiters) w(*result);
}

std::vector<Candidate> Mempool::take_locked(std::size_t max) {
  std::vector<Candidate> out;
  while (!order_.empty() && out.size() < max) {
    Hash id = order_.front();
    order_.pop_front();
    if (stale_locked(id)) continue;
    auto it = entries_.find(id);
    it->second.in_flight = true;
    out.push_back(Candidate{id, std::move(*it->second.tx), it->second.absent_at,
                            std::move(it->second.encoding), it->second.leaf});
    it->second.tx.reset();
    --pending_;
    ++in_flight_;
  }
  EMLEDGER_ASSERT(order_.size() >= pending_);
  return out;
}

std::vector<Candidate> Mempool::take(std::size_t max) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !order_.empty(); });
  if (closed_) return {};
  return take_locked(max);
}

std::vector<Candidate> Mempool::try_take(std::size_t max) {
  std::lock_guard lock(mu_);
  return take_locked(max);
}

void Mempool::remember_rejection_locked(const Hash& id, const Status& st) {
  if (rejections_max_ == 0) return;
  if (rejections_.insert_or_assign(id, st).second) rejection_order_.push_back(id);
  while (rejection_order_.size() > rejections_max_) {
    rejections_.erase(rejection_order_.front());
    rejection_order_.pop_front();
  }
}

void Mempool::complete(const std::vector<TxResult>& results) {
  std::vector<std::pair<std::vector<TxWaiter>, const TxResult*>> calls;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : results) {
      auto it = entries_.find(r.id);
      EMLEDGER_ASSERT(it != entries_.end() && it->second.in_flight);
      if (!r.status.is_ok()) remember_rejection_locked(r.id, r.status);
      calls.emplace_back(std::move(it->second.waiters), &r);
      entries_.erase(it);
      --in_flight_;
    }
  }
  for (auto& [waiters, result] : calls)
    for (auto& w : waiters) w(*result);
}

void Mempool::return_to_pending(std::vector<Candidate> candidates) {
  std::lock_guard lock(mu_);
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    auto e = entries_.find(it->id);
    if (e == entries_.end()) continue;  // committed in another validator's block
    EMLEDGER_ASSERT(e->second.in_flight);
    e->second.in_flight = false;
    e->second.tx = std::move(it->tx);
    e->second.encoding = std::move(it->encoding);
    e->second.leaf = it->leaf;
    --in_flight_;
    ++pending_;
    order_.push_front(it->id);
  }
  if (!candidates.empty()) cv_.notify_one();
}

Mempool::Lookup Mempool::lookup(const Hash& id) const {
  std::lock_guard lock(mu_);
  Lookup l;
  if (auto it = entries_.find(id); it != entries_.end()) {
    l.where = Where::kPending;
    l.absent_at = it->second.absent_at;
  } else if (auto it = rejections_.find(id); it != rejections_.end()) {
    l.where = Where::kRejected;
    l.rejection = it->second;
  }
  return l;
}

void Mempool::close() { close(Status::error("SHUTTING_DOWN", "the node is shutting down")); }

void Mempool::close(Status refusal) {
  EMLEDGER_ASSERT(!refusal.is_ok());
  std::lock_guard lock(mu_);
  if (!closed_) refusal_ = std::move(refusal);
  closed_ = true;
  cv_.notify_all();
}

void Mempool::fail_pending(const Status& status) {
  EMLEDGER_ASSERT(!status.is_ok());
  std::vector<std::pair<std::vector<TxWaiter>, TxResult>> calls;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : order_) {
      if (stale_locked(id)) continue;
      auto it = entries_.find(id);
      calls.emplace_back(std::move(it->second.waiters), TxResult{id, status, 0, 0});
      entries_.erase(it);
    }
    order_.clear();
    pending_ = 0;
  }
  for (auto& [waiters, result] : calls)
    for (auto& w : waiters) w(result);
}

std::size_t Mempool::pending_count() const {
  std::lock_guard lock(mu_);
  return pending_;
}

std::size_t Mempool::in_flight_count() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

}  // namespace emledger::node
