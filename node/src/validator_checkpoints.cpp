// Checkpoint cosignatures (ADR 015, docs/formats/checkpoint.md) and the
// evidence a validator submits when it sees a conflicting signature or vote:
// the validator's turn at the checkpoint book, kept apart from validator.cpp,
// which runs consensus and commits blocks.
#include <algorithm>
#include <string>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/votes.hpp"
#include "validator.hpp"

namespace emledger::node {

// Once per turn of the loop: the book learns the head, a new head log is
// signed and sent, an own signature still short of a quorum is sent again
// every rebroadcast_ms (asking for replies), and a new quorate note is
// persisted at most every kCheckpointPersistIntervalMs. Signing at most once a
// turn keeps a catch-up of many blocks from signing each of them; the sizes
// one validator skipped are signed when a peer's signature of them arrives.
void Validator::checkpoint_turn() {
  const ledger::ChainHead head = ledger_.head();
  if (head.log_size != checkpoints_->head_size())
    for (const auto& c : checkpoints_->advance(head.log_size, head.log_root)) note_conflict(c);
  const std::uint64_t now = now_ms();
  if (!own_checkpoint_ || own_checkpoint_->size != head.log_size) {
    own_checkpoint_ = sign_checkpoint(head.log_size, head.log_root);
    EMLEDGER_ASSERT(own_checkpoint_.has_value());  // our own head: always counted
    send_all(ledger::encode(*own_checkpoint_));
    own_checkpoint_sent_ms_ = now;
  } else if (now >= own_checkpoint_sent_ms_ + config_.rebroadcast_ms) {
    const auto quorate = checkpoints_->quorate_size();
    if (!quorate || *quorate < own_checkpoint_->size) {
      CheckpointSignature again = *own_checkpoint_;
      again.reply_wanted = true;
      send_all(ledger::encode(again));
      own_checkpoint_sent_ms_ = now;
    }
  }
  if (checkpoints_->dirty() && now >= checkpoint_persisted_ms_ + kCheckpointPersistIntervalMs) {
    Status st = checkpoints_->persist();
    if (!st.is_ok()) validator_log("cannot persist the checkpoint: " + st.to_string());
    checkpoint_persisted_ms_ = now;
  }
}

std::uint64_t Validator::checkpoint_wait_ms(std::uint64_t now) const {
  std::uint64_t wait_ms = UINT64_MAX;
  auto until = [now](std::uint64_t at) { return at > now ? at - now : 0; };
  if (own_checkpoint_) {
    const auto quorate = checkpoints_->quorate_size();
    if (!quorate || *quorate < own_checkpoint_->size)
      wait_ms = until(own_checkpoint_sent_ms_ + config_.rebroadcast_ms);
  }
  if (checkpoints_->dirty())
    wait_ms = std::min(wait_ms, until(checkpoint_persisted_ms_ + kCheckpointPersistIntervalMs));
  return wait_ms;
}

// Our signature of the note text of (size, root), counted in the book; the
// one held already if we signed it before. nullopt when the book does not
// take it (no longer of use, or not our log).
std::optional<CheckpointSignature> Validator::sign_checkpoint(std::uint64_t size,
                                                              const Hash& root) {
  if (auto have = checkpoints_->signature_of(index_, size); have && have->root == root) return have;
  const std::string text =
      ledger::checkpoint_body(ledger::Checkpoint{ledger_.genesis().chain_id, size, root});
  CheckpointSignature s{size, root, index_, key_.sign(as_bytes(text)), false};
  const CosignOutcome o = checkpoints_->add(s);
  if (o != CosignOutcome::kAdded && o != CosignOutcome::kDuplicate) return std::nullopt;
  std::lock_guard lock(mu_);
  ++stats_.checkpoints_signed;
  return s;
}

// A peer's signature. One of a size of our log that is not yet quorate here
// and that we have not signed makes us sign it too (so that validators which
// signed different sizes meet on each). A peer that asks for replies (it has
// no quorum for that size), or that signed a size already quorate here (it
// came late: a restart), gets our signature back, at most once per peer every
// half rebroadcast_ms.
void Validator::on_checkpoint_signature(std::size_t peer, const CheckpointSignature& s) {
  const auto quorate_before = checkpoints_->quorate_size();
  const CosignOutcome o = checkpoints_->add(s);
  if (o == CosignOutcome::kConflict) return note_conflict(s);
  if (o == CosignOutcome::kUnknownSigner || o == CosignOutcome::kBadSignature) {
    std::lock_guard lock(mu_);
    ++stats_.checkpoint_sigs_refused;
    return;
  }
  if (o != CosignOutcome::kAdded && o != CosignOutcome::kDuplicate) return;
  auto mine = checkpoints_->signature_of(index_, s.size);
  if (!mine) {
    const auto quorate = checkpoints_->quorate_size();
    if (quorate && *quorate >= s.size) return;
    if (auto signed_now = sign_checkpoint(s.size, s.root)) send_all(ledger::encode(*signed_now));
    return;
  }
  const bool late = o == CosignOutcome::kAdded && quorate_before && *quorate_before == s.size;
  if (!s.reply_wanted && !late) return;
  if (peer >= checkpoint_replied_ms_.size()) return;
  const std::uint64_t now = now_ms();
  if (checkpoint_replied_ms_[peer] != 0 &&
      now < checkpoint_replied_ms_[peer] + config_.rebroadcast_ms / 2)
    return;
  checkpoint_replied_ms_[peer] = now;
  (void)transport_->send(peer, ledger::encode(*mine));
}

void Validator::note_conflict(const CheckpointSignature& s) {
  {
    std::lock_guard lock(mu_);
    ++stats_.checkpoint_conflicts;
  }
  if (s.signer >= conflict_logged_.size() || conflict_logged_[s.signer]) return;
  conflict_logged_[s.signer] = true;  // one line per signer: a faulty peer cannot flood the log
  auto ours = ledger_.log_root(s.size);
  validator_log("CONFLICTING CHECKPOINT: validator " + std::to_string(s.signer) +
                " signed log size " + std::to_string(s.size) + " with root " + short_hex(s.root) +
                ", our log has " + (ours ? short_hex(*ours) : ours.status().to_string()) +
                " (further conflicts of this validator are only counted)");
}

// ---- equivocation evidence ----

// The key id under which this validator's org holds the validator key, in
// the org as it stands at the head; nullopt when the org signs with other keys
// only (then the node cannot sign for it).
std::optional<std::uint32_t> Validator::own_org_key_id() const {
  const std::string& org_id = set_.validators[index_].org_id;
  auto raw = ledger_.state_value(ledger::org_state_key(org_id));
  if (!raw || !raw->has_value()) return std::nullopt;
  auto org = ledger::decode<ledger::Org>(**raw);
  if (!org) return std::nullopt;
  for (const auto& k : org->keys)
    if (k.public_key == key_.public_key()) return k.key_id;
  return std::nullopt;
}

// Turns an equivocation the replica saw into a SubmitEvidence transaction of
// our org, once per offence. The replica verified both signatures; the kernel
// verifies them again when the block executes (verify_evidence), and records
// the offence once whoever submits it (EVIDENCE_DUPLICATE after that).
void Validator::submit_evidence(const consensus::Evidence& e) {
  auto vote = [](const consensus::SignedVote& s) {
    return ledger::EvidenceVote{s.validator,   s.vote.kind,   s.vote.view,
                                s.vote.height, s.vote.digest, s.signature};
  };
  // The replica runs for set_ and signs and accepts votes of its epoch only,
  // so both votes are of set_.epoch.
  const ledger::SubmitEvidence payload =
      ledger::make_submit_evidence(set_.epoch, vote(e.first), vote(e.second));
  const auto offence = std::make_tuple(payload.epoch, payload.first.validator, payload.first.view,
                                       payload.first.kind);
  if (evidence_submitted_.count(offence)) return;
  const ledger::Genesis& g = ledger_.genesis();
  if (Status st = ledger::verify_evidence(g.chain_id, set_, payload); !st.is_ok()) {
    validator_log("evidence not submitted: " + st.to_string());
    return;
  }
  auto remember = [&] {
    evidence_submitted_.insert(offence);
    evidence_order_.push_back(offence);
    if (evidence_order_.size() > kEvidenceSubmittedMax) {
      evidence_submitted_.erase(evidence_order_.front());
      evidence_order_.pop_front();
    }
  };
  auto recorded = ledger_.state_value(ledger::evidence_state_key(
      payload.epoch, payload.first.validator, payload.first.view, payload.first.kind));
  if (recorded && recorded->has_value()) return remember();  // someone was faster
  const auto key_id = own_org_key_id();
  if (!key_id) {
    validator_log("evidence not submitted: org " + set_.validators[index_].org_id +
                  " holds no key equal to this validator's key");
    return;
  }
  ledger::TxBody b = ledger::make_body(ledger::TxType::kSubmitEvidence, payload);
  b.chain_id = g.chain_id;
  b.signer_org = set_.validators[index_].org_id;
  b.key_id = *key_id;
  b.expires_at_height = ledger_.head().height + ledger::kTxLifetimeBlocksMax;
  // One offence pair, one nonce: resubmitting the same pair at the same
  // expiry is the same transaction.
  const Hash digest = crypto::sha256(ledger::encode(payload));
  for (int i = 0; i < 8; ++i) b.nonce = b.nonce << 8 | digest[i];
  ledger::Tx tx = ledger::sign_tx(std::move(b), key_);
  if (Status st = ledger_.check_tx_stateless(tx); !st.is_ok()) {
    validator_log("evidence not submitted: " + st.to_string());
    return;
  }
  const Hash id = crypto::sha256(ledger::encode(tx));
  const std::string what = "evidence against validator " + std::to_string(payload.first.validator) +
                           " in view " + std::to_string(payload.first.view) + " of epoch " +
                           std::to_string(payload.epoch);
  Status st = mempool_.add(std::move(tx), id, [what](const TxResult& r) {
    if (r.status.is_ok())
      validator_log(what + " committed at height " + std::to_string(r.height));
    else
      validator_log(what + " not committed: " + r.status.to_string());
  });
  if (!st.is_ok() && st.code() != "DUPLICATE_TX") {
    validator_log(what + " not submitted: " + st.to_string());
    return;
  }
  remember();
  std::lock_guard lock(mu_);
  ++stats_.evidence_submitted;
}

}  // namespace emledger::node
