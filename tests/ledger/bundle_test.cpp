#include "fixture.hpp"

#include "emledger/ledger/bundle.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;

namespace {
Hash file_hash(std::string_view content) { return crypto::sha256(as_bytes(content)); }
}  // namespace

TEST_CASE("bundle: an anchored file verifies offline; its verdict follows the record") {
  Net net;
  Tx t = net.reg("license.pdf");
  REQUIRE(net.commit_one(t).is_ok());
  auto b = net.ledger->bundle_for_hash(file_hash("license.pdf"));
  REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
  auto v = verify_bundle(net.genesis, *b, file_hash("license.pdf"));
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  CHECK(v->overall == Verdict::kValid);
  REQUIRE(v->records.size() == 1);
  CHECK(v->records[0].record.issuer == "a.issuer");
  // Round trip through the file form.
  auto again = decode<ProofBundle>(encode(*b));
  REQUIRE(again.is_ok());
  CHECK(verify_bundle(net.genesis, *again, file_hash("license.pdf"))->overall == Verdict::kValid);
  // The bundle is for one file only.
  CHECK(verify_bundle(net.genesis, *b, file_hash("other")).status().code() ==
        "BUNDLE_HASH_MISMATCH");

  REQUIRE(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord,
                                RevokeRecord{record_id_for(t.id()), 5}))
              .is_ok());
  auto rb = net.ledger->bundle_for_hash(file_hash("license.pdf"));
  REQUIRE(rb.is_ok());
  auto rv = verify_bundle(net.genesis, *rb, file_hash("license.pdf"));
  REQUIRE(rv.is_ok());
  CHECK(rv->overall == Verdict::kRevoked);
  CHECK(rv->records[0].record.revoke_reason == 5);
}

TEST_CASE("bundle: an unknown file is proven not anchored") {
  Net net;
  REQUIRE(net.commit_one(net.reg("something")).is_ok());
  auto b = net.ledger->bundle_for_hash(file_hash("never registered"));
  REQUIRE(b.is_ok());
  auto v = verify_bundle(net.genesis, *b, file_hash("never registered"));
  REQUIRE(v.is_ok());
  CHECK(v->overall == Verdict::kNotAnchored);
  CHECK(v->records.empty());
}

TEST_CASE("bundle: validity windows are judged at the certified header's time") {
  Net net;
  RecordBody b = Net::body("timed");
  b.valid_from_ms = 1;
  b.valid_until_ms = net.clock_ms + 1500;  // passes within two blocks
  REQUIRE(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kRegisterRecord,
                                RegisterRecord{b}))
              .is_ok());
  CHECK(verify_bundle(net.genesis, *net.ledger->bundle_for_hash(b.content_hash), b.content_hash)
            ->overall == Verdict::kValid);
  REQUIRE(net.commit_one(net.reg("tick")).is_ok());
  CHECK(verify_bundle(net.genesis, *net.ledger->bundle_for_hash(b.content_hash), b.content_hash)
            ->overall == Verdict::kExpired);
}

TEST_CASE("bundle: every byte of a bundle is covered by its verification") {
  Net net;
  Tx t = net.reg("tamper.pdf");
  REQUIRE(net.commit_one(t).is_ok());
  REQUIRE(net.commit_one(net.reg("another")).is_ok());
  auto b = net.ledger->bundle_for_hash(file_hash("tamper.pdf"));
  REQUIRE(b.is_ok());
  const Bytes good = encode(*b);
  REQUIRE(verify_bundle(net.genesis, *b, file_hash("tamper.pdf"))->overall == Verdict::kValid);
  std::size_t undecodable = 0, refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    auto d = decode<ProofBundle>(bad);
    if (!d) {
      ++undecodable;
      continue;
    }
    auto v = verify_bundle(net.genesis, *d, file_hash("tamper.pdf"));
    INFO("byte " << i);
    CHECK_FALSE(v.is_ok());
    if (!v.is_ok()) ++refused;
  }
  CHECK(undecodable + refused == good.size());

  // A bundle from another network is refused before anything else.
  Genesis foreign = net.genesis;
  foreign.time_ms += 1;
  CHECK(verify_bundle(foreign, *b, file_hash("tamper.pdf")).status().code() ==
        "BUNDLE_GENESIS_MISMATCH");
}
