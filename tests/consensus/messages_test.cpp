#include "emledger/consensus/messages.hpp"

#include <doctest/doctest.h>

#include "emledger/consensus/verifier.hpp"
#include "emledger/ledger/types.hpp"
#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

Hash digest_of(const char* s) { return crypto::sha256(as_bytes(s)); }

template <class T>
void check_round_trip(const T& v) {
  Bytes bytes = ledger::encode(v);
  auto back = ledger::decode<T>(bytes);
  REQUIRE(back.is_ok());
  CHECK(ledger::encode(*back) == bytes);
  // Every strict prefix is refused, and so is any trailing byte.
  for (std::size_t cut = 0; cut < bytes.size(); cut += 7)
    CHECK_FALSE(ledger::decode<T>(ByteView(bytes.data(), cut)).is_ok());
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK_FALSE(ledger::decode<T>(longer).is_ok());
}

}  // namespace

TEST_CASE("votes, proposals, certificates and evidence round-trip and refuse truncation") {
  auto keys = keys_for(4);
  const Vote n = notarize_vote(3, 2, digest_of("b"));
  check_round_trip(n);
  check_round_trip(nullify_vote(9));
  check_round_trip(sign_vote(keys, 2, finalize_vote(3, 2, digest_of("b"))));
  BlockRef b{3, 2, 1, digest_of("p"), digest_of("b")};
  check_round_trip(propose(keys, 3, b));
  check_round_trip(certify(keys, n, {0, 1, 3}));
  check_round_trip(make_evidence(sign_vote(keys, 1, n),
                                 sign_vote(keys, 1, notarize_vote(3, 2, digest_of("c")))));
}

TEST_CASE("decoding refuses votes that break their invariants") {
  auto refused = [](const Vote& v) { return !ledger::decode<Vote>(ledger::encode(v)).is_ok(); };
  CHECK(refused(Vote{0, 1, 1, digest_of("b")}));             // kind 0
  CHECK(refused(Vote{4, 1, 1, digest_of("b")}));             // kind out of range
  CHECK(refused(Vote{1, 0, 1, digest_of("b")}));             // view 0 is the anchor
  CHECK(refused(Vote{3, kViewMax + 1, 1, digest_of("b")}));  // view past the bound
  CHECK_FALSE(refused(Vote{3, kViewMax, 1, digest_of("b")}));
  CHECK(refused(Vote{1, 1, 0, digest_of("b")}));  // block vote at height 0
  CHECK(refused(Vote{2, 1, 0, digest_of("b")}));  // nullify naming a block
  CHECK(refused(Vote{2, 1, 5, Hash{}}));          // nullify with a height
  CHECK_FALSE(refused(Vote{2, 1, 0, Hash{}}));
  CHECK_FALSE(refused(Vote{3, 1, 1, digest_of("b")}));
}

TEST_CASE("decoding refuses malformed proposals and certificates") {
  auto keys = keys_for(4);
  Proposal p = propose(keys, 1, BlockRef{1, 1, 0, digest_of("g"), digest_of("b")});
  p.block.parent_view = 1;  // parent not below the proposal's view
  CHECK_FALSE(ledger::decode<Proposal>(ledger::encode(p)).is_ok());

  const Vote v = notarize_vote(1, 1, digest_of("b"));
  Certificate c = certify(keys, v, {0, 1, 2});
  std::swap(c.signatures[0], c.signatures[1]);  // signers out of order
  CHECK_FALSE(ledger::decode<Certificate>(ledger::encode(c)).is_ok());
  c = certify(keys, v, {0, 1, 2});
  c.signatures[1].validator = 0;  // a signer twice
  CHECK_FALSE(ledger::decode<Certificate>(ledger::encode(c)).is_ok());
  c.signatures.clear();
  CHECK_FALSE(ledger::decode<Certificate>(ledger::encode(c)).is_ok());

  // A length prefix over the maximum is refused before anything is read.
  Bytes bytes = ledger::encode(certify(keys, v, {0, 1, 2}));
  const std::size_t count_at = bytes.size() - 3 * (2 + 64) - 4;
  bytes[count_at] = 0xff;
  CHECK_FALSE(ledger::decode<Certificate>(bytes).is_ok());
}

TEST_CASE("decode_message dispatches on the domain tag and refuses anything else") {
  auto keys = keys_for(4);
  const SignedVote sv = sign_vote(keys, 0, nullify_vote(4));
  auto m = decode_message(encode_message(Message{sv}));
  REQUIRE(m.is_ok());
  REQUIRE(std::holds_alternative<SignedVote>(*m));
  CHECK(std::get<SignedVote>(*m) == sv);

  const Certificate c = certify(keys, nullify_vote(4), {0, 1, 2});
  m = decode_message(encode_message(Message{c}));
  REQUIRE(m.is_ok());
  CHECK(std::holds_alternative<Certificate>(*m));

  CHECK_FALSE(decode_message(Bytes{}).is_ok());
  CHECK_FALSE(decode_message(Bytes{40, 'x'}).is_ok());  // tag longer than the input
  CHECK_FALSE(decode_message(ledger::encode(nullify_vote(4))).is_ok());  // an unsigned vote
  Bytes flipped = encode_message(Message{sv});
  flipped[1] ^= 0x20;  // "Emledger...": another domain
  CHECK_FALSE(decode_message(flipped).is_ok());
}

TEST_CASE(
    "a finalize vote signs exactly ledger::FinalizeVote, so a quorum is a ledger certificate") {
  auto keys = keys_for(4);
  ledger::Genesis genesis;
  genesis.chain_id = kChain;
  for (const auto& k : keys) genesis.validators.push_back({"org", k.public_key(), ""});
  ledger::BlockHeader header;
  header.chain_id = kChain;
  header.height = 7;
  header.view = 9;
  const Hash hh = header.hash();

  const Vote fv = finalize_vote(9, 7, hh);
  CHECK(signing_bytes(kChain, kEpoch, fv) ==
        ledger::encode(ledger::FinalizeVote{kChain, kEpoch, 7, 9, hh}));
  CHECK(ledger::verify_certificate(genesis, header, certify(keys, fv, {0, 2, 3}).to_ledger())
            .is_ok());
  // The notarize and nullify statements differ from it (and from each other).
  CHECK(signing_bytes(kChain, kEpoch, notarize_vote(9, 7, hh)) !=
        signing_bytes(kChain, kEpoch, fv));
  CHECK(ledger::verify_certificate(
            genesis, header,
            Certificate{fv.kind, 9, 7, hh,
                        certify(keys, notarize_vote(9, 7, hh), {0, 2, 3}).signatures}
                .to_ledger())
            .code() == "CERT_BAD_SIGNATURE");
  // Two signers are not a quorum of four.
  CHECK(ledger::verify_certificate(genesis, header, certify(keys, fv, {0, 2}).to_ledger()).code() ==
        "CERT_NO_QUORUM");

  // A quorum of epoch 1 is no certificate of the height's epoch (0), and a
  // quorum of epoch 0 none of epoch 1.
  const ledger::Certificate of_epoch_1 = certify(keys, fv, {0, 2, 3}, 1).to_ledger();
  CHECK(ledger::verify_certificate(genesis, header, of_epoch_1).code() == "CERT_BAD_SIGNATURE");
  CHECK(ledger::verify_certificate_in_epoch(genesis, 1, header, of_epoch_1).is_ok());
  const ledger::Certificate of_epoch_0 = certify(keys, fv, {0, 2, 3}, 0).to_ledger();
  CHECK(ledger::verify_certificate_in_epoch(genesis, 1, header, of_epoch_0).code() ==
        "CERT_BAD_SIGNATURE");
  CHECK(ledger::verify_certificate_in_epoch(genesis, 0, header, of_epoch_0).is_ok());
}

TEST_CASE("every statement names its epoch: the same vote signs different bytes per epoch") {
  const Hash h = digest_of("b");
  for (const Vote& v : {notarize_vote(5, 3, h), nullify_vote(5), finalize_vote(5, 3, h)}) {
    CAPTURE(v.kind);
    CHECK(signing_bytes(kChain, 0, v) != signing_bytes(kChain, 1, v));
    CHECK(signing_bytes(kChain, 1, v) != signing_bytes(kChain, 2, v));
  }
}

TEST_CASE("evidence needs two different statements of one signer, kind and view") {
  auto keys = keys_for(4);
  std::vector<PublicKey> set;
  for (const auto& k : keys) set.push_back(k.public_key());
  const SignedVote a = sign_vote(keys, 1, notarize_vote(5, 3, digest_of("a")));
  const SignedVote b = sign_vote(keys, 1, notarize_vote(5, 3, digest_of("b")));
  const Evidence e = make_evidence(b, a);
  CHECK(make_evidence(a, b).first == e.first);  // one pair, one encoding
  CHECK(verify_evidence(kChain, kEpoch, set, ed25519_verifier(), e).is_ok());
  // Evidence signed in one epoch is checked against that epoch only.
  CHECK(verify_evidence(kChain, 1, set, ed25519_verifier(), e).code() == "EVIDENCE_BAD_SIGNATURE");
  const Evidence e1 = make_evidence(sign_vote(keys, 1, a.vote, 1), sign_vote(keys, 1, b.vote, 1));
  CHECK(verify_evidence(kChain, 1, set, ed25519_verifier(), e1).is_ok());
  CHECK(verify_evidence(kChain, 0, set, ed25519_verifier(), e1).code() == "EVIDENCE_BAD_SIGNATURE");

  Evidence forged = e;
  forged.second.signature[0] ^= 1;
  CHECK(verify_evidence(kChain, kEpoch, set, ed25519_verifier(), forged).code() ==
        "EVIDENCE_BAD_SIGNATURE");
  CHECK(verify_evidence("other-chain", kEpoch, set, ed25519_verifier(), e).code() ==
        "EVIDENCE_BAD_SIGNATURE");

  auto shape_refused = [](const SignedVote& x, const SignedVote& y) {
    return !Evidence{x, y}.check().is_ok() && !Evidence{y, x}.check().is_ok();
  };
  CHECK(shape_refused(a, a));                                                        // identical
  CHECK(shape_refused(a, sign_vote(keys, 2, notarize_vote(5, 3, digest_of("b")))));  // two signers
  CHECK(shape_refused(a, sign_vote(keys, 1, notarize_vote(6, 3, digest_of("b")))));  // two views
  CHECK(shape_refused(a, sign_vote(keys, 1, finalize_vote(5, 3, digest_of("b")))));  // two kinds
  CHECK(shape_refused(sign_vote(keys, 1, nullify_vote(5)), sign_vote(keys, 1, nullify_vote(5))));
  // Decoding refuses the wrong order.
  CHECK_FALSE(ledger::decode<Evidence>(ledger::encode(Evidence{e.second, e.first})).is_ok());
}
