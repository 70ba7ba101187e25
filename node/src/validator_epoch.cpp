// Changes of the validator set, as a validator lives through them
// (docs/validator-set-changes.md sections 2 and 5, docs/node.md "Validator-set
// changes"). Kept apart from validator.cpp: everything here turns on one
// question, whether the ledger's set in force has moved past the epoch the
// replica runs in.
//
// The block h holding a ChangeValidators transaction is the last block of
// epoch e. The replica of epoch e may still notarize and finalize blocks
// above h (it must be able to, so that h can become final through a
// descendant), but they are tail blocks: built empty, refused when not
// empty, never committed. Once the ledger commits h, the run loop calls
// switch_epoch(): the replica, the peer transport and everything they asked
// for are dropped, and they start again for epoch e + 1, anchored at h. The
// vote WAL is reopened by the new replica's key guard and keeps the tail
// votes of epoch e beside the new ones (rules per (epoch, view)).
#include <string>

#include "validator.hpp"

namespace emledger::node {

// The set in force above `base` (the committed head when null) belongs to a
// later epoch than ours exactly when the chain below holds a change of set
// that this replica's epoch has not reached. A set that cannot be read
// counts as a tail: an empty block is always a safe proposal, and refusing
// a non-empty one costs only a view.
bool Validator::builds_tail(const ledger::PreparedBlock* base) const {
  auto next = ledger_.validators_after(base);
  if (!next) {
    validator_log("cannot read the validator set above the parent: " + next.status().to_string());
    return true;
  }
  return next->epoch > set_.epoch;
}

void Validator::note_epoch_end() {
  if (epoch_ended_) return;
  auto next = ledger_.validators();
  if (!next) {
    validator_log("cannot read the validator set in force: " + next.status().to_string() +
                  "; consensus stopped");
    failed_ = true;
    return;
  }
  EMLEDGER_ASSERT(next->epoch >= set_.epoch);
  if (next->epoch > set_.epoch) epoch_ended_ = true;
}

// Validator thread, outside handle(): nothing of the old replica is on the
// stack.
void Validator::switch_epoch() {
  EMLEDGER_ASSERT(epoch_ended_ && !handling_);
  epoch_ended_ = false;
  auto next = ledger_.validators();
  if (!next) {
    validator_log("cannot read the validator set in force: " + next.status().to_string() +
                  "; consensus stopped");
    failed_ = true;
    return;
  }
  const ledger::ChainHead head = ledger_.head();
  validator_log("epoch " + std::to_string(set_.epoch) + " ended below height " +
                std::to_string(next->since_height) + "; head " + std::to_string(head.height) +
                ", starting epoch " + std::to_string(next->epoch) + " of " +
                std::to_string(next->validators.size()) + " validators");
  // What the old replica asked for dies with it. Blocks above the head are
  // its tail blocks (or blocks of branches that lost): never committed.
  replica_.reset();
  if (transport_) transport_->stop();
  transport_.reset();
  {
    std::lock_guard lock(mu_);
    inbox_.clear();  // peer indexes of the old transport
    port_shown_ = 0;
  }
  build_.reset();
  deferred_checks_.clear();
  outputs_.clear();
  finals_.clear();
  fetches_.clear();
  cert_wait_.reset();
  stacked_.reset();
  wake_at_ms_.reset();
  known_.clear();
  pending_blocks_->prune_through(UINT64_MAX);
  for (auto& [digest, p] : proposed_) mempool_.return_to_pending(std::move(p.candidates));
  proposed_.clear();
  sync_ask_.reset();  // sync_target_ and sync_more_ stay: the network is there
  sync_next_peer_ = 0;
  sync_served_ms_.clear();
  own_checkpoint_.reset();

  set_ = std::move(*next);
  const auto index = set_.index_of(key_.public_key());
  if (!index) {
    retire("not a validator of epoch " + std::to_string(set_.epoch));
    return;
  }
  index_ = *index;
  checkpoint_replied_ms_.assign(set_.validators.size(), 0);
  conflict_logged_.assign(set_.validators.size(), false);
  checkpoints_->set_signers(set_);
  {
    std::lock_guard lock(mu_);
    epoch_shown_ = set_.epoch;
    index_shown_ = index_;
    ++stats_.epoch_switches;
  }
  Status st = open_replica();
  if (st.is_ok()) st = start_transport();
  if (!st.is_ok()) {
    validator_log("cannot start epoch " + std::to_string(set_.epoch) + ": " + st.to_string() +
                  "; consensus stopped");
    replica_.reset();
    failed_ = true;
    return;
  }
  last_commit_ms_ = now_ms();
  handle(replica_->start(now_ms()));
}

// Not in the set in force: this node never votes again. Its mempool refuses
// new transactions and fails those it holds (nothing here will propose
// them); reads go on at the height it reached.
void Validator::retire(const std::string& why) {
  retired_ = true;
  validator_log(why + ": no longer voting; serving reads at height " +
                std::to_string(ledger_.head().height));
  stop_gossip();
  const Status refusal = Status::error(
      "NOT_A_VALIDATOR", "this node is not a validator of epoch " + std::to_string(set_.epoch) +
                             "; submit transactions to a validator of the set in force");
  mempool_.close(refusal);
  mempool_.fail_pending(refusal);
  std::lock_guard lock(mu_);
  epoch_shown_ = set_.epoch;
  index_shown_.reset();
  ++stats_.epoch_switches;
}

}  // namespace emledger::node
