// The light client's checks against a real ledger built in a temp dir: what a
// correct node sends verifies, and each kind of forgery is caught by the check
// meant for it. Forged blocks are re-certified by the validator key, so these
// prove the walk does not lean on the certificate alone.
#include "emledger/client/verify.hpp"

#include <doctest/doctest.h>

#include "emledger/client/errors.hpp"
#include "test_net.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using emledger::client_test::KernelChain;
using emledger::client_test::record_body;

namespace {

CertifiedHeader certified(KernelChain& net, std::uint64_t h) {
  auto hdr = net.ledger->header(h);
  auto cert = net.ledger->certificate(h);
  REQUIRE((hdr.is_ok() && hdr->has_value() && cert.is_ok() && cert->has_value()));
  auto v = verify_header(net.genesis, encode(**hdr), encode(**cert), h);
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  return *v;
}

std::vector<Block> blocks_of(KernelChain& net) {
  std::vector<Block> out;
  for (std::uint64_t h = 1; h <= net.ledger->head().height; ++h)
    out.push_back(**net.ledger->block(h));
  return out;
}

// Re-derives what an honest proposer would put in the header of `b` after a
// change to its transactions, then lets the test break one field.
void reseal(Block& b, const ledger::LogFrontier& before) {
  std::vector<Hash> ids;
  ledger::LogFrontier log = before;
  for (const auto& raw : b.txs) {
    ids.push_back(crypto::sha256(raw));
    log.append(log_leaf_hash(raw));
  }
  b.header.payload_digest = payload_digest(ids);
  b.header.log_size = log.size();
  b.header.log_root = log.root();
}

}  // namespace

TEST_CASE("verify_header: certified headers pass; other chains, heights and signers fail") {
  KernelChain net;
  net.commit({net.reg("one")});
  auto hdr = **net.ledger->header(1);
  auto cert = **net.ledger->certificate(1);
  CHECK(verify_header(net.genesis, encode(hdr), encode(cert), 1).is_ok());
  CHECK(verify_header(net.genesis, encode(hdr), encode(cert), 2).status().code() ==
        "HEADER_INVALID");

  Genesis other = net.genesis;
  other.chain_id = "other-chain";
  CHECK(verify_header(other, encode(hdr), encode(cert)).status().code() == "HEADER_INVALID");

  // Certified by a key that is not the trusted validator's.
  Genesis impostor = net.genesis;
  const auto rogue = client_test::key_from(77);
  impostor.validators[0].public_key = rogue.public_key();
  Certificate forged;
  sign_certificate(impostor, hdr, 0, rogue, forged);
  CHECK(verify_header(net.genesis, encode(hdr), encode(forged)).status().code() ==
        "CERT_BAD_SIGNATURE");

  Bytes flipped = encode(hdr);
  flipped[flipped.size() - 3] ^= 1;
  auto r = verify_header(net.genesis, flipped, encode(cert));
  CHECK(!r.is_ok());
  CHECK(classify(r.status()) == ErrorClass::kVerifiedFalse);
  CHECK(verify_header(net.genesis, Bytes{1, 2, 3}, encode(cert)).status().code() ==
        "NODE_BAD_RESPONSE");
}

TEST_CASE("verify_record: present, proven absent, and forged proofs") {
  KernelChain net;
  auto tx = net.reg("licence");
  net.commit({tx});
  const Hash id = record_id_for(tx.id());
  const CertifiedHeader at = certified(net, 1);

  auto present = net.ledger->state_proof(record_state_key(id), 1);
  REQUIRE(present.is_ok());
  auto rec = verify_record(at, id, *present);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->issuer == "gov.issuer");
  CHECK((*rec)->id == id);

  Hash missing = id;
  missing[0] ^= 0xff;
  auto absent_proof = net.ledger->state_proof(record_state_key(missing), 1);
  REQUIRE(absent_proof.is_ok());
  auto absent = verify_record(at, missing, *absent_proof);
  REQUIRE(absent.is_ok());
  CHECK(!absent->has_value());

  // A proof for one key offered for another.
  CHECK(verify_record(at, missing, *present).status().code() == "PROOF_INVALID");
  // A changed value (say, status flipped back to active).
  StateProof changed = *present;
  changed.value[changed.value.size() - 20] ^= 1;
  CHECK(verify_record(at, id, changed).status().code() == "PROOF_INVALID");
  // A membership proof turned into a claim of absence.
  StateProof hidden = *present;
  hidden.present = false;
  hidden.value.clear();
  CHECK(verify_record(at, id, hidden).status().code() == "PROOF_INVALID");
}

TEST_CASE("verify_tx_inclusion: against the certified log root and size") {
  KernelChain net;
  auto t1 = net.reg("a"), t2 = net.reg("b"), t3 = net.reg("c");
  net.commit({t1, t2});
  net.commit({t3});
  const CertifiedHeader at = certified(net, 2);
  auto entry = **net.ledger->tx_entry(t2.id());
  auto proof = net.ledger->inclusion_proof(entry.log_index, at.header.log_size);
  REQUIRE(proof.is_ok());
  CHECK(verify_tx_inclusion(at, encode(t2), *proof).is_ok());
  CHECK(verify_tx_inclusion(at, encode(t1), *proof).code() == "PROOF_INVALID");
  auto older = net.ledger->inclusion_proof(entry.log_index, 2);
  REQUIRE(older.is_ok());
  CHECK(verify_tx_inclusion(at, encode(t2), *older).code() == "PROOF_INVALID");
}

TEST_CASE("ChainVerifier: an honest chain verifies, log recomputed block by block") {
  KernelChain net;
  net.commit({net.reg("a"), net.reg("b")});
  net.commit({});
  net.commit({net.reg("c")});
  net.commit({net.reg("d"), net.reg("e"), net.reg("f")});
  ChainVerifier walk(net.genesis);
  for (const auto& b : blocks_of(net)) REQUIRE(walk.add_block(b, net.cert_for(b.header)).is_ok());
  const ChainHead head = net.ledger->head();
  CHECK(walk.height() == 4);
  CHECK(walk.tip_hash() == head.header_hash);
  CHECK(walk.log_size() == 6);
  CHECK(walk.log_root() == head.log_root);
  CHECK(walk.first_log_size() == 2);
  auto p = net.ledger->consistency_proof(2, 6);
  REQUIRE(p.is_ok());
  CHECK(verify_log_consistency(2, walk.first_log_root(), 6, walk.log_root(), *p).is_ok());
  CHECK(verify_log_consistency(2, walk.log_root(), 6, walk.log_root(), *p).code() ==
        "PROOF_INVALID");
}

TEST_CASE("ChainVerifier: each forgery fails its own check, naming the height") {
  KernelChain net;
  net.commit({net.reg("a")});
  net.commit({net.reg("b"), net.reg("c")});
  const auto blocks = blocks_of(net);
  ledger::LogFrontier after1;
  after1.append(log_leaf_hash(blocks[0].txs[0]));

  auto walk_to_2 = [&](Block forged, std::optional<Certificate> cert = {}) {
    ChainVerifier walk(net.genesis);
    REQUIRE(walk.add_block(blocks[0], net.cert_for(blocks[0].header)).is_ok());
    Status st = walk.add_block(forged, cert ? *cert : net.cert_for(forged.header));
    CHECK(walk.height() == (st.is_ok() ? 2u : 1u));  // a failed block does not advance it
    return st;
  };

  SUBCASE("honest block 2 passes") { CHECK(walk_to_2(blocks[1]).is_ok()); }
  SUBCASE("certificate of another header") {
    Status st = walk_to_2(blocks[1], net.cert_for(blocks[0].header));
    CHECK(st.code() == "CHAIN_CERT_INVALID");
    CHECK(st.message().rfind("height 2:", 0) == 0);
  }
  SUBCASE("skipped height") {
    ChainVerifier walk(net.genesis);
    CHECK(walk.add_block(blocks[1], net.cert_for(blocks[1].header)).code() == "CHAIN_HEIGHT_GAP");
  }
  SUBCASE("parent link") {
    Block b = blocks[1];
    b.header.parent[0] ^= 1;
    CHECK(walk_to_2(b).code() == "CHAIN_PARENT_MISMATCH");
  }
  SUBCASE("time going backwards") {
    Block b = blocks[1];
    b.header.time_ms = blocks[0].header.time_ms - 1;
    CHECK(walk_to_2(b).code() == "CHAIN_TIME_REGRESSION");
  }
  SUBCASE("other chain id") {
    Block b = blocks[1];
    b.header.chain_id = "other";
    CHECK(walk_to_2(b).code() == "CHAIN_WRONG_CHAIN_ID");
  }
  SUBCASE("a transaction dropped from the block") {
    Block b = blocks[1];
    b.txs.pop_back();
    CHECK(walk_to_2(b).code() == "CHAIN_PAYLOAD_MISMATCH");
  }
  SUBCASE("a transaction dropped, digest recomputed, log left as claimed") {
    Block b = blocks[1];
    b.txs.pop_back();
    const auto claimed = b.header;
    reseal(b, after1);
    b.header.log_size = claimed.log_size;
    b.header.log_root = claimed.log_root;
    CHECK(walk_to_2(b).code() == "CHAIN_LOG_MISMATCH");
  }
  SUBCASE("a wrong log root") {
    Block b = blocks[1];
    b.header.log_root[5] ^= 1;
    CHECK(walk_to_2(b).code() == "CHAIN_LOG_MISMATCH");
  }
  SUBCASE("a transaction with a forged signature, everything else resealed") {
    Block b = blocks[1];
    auto tx = *decode<Tx>(b.txs[0]);
    tx.signature[0] ^= 1;
    b.txs[0] = encode(tx);
    reseal(b, after1);
    Status st = walk_to_2(b);
    CHECK(st.code() == "CHAIN_TX_INVALID");
    CHECK(st.message().find("bad signature") != std::string::npos);
  }
  SUBCASE("a transaction of an unknown org, resealed") {
    Block b = blocks[1];
    const auto stranger = client_test::key_from(88);
    b.txs[0] = encode(net.tx(TxType::kRegisterRecord, encode(RegisterRecord{record_body("zz")}),
                             stranger, 1, "no.such.org"));
    reseal(b, after1);
    CHECK(walk_to_2(b).code() == "CHAIN_TX_INVALID");
  }
}
