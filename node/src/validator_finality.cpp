// A validator's finality (docs/consensus.md): committing the blocks its
// replica reports final, in height order, each with the finality proof the
// ledger checks (the block's own certificate, or a descendant's with the
// headers between), then settling the proposals the commit decided. Kept
// apart from validator.cpp, where blocks are built and checked.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "validator.hpp"

namespace emledger::node {

Result<ledger::FinalityProof> Validator::proof_for(const consensus::Finalized& f,
                                                   const Known& k) const {
  if (!f.by_descendant) return ledger::FinalityProof::own(f.proof.to_ledger());
  if (k.peer_proof) return *k.peer_proof;  // commit verifies it
  // The descendant form: the headers from the next height up to the block
  // the certificate finalizes, each the parent of the next.
  std::vector<ledger::BlockHeader> links;
  Hash at = f.proof.digest;
  while (at != f.block.digest) {
    auto it = known_.find(at);
    if (it == known_.end() || it->second.block.header.height <= f.block.height)
      return Status::error("CERT_LINK_BROKEN", "a block between " + short_hex(f.block.digest) +
                                                   " and its finalized descendant is unknown");
    links.push_back(it->second.block.header);
    at = it->second.block.header.parent;
  }
  std::reverse(links.begin(), links.end());
  return ledger::FinalityProof{f.proof.to_ledger(), std::move(links)};
}

// Commits the final blocks in order, as far as possible now. A block final
// only through a descendant's certificate is first asked of the peers, for at
// most kOwnCertWaitMs: one that saw its finalization committed it with its
// own certificate, the compact form that needs no links. Failing that it is
// committed with the descendant's proof (ledger::FinalityProof with links).
void Validator::pump_finals() {
  if (pumping_) return;
  pumping_ = true;
  while (!finals_.empty() && !failed_ && !epoch_ended_) {
    const consensus::Finalized& f = finals_.front();
    auto it = known_.find(f.block.digest);
    if (f.by_descendant && it != known_.end() && !it->second.peer_proof &&
        f.block.height > ledger_.head().height) {
      const std::uint64_t now = now_ms();
      if (!cert_wait_ || cert_wait_->first != f.block.digest) {
        cert_wait_.emplace(f.block.digest, now);
        send_all(ledger::encode(BlockRequest{f.block.height, f.block.digest}));
      }
      if (now < cert_wait_->second + kOwnCertWaitMs) break;
    }
    const consensus::Finalized next = f;
    finals_.pop_front();
    if (!commit_final(next)) break;
  }
  pumping_ = false;
}

bool Validator::commit_final(const consensus::Finalized& f) {
  const ledger::ChainHead head = ledger_.head();
  if (f.block.height <= head.height) {
    auto h = ledger_.header(f.block.height);
    if (!h || !h->has_value() || (*h)->hash() != f.block.digest)
      validator_log("SAFETY: final block " + short_hex(f.block.digest) + " at height " +
                    std::to_string(f.block.height) + " differs from the committed one");
    return true;
  }
  auto it = known_.find(f.block.digest);
  if (f.block.height != head.height + 1 || it == known_.end()) {
    validator_log("final block " + short_hex(f.block.digest) + " at height " +
                  std::to_string(f.block.height) + " cannot be committed on head " +
                  std::to_string(head.height) + " (unknown or not next); consensus stopped");
    failed_ = true;
    return false;
  }
  Known& k = it->second;
  if (!k.prepared || k.prepared->block.header.parent != head.header_hash) {
    auto executed = ledger_.execute(k.block);
    if (!executed) {
      validator_log("final block " + short_hex(f.block.digest) +
                    " does not execute: " + executed.status().to_string() + "; consensus stopped");
      failed_ = true;
      return false;
    }
    k.prepared.emplace(std::move(*executed));
  }
  auto proof = proof_for(f, k);
  Status st = proof ? ledger_.commit(*k.prepared, *proof) : proof.status();
  if (!st.is_ok() && f.by_descendant && k.peer_proof) {
    // The proof a peer sent along did not verify: use the descendant's.
    k.peer_proof.reset();
    proof = proof_for(f, k);
    st = proof ? ledger_.commit(*k.prepared, *proof) : proof.status();
  }
  if (!st.is_ok()) {
    validator_log("commit of block " + std::to_string(f.block.height) +
                  " failed: " + st.to_string() + "; consensus stopped");
    failed_ = true;
    return false;
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.blocks_committed;
  }
  last_commit_ms_ = now_ms();
  replica_->ledger_durable(f.block.view);
  // Waiters learn their positions only now that the block is durable.
  if (auto p = proposed_.find(f.block.digest); p != proposed_.end()) {
    const auto& ids = k.prepared->tx_ids;
    const std::uint64_t base = k.prepared->new_head.log_size - ids.size();
    std::unordered_map<Hash, std::uint64_t, HashHasher> position;
    for (std::size_t i = 0; i < ids.size(); ++i) position[ids[i]] = base + i;
    for (auto& r : p->second.results) {
      auto pos = position.find(r.id);
      EMLEDGER_ASSERT(pos != position.end());
      r.height = f.block.height;
      r.log_index = pos->second;
    }
    mempool_.complete(p->second.results);
    proposed_.erase(p);
  }
  complete_committed(*k.prepared);
  settle_proposals(f.block.height, f.block.digest);
  for (auto b = known_.begin(); b != known_.end();)
    b = b->second.block.header.height <= f.block.height ? known_.erase(b) : std::next(b);
  pending_blocks_->prune_through(f.block.height);
  note_epoch_end();
  if (epoch_ended_) return false;  // the rest is the old epoch's tail: never committed
  retry_deferred();
  return true;
}

// Our proposals at or below a committed height that are not the committed
// block will never be: their transactions go back to the mempool.
void Validator::settle_proposals(consensus::Height committed_height, const Hash& committed_digest) {
  for (auto p = proposed_.begin(); p != proposed_.end();) {
    if (p->second.height > committed_height || p->first == committed_digest) {
      ++p;
      continue;
    }
    mempool_.return_to_pending(std::move(p->second.candidates));
    p = proposed_.erase(p);
  }
}

}  // namespace emledger::node
