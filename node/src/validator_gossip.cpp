// Mempool gossip of a validator (tx_gossip.hpp, docs/node.md "Mempool
// gossip"), and the completion of transactions that other validators'
// blocks committed. Kept apart from validator.cpp: it meets consensus only
// through the mempool.
#include <cstdio>

#include "emledger/crypto/sha256.hpp"
#include "validator.hpp"

namespace emledger::node {

// The mempool calls its admission listener on HTTP threads, outside its own
// lock, possibly while the validator stops: the listener reaches the
// validator only through this link, which stop() cuts under its mutex.
struct Validator::GossipLink {
  std::mutex mu;
  Validator* validator = nullptr;
};

void Validator::start_gossip() {
  gossip_link_ = std::make_shared<GossipLink>();
  gossip_link_->validator = this;
  // Queued also when alone (n = 1), where nobody takes it: the queue wakes
  // the loop, which is all a leader waiting for work needs (n = 1 makes no
  // empty blocks), and the same listener serves whatever the set becomes.
  mempool_.set_admit_listener([link = gossip_link_](const ledger::Tx& tx) {
    std::lock_guard lock(link->mu);
    if (link->validator) link->validator->queue_gossip(ledger::encode(tx));
  });
}

void Validator::stop_gossip() {
  if (!gossip_link_) return;
  mempool_.set_admit_listener(nullptr);
  std::lock_guard lock(gossip_link_->mu);
  gossip_link_->validator = nullptr;
}

void Validator::queue_gossip(Bytes tx) {
  std::lock_guard lock(mu_);
  if (gossip_out_.size() >= kGossipQueueMax) {
    ++stats_.gossip_dropped;
    return;
  }
  gossip_out_.push_back(std::move(tx));
  cv_.notify_one();
}

// Validator thread: forwards what was queued, in messages up to the target
// size.
void Validator::flush_gossip(std::deque<Bytes> txs) {
  if (!transport_ || txs.empty()) return;
  TxGossip msg;
  std::size_t bytes = 0;
  auto send = [&] {
    if (msg.txs.empty()) return;
    send_all(ledger::encode(msg));
    msg.txs.clear();
    bytes = 0;
  };
  for (auto& tx : txs) {
    if (msg.txs.size() == kGossipTxsPerMessageMax || bytes + tx.size() > kGossipMessageBytesTarget)
      send();
    bytes += tx.size();
    msg.txs.push_back(std::move(tx));
  }
  send();
}

// A peer forwarded transactions: admitted here as if a client had sent them,
// but not forwarded again and with nobody waiting.
void Validator::on_gossip(const TxGossip& msg) {
  std::uint64_t added = 0;
  // Decoded first, so that their signatures are verified together (ADR 039).
  std::vector<ledger::Tx> txs;
  std::vector<const Bytes*> raws;
  txs.reserve(msg.txs.size());
  for (const Bytes& raw : msg.txs) {
    auto tx = ledger::parse_tx(raw);
    if (!tx) continue;
    txs.push_back(std::move(*tx));
    raws.push_back(&raw);
  }
  std::vector<const ledger::Tx*> ptrs;
  for (const auto& tx : txs) ptrs.push_back(&tx);
  const auto checked = ledger_.check_txs_stateless(ptrs);
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (!checked[i].is_ok()) continue;
    auto* tx = &txs[i];
    const Bytes& raw = *raws[i];
    const Hash id = crypto::sha256(raw);
    const std::uint64_t head = ledger_.head().height;  // before the lookup (ADR 022)
    if (!ledger_.tx_surely_uncommitted(id)) {          // the filter first (ADR 023)
      auto entry = ledger_.tx_entry(id);
      if (!entry || entry->has_value()) continue;  // committed already (or unreadable)
    }
    if (mempool_.add(std::move(*tx), id, nullptr, /*announce=*/false, head, raw).is_ok()) ++added;
  }
  std::lock_guard lock(mu_);
  stats_.gossip_received += added;
}

// Every transaction of a block just committed, wherever it was proposed:
// this node's waiters for it learn its position, and it leaves the mempool.
void Validator::complete_committed(const ledger::PreparedBlock& p) {
  const auto& ids = p.tx_ids;
  if (ids.empty()) return;
  const std::uint64_t base = p.new_head.log_size - ids.size();
  std::vector<TxResult> results;
  results.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i)
    results.push_back(TxResult{ids[i], Status::ok(), p.block.header.height, base + i});
  mempool_.complete_committed(results);
}

}  // namespace emledger::node
