// Bad input against a real node process on a multi-org network built with the
// CLI: each is a clear error, nothing changes, the node keeps serving.
#include "e2e_support.hpp"

using namespace emledger;
using namespace emledger::e2e;
using namespace emledger::ledger;

namespace {

struct Network {
  Scratch s{"bad-input"};
  testing::NodeProcess node{EMLEDGER_NODE_BIN, s.path("node")};
  Genesis genesis;
  std::optional<crypto::KeyPair> a, b, c;

  void setup() {
    for (const char* k : {"a", "b", "c", "v"}) {
      auto r = cli(s, {"keygen", "--out", s.path(std::string(k) + ".key"), "--no-passphrase"});
      REQUIRE_MESSAGE(r.exit_code == 0, r.out);
    }
    const std::string g = s.path("genesis.json");
    auto step = [&](std::vector<std::string> args) {
      auto r = cli(s, args);
      REQUIRE_MESSAGE(r.exit_code == 0, r.out);
    };
    step({"genesis", "new", "--chain-id", "e2e-net", "--out", g});
    step({"genesis", "add-org", g, "--id", "a.issuer", "--region", "r1", "--roles", "issuer", "--key", s.path("a.key")});
    step({"genesis", "add-org", g, "--id", "b.issuer", "--region", "r2", "--roles", "issuer", "--key", s.path("b.key")});
    step({"genesis", "add-org", g, "--id", "c.consumer", "--region", "r1", "--roles", "consumer", "--key", s.path("c.key")});
    step({"genesis", "add-org", g, "--id", "v.node", "--region", "r1", "--roles", "validator", "--key", s.path("v.key")});
    step({"genesis", "add-validator", g, "--org", "v.node", "--key", s.path("v.key"), "--address", "127.0.0.1:0"});
    auto loaded = load_genesis_file(g);
    REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().to_string());
    genesis = *loaded;
    a = *crypto::read_key_file(s.path("a.key"), std::nullopt);
    b = *crypto::read_key_file(s.path("b.key"), std::nullopt);
    c = *crypto::read_key_file(s.path("c.key"), std::nullopt);
    REQUIRE_MESSAGE(node.start({"--dev", "--genesis", g, "--key", s.path("v.key"), "--data",
                                s.path("node"), "--listen", "127.0.0.1:0"}),
                    node.log());
  }

  template <class P>
  Tx tx(const crypto::KeyPair& key, const std::string& org, TxType type, const P& payload) {
    static std::uint64_t nonce = 0;
    TxBody body = make_body(type, payload);
    body.chain_id = genesis.chain_id;
    body.signer_org = org;
    body.key_id = 1;
    body.expires_at_height = height_of(node) + 100;
    body.nonce = ++nonce;
    return sign_tx(std::move(body), key);
  }

  HttpReply submit(const Tx& t) {
    return http_json(node, "POST", "/v1/transactions?wait=commit",
                     Json{{"tx", to_hex(encode(t))}}.dump());
  }
};

RecordBody body_for(const std::string& content) {
  RecordBody b;
  b.kind = static_cast<std::uint8_t>(RecordKind::kLicense);
  b.type_code = "biz.license";
  b.holder_ref = crypto::sha256(as_bytes("holder"));
  b.content_hash = crypto::sha256(as_bytes(content));
  b.size_bytes = content.size();
  return b;
}

}  // namespace

TEST_CASE("e2e: bad input is refused with a clear code and changes nothing") {
  Network net;
  net.setup();
  Tx good = net.tx(*net.a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{body_for("one")});
  auto first = net.submit(good);
  REQUIRE_MESSAGE(first.status == 200, first.body.dump());
  const std::string record_id = to_hex(record_id_for(good.id()));
  const std::uint64_t height = height_of(net.node);

  auto expect = [&](const HttpReply& r, int status, const std::string& code) {
    INFO("expected " << status << " " << code << ", got " << r.status << " " << r.body.dump());
    CHECK(r.status == status);
    CHECK(error_code(r) == code);
    CHECK(height_of(net.node) == height);  // nothing committed
  };

  expect(http_json(net.node, "POST", "/v1/transactions", "{\"tx\": "), 400, "MALFORMED_JSON");
  expect(http_json(net.node, "POST", "/v1/transactions", "{\"tx\": \"zz\"}"), 400, "MALFORMED_REQUEST");
  expect(http_json(net.node, "POST", "/v1/transactions", "{\"nope\": 1}"), 400, "MALFORMED_REQUEST");
  expect(http_json(net.node, "POST", "/v1/transactions",
                   Json{{"tx", "00" + to_hex(encode(good))}}.dump()),
         400, "TX_MALFORMED");
  {
    std::string huge = "{\"tx\": \"" + std::string(9u << 20, 'a') + "\"}";
    expect(http_json(net.node, "POST", "/v1/transactions", huge), 413, "BODY_TOO_LARGE");
  }
  {
    Tx forged = net.tx(*net.a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{body_for("two")});
    forged.signature[10] ^= 0x40;
    expect(net.submit(forged), 401, "BAD_SIGNATURE");
  }
  {
    Tx other = net.tx(*net.a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{body_for("three")});
    other.body.chain_id = "another-net";
    expect(net.submit(sign_tx(other.body, *net.a)), 400, "WRONG_CHAIN");
  }
  expect(net.submit(net.tx(*net.a, "z.unknown", TxType::kRegisterRecord, RegisterRecord{body_for("four")})),
         403, "UNKNOWN_ORG");
  expect(net.submit(net.tx(*net.c, "c.consumer", TxType::kRegisterRecord, RegisterRecord{body_for("five")})),
         403, "NOT_ISSUER");
  expect(net.submit(net.tx(*net.b, "b.issuer", TxType::kRevokeRecord,
                           RevokeRecord{record_id_for(good.id()), 1})),
         403, "NOT_RECORD_ISSUER");
  expect(net.submit(good), 409, "DUPLICATE_TX");

  // The record is untouched and the node still serves and commits.
  auto rec = http_json(net.node, "GET", "/v1/records/" + record_id);
  REQUIRE(rec.status == 200);
  CHECK(rec.body["record"]["status"] == "active");
  auto next = net.submit(net.tx(*net.b, "b.issuer", TxType::kRegisterRecord, RegisterRecord{body_for("six")}));
  CHECK_MESSAGE(next.status == 200, next.body.dump());
  CHECK(height_of(net.node) == height + 1);
}
