// Finality proofs (ADR 014): a block commits with its own certificate or with
// a link of headers to a finalized descendant; either form is kept so that a
// proof can be served for every committed height, and both verify against
// the genesis validators with quorum n - f.
#include "emledger/ledger/finality.hpp"

#include "encoding_samples.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;

namespace {

Hash file_hash(std::string_view content) { return crypto::sha256(as_bytes(content)); }

// Net with four validators (f = 1, quorum 3) instead of one.
struct FourNet : Net {
  std::vector<crypto::KeyPair> vals;
  std::uint64_t view = 0;

  FourNet() {
    ledger.reset();
    std::filesystem::remove_all(dir.path() / "db");
    genesis.validators.clear();
    for (std::uint8_t i = 0; i < 4; ++i) {
      vals.push_back(testing::key_from(static_cast<std::uint8_t>(40 + i)));
      genesis.validators.push_back(Validator{"v.node", vals.back().public_key(), ""});
    }
    REQUIRE(genesis.quorum() == 3);
    reopen();
  }

  // The next block on `parent` (or on the head), not committed.
  PreparedBlock prepare(const std::vector<Tx>& txs, const PreparedBlock* parent = nullptr) {
    std::vector<TxOutcome> outcomes;
    clock_ms += 1000;
    view += 2;  // as if every other view were skipped
    auto p = ledger->prepare(txs, clock_ms, view, vals[0].public_key(), false, outcomes, parent);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    for (const auto& oc : outcomes) REQUIRE_MESSAGE(oc.status.is_ok(), oc.status.to_string());
    return std::move(*p);
  }

  Certificate cert(const BlockHeader& h, std::initializer_list<std::uint16_t> signers) const {
    Certificate c;
    for (std::uint16_t i : signers) sign_certificate(genesis, h, i, vals[i], c);
    return c;
  }

  // Like cert(), with every signature over the finalize statement of
  // `epoch` (sign_certificate signs for the height's epoch).
  Certificate cert_in_epoch(const BlockHeader& h, std::initializer_list<std::uint16_t> signers,
                            Epoch epoch) const {
    Certificate c{h.height, h.view, h.hash(), {}};
    const Bytes statement =
        encode(FinalizeVote{genesis.chain_id, epoch, h.height, h.view, h.hash()});
    for (std::uint16_t i : signers) c.signatures.push_back({i, vals[i].sign(statement)});
    return c;
  }

  // Three prepared blocks, each on the previous: the run a descendant
  // finalization commits at once. prepare() reads one uncommitted parent's
  // writes, so the third is prepared on the first two merged.
  std::vector<PreparedBlock> run(std::string_view tag) {
    std::vector<PreparedBlock> out;
    out.push_back(prepare({reg(std::string(tag) + "-1")}));
    out.push_back(prepare({reg(std::string(tag) + "-2")}, &out[0]));
    PreparedBlock both = out[0];
    for (const auto& [k, v] : out[1].writes.entries()) both.writes.put(k, v);
    both.new_head = out[1].new_head;
    out.push_back(prepare({}, &both));
    return out;
  }
};

FinalityProof by_descendant(const std::vector<PreparedBlock>& run, std::size_t from,
                            const Certificate& top) {
  FinalityProof p{top, {}};
  for (std::size_t i = from + 1; i < run.size(); ++i) p.links.push_back(run[i].block.header);
  return p;
}

}  // namespace

TEST_CASE("finality: own certificates need a quorum of distinct validators") {
  FourNet net;
  PreparedBlock p = net.prepare({net.reg("one")});
  const BlockHeader& h = p.block.header;
  CHECK(net.ledger->commit(p, net.cert(h, {0, 1})).code() == "CERT_NO_QUORUM");
  // Three signatures, but one validator twice, is two validators.
  Certificate twice = net.cert(h, {0, 1});
  twice.signatures.push_back(twice.signatures.back());
  CHECK(net.ledger->commit(p, twice).code() == "CERT_MISMATCH");
  CHECK(net.ledger->head().height == 0);
  REQUIRE(net.ledger->commit(p, net.cert(h, {0, 2, 3})).is_ok());
  auto proof = net.ledger->finality_proof(1);
  REQUIRE((proof.is_ok() && proof->has_value()));
  CHECK_FALSE((*proof)->by_descendant());
  CHECK(encode_finality_proof(**proof) == encode(net.cert(h, {0, 2, 3})));
  CHECK(net.ledger->certificate(1)->has_value());
  CHECK_FALSE(net.ledger->finality_proof(2)->has_value());
}

TEST_CASE("finality: a run of blocks commits through its finalized descendant") {
  FourNet net;
  auto run = net.run("a");
  const Certificate top = net.cert(run[2].block.header, {1, 2, 3});
  REQUIRE(net.ledger->commit(run[0], by_descendant(run, 0, top)).is_ok());
  REQUIRE(net.ledger->commit(run[1], by_descendant(run, 1, top)).is_ok());
  REQUIRE(net.ledger->commit(run[2], top).is_ok());
  CHECK(net.ledger->head().height == 3);

  for (int pass = 0; pass < 2; ++pass) {  // before and after a reopen
    for (std::uint64_t height = 1; height <= 3; ++height) {
      CAPTURE(height);
      auto proof = net.ledger->finality_proof(height);
      REQUIRE((proof.is_ok() && proof->has_value()));
      CHECK((*proof)->links.size() == 3 - height);
      CHECK((*proof)->certificate.header_hash == run[2].block.header.hash());
      CHECK(verify_finality(net.genesis, run[height - 1].block.header, **proof).is_ok());
      CHECK(net.ledger->certificate(height)->has_value() == (height == 3));
      // The wire form decodes to the same proof.
      auto again = decode_finality_proof(encode_finality_proof(**proof));
      REQUIRE(again.is_ok());
      CHECK(encode_finality_proof(*again) == encode_finality_proof(**proof));
    }
    net.reopen();
  }
}

TEST_CASE("finality: a certificate signed for another epoch proves nothing, in either form") {
  FourNet net;
  auto run = net.run("epoch");
  const BlockHeader& first = run[0].block.header;
  const BlockHeader& top = run[2].block.header;
  // The genesis epoch's certificates: what sign_certificate makes.
  CHECK(encode(net.cert_in_epoch(first, {0, 1, 2}, 0)) == encode(net.cert(first, {0, 1, 2})));

  // Epoch 1 signatures over the right heights, views and hashes.
  const Certificate own_1 = net.cert_in_epoch(first, {0, 1, 2}, 1);
  const Certificate top_1 = net.cert_in_epoch(top, {1, 2, 3}, 1);
  CHECK(verify_certificate(net.genesis, first, own_1).code() == "CERT_BAD_SIGNATURE");
  CHECK(verify_finality(net.genesis, first, FinalityProof::own(own_1)).code() ==
        "CERT_BAD_SIGNATURE");
  CHECK(verify_finality(net.genesis, first, by_descendant(run, 0, top_1)).code() ==
        "CERT_BAD_SIGNATURE");
  CHECK(verify_certificate_in_epoch(net.genesis, 1, first, own_1).is_ok());
  CHECK(net.ledger->commit(run[0], own_1).code() == "CERT_BAD_SIGNATURE");
  CHECK(net.ledger->head().height == 0);

  // And epoch 0 signatures are no certificate of epoch 1.
  const Certificate own_0 = net.cert_in_epoch(first, {0, 1, 2}, 0);
  CHECK(verify_certificate_in_epoch(net.genesis, 1, first, own_0).code() == "CERT_BAD_SIGNATURE");
  CHECK(verify_finality(net.genesis, first, FinalityProof::own(own_0)).is_ok());
  CHECK(verify_finality(net.genesis, first,
                        by_descendant(run, 0, net.cert_in_epoch(top, {1, 2, 3}, 0)))
            .is_ok());
}

TEST_CASE("finality: a proof is served for a block whose descendant is not committed yet") {
  FourNet net;
  auto run = net.run("b");
  const Certificate top = net.cert(run[2].block.header, {0, 1, 2, 3});
  REQUIRE(net.ledger->commit(run[0], by_descendant(run, 0, top)).is_ok());
  net.reopen();  // a crash before the rest of the run commits
  auto proof = net.ledger->finality_proof(1);
  REQUIRE((proof.is_ok() && proof->has_value()));
  CHECK((*proof)->links.size() == 2);
  CHECK(verify_finality(net.genesis, **net.ledger->header(1), **proof).is_ok());
  // The head's bundle carries that proof and verifies offline.
  auto b = net.ledger->bundle_for_hash(file_hash("b-1"));
  REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
  CHECK(b->finality.by_descendant());
  auto v = verify_bundle(net.genesis, *b, file_hash("b-1"));
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  CHECK(v->overall == Verdict::kValid);
  // The restarted node can go on with the run, re-proving it as it may.
  REQUIRE(net.ledger->commit(run[1], by_descendant(run, 1, top)).is_ok());
  REQUIRE(net.ledger->commit(run[2], net.cert(run[2].block.header, {0, 1, 3})).is_ok());
  CHECK(net.ledger->finality_proof(2)->value().links.size() == 1);
  CHECK(verify_finality(net.genesis, run[1].block.header, **net.ledger->finality_proof(2)).is_ok());
}

TEST_CASE("finality: broken links and sub-quorum descendants are refused, nothing committed") {
  FourNet net;
  auto run = net.run("c");
  const Certificate top = net.cert(run[2].block.header, {0, 1, 2});
  const FinalityProof good = by_descendant(run, 0, top);
  auto refused = [&](const FinalityProof& p) {
    Status st = net.ledger->commit(run[0], p);
    CHECK(net.ledger->head().height == 0);
    CHECK(verify_finality(net.genesis, run[0].block.header, p).code() == st.code());
    return st.code();
  };
  // The descendant's certificate below quorum.
  CHECK(refused(by_descendant(run, 0, net.cert(run[2].block.header, {0, 3}))) == "CERT_NO_QUORUM");
  // A link skipped: height 3 does not follow height 1.
  CHECK(refused(FinalityProof{top, {run[2].block.header}}) == "CERT_LINK_BROKEN");
  // Links out of order.
  CHECK(refused(FinalityProof{top, {run[2].block.header, run[1].block.header}}) ==
        "CERT_LINK_BROKEN");
  // A changed link header no longer names its parent's hash, or is no longer
  // the parent of the next.
  FinalityProof changed = good;
  changed.links[0].time_ms += 1;
  CHECK(refused(changed) == "CERT_LINK_BROKEN");
  changed = good;
  changed.links[1].parent[0] ^= 1;
  CHECK(refused(changed) == "CERT_LINK_BROKEN");
  // The last link changed: the certificate is for another header.
  changed = good;
  changed.links[1].state_root[0] ^= 1;
  CHECK(refused(changed) == "CERT_MISMATCH");
  // A link that stops short of the certified descendant.
  CHECK(refused(FinalityProof{top, {run[1].block.header}}) == "CERT_MISMATCH");
  // A sibling of block 2 (another fork) cannot carry block 3's link.
  PreparedBlock fork = net.prepare({net.reg("c-fork")}, &run[0]);
  CHECK(refused(FinalityProof{top, {fork.block.header, run[2].block.header}}) ==
        "CERT_LINK_BROKEN");
  // A link of another chain.
  changed = good;
  changed.links[0].chain_id = "other-chain";
  CHECK(refused(changed) == "CERT_LINK_BROKEN");
  // A certificate of block 1 itself given with links is not a link.
  CHECK(refused(FinalityProof{net.cert(run[0].block.header, {0, 1, 2}), {run[1].block.header}}) ==
        "CERT_MISMATCH");
  FinalityProof too_long = good;
  too_long.links.assign(kFinalityLinksMax + 1, run[1].block.header);
  CHECK(refused(too_long) == "CERT_LINK_TOO_LONG");

  REQUIRE(net.ledger->commit(run[0], good).is_ok());
  CHECK(net.ledger->head().height == 1);
  // Block 2 must still link to block 3; block 1's proof does not prove it.
  CHECK(net.ledger->commit(run[1], good).code() == "CERT_LINK_BROKEN");
  // And the sibling fork cannot follow block 1 through block 3's certificate.
  CHECK(net.ledger->commit(fork, FinalityProof{top, {run[2].block.header}}).code() ==
        "CERT_LINK_BROKEN");
}

TEST_CASE("finality: the wire form is one encoding per proof") {
  const FinalityProof own = FinalityProof::own(samples::certificate());
  CHECK(encode_finality_proof(own) == encode(samples::certificate()));
  auto d = decode_finality_proof(encode(samples::certificate()));
  REQUIRE(d.is_ok());
  CHECK_FALSE(d->by_descendant());
  const FinalityProof desc = samples::finality_by_descendant();
  CHECK(encode_finality_proof(desc) == encode(desc));
  REQUIRE(decode_finality_proof(encode(desc)).is_ok());
  // The own form has no second encoding as an emledger.finality value.
  CHECK(decode_finality_proof(encode(own)).status().code() == "MALFORMED_ENCODING");
  CHECK_FALSE(decode_finality_proof(Bytes{}).is_ok());
  CHECK_FALSE(decode_finality_proof(encode(samples::header())).is_ok());
}

TEST_CASE("finality: every byte of a bundle proven through a descendant is covered") {
  FourNet net;
  auto run = net.run("d");
  const Certificate top = net.cert(run[2].block.header, {0, 1, 2, 3});
  REQUIRE(net.ledger->commit(run[0], by_descendant(run, 0, top)).is_ok());
  auto b = net.ledger->bundle_for_hash(file_hash("d-1"));
  REQUIRE(b.is_ok());
  REQUIRE(b->finality.links.size() == 2);
  const Bytes good = encode(*b);
  REQUIRE(verify_bundle(net.genesis, *b, file_hash("d-1"))->overall == Verdict::kValid);
  std::size_t undecodable = 0, refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    auto d = decode_proof_bundle(bad);
    if (!d) {
      ++undecodable;
      continue;
    }
    auto v = verify_bundle(net.genesis, *d, file_hash("d-1"));
    INFO("byte " << i);
    CHECK_FALSE(v.is_ok());
    if (!v.is_ok()) ++refused;
  }
  CHECK(undecodable + refused == good.size());
  // A bundle whose link misses one header, or whose descendant certificate
  // lost a signer below quorum, is refused.
  ProofBundle cut = *b;
  cut.finality.links.erase(cut.finality.links.begin());
  CHECK(verify_bundle(net.genesis, cut, file_hash("d-1")).status().code() == "CERT_LINK_BROKEN");
  ProofBundle weak = *b;
  weak.finality.certificate.signatures.resize(2);
  CHECK(verify_bundle(net.genesis, weak, file_hash("d-1")).status().code() == "CERT_NO_QUORUM");
}

TEST_CASE("finality: version 1 and 2 bundles are still read and verified") {
  Net net;
  REQUIRE(net.commit_one(net.reg("old.pdf")).is_ok());
  auto b = net.ledger->bundle_for_hash(file_hash("old.pdf"));
  REQUIRE(b.is_ok());
  REQUIRE_FALSE(b->finality.by_descendant());
  const ProofBundleV1 v1{b->genesis_hash,         b->content_hash, b->header,
                         b->finality.certificate, b->index_proof,  b->records};
  const Bytes old = encode(v1);
  CHECK(old[1 + ProofBundle::kDomain.size()] == 1);
  CHECK_FALSE(decode<ProofBundle>(old).is_ok());
  auto read = decode_proof_bundle(old);
  REQUIRE_MESSAGE(read.is_ok(), read.status().to_string());
  // Versions 1 and 2 carry no succession and no validators proof.
  ProofBundle legacy = *b;
  legacy.validators_proof = StateProof{};
  CHECK(encode(*read) == encode(legacy));
  CHECK(verify_bundle(net.genesis, *read, file_hash("old.pdf"))->overall == Verdict::kValid);
  const ProofBundleV2 v2{b->genesis_hash, b->content_hash, b->header,
                         b->finality,     b->index_proof,  b->records};
  CHECK(encode(v2)[1 + ProofBundle::kDomain.size()] == 2);
  auto read2 = decode_proof_bundle(encode(v2));
  REQUIRE_MESSAGE(read2.is_ok(), read2.status().to_string());
  CHECK(encode(*read2) == encode(legacy));
  CHECK(verify_bundle(net.genesis, *read2, file_hash("old.pdf"))->overall == Verdict::kValid);
  // Version 3 reads as itself; any other version is refused.
  CHECK(encode(*decode_proof_bundle(encode(*b))) == encode(*b));
  CHECK(verify_bundle(net.genesis, *b, file_hash("old.pdf"))->overall == Verdict::kValid);
  Bytes v4 = encode(*b);
  v4[1 + ProofBundle::kDomain.size()] = 4;
  CHECK(decode_proof_bundle(v4).status().code() == "MALFORMED_ENCODING");
}
