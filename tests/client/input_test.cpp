// What users type and the files they hand over: times, bundle files, key
// files matched to orgs, genesis editing, and how errors map to exit classes.
#include <doctest/doctest.h>

#include "emledger/client/errors.hpp"
#include "emledger/client/genesis_edit.hpp"
#include "emledger/client/signer.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/client/verify.hpp"
#include "test_net.hpp"

using namespace emledger;
using namespace emledger::client;
using emledger::client_test::KernelChain;
using emledger::client_test::record_body;
using emledger::client_test::TempDir;

TEST_CASE("time: RFC 3339 and unix milliseconds") {
  CHECK(*parse_time_ms("2027-01-31T00:00:00Z") == 1801353600000ull);
  CHECK(*parse_time_ms("2027-01-31t00:00:00z") == 1801353600000ull);
  CHECK(*parse_time_ms("2027-01-31T08:00:00+08:00") == 1801353600000ull);
  CHECK(*parse_time_ms("2027-01-30T19:00:00-05:00") == 1801353600000ull);
  CHECK(*parse_time_ms("2028-02-29T12:34:56.789Z") == 1835440496789ull);
  CHECK(*parse_time_ms("2028-02-29T12:34:56.7891Z") == 1835440496789ull);  // sub-ms dropped
  CHECK(*parse_time_ms("2000-03-01T00:00:00Z") == 951868800000ull);
  CHECK(*parse_time_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(*parse_time_ms("1801353600000") == 1801353600000ull);
  CHECK(*parse_time_ms("0") == 0);
}

TEST_CASE("time: malformed input is refused with BAD_TIME") {
  for (const char* bad : {"",
                          "abc",
                          "2027-01-31",
                          "2027-01-31T00:00:00",
                          "2027-01-31 00:00:00Z",
                          "2027-02-29T00:00:00Z",
                          "2027-13-01T00:00:00Z",
                          "2027-00-10T00:00:00Z",
                          "2027-01-32T00:00:00Z",
                          "2027-01-31T24:00:00Z",
                          "2027-01-31T23:60:00Z",
                          "2027-01-31T23:59:60Z",
                          "2027-01-31T00:00:00.Z",
                          "2027-01-31T00:00:00+0800",
                          "2027-01-31T00:00:00Zjunk",
                          "1969-12-31T23:59:59Z",
                          "1970-01-01T07:00:00+08:00",
                          "12345678901234567890",
                          "-5",
                          "2027",
                          "+1801353600000"}) {
    auto r = parse_time_ms(bad);
    CHECK_MESSAGE(!r.is_ok(), bad);
    if (!r.is_ok()) CHECK(r.status().code() == "BAD_TIME");
  }
}

TEST_CASE("time: format is RFC 3339 UTC and parses back") {
  CHECK(format_time_ms(0) == "1970-01-01T00:00:00Z");
  CHECK(format_time_ms(1801353600000ull) == "2027-01-31T00:00:00Z");
  CHECK(format_time_ms(1835440496789ull) == "2028-02-29T12:34:56.789Z");
  for (std::uint64_t ms : {1ull, 951868799999ull, 4102444800000ull, 253402300799999ull})
    CHECK(*parse_time_ms(format_time_ms(ms)) == ms);
}

TEST_CASE("bundle files: junk, truncation and trailing bytes are BUNDLE_MALFORMED") {
  KernelChain net;
  net.commit({net.reg("a file")});
  auto b = net.ledger->bundle_for_hash(crypto::sha256(as_bytes(std::string("a file"))));
  REQUIRE(b.is_ok());
  const Bytes good = ledger::encode(*b);
  CHECK(decode_bundle(good).is_ok());

  CHECK(decode_bundle(as_bytes(std::string("not a bundle"))).status().code() == "BUNDLE_MALFORMED");
  CHECK(decode_bundle(Bytes{}).status().code() == "BUNDLE_MALFORMED");
  Bytes cut(good.begin(), good.end() - 1);
  CHECK(decode_bundle(cut).status().code() == "BUNDLE_MALFORMED");
  Bytes longer = good;
  longer.push_back(0);
  CHECK(decode_bundle(longer).status().code() == "BUNDLE_MALFORMED");
  Bytes other_version = good;
  other_version[1 + std::string("emledger.bundle").size()] = ledger::ProofBundle::kVersion + 1;
  CHECK(decode_bundle(other_version).status().code() == "BUNDLE_MALFORMED");
  // An undecodable bundle is bad input (exit 2), not a verification failure.
  CHECK(classify(decode_bundle(cut).status()) == ErrorClass::kBadInput);

  TempDir dir;
  REQUIRE(write_bundle_file(dir.file("b.bundle"), good).is_ok());
  auto read = read_bundle_file(dir.file("b.bundle"));
  REQUIRE(read.is_ok());
  CHECK(ledger::encode(*read) == good);
  CHECK(read_bundle_file(dir.file("missing.bundle")).status().code() == "IO_ERROR");
  CHECK(read_bundle_file(dir.write("junk.bundle", "junk")).status().code() == "BUNDLE_MALFORMED");
}

TEST_CASE("signer: a key file's public key finds its org and key id") {
  KernelChain net;
  auto s1 = signer_for_key(net.genesis, net.issuer);
  REQUIRE(s1.is_ok());
  CHECK(s1->org_id == "gov.issuer");
  CHECK(s1->key_id == 1);
  auto s2 = signer_for_key(net.genesis, net.issuer2);
  REQUIRE(s2.is_ok());
  CHECK(s2->org_id == "gov.issuer");
  CHECK(s2->key_id == 2);
  auto sc = signer_for_key(net.genesis, net.consumer);
  REQUIRE(sc.is_ok());
  CHECK(sc->org_id == "x.consumer");
  auto none = signer_for_key(net.genesis, client_test::key_from(99));
  CHECK(none.status().code() == "KEY_NOT_IN_GENESIS");
  CHECK(classify(none.status()) == ErrorClass::kBadInput);
}

TEST_CASE("signer: built transactions pass the kernel's stateless checks") {
  KernelChain net;
  auto s = signer_for_key(net.genesis, net.issuer2);
  REQUIRE(s.is_ok());
  const auto payload = ledger::encode(ledger::RegisterRecord{record_body("x")});
  auto tx = build_tx(net.genesis, *s, ledger::TxType::kRegisterRecord, payload, 41, 7);
  CHECK(tx.body.chain_id == "client-test");
  CHECK(tx.body.signer_org == "gov.issuer");
  CHECK(tx.body.key_id == 2);
  CHECK(tx.body.expires_at_height == 41 + kTxExpiryBlocks);
  CHECK(tx.body.nonce == 7);
  CHECK(net.ledger->check_tx_stateless(tx).is_ok());
  CHECK(random_nonce() != random_nonce());  // 2^-64 chance of a false failure
}

TEST_CASE("signer: user-typed record fields are bounded before encoding") {
  auto body = record_body("x");
  CHECK(check_record_body(body).is_ok());
  auto long_type = body;
  long_type.type_code = std::string(ledger::kTypeCodeBytesMax + 1, 't');
  CHECK(check_record_body(long_type).code() == "INVALID_PAYLOAD");
  auto long_locator = body;
  long_locator.locator = std::string(ledger::kLocatorBytesMax + 1, 'l');
  CHECK(check_record_body(long_locator).code() == "INVALID_PAYLOAD");
  auto window = body;
  window.valid_from_ms = 10;
  window.valid_until_ms = 5;
  CHECK(check_record_body(window).code() == "INVALID_PAYLOAD");
}

TEST_CASE("genesis edit: build a multi-org network step by step") {
  auto g = new_genesis("multi-net", 1'800'000'000'000);
  REQUIRE(g.is_ok());
  const auto a = client_test::key_from(1), a2 = client_test::key_from(2),
             b = client_test::key_from(3), v = client_test::key_from(4);
  auto roles = parse_roles("issuer,consumer");
  REQUIRE(roles.is_ok());
  CHECK(*roles == (ledger::kRoleIssuer | ledger::kRoleConsumer));
  CHECK(parse_roles("issuer,king").status().code() == "BAD_ARGUMENT");
  CHECK(parse_roles("").status().code() == "BAD_ARGUMENT");

  CHECK(*add_org_key(*g, "z.issuer", "r2", *roles, b.public_key()) == 1);
  CHECK(*add_org_key(*g, "a.issuer", "r1", ledger::kRoleIssuer, a.public_key()) == 1);
  CHECK(*add_org_key(*g, "a.issuer", "r1", ledger::kRoleAuditor, a2.public_key()) == 2);
  CHECK(add_org_key(*g, "a.issuer", "r9", ledger::kRoleIssuer, v.public_key()).status().code() ==
        "GENESIS_MALFORMED");  // region differs
  CHECK(add_org_key(*g, "m.other", "r1", ledger::kRoleIssuer, a.public_key()).status().code() ==
        "GENESIS_MALFORMED");  // key already an org key
  CHECK(add_org_key(*g, "Bad Id", "r1", ledger::kRoleIssuer, v.public_key()).status().code() ==
        "GENESIS_MALFORMED");
  CHECK(*add_org_key(*g, "m.node", "r1", ledger::kRoleConsumer, v.public_key()) == 1);
  // Sorted by id.
  CHECK((*g)["orgs"][0]["id"] == "a.issuer");
  CHECK((*g)["orgs"][1]["id"] == "m.node");
  CHECK((*g)["orgs"][2]["id"] == "z.issuer");
  // Not yet a genesis: no validator.
  CHECK(!ledger::genesis_from_json(*g).is_ok());

  CHECK(add_validator(*g, "nobody", v.public_key(), "h:1").code() == "GENESIS_MALFORMED");
  const ledger::Json before = *g;
  CHECK(add_validator(*g, "m.node", v.public_key(), "").code() == "GENESIS_MALFORMED");
  CHECK(*g == before);  // unchanged on error
  REQUIRE(add_validator(*g, "m.node", v.public_key(), "127.0.0.1:7001").is_ok());
  CHECK(add_validator(*g, "a.issuer", v.public_key(), "h:2").code() == "GENESIS_MALFORMED");

  auto parsed = ledger::genesis_from_json(*g);
  REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().to_string());
  CHECK(parsed->chain_id == "multi-net");
  const ledger::Org* org = parsed->find_org("a.issuer");
  REQUIRE(org != nullptr);
  CHECK(org->roles == (ledger::kRoleIssuer | ledger::kRoleAuditor));
  CHECK(org->keys.size() == 2);
  CHECK(parsed->find_org("m.node")->roles == (ledger::kRoleConsumer | ledger::kRoleValidator));
  CHECK(signer_for_key(*parsed, a2)->key_id == 2);

  TempDir dir;
  REQUIRE(write_genesis_json(dir.file("g.json"), *g).is_ok());
  auto loaded = ledger::load_genesis_file(dir.file("g.json"));
  REQUIRE(loaded.is_ok());
  CHECK(loaded->hash() == parsed->hash());
  CHECK(new_genesis("Bad Chain", 0).status().code() == "GENESIS_MALFORMED");
}

TEST_CASE("errors: each code lands in the exit class of design.md section 9") {
  auto cls = [](const char* code) { return classify(Status::error(code, "")); };
  CHECK(cls("NODE_UNREACHABLE") == ErrorClass::kUnavailable);
  CHECK(cls("IO_ERROR") == ErrorClass::kUnavailable);
  CHECK(cls("NODE_BAD_RESPONSE") == ErrorClass::kUnavailable);
  CHECK(cls("MEMPOOL_FULL") == ErrorClass::kUnavailable);
  CHECK(cls("CERT_NO_QUORUM") == ErrorClass::kVerifiedFalse);
  CHECK(cls("BUNDLE_SEAL_INVALID") == ErrorClass::kVerifiedFalse);
  CHECK(cls("BUNDLE_HASH_MISMATCH") == ErrorClass::kVerifiedFalse);
  CHECK(cls("PROOF_INVALID") == ErrorClass::kVerifiedFalse);
  CHECK(cls("CHAIN_LOG_MISMATCH") == ErrorClass::kVerifiedFalse);
  CHECK(cls("CHECKPOINT_NO_QUORUM") == ErrorClass::kVerifiedFalse);
  CHECK(cls("GENESIS_MISMATCH") == ErrorClass::kVerifiedFalse);
  CHECK(cls("BUNDLE_MALFORMED") == ErrorClass::kBadInput);
  CHECK(cls("EXPIRED") == ErrorClass::kBadInput);
  CHECK(cls("NOT_RECORD_ISSUER") == ErrorClass::kBadInput);
  CHECK(cls("TX_NOT_FOUND") == ErrorClass::kBadInput);
  CHECK(cls("GENESIS_MALFORMED") == ErrorClass::kBadInput);
  CHECK(cls("KEYFILE_BAD_PASSPHRASE") == ErrorClass::kBadInput);
}
