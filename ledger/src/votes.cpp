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

Result<SubmitEvidence> decode_submit_evidence(ByteView in) {
  // The version byte follows the tag (as decode_proof_bundle reads it).
  constexpr std::size_t kVersionAt = 1 + SubmitEvidence::kDomain.size();
  if (in.size() > kVersionAt && in[kVersionAt] == SubmitEvidenceV1::kVersion) {
    auto v1 = decode<SubmitEvidenceV1>(in);
    if (!v1) return v1.status();
    SubmitEvidence e{kGenesisEpoch, v1->first, v1->second};
    EMLEDGER_TRY(e.check());
    return e;
  }
  return decode<SubmitEvidence>(in);
}

SubmitEvidence make_submit_evidence(Epoch epoch, const EvidenceVote& a, const EvidenceVote& b) {
  return a < b ? SubmitEvidence{epoch, a, b} : SubmitEvidence{epoch, b, a};
}

Status verify_evidence(std::string_view chain_id, const ValidatorSet& set,
                       const SubmitEvidence& e) {
  EMLEDGER_TRY(e.check());
  if (set.epoch != e.epoch)
    return invalid("evidence of epoch " + std::to_string(e.epoch) + " checked against the set of " +
                   std::to_string(set.epoch));
  if (e.first.validator >= set.validators.size())
    return Status::error("EVIDENCE_NOT_VALIDATOR", "validator index " +
                                                       std::to_string(e.first.validator) + " of " +
                                                       std::to_string(set.validators.size()) +
                                                       " in epoch " + std::to_string(e.epoch));
  const PublicKey& key = set.validators[e.first.validator].public_key;
  for (const EvidenceVote* v : {&e.first, &e.second})
    if (!crypto::verify(key, v->statement_bytes(chain_id, e.epoch), v->signature))
      return Status::error("EVIDENCE_BAD_SIGNATURE",
                           "a vote's signature does not verify under validator " +
                               std::to_string(e.first.validator) + "'s key in epoch " +
                               std::to_string(e.epoch));
  return Status::ok();
}

Status verify_evidence(const Genesis& genesis, const SubmitEvidence& e) {
  return verify_evidence(genesis.chain_id, genesis_validator_set(genesis), e);
}

Status EvidenceRecord::check() const {
  if (epoch == kGenesisEpoch)
    return Status::error("MALFORMED_ENCODING",
                         std::string(kDomain) + ": epoch 0 is written as version 1");
  return Status::ok();
}

Bytes encode_evidence_record(const EvidenceRecord& r) {
  if (r.epoch == kGenesisEpoch) return encode(EvidenceRecordV1{r});
  return encode(r);
}

Result<EvidenceRecord> decode_evidence_record(ByteView in) {
  constexpr std::size_t kVersionAt = 1 + EvidenceRecord::kDomain.size();
  if (in.size() > kVersionAt && in[kVersionAt] == EvidenceRecordV1::kVersion) {
    auto v1 = decode<EvidenceRecordV1>(in);
    if (!v1) return v1.status();
    return std::move(v1->r);
  }
  return decode<EvidenceRecord>(in);
}

}  // namespace emledger::ledger
