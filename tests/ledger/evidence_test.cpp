// Equivocation evidence as a transaction (type 14, ledger/votes.hpp): the
// vote statements keep their bytes, and the kernel records an offence once,
// only when two validly signed votes of one validator conflict.
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/votes.hpp"
#include "encoding_samples.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;

namespace {

Bytes tagged(std::string_view domain, std::uint8_t version, const Bytes& fields) {
  Bytes b{static_cast<std::uint8_t>(domain.size())};
  b.insert(b.end(), domain.begin(), domain.end());
  b.push_back(version);
  b.insert(b.end(), fields.begin(), fields.end());
  return b;
}

Hash block_hash(std::uint8_t fill) {
  Hash h;
  h.fill(fill);
  return h;
}

// A vote of validator `index` signed by `key` over the statement of `chain`.
EvidenceVote signed_vote(const std::string& chain, const crypto::KeyPair& key, std::uint16_t index,
                         VoteKind kind, std::uint64_t view, std::uint64_t height,
                         const Hash& digest) {
  EvidenceVote v{index, static_cast<std::uint8_t>(kind), view, height, digest, {}};
  v.signature = key.sign(v.statement_bytes(chain, kGenesisEpoch));
  return v;
}

struct EvidenceNet : Net {
  EvidenceVote vote(VoteKind kind, std::uint64_t view, std::uint8_t block,
                    std::uint16_t index = 0) {
    const bool nullify = kind == VoteKind::kNullify;
    return signed_vote(genesis.chain_id, validator, index, kind, view, nullify ? 0 : 7,
                       nullify ? Hash{} : block_hash(block));
  }
  // Submits `e` (encoded as given, unordered pairs included) in one block.
  template <class P = SubmitEvidence>
  Status submit(const P& e, const std::string& org = "c.consumer") {
    const crypto::KeyPair& key = org == "c.consumer" ? consumer : issuer_b;
    TxBody b = make_body(TxType::kSubmitEvidence, e);
    b.chain_id = genesis.chain_id;
    b.signer_org = org;
    b.key_id = 1;
    b.expires_at_height = ledger->head().height + 10;
    b.nonce = ++nonce;
    return commit_one(sign_tx(std::move(b), key));
  }
  std::optional<EvidenceRecord> recorded(std::uint16_t index, std::uint64_t view, VoteKind kind) {
    auto raw =
        ledger->state_value(evidence_state_key(index, view, static_cast<std::uint8_t>(kind)));
    REQUIRE(raw.is_ok());
    if (!raw->has_value()) return std::nullopt;
    auto r = decode_evidence_record(**raw);
    REQUIRE(r.is_ok());
    return *r;
  }
};

void put_be(Bytes& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// An EvidenceVote's fields, written out by hand (docs/formats/encoding.md).
Bytes vote_fields(const EvidenceVote& v) {
  Bytes out;
  put_be(out, v.validator, 2);
  out.push_back(v.kind);
  put_be(out, v.view, 8);
  put_be(out, v.height, 8);
  out.insert(out.end(), v.digest.begin(), v.digest.end());
  out.insert(out.end(), v.signature.begin(), v.signature.end());
  return out;
}

}  // namespace

TEST_CASE("votes: the statements' bytes, version 2, with the epoch after the chain id") {
  const Hash h = block_hash(0x11);
  // Fields shared by the notarize and finalize statements: "ab", epoch 3,
  // height 1, view 2, the digest.
  Bytes fields{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 3, 0,
               0, 0, 0, 0, 0,   0,   1, 0, 0, 0, 0, 0, 0, 0, 2};
  fields.insert(fields.end(), h.begin(), h.end());
  CHECK(encode(NotarizeStatement{"ab", 3, 1, 2, h}) == tagged("emledger.vote.notarize", 2, fields));
  CHECK(vote_statement_bytes("ab", 3, VoteKind::kNotarize, 2, 1, h) ==
        tagged("emledger.vote.notarize", 2, fields));
  CHECK(vote_statement_bytes("ab", 3, VoteKind::kFinalize, 2, 1, h) ==
        encode(FinalizeVote{"ab", 3, 1, 2, h}));
  CHECK(vote_statement_bytes("ab", 3, VoteKind::kFinalize, 2, 1, h) ==
        tagged("emledger.vote.finalize", 2, fields));
  const Bytes nullify{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2};
  CHECK(encode(NullifyStatement{"ab", 3, 2}) == tagged("emledger.vote.nullify", 2, nullify));
  CHECK(vote_statement_bytes("ab", 3, VoteKind::kNullify, 2, 0, Hash{}) ==
        tagged("emledger.vote.nullify", 2, nullify));
  // The epoch is signed: another epoch, other bytes, for every kind.
  for (const VoteKind kind : {VoteKind::kNotarize, VoteKind::kNullify, VoteKind::kFinalize}) {
    const bool nullify_kind = kind == VoteKind::kNullify;
    CHECK(vote_statement_bytes("ab", 0, kind, 2, nullify_kind ? 0 : 1, nullify_kind ? Hash{} : h) !=
          vote_statement_bytes("ab", 1, kind, 2, nullify_kind ? 0 : 1, nullify_kind ? Hash{} : h));
  }
}

TEST_CASE("evidence: the payload refuses what is never evidence") {
  SubmitEvidence e = samples::submit_evidence();
  CHECK(decode<SubmitEvidence>(encode(e)).is_ok());
  auto code = [](const SubmitEvidence& x) {
    return decode<SubmitEvidence>(encode(x)).status().code();
  };
  SubmitEvidence same = e;
  same.second = same.first;
  CHECK(code(same) == "EVIDENCE_INVALID");
  // One statement with two signatures is not a conflict either.
  same.second.signature[0] ^= 1;
  CHECK(code(make_submit_evidence(kGenesisEpoch, same.first, same.second)) == "EVIDENCE_INVALID");
  SubmitEvidence swapped{e.epoch, e.second, e.first};
  CHECK(code(swapped) == "EVIDENCE_INVALID");
  CHECK(make_submit_evidence(kGenesisEpoch, e.second, e.first).first == e.first);
  SubmitEvidence other_view = e;
  other_view.second.view += 1;
  CHECK(code(other_view) == "EVIDENCE_INVALID");
  SubmitEvidence other_kind = e;
  other_kind.second.kind = static_cast<std::uint8_t>(VoteKind::kFinalize);
  CHECK(code(other_kind) == "EVIDENCE_INVALID");
  SubmitEvidence other_validator = e;
  other_validator.second.validator += 1;
  CHECK(code(other_validator) == "EVIDENCE_INVALID");
  for (std::uint8_t kind : {std::uint8_t{0}, std::uint8_t{4}}) {
    SubmitEvidence bad = e;
    bad.first.kind = bad.second.kind = kind;
    CHECK(code(bad) == "EVIDENCE_INVALID");
  }
  SubmitEvidence view_zero = e;
  view_zero.first.view = view_zero.second.view = 0;
  CHECK(code(view_zero) == "EVIDENCE_INVALID");
  // Nullify votes name no block, so two of one view are one statement.
  SubmitEvidence nullify = e;
  nullify.first.kind = nullify.second.kind = static_cast<std::uint8_t>(VoteKind::kNullify);
  CHECK(code(nullify) == "EVIDENCE_INVALID");
  nullify.first.height = nullify.second.height = 0;
  nullify.first.digest = nullify.second.digest = Hash{};
  CHECK(code(make_submit_evidence(kGenesisEpoch, nullify.first, nullify.second)) ==
        "EVIDENCE_INVALID");
  // A block vote at height 0.
  SubmitEvidence height_zero = e;
  height_zero.first.height = 0;
  CHECK(code(height_zero) == "EVIDENCE_INVALID");
}

TEST_CASE("evidence: two conflicting votes of a validator are recorded once") {
  EvidenceNet net;
  const SubmitEvidence e =
      make_submit_evidence(kGenesisEpoch, net.vote(VoteKind::kNotarize, 9, 0xa1),
                           net.vote(VoteKind::kNotarize, 9, 0xa2));
  REQUIRE(verify_evidence(net.genesis, e).is_ok());
  const Hash root_before = net.ledger->head().state_root;
  REQUIRE(net.submit(e).is_ok());
  CHECK(net.ledger->head().state_root != root_before);
  auto rec = net.recorded(0, 9, VoteKind::kNotarize);
  REQUIRE(rec.has_value());
  CHECK(rec->validator == 0);
  CHECK(rec->view == 9);
  CHECK(rec->kind == static_cast<std::uint8_t>(VoteKind::kNotarize));
  CHECK(rec->validator_key == net.validator.public_key());
  CHECK(rec->first == e.first);
  CHECK(rec->second == e.second);
  CHECK(rec->submitted_by == "c.consumer");
  CHECK(rec->height == net.ledger->head().height);
  CHECK(rec->index == 0);
  // The record's transaction is the committed one.
  auto block = net.ledger->block(rec->height);
  REQUIRE((block.is_ok() && block->has_value()));
  CHECK(crypto::sha256((*block)->txs[0]) == rec->tx);

  // The same offence again, by another pair or another org: refused, nothing
  // changes.
  const Hash root = net.ledger->head().state_root;
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, net.vote(VoteKind::kNotarize, 9, 0xa1),
                                        net.vote(VoteKind::kNotarize, 9, 0xa3)),
                   "b.issuer")
            .code() == "EVIDENCE_DUPLICATE");
  CHECK(net.submit(e).code() == "EVIDENCE_DUPLICATE");
  CHECK(net.ledger->head().state_root == root);
  CHECK(net.recorded(0, 9, VoteKind::kNotarize)->first == e.first);

  // Another kind or another view is another offence.
  REQUIRE(net.submit(make_submit_evidence(kGenesisEpoch, net.vote(VoteKind::kFinalize, 9, 0xa1),
                                          net.vote(VoteKind::kFinalize, 9, 0xa2)))
              .is_ok());
  CHECK(net.recorded(0, 9, VoteKind::kFinalize).has_value());
  CHECK_FALSE(net.recorded(0, 10, VoteKind::kNotarize).has_value());

  // The API form names both votes.
  Json j = to_json(*parse_tx((*block)->txs[0]));
  CHECK(j["type"] == "submit_evidence");
  CHECK(j["payload"]["first"]["kind"] == "notarize");
  CHECK(j["payload"]["second"]["view"] == 9);
}

TEST_CASE(
    "evidence: identical votes, different views, bad signatures and non-validators are refused") {
  EvidenceNet net;
  const Hash root = net.ledger->head().state_root;
  const EvidenceVote a = net.vote(VoteKind::kNotarize, 4, 0xb1);

  SubmitEvidence identical{kGenesisEpoch, a, a};
  CHECK(net.submit(identical).code() == "EVIDENCE_INVALID");

  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, a, net.vote(VoteKind::kNotarize, 5, 0xb2)))
            .code() == "EVIDENCE_INVALID");
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, a, net.vote(VoteKind::kFinalize, 4, 0xb2)))
            .code() == "EVIDENCE_INVALID");

  EvidenceVote forged = net.vote(VoteKind::kNotarize, 4, 0xb2);
  forged.signature[5] ^= 0x20;
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, a, forged)).code() ==
        "EVIDENCE_BAD_SIGNATURE");
  // Signed by someone else's key in the validator's name.
  const EvidenceVote impostor = signed_vote(net.genesis.chain_id, net.consumer, 0,
                                            VoteKind::kNotarize, 4, 7, block_hash(0xb3));
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, a, impostor)).code() ==
        "EVIDENCE_BAD_SIGNATURE");
  // Votes signed for another chain.
  const EvidenceVote other_chain =
      signed_vote("other-chain", net.validator, 0, VoteKind::kNotarize, 4, 7, block_hash(0xb4));
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, a, other_chain)).code() ==
        "EVIDENCE_BAD_SIGNATURE");
  // A notarize signature presented as a finalize vote of the same block.
  EvidenceVote relabelled = net.vote(VoteKind::kNotarize, 4, 0xb5);
  relabelled.kind = static_cast<std::uint8_t>(VoteKind::kFinalize);
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, relabelled,
                                        net.vote(VoteKind::kFinalize, 4, 0xb6)))
            .code() == "EVIDENCE_BAD_SIGNATURE");

  // Index 1 is not a validator of this one-validator genesis, even though
  // the key that signed is a real validator's.
  const EvidenceVote x1 = net.vote(VoteKind::kNotarize, 4, 0xc1, 1);
  const EvidenceVote x2 = net.vote(VoteKind::kNotarize, 4, 0xc2, 1);
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, x1, x2)).code() == "EVIDENCE_NOT_VALIDATOR");

  // A payload that is not a SubmitEvidence at all.
  TxBody b = make_body(TxType::kSubmitEvidence, RevokeRecord{block_hash(1), 1});
  b.chain_id = net.genesis.chain_id;
  b.signer_org = "c.consumer";
  b.key_id = 1;
  b.expires_at_height = 10;
  b.nonce = ++net.nonce;
  CHECK(net.commit_one(sign_tx(std::move(b), net.consumer)).code() == "INVALID_PAYLOAD");

  CHECK(net.ledger->head().state_root == root);
  CHECK_FALSE(net.recorded(0, 4, VoteKind::kNotarize).has_value());
  CHECK_FALSE(net.recorded(1, 4, VoteKind::kNotarize).has_value());
}

TEST_CASE("evidence: only an org signs it; a holder cannot") {
  CHECK(org_may_sign(static_cast<std::uint8_t>(TxType::kSubmitEvidence)));
  CHECK_FALSE(holder_may_sign(static_cast<std::uint8_t>(TxType::kSubmitEvidence)));
  Tx t = samples::tx();
  t.body.type = static_cast<std::uint8_t>(TxType::kSubmitEvidence);
  CHECK(decode<Tx>(encode(t)).is_ok());
  t.body.signer_org.clear();
  CHECK(decode<Tx>(encode(t)).status().code() == "TX_MALFORMED");
}

TEST_CASE("evidence: a version 1 payload still verifies as epoch 0 and records the bytes it did") {
  EvidenceNet net;
  const EvidenceVote a = net.vote(VoteKind::kNotarize, 6, 0xd1);
  const EvidenceVote b = net.vote(VoteKind::kNotarize, 6, 0xd2);
  REQUIRE(a < b);
  // The payload as written before epochs: version 1, the two votes only.
  const SubmitEvidenceV1 v1{a, b};
  Bytes fields = vote_fields(a);
  const Bytes second = vote_fields(b);
  fields.insert(fields.end(), second.begin(), second.end());
  REQUIRE(encode(v1) == tagged("emledger.tx.submit-evidence", 1, fields));
  auto read = decode_submit_evidence(encode(v1));
  REQUIRE(read.is_ok());
  CHECK(read->epoch == kGenesisEpoch);
  CHECK(verify_evidence(net.genesis, *read).is_ok());

  REQUIRE(net.submit(v1).is_ok());
  auto raw = net.ledger->state_value(evidence_state_key(0, 6, 1));
  REQUIRE((raw.is_ok() && raw->has_value()));
  auto rec = decode_evidence_record(**raw);
  REQUIRE(rec.is_ok());
  CHECK(rec->epoch == kGenesisEpoch);
  CHECK(evidence_state_key(kGenesisEpoch, 0, 6, 1) == evidence_state_key(0, 6, 1));
  // The record of an epoch-0 offence is the version 1 value, field for field
  // as before epochs, so that old chains keep their state roots.
  Bytes record;
  put_be(record, 0, 2);
  record.push_back(1);
  put_be(record, 6, 8);
  const PublicKey key = net.validator.public_key();
  record.insert(record.end(), key.begin(), key.end());
  record.insert(record.end(), fields.begin(), fields.end());
  put_be(record, 10, 4);
  for (char c : std::string("c.consumer")) record.push_back(static_cast<std::uint8_t>(c));
  record.insert(record.end(), rec->tx.begin(), rec->tx.end());
  put_be(record, net.ledger->head().height, 8);
  put_be(record, 0, 4);
  CHECK(**raw == tagged("emledger.evidence", 1, record));

  // The same offence as a version 2 payload of epoch 0 is the same offence.
  CHECK(net.submit(make_submit_evidence(kGenesisEpoch, a, b)).code() == "EVIDENCE_DUPLICATE");
  // The API form names the epoch.
  auto block = net.ledger->block(rec->height);
  REQUIRE((block.is_ok() && block->has_value()));
  CHECK(to_json(*parse_tx((*block)->txs[0]))["payload"]["epoch"] == 0);
}
