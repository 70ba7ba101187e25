// The light client verifies both forms of finality proof (ADR 014) against a
// four-validator genesis (quorum 3): a block's own certificate, and a link of
// headers to a finalized descendant, as verify_header, ChainVerifier and the
// bundle check receive them; tampering with either form is refused.
#include "emledger/ledger/finality.hpp"

#include <doctest/doctest.h>

#include "emledger/client/errors.hpp"
#include "emledger/client/verify.hpp"
#include "test_net.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using emledger::client_test::record_body;

namespace {

// Blocks 1 and 2 final through block 3, block 3 by its own certificate, all
// under four validators.
struct FourValidatorChain : client_test::TestKeys {
  std::vector<crypto::KeyPair> vals;
  Genesis genesis;
  client_test::TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::vector<Block> blocks;
  Certificate top;

  FourValidatorChain() {
    genesis = make_genesis();
    genesis.validators.clear();
    for (std::uint8_t i = 0; i < 4; ++i) {
      vals.push_back(client_test::key_from(static_cast<std::uint8_t>(60 + i)));
      genesis.validators.push_back(Validator{"v.node", vals.back().public_key(), ""});
    }
    REQUIRE(genesis.check().is_ok());
    auto store = open_leveldb(dir.file("db"));
    REQUIRE(store.is_ok());
    auto l = Ledger::open(std::move(*store), genesis);
    REQUIRE(l.is_ok());
    ledger = std::move(*l);

    std::vector<PreparedBlock> run;
    PreparedBlock pending;
    for (int i = 0; i < 3; ++i) {
      std::vector<Tx> txs;
      if (i < 2) txs.push_back(reg("file-" + std::to_string(i + 1)));
      std::vector<TxOutcome> outcomes;
      auto p = ledger->prepare(txs, kGenesisTimeMs + 1000 * (i + 1), 3 * (i + 1),
                               vals[0].public_key(), false, outcomes, i ? &pending : nullptr);
      REQUIRE(p.is_ok());
      // The next block is prepared on every uncommitted write so far.
      if (i == 0) pending = *p;
      for (const auto& [k, v] : p->writes.entries()) pending.writes.put(k, v);
      pending.new_head = p->new_head;
      run.push_back(std::move(*p));
    }
    top = cert(run[2].block.header, {0, 2, 3});
    for (int i = 0; i < 3; ++i) {
      FinalityProof proof{top, {}};
      for (int j = i + 1; j < 3; ++j) proof.links.push_back(run[j].block.header);
      REQUIRE(ledger->commit(run[i], proof).is_ok());
      blocks.push_back(run[i].block);
    }
  }

  Tx reg(const std::string& content) {
    TxBody b = make_body(TxType::kRegisterRecord, RegisterRecord{record_body(content)});
    b.chain_id = genesis.chain_id;
    b.signer_org = "gov.issuer";
    b.key_id = 1;
    b.expires_at_height = 50;
    b.nonce = content.size();
    return sign_tx(std::move(b), issuer);
  }

  Certificate cert(const BlockHeader& h, std::initializer_list<std::uint16_t> signers) const {
    Certificate c;
    for (std::uint16_t i : signers) sign_certificate(genesis, h, i, vals[i], c);
    return c;
  }

  // What a node serves in a header's "certificate" field.
  Bytes served(std::uint64_t height) const {
    auto p = ledger->finality_proof(height);
    REQUIRE((p.is_ok() && p->has_value()));
    return encode_finality_proof(**p);
  }
};

}  // namespace

TEST_CASE(
    "client finality: verify_header accepts both forms with a quorum of distinct validators") {
  FourValidatorChain net;
  for (std::uint64_t h = 1; h <= 3; ++h) {
    CAPTURE(h);
    auto at = verify_header(net.genesis, encode(net.blocks[h - 1].header), net.served(h), h);
    REQUIRE_MESSAGE(at.is_ok(), at.status().to_string());
    CHECK(at->finality.by_descendant() == (h < 3));
    CHECK(at->hash == net.blocks[h - 1].header.hash());
  }
  // The own form is the bare certificate, as a single-node chain serves it.
  CHECK(net.served(3) == encode(net.top));
  // A proof of block 1 does not prove block 2.
  CHECK(verify_header(net.genesis, encode(net.blocks[1].header), net.served(1)).status().code() ==
        "CERT_LINK_BROKEN");
  // Below quorum, in either form.
  const Certificate weak = net.cert(net.blocks[2].header, {1, 3});
  CHECK(verify_header(net.genesis, encode(net.blocks[2].header), encode(weak)).status().code() ==
        "CERT_NO_QUORUM");
  FinalityProof weak_link{weak, {net.blocks[1].header, net.blocks[2].header}};
  auto r =
      verify_header(net.genesis, encode(net.blocks[0].header), encode_finality_proof(weak_link));
  CHECK(r.status().code() == "CERT_NO_QUORUM");
  CHECK(classify(r.status()) == ErrorClass::kVerifiedFalse);
  // Another validator set (same chain id) does not accept it.
  Genesis other = net.genesis;
  other.validators[2].public_key = client_test::key_from(99).public_key();
  CHECK(verify_header(other, encode(net.blocks[0].header), net.served(1)).status().code() ==
        "CERT_BAD_SIGNATURE");
}

TEST_CASE("client finality: every byte flip of a descendant proof is refused") {
  FourValidatorChain net;
  const Bytes header = encode(net.blocks[0].header);
  const Bytes good = net.served(1);
  REQUIRE(verify_header(net.genesis, header, good, 1).is_ok());
  std::size_t refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    auto r = verify_header(net.genesis, header, bad, 1);
    INFO("byte " << i);
    CHECK_FALSE(r.is_ok());
    if (!r.is_ok()) ++refused;
  }
  CHECK(refused == good.size());
  // And a flip in the block's own header breaks the link to it.
  Bytes flipped = header;
  flipped[flipped.size() - 1] ^= 1;
  CHECK(verify_header(net.genesis, flipped, good, 1).status().code() == "CERT_LINK_BROKEN");
}

TEST_CASE("client finality: ChainVerifier walks blocks final through a descendant") {
  FourValidatorChain net;
  ChainVerifier walk(net.genesis);
  for (std::uint64_t h = 1; h <= 3; ++h) {
    auto proof = decode_finality_proof(net.served(h));
    REQUIRE(proof.is_ok());
    Status st = walk.add_block(net.blocks[h - 1], *proof);
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  }
  CHECK(walk.height() == 3);
  CHECK(walk.tip_hash() == net.blocks[2].header.hash());

  // A tampered link in block 1's proof stops the walk at height 1.
  ChainVerifier fresh(net.genesis);
  FinalityProof broken = *decode_finality_proof(net.served(1));
  broken.links[0].time_ms += 1;
  Status st = fresh.add_block(net.blocks[0], broken);
  CHECK(st.code() == "CHAIN_CERT_INVALID");
  CHECK(st.message().find("CERT_LINK_BROKEN") != std::string::npos);
  CHECK(fresh.height() == 0);
}

TEST_CASE(
    "client finality: bundles of either form and version verify offline; tampering is refused") {
  FourValidatorChain net;
  const Hash file = crypto::sha256(as_bytes("file-1"));
  auto own = net.ledger->bundle_for_hash(file);  // as of block 3: own certificate
  REQUIRE(own.is_ok());
  CHECK_FALSE(own->finality.by_descendant());

  ProofBundle linked = *own;  // the same answer as of block 2, final through block 3
  auto at2 = net.ledger->finality_proof(2);
  REQUIRE((at2.is_ok() && at2->has_value()));
  linked.header = net.blocks[1].header;
  linked.finality = **at2;
  // Block 2's state holds the same record; re-prove it under block 2's root.
  auto idx = net.ledger->state_proof(hash_index_state_key(file), 2);
  auto rec = net.ledger->state_proof(linked.records[0].record_proof.key, 2);
  auto incl = net.ledger->inclusion_proof(0, net.blocks[1].header.log_size);
  REQUIRE((idx.is_ok() && rec.is_ok() && incl.is_ok()));
  linked.index_proof = *idx;
  linked.records[0].record_proof = *rec;
  linked.records[0].anchor_inclusion = *incl;

  for (const ProofBundle* b : {&*own, &linked}) {
    auto decoded = decode_bundle(encode(*b));
    REQUIRE(decoded.is_ok());
    auto v = verify_bundle(net.genesis, *decoded, file);
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    CHECK(v->overall == Verdict::kValid);
  }
  // A version 1 file (own certificate) still reads and verifies.
  const ProofBundleV1 v1{own->genesis_hash,         own->content_hash, own->header,
                         own->finality.certificate, own->index_proof,  own->records};
  const std::string path = net.dir.file("old.bundle");
  REQUIRE(write_bundle_file(path, encode(v1)).is_ok());
  auto read = read_bundle_file(path);
  REQUIRE_MESSAGE(read.is_ok(), read.status().to_string());
  CHECK(verify_bundle(net.genesis, *read, file)->overall == Verdict::kValid);

  // Tampering with the link: a header dropped, or the descendant's
  // certificate cut below quorum.
  ProofBundle cut = linked;
  cut.finality.links.clear();  // now claims block 3's certificate is block 2's own
  CHECK(verify_bundle(net.genesis, cut, file).status().code() == "CERT_MISMATCH");
  ProofBundle weak = linked;
  weak.finality.certificate.signatures.pop_back();
  auto w = verify_bundle(net.genesis, weak, file);
  CHECK(w.status().code() == "CERT_NO_QUORUM");
  CHECK(classify(w.status()) == ErrorClass::kVerifiedFalse);
}
