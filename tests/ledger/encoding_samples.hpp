// One valid, non-trivial value of every top-level encoded type. Used by the
// encoding round-trip tests and by the program that writes the fuzz seed
// corpus (tests/fuzz/make_seeds.cpp). Every field is set to something other
// than zero or empty, so that a field swapped or dropped in describe() shows.
#pragma once

#include <string>

#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/votes.hpp"

namespace emledger::samples {

using namespace emledger::ledger;

inline Hash filled(std::uint8_t b) {
  Hash h;
  h.fill(b);
  return h;
}

inline PublicKey key_filled(std::uint8_t b) {
  PublicKey k;
  k.fill(b);
  return k;
}

inline Signature sig_filled(std::uint8_t b) {
  Signature s;
  s.fill(b);
  return s;
}

inline Org org() {
  return Org{"sh.jiading.admin-center",
             "上海.嘉定",
             kRoleIssuer | kRoleValidator,
             {OrgKey{1, key_filled(0x11)}, OrgKey{7, key_filled(0x17)}}};
}

inline Genesis genesis() {
  Genesis g;
  g.chain_id = "sh-yrd.licenses";
  g.time_ms = 1'700'000'000'123;
  g.orgs = {Org{"a.validator", "r1", kRoleValidator, {OrgKey{1, key_filled(0x21)}}},
            Org{"b.issuer", "r2", kRoleIssuer | kRoleConsumer, {OrgKey{3, key_filled(0x22)}}}};
  g.validators = {Validator{"a.validator", key_filled(0x21), "10.0.0.1:7000"}};
  g.statutes = {StatutePolicy{"public.business-license", kRoleConsumer}};
  return g;
}

inline RecordBody record_body() {
  RecordBody b;
  b.kind = static_cast<std::uint8_t>(RecordKind::kLicense);
  b.type_code = "biz-license";
  b.holder_ref = filled(0x31);
  b.content_hash = filled(0x32);
  b.size_bytes = 123456;
  b.media_type = "application/pdf";
  b.locator = "https://store.example/doc/42";
  b.issued_at_ms = 1'700'000'000'000;
  b.valid_from_ms = 1'700'000'000'001;
  b.valid_until_ms = 1'800'000'000'000;
  return b;
}

inline Record record() {
  Record r;
  r.id = filled(0x41);
  r.issuer = "b.issuer";
  r.body = record_body();
  r.version = 2;
  r.supersedes = filled(0x42);
  r.superseded_by = filled(0x43);
  r.status = static_cast<std::uint8_t>(RecordStatus::kRevoked);
  r.revoke_reason = 9;
  r.anchor_tx = filled(0x44);
  r.anchor_height = 17;
  r.anchor_index = 3;
  r.updated_height = 19;
  r.ended_height = 19;
  r.ended_index = 5;
  return r;
}

inline RecordIdList record_id_list() { return RecordIdList{{filled(0x51), filled(0x52)}}; }

inline RegisterRecord register_record() { return RegisterRecord{record_body()}; }
inline ChangeLicense change_license() { return ChangeLicense{filled(0x61), record_body()}; }
inline RenewLicense renew_license() { return RenewLicense{filled(0x62), 1'900'000'000'000}; }
inline RevokeRecord revoke_record() { return RevokeRecord{filled(0x63), 4}; }

inline TxBody tx_body() {
  TxBody b = make_body(TxType::kRegisterRecord, register_record());
  b.chain_id = "sh-yrd.licenses";
  b.signer_org = "b.issuer";
  b.key_id = 3;
  b.expires_at_height = 1000;
  b.nonce = 0x0102030405060708;
  return b;
}

inline Tx tx() { return Tx{tx_body(), sig_filled(0x71)}; }
inline SignedBodyView signed_body_view() { return SignedBodyView{tx_body()}; }

inline BlockHeader header() {
  BlockHeader h;
  h.chain_id = "sh-yrd.licenses";
  h.height = 5;
  h.view = 6;
  h.time_ms = 1'700'000'000'777;
  h.parent = filled(0x81);
  h.log_size = 9;
  h.log_root = filled(0x82);
  h.state_root = filled(0x83);
  h.proposer = key_filled(0x84);
  h.payload_digest = filled(0x85);
  return h;
}

inline Block block() { return Block{header(), {encode(tx()), Bytes{1, 2, 3}}}; }

inline FinalizeVote finalize_vote() {
  return FinalizeVote{"sh-yrd.licenses", 2, 5, 6, filled(0x91)};
}

inline Certificate certificate() {
  return Certificate{
      5, 6, filled(0x92), {CertSignature{0, sig_filled(0x93)}, CertSignature{2, sig_filled(0x94)}}};
}

inline InclusionProof inclusion_proof() {
  return InclusionProof{3, 10, {filled(0xa1), filled(0xa2), filled(0xa3)}};
}

inline ConsistencyProof consistency_proof() {
  return ConsistencyProof{4, 11, {filled(0xa4), filled(0xa5)}};
}

// Membership: the key's own leaf at depth 2.
inline StateProof state_proof_present() {
  StateProof p;
  p.key = record_state_key(filled(0x41));
  p.present = true;
  p.value = encode(record());
  p.terminal = 1;
  p.siblings = {filled(0xb1), filled(0xb2)};
  return p;
}

// Non-membership shown by another key's leaf.
inline StateProof state_proof_other_leaf() {
  StateProof p;
  p.key = hash_index_state_key(filled(0x32));
  p.present = false;
  p.terminal = 1;
  p.other_path = filled(0xb3);
  p.other_value_hash = filled(0xb4);
  p.siblings = {filled(0xb5)};
  return p;
}

// A header that follows header() (or `parent`), for descendant links.
inline BlockHeader next_header(const BlockHeader& parent) {
  BlockHeader h = parent;
  h.height = parent.height + 1;
  h.view = parent.view + 2;
  h.time_ms = parent.time_ms + 1000;
  h.parent = parent.hash();
  h.log_size = parent.log_size + 1;
  h.log_root = filled(static_cast<std::uint8_t>(0x86 + h.height));
  h.state_root = filled(static_cast<std::uint8_t>(0x96 + h.height));
  return h;
}

// header() final through its grandchild: two links and the grandchild's
// certificate.
inline FinalityProof finality_by_descendant() {
  const BlockHeader child = next_header(header());
  const BlockHeader grandchild = next_header(child);
  Certificate c = certificate();
  c.height = grandchild.height;
  c.view = grandchild.view;
  c.header_hash = grandchild.hash();
  return FinalityProof{c, {child, grandchild}};
}

// Validator-set changes (validator_set.hpp).
inline std::vector<Validator> validators() {
  return {Validator{"a.validator", key_filled(0x23), "10.0.0.3:7000"},
          Validator{"c.validator", key_filled(0x24), "validator.example:7001"}};
}
inline ValidatorSet validator_set() { return ValidatorSet{2, 41, validators()}; }
inline ValidatorList validator_list() { return ValidatorList{validators()}; }
inline ValidatorSetChange validator_set_change() {
  return ValidatorSetChange{"sh-yrd.licenses", 2, filled(0x25)};
}
inline ChangeValidators change_validators() {
  return ChangeValidators{
      2,
      validators(),
      {ValidatorApproval{0, sig_filled(0x26)}, ValidatorApproval{3, sig_filled(0x27)}}};
}
// header() ending epoch 0 through its grandchild, proving the set of epoch 1.
inline EpochChange epoch_change() {
  StateProof next;
  next.key = validators_state_key();
  next.present = true;
  next.value = encode(ValidatorSet{1, header().height + 1, validators()});
  next.terminal = 1;
  next.siblings = {filled(0xb6), filled(0xb7), filled(0xb8)};
  return EpochChange{header(), finality_by_descendant(), std::move(next)};
}
inline Succession succession() {
  EpochChange own = epoch_change();
  own.finality = FinalityProof::own(certificate());
  return Succession{{epoch_change(), own}};
}

inline ProofBundle bundle() {
  ProofBundle b;
  b.genesis_hash = filled(0xc1);
  b.content_hash = filled(0x32);
  b.header = header();
  b.finality = FinalityProof::own(certificate());
  b.succession = succession();
  b.validators_proof = epoch_change().next_set;
  b.index_proof = state_proof_present();
  b.index_proof.key = hash_index_state_key(filled(0x32));
  b.index_proof.value = encode(record_id_list());
  b.records = {RecordEvidence{state_proof_present(), encode(tx()), inclusion_proof()}};
  return b;
}

inline ProofBundle bundle_by_descendant() {
  ProofBundle b = bundle();
  b.finality = finality_by_descendant();
  return b;
}

inline ProofBundleV2 bundle_v2() {
  const ProofBundle b = bundle_by_descendant();
  return ProofBundleV2{b.genesis_hash, b.content_hash, b.header,
                       b.finality,     b.index_proof,  b.records};
}

inline ProofBundleV1 bundle_v1() {
  const ProofBundle b = bundle();
  return ProofBundleV1{b.genesis_hash, b.content_hash, b.header,
                       certificate(),  b.index_proof,  b.records};
}

inline NotarizeStatement notarize_statement() {
  return NotarizeStatement{"sh-yrd.licenses", 2, 5, 6, filled(0x97)};
}
inline NullifyStatement nullify_statement() { return NullifyStatement{"sh-yrd.licenses", 2, 6}; }

inline EvidenceVote evidence_vote(std::uint8_t digest_fill, std::uint8_t sig_fill) {
  return EvidenceVote{3,
                      static_cast<std::uint8_t>(VoteKind::kNotarize),
                      6,
                      5,
                      filled(digest_fill),
                      sig_filled(sig_fill)};
}
inline SubmitEvidence submit_evidence() {
  return SubmitEvidence{2, evidence_vote(0x98, 0x9a), evidence_vote(0x99, 0x9b)};
}
inline SubmitEvidenceV1 submit_evidence_v1() {
  return SubmitEvidenceV1{evidence_vote(0x98, 0x9a), evidence_vote(0x99, 0x9b)};
}
inline EvidenceRecord evidence_record() {
  const SubmitEvidence e = submit_evidence();
  return EvidenceRecord{
      2, 3, e.first.kind, 6, key_filled(0x9c), e.first, e.second, "b.issuer", filled(0x9d), 47, 2};
}
inline EvidenceRecordV1 evidence_record_v1() {
  EvidenceRecord r = evidence_record();
  r.epoch = kGenesisEpoch;
  return EvidenceRecordV1{r};
}

inline TxEntry tx_entry() { return TxEntry{5, 1, 8, encode(tx())}; }

inline ChainHead chain_head() {
  return ChainHead{5, filled(0xd1), 1'700'000'000'777, 9, filled(0xd2), filled(0xd3)};
}

inline BindHolder bind_holder() { return BindHolder{filled(0xa1), key_filled(0xa2)}; }
inline RotateHolderKey rotate_holder_key() {
  return RotateHolderKey{filled(0xa1), key_filled(0xa3)};
}

inline GrantTerms grant_terms() {
  GrantTerms t;
  t.holder_ref = filled(0xa1);
  t.grantee = "sh.minhang.window";
  t.record_ids = {filled(0xb1), filled(0xb2)};
  t.type_codes = {"biz.license", "edu.diploma"};
  t.service_code = "svc.company-registration";
  t.case_id = "2026-嘉定-00042";
  t.not_before_ms = 1'800'000'000'000;
  t.not_after_ms = 1'800'086'400'000;
  t.max_uses = 3;
  return t;
}
inline CreateGrant create_grant() { return CreateGrant{grant_terms()}; }
inline RevokeGrant revoke_grant() { return RevokeGrant{filled(0xa1), filled(0xc1)}; }
inline RecordAccess record_access() { return RecordAccess{filled(0xb1), filled(0xc1), "case-7"}; }
inline FileObjection file_objection() { return FileObjection{filled(0xb1), filled(0xa1), 12}; }
inline ResolveObjection resolve_objection() { return ResolveObjection{filled(0xc2), 2, 13}; }
inline AnchorArchive anchor_archive() {
  return AnchorArchive{"case-7", filled(0xc3), {filled(0xb1), filled(0xb2)}};
}
inline HolderBinding holder_binding() {
  return HolderBinding{filled(0xa1), key_filled(0xa2), 2, "sh.identity", 44};
}
inline Grant grant() {
  return Grant{filled(0xc1), grant_terms(), 1, 1, filled(0xc4), 40, 2, 41, 0, 0};
}
inline Access access() {
  return Access{filled(0xc5),
                "sh.minhang.window",
                filled(0xb1),
                filled(0xa1),
                filled(0xc1),
                "case-7",
                false,
                42,
                6,
                1'800'000'001'000};
}
inline Objection objection() {
  return Objection{filled(0xc2), filled(0xb1), "", filled(0xa1), 12, 1, 0, 45, 0};
}
inline Archive archive() {
  return Archive{filled(0xc6), "sh.minhang.window", "case-7", filled(0xc3), {filled(0xb1)}, 46};
}

// Snapshot frames (snapshot.hpp).
inline SnapshotManifest snapshot_manifest() {
  return SnapshotManifest{filled(0xe1), 3, header(), finality_by_descendant(), succession()};
}
inline SnapshotHeaders snapshot_headers() {
  return SnapshotHeaders{{header(), next_header(header())}};
}
inline SnapshotLeaves snapshot_leaves() { return SnapshotLeaves{{filled(0xe2), filled(0xe3)}}; }
inline SnapshotState snapshot_state() {
  return SnapshotState{{SnapshotStateEntry{Bytes{'o', 'r', 'g', '/', 'a'}, encode(org())},
                        SnapshotStateEntry{record_state_key(filled(0xb1)), encode(record())}}};
}
inline SnapshotTxs snapshot_txs() { return SnapshotTxs{{tx_entry(), tx_entry()}}; }
inline SnapshotBlockTxs snapshot_block_txs() {
  return SnapshotBlockTxs{7, {encode(tx()), Bytes{1, 2, 3}}};
}
inline SnapshotEnd snapshot_end() { return SnapshotEnd{2, 9, 40, 3, 6}; }

}  // namespace emledger::samples
