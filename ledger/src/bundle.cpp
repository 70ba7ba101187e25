// Offline verification of proof bundles: docs/formats/bundle.md.
#include "emledger/ledger/bundle.hpp"

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/ledger.hpp"

namespace emledger::ledger {
namespace {

Status invalid(const char* code, std::string msg) { return Status::error(code, std::move(msg)); }

// The anchoring transaction must be in the log under the certified root, be
// signed by the record's issuer under a key of the trusted genesis, and state
// the same file, holder and type as the record.
Status check_seal(const Genesis& trusted, const BlockHeader& header, const Record& rec,
                  const RecordEvidence& ev) {
  auto tx = parse_tx(ev.anchor_tx);
  if (!tx) return invalid("BUNDLE_SEAL_INVALID", "anchor transaction: " + tx.status().message());
  const Hash tx_id = tx->id();
  if (tx_id != rec.anchor_tx || record_id_for(tx_id) != rec.id)
    return invalid("BUNDLE_SEAL_INVALID", "anchor transaction is not the one that made the record");
  if (ev.anchor_inclusion.tree_size != header.log_size ||
      !verify_inclusion(log_leaf_hash(ev.anchor_tx), ev.anchor_inclusion, header.log_root))
    return invalid("BUNDLE_PROOF_INVALID", "anchor transaction is not in the certified log");
  if (tx->body.chain_id != trusted.chain_id || tx->body.signer_org != rec.issuer)
    return invalid("BUNDLE_SEAL_INVALID", "anchor transaction not signed by the record's issuer");
  const Org* org = trusted.find_org(rec.issuer);
  const OrgKey* key = org ? org->find_key(tx->body.key_id) : nullptr;
  if (!key || !(org->roles & kRoleIssuer) ||
      !crypto::verify(key->public_key, tx->signing_bytes(), tx->signature))
    return invalid("BUNDLE_SEAL_INVALID", "issuer signature does not verify");
  RecordBody stated;
  if (tx->body.type == static_cast<std::uint8_t>(TxType::kRegisterRecord)) {
    auto p = decode<RegisterRecord>(tx->body.payload);
    if (!p) return invalid("BUNDLE_SEAL_INVALID", "anchor payload: " + p.status().message());
    stated = p->body;
  } else if (tx->body.type == static_cast<std::uint8_t>(TxType::kChangeLicense)) {
    auto p = decode<ChangeLicense>(tx->body.payload);
    if (!p) return invalid("BUNDLE_SEAL_INVALID", "anchor payload: " + p.status().message());
    stated = p->body;
  } else {
    return invalid("BUNDLE_SEAL_INVALID", "anchor transaction does not create a record");
  }
  if (stated.content_hash != rec.body.content_hash || stated.holder_ref != rec.body.holder_ref ||
      stated.type_code != rec.body.type_code || stated.kind != rec.body.kind)
    return invalid("BUNDLE_SEAL_INVALID", "issuer's signed statement differs from the record");
  return Status::ok();
}

// The header's state names the set in force above it: the succession must
// reach that set, or the header could be a tail block of an older epoch
// (docs/validator-set-changes.md section 2) judged by the set it outlived.
// A bundle of version 1 or 2 has no validators proof and no succession: it
// is judged by the genesis set, as when it was written.
Status check_validators(const std::vector<ValidatorSet>& sets, const ProofBundle& bundle) {
  const StateProof& p = bundle.validators_proof;
  if (p.key.empty() && bundle.succession.changes.empty()) return Status::ok();
  if (p.key != validators_state_key() || !verify_state_proof(p, bundle.header.state_root))
    return invalid("BUNDLE_PROOF_INVALID", "validators proof does not verify");
  const bool complete = sets.size() == 1 ? !p.present : p.present && p.value == encode(sets.back());
  if (!complete)
    return invalid("BUNDLE_PROOF_INVALID",
                   "the succession does not reach the validator set the header's state names");
  return Status::ok();
}

Verdict judge(const Record& r, std::uint64_t time_ms) {
  if (r.status == static_cast<std::uint8_t>(RecordStatus::kRevoked)) return Verdict::kRevoked;
  if (r.status == static_cast<std::uint8_t>(RecordStatus::kSuperseded)) return Verdict::kSuperseded;
  if (time_ms < r.body.valid_from_ms) return Verdict::kNotYetValid;
  if (r.body.valid_until_ms != 0 && time_ms >= r.body.valid_until_ms) return Verdict::kExpired;
  return Verdict::kValid;
}

// Lower is more telling when no record is valid.
int severity(Verdict v) {
  switch (v) {
    case Verdict::kValid:
      return 0;
    case Verdict::kRevoked:
      return 1;
    case Verdict::kSuperseded:
      return 2;
    case Verdict::kExpired:
      return 3;
    case Verdict::kNotYetValid:
      return 4;
    case Verdict::kNotAnchored:
      return 5;
  }
  return 6;
}

}  // namespace

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kNotAnchored:
      return "not_anchored";
    case Verdict::kRevoked:
      return "revoked";
    case Verdict::kSuperseded:
      return "superseded";
    case Verdict::kExpired:
      return "expired";
    case Verdict::kNotYetValid:
      return "not_yet_valid";
  }
  return "unknown";
}

Result<ProofBundle> decode_proof_bundle(ByteView in) {
  // The version byte follows the tag. Only an input naming version 1 or 2 is
  // decoded as that version; anything else gets the version 3 decoder's
  // answer.
  constexpr std::size_t kVersionAt = 1 + ProofBundle::kDomain.size();
  const auto legacy = [](Hash genesis_hash, Hash content_hash, BlockHeader header,
                         FinalityProof finality, StateProof index_proof,
                         std::vector<RecordEvidence> records) {
    ProofBundle b;
    b.genesis_hash = genesis_hash;
    b.content_hash = content_hash;
    b.header = std::move(header);
    b.finality = std::move(finality);
    b.index_proof = std::move(index_proof);
    b.records = std::move(records);
    return b;
  };
  if (in.size() > kVersionAt && in[kVersionAt] == ProofBundleV1::kVersion) {
    auto v1 = decode<ProofBundleV1>(in);
    if (!v1) return v1.status();
    return legacy(v1->genesis_hash, v1->content_hash, std::move(v1->header),
                  FinalityProof::own(std::move(v1->certificate)), std::move(v1->index_proof),
                  std::move(v1->records));
  }
  if (in.size() > kVersionAt && in[kVersionAt] == ProofBundleV2::kVersion) {
    auto v2 = decode<ProofBundleV2>(in);
    if (!v2) return v2.status();
    return legacy(v2->genesis_hash, v2->content_hash, std::move(v2->header),
                  std::move(v2->finality), std::move(v2->index_proof), std::move(v2->records));
  }
  return decode<ProofBundle>(in);
}

Result<BundleVerdict> verify_bundle(const Genesis& trusted, const ProofBundle& bundle,
                                    const Hash& file_hash) {
  if (bundle.genesis_hash != trusted.hash())
    return invalid("BUNDLE_GENESIS_MISMATCH", "bundle is for another network");
  if (bundle.content_hash != file_hash)
    return invalid("BUNDLE_HASH_MISMATCH", "bundle is about another file");
  auto sets = verify_succession(trusted, bundle.succession);
  if (!sets) return sets.status();
  EMLEDGER_TRY(verify_finality_in_set(trusted.chain_id, set_for_height(*sets, bundle.header.height),
                                      bundle.header, bundle.finality));
  const Hash& root = bundle.header.state_root;
  EMLEDGER_TRY(check_validators(*sets, bundle));
  if (bundle.index_proof.key != hash_index_state_key(file_hash) ||
      !verify_state_proof(bundle.index_proof, root))
    return invalid("BUNDLE_PROOF_INVALID", "content index proof does not verify");
  BundleVerdict out;
  out.height = bundle.header.height;
  out.time_ms = bundle.header.time_ms;
  if (!bundle.index_proof.present) {
    if (!bundle.records.empty())
      return invalid("BUNDLE_PROOF_INVALID", "records given for an unanchored file");
    out.overall = Verdict::kNotAnchored;
    return out;
  }
  auto ids = decode<RecordIdList>(bundle.index_proof.value);
  if (!ids) return invalid("BUNDLE_PROOF_INVALID", "content index: " + ids.status().message());
  if (ids->ids.size() != bundle.records.size())
    return invalid("BUNDLE_PROOF_INVALID", "bundle does not carry every record of the index");
  out.overall = Verdict::kNotAnchored;
  for (std::size_t i = 0; i < ids->ids.size(); ++i) {
    const RecordEvidence& ev = bundle.records[i];
    if (ev.record_proof.key != record_state_key(ids->ids[i]) || !ev.record_proof.present ||
        !verify_state_proof(ev.record_proof, root))
      return invalid("BUNDLE_PROOF_INVALID", "record proof does not verify");
    auto rec = decode<Record>(ev.record_proof.value);
    if (!rec) return invalid("BUNDLE_PROOF_INVALID", "record: " + rec.status().message());
    if (rec->id != ids->ids[i] || rec->body.content_hash != file_hash)
      return invalid("BUNDLE_PROOF_INVALID", "record does not belong to this file");
    EMLEDGER_TRY(check_seal(trusted, bundle.header, *rec, ev));
    Verdict v = judge(*rec, bundle.header.time_ms);
    if (severity(v) < severity(out.overall)) out.overall = v;
    out.records.push_back(RecordVerdict{std::move(*rec), v});
  }
  return out;
}

}  // namespace emledger::ledger
