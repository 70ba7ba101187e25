// Vote statements and equivocation evidence: docs/consensus.md sections 3 and
// 8, docs/formats/encoding.md.
#include "emledger/ledger/votes.hpp"

namespace emledger::ledger {
namespace {

Status invalid(const std::string& why) { return Status::error("EVIDENCE_INVALID", why); }

}  // namespace

Bytes vote_statement_bytes(std::string_view chain_id, Epoch epoch, VoteKind kind,
                           std::uint64_t view, std::uint64_t height, const Hash& digest) {
  const std::string chain(chain_id);
  switch (kind) {
    case VoteKind::kNotarize:
      return encode(NotarizeStatement{chain, epoch, height, view, digest});
    case VoteKind::kNullify:
      return encode(NullifyStatement{chain, epoch, view});
    case VoteKind::kFinalize:
      return encode(FinalizeVote{chain, epoch, height, view, digest});
  }
  EMLEDGER_ASSERT(false);
  return {};
}

Status EvidenceVote::check() const {
  if (kind == 0 || kind > kVoteKindMax) return invalid("vote kind out of range");
  if (view == 0) return invalid("view 0 is the genesis; nobody votes on it");
  if (static_cast<VoteKind>(kind) == VoteKind::kNullify) {
    if (height != 0 || !is_zero(digest)) return invalid("a nullify vote names no block");
  } else if (height == 0) {
    return invalid("a block vote needs height >= 1");
  }
  return Status::ok();
}

Status SubmitEvidence::check() const {
  EMLEDGER_TRY(first.check());
  EMLEDGER_TRY(second.check());
  if (first.validator != second.validator || first.kind != second.kind || first.view != second.view)
    return invalid("votes of different validators, kinds or views");
  // Same validator, kind and view: the statements differ exactly when the
  // blocks do (a nullify statement has no block, so two are always equal).
  if (first.height == second.height && first.digest == second.digest)
    return invalid("the same statement twice is never evidence");
  if (!(first < second)) return invalid("votes not in canonical order");
  return Status::ok();
}

SubmitEvidence make_submit_evidence(const EvidenceVote& a, const EvidenceVote& b) {
  return a < b ? SubmitEvidence{a, b} : SubmitEvidence{b, a};
}

Status verify_evidence(const Genesis& genesis, const SubmitEvidence& e) {
  EMLEDGER_TRY(e.check());
  if (e.first.validator >= genesis.validators.size())
    return Status::error("EVIDENCE_NOT_VALIDATOR", "validator index " +
                                                       std::to_string(e.first.validator) + " of " +
                                                       std::to_string(genesis.validators.size()));
  const PublicKey& key = genesis.validators[e.first.validator].public_key;
  for (const EvidenceVote* v : {&e.first, &e.second})
    if (!crypto::verify(key, v->statement_bytes(genesis.chain_id, kGenesisEpoch), v->signature))
      return Status::error("EVIDENCE_BAD_SIGNATURE",
                           "a vote's signature does not verify under validator " +
                               std::to_string(e.first.validator) + "'s key");
  return Status::ok();
}

}  // namespace emledger::ledger
