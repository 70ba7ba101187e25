// The Client end to end against a real node over loopback sockets
// (live_node.hpp): it returns only what verifies, and reports a node that
// lies, drops the connection, is down or runs another network with the right
// class of error. Lies are told by a transport wrapped around the SDK's real
// one, which alters the real node's answers.
#include "emledger/client/sdk.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "live_node.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using emledger::client_test::LiveNode;
using emledger::client_test::record_body;
using emledger::client_test::TamperTransport;
using emledger::client_test::TestKeys;

namespace {

// Block times start a second after genesis.
constexpr std::uint64_t kStartTimeMs = TestKeys::kGenesisTimeMs + 1000;

struct Fixture : TestKeys {
  Genesis genesis = make_genesis();
  LiveNode node{genesis, validator, kStartTimeMs};
  TamperTransport* wire = nullptr;  // owned by client
  std::unique_ptr<Client> client;
  Signer signer = issuer_signer(genesis, issuer);

  explicit Fixture(std::uint64_t page = 200) {
    ClientOptions options;
    options.chain_page_headers = page;
    auto t = std::make_unique<TamperTransport>(make_http_transport(node.url(), options.transport));
    wire = t.get();
    client = std::make_unique<Client>(std::move(t), genesis, options);
  }

  static Signer issuer_signer(const Genesis& g, const crypto::KeyPair& key) {
    auto s = signer_for_key(g, key);
    REQUIRE(s.is_ok());
    return *s;
  }

  Tx tx(TxType type, Bytes payload) {
    auto t = client->make_tx(signer, type, std::move(payload));
    REQUIRE_MESSAGE(t.is_ok(), t.status().to_string());
    return *t;
  }
  Tx reg(const std::string& content, std::uint64_t valid_until_ms = 0) {
    return tx(TxType::kRegisterRecord,
              encode(RegisterRecord{record_body(content, valid_until_ms)}));
  }

  // Submits `txs` to the node and waits for their blocks; all must commit.
  // Returns the height of the last block they landed in.
  std::uint64_t commit(const std::vector<Tx>& txs) {
    auto r = client->submit_batch(txs, true);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    REQUIRE(r->size() == txs.size());
    std::uint64_t height = 0;
    for (const auto& s : *r) {
      REQUIRE_MESSAGE(s.status == "committed", s.error.to_string());
      height = std::max(height, s.height);
    }
    return height;
  }
};

// Flips one hex digit of the value of `field` in a JSON answer.
bool flip_field(client::HttpResponse& res, const std::string& field, std::size_t at) {
  auto j = Json::parse(res.body);
  std::string v = j[field];
  REQUIRE(at < v.size());
  v[at] = v[at] == '0' ? '1' : '0';
  j[field] = v;
  res.body = j.dump();
  return true;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("sdk: submit, status, inclusion, record and bundle of a registration") {
  Fixture f;
  auto tx = f.reg("the file");
  CHECK(tx.body.expires_at_height == 0 + kTxExpiryBlocks);
  auto sub = f.client->submit(tx, true);
  REQUIRE_MESSAGE(sub.is_ok(), sub.status().to_string());
  CHECK(sub->status == "committed");
  CHECK(sub->height == 1);
  CHECK(sub->log_index == 0);

  auto st = f.client->tx_status(tx.id());
  REQUIRE(st.is_ok());
  CHECK(st->status == "committed");
  CHECK(st->height == 1);
  REQUIRE(st->tx.has_value());
  CHECK(encode(*st->tx) == encode(tx));
  CHECK(f.client->verify_tx_committed(tx).is_ok());

  const Hash id = record_id_for(tx.id());
  auto rec = f.client->record(id);
  REQUIRE_MESSAGE(rec.is_ok(), rec.status().to_string());
  REQUIRE(rec->has_value());
  CHECK((*rec)->record.issuer == "gov.issuer");
  CHECK((*rec)->at.header.height == 1);
  Hash other = id;
  other[3] ^= 1;
  auto none = f.client->record(other);
  REQUIRE(none.is_ok());
  CHECK(!none->has_value());

  auto b = f.client->fetch_bundle(crypto::sha256(as_bytes(std::string("the file"))));
  REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
  CHECK(b->verdict.overall == Verdict::kValid);
  REQUIRE(b->verdict.records.size() == 1);
  CHECK(b->verdict.records[0].record.id == id);
  CHECK(decode_bundle(b->encoded).is_ok());

  // A second submit of the same transaction is refused by the node.
  auto again = f.client->submit(tx, true);
  CHECK(!again.is_ok());
  CHECK(again.status().code() == "DUPLICATE_TX");
  CHECK(classify(again.status()) == ErrorClass::kBadInput);
  CHECK(f.wire->interventions() == 0);
}

TEST_CASE("sdk: before the first block there is no certified state to prove against") {
  Fixture f;
  client_test::TempDir dir;
  auto v = f.client->verify_file(dir.write("licence.pdf", "licence bytes"));
  REQUIRE(!v.is_ok());
  // The kernel's NO_BLOCKS is answered as 404 NOT_FOUND (node/src/api.cpp;
  // NO_BLOCKS is not in schemas/errors.json): a usage error, exit 2.
  CHECK(v.status().code() == "NOT_FOUND");
  CHECK(classify(v.status()) == ErrorClass::kBadInput);
  CHECK(f.client->latest_header().status().code() == "NOT_FOUND");
}

TEST_CASE("sdk: verdicts valid, revoked, superseded, expired, not anchored") {
  Fixture f;
  client_test::TempDir dir;
  auto verdict = [&](const std::string& content) {
    auto v = f.client->verify_file(dir.write("f", content));
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    return *v;
  };
  auto t_valid = f.reg("valid file");
  auto t_revoked = f.reg("revoked file");
  auto t_old = f.reg("old version");
  auto t_expiring = f.reg("short-lived", f.node.time_ms() + 1500);
  f.commit({t_valid, t_revoked, t_old, t_expiring});
  CHECK(verdict("short-lived").overall == Verdict::kValid);  // not yet

  // The next block is dated past the short-lived record's expiry.
  f.node.advance_time_ms(2000);
  const std::uint64_t height = f.commit(
      {f.tx(TxType::kRevokeRecord, encode(RevokeRecord{record_id_for(t_revoked.id()), 7})),
       f.tx(TxType::kChangeLicense,
            encode(ChangeLicense{record_id_for(t_old.id()), record_body("new version")}))});
  CHECK(verdict("valid file").overall == Verdict::kValid);
  auto revoked = verdict("revoked file");
  CHECK(revoked.overall == Verdict::kRevoked);
  CHECK(revoked.records.at(0).record.revoke_reason == 7);
  CHECK(verdict("old version").overall == Verdict::kSuperseded);
  CHECK(verdict("new version").overall == Verdict::kValid);
  CHECK(verdict("short-lived").overall == Verdict::kExpired);
  auto absent = verdict("never registered");
  CHECK(absent.overall == Verdict::kNotAnchored);
  CHECK(absent.records.empty());
  CHECK(absent.height == height);
  CHECK(absent.height == f.node.ledger().head().height);
  CHECK(f.client->verify_file(dir.file("missing")).status().code() == "IO_ERROR");
}

TEST_CASE("sdk: a node that lies is caught, one that is down is unreachable") {
  Fixture f;
  auto tx = f.reg("file");
  f.commit({tx});
  const Hash content = crypto::sha256(as_bytes(std::string("file")));

  SUBCASE("tampered bundle") {
    f.wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      return starts_with(target, "/v1/bundles") && flip_field(res, "bundle", 300);
    });
    auto b = f.client->fetch_bundle(content);
    REQUIRE(!b.is_ok());
    CHECK(classify(b.status()) != ErrorClass::kBadInput);
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("tampered state proof") {
    f.wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      return starts_with(target, "/v1/proofs/state") && flip_field(res, "proof", 160);
    });
    auto r = f.client->record(record_id_for(tx.id()));
    REQUIRE(!r.is_ok());
    CHECK(classify(r.status()) != ErrorClass::kBadInput);
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("tampered latest header") {
    f.wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      return target == "/v1/headers/latest" && flip_field(res, "encoded", 90);
    });
    auto h = f.client->latest_header();
    REQUIRE(!h.is_ok());
    CHECK(classify(h.status()) == ErrorClass::kVerifiedFalse);
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("the right genesis") { CHECK(f.client->genesis().is_ok()); }
  SUBCASE("not JSON") {
    f.wire->set_tamper([](const std::string&, client::HttpResponse& res) {
      res.body = "<html>";
      return true;
    });
    CHECK(f.client->health().status().code() == "NODE_BAD_RESPONSE");
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("down") {
    f.node.stop();
    auto b = f.client->fetch_bundle(content);
    CHECK(b.status().code() == "NODE_UNREACHABLE");
    CHECK(classify(b.status()) == ErrorClass::kUnavailable);
    CHECK(f.client->verify_chain().status().code() == "NODE_UNREACHABLE");
  }
  SUBCASE("a connection dropped mid-walk is an error, not a verdict on the chain") {
    f.wire->set_drop([](const std::string& target) { return target == "/v1/blocks/1"; });
    auto r = f.client->verify_chain();
    REQUIRE(!r.is_ok());
    CHECK(r.status().code() == "NODE_UNREACHABLE");
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("a submit whose answer was lost is found committed") {
    auto lost = f.reg("lost answer");
    f.wire->set_drop(
        [](const std::string& target) { return starts_with(target, "/v1/transactions?"); });
    CHECK(f.client->submit(lost, true).status().code() == "NODE_UNREACHABLE");
    CHECK(f.wire->interventions() == 1);
    auto st = f.client->tx_status(lost.id());
    REQUIRE_MESSAGE(st.is_ok(), st.status().to_string());
    CHECK(st->status == "committed");
    CHECK(st->height == 2);
    CHECK(f.client->verify_tx_committed(lost).is_ok());
  }
}

TEST_CASE("sdk: a node of another network is refused, though it answers honestly") {
  TestKeys keys;
  const Genesis trusted = keys.make_genesis();
  // Same orgs, keys and validator; one millisecond apart: another network.
  const Genesis other = keys.make_genesis(TestKeys::kGenesisTimeMs + 1);
  REQUIRE(other.hash() != trusted.hash());
  LiveNode node(other, keys.validator, kStartTimeMs);
  Client client(node.url(), trusted);
  auto h = client.health();
  REQUIRE_MESSAGE(h.is_ok(), h.status().to_string());
  CHECK(h->genesis_hash == other.hash());
  auto g = client.genesis();
  CHECK(g.status().code() == "GENESIS_MISMATCH");
  CHECK(classify(g.status()) == ErrorClass::kVerifiedFalse);
}

TEST_CASE("sdk: verify_chain walks pages, checks consistency and the checkpoint") {
  Fixture f(/*page=*/2);
  // One submit at a time, each waiting for its block: seven blocks.
  for (std::uint64_t i = 0; i < 7; ++i) {
    auto sub = f.client->submit(f.reg("f" + std::to_string(i)), true);
    REQUIRE_MESSAGE(sub.is_ok(), sub.status().to_string());
    REQUIRE(sub->height == i + 1);
    f.node.advance_time_ms(1000);
  }
  std::vector<std::uint64_t> seen;
  auto r = f.client->verify_chain([&](std::uint64_t h, std::uint64_t head) {
    CHECK(head == 7);
    seen.push_back(h);
  });
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK_MESSAGE(r->valid, r->failure.to_string());
  const ChainHead head = f.node.ledger().head();
  CHECK(r->height == 7);
  CHECK(r->tx_count == 7);
  CHECK(r->log_size == 7);
  CHECK(r->log_root == head.log_root);
  CHECK(r->head_hash == head.header_hash);
  CHECK(r->head_time_ms == kStartTimeMs + 6000);
  CHECK(r->consistency_checked);
  REQUIRE(r->checkpoint.has_value());
  CHECK(r->checkpoint->size == 7);
  CHECK(r->checkpoint->root == head.log_root);
  CHECK(seen == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("sdk: verify_chain on an empty chain is valid at genesis") {
  Fixture f;
  auto r = f.client->verify_chain();
  REQUIRE(r.is_ok());
  CHECK(r->valid);
  CHECK(r->height == 0);
  CHECK(r->head_hash == f.genesis.hash());
}

TEST_CASE("sdk: verify_chain against a node restored from a snapshot starts at its base") {
  Fixture f;
  for (int i = 0; i < 4; ++i) {
    f.commit({f.reg("before-" + std::to_string(i))});
    f.node.advance_time_ms(1000);
  }
  const std::uint64_t base = f.node.ledger().head().height;
  // The operator's restore: snapshot the node's ledger, import it into a new
  // database in place of the old one, start the node on it.
  f.node.close();
  Bytes snap;
  {
    auto store = open_leveldb(f.node.db_dir());
    REQUIRE(store.is_ok());
    auto l = Ledger::open(std::move(*store), f.genesis);
    REQUIRE(l.is_ok());
    auto w = write_snapshot(**l, [&](ByteView b) {
      snap.insert(snap.end(), b.begin(), b.end());
      return Status::ok();
    });
    REQUIRE(w.is_ok());
  }
  std::filesystem::remove_all(f.node.db_dir());
  {
    client_test::TempDir scratch_dir;
    auto target = open_leveldb(f.node.db_dir());
    auto scratch = open_leveldb(scratch_dir.file("sort"));
    REQUIRE((target.is_ok() && scratch.is_ok()));
    std::size_t at = 0;
    auto r = import_snapshot(
        [&](std::span<std::uint8_t> out) -> Result<std::size_t> {
          const std::size_t n = std::min(out.size(), snap.size() - at);
          std::copy_n(snap.begin() + static_cast<std::ptrdiff_t>(at), n, out.begin());
          at += n;
          return n;
        },
        f.genesis, **target, **scratch);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  }
  f.node.restart();
  auto t = std::make_unique<TamperTransport>(make_http_transport(f.node.url()));
  TamperTransport* wire = t.get();
  Client c(std::move(t), f.genesis);
  f.client = std::make_unique<Client>(make_http_transport(f.node.url()), f.genesis);
  f.node.advance_time_ms(1000);
  f.commit({f.reg("after-0"), f.reg("after-1")});
  REQUIRE(f.node.ledger().base_height() == base);

  auto r = c.verify_chain();
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK_MESSAGE(r->valid, r->failure.to_string());
  CHECK(r->base_height == base);
  CHECK(r->height == f.node.ledger().head().height);
  CHECK(r->height > base);
  CHECK(r->tx_count == 2);
  CHECK(r->log_root == f.node.ledger().head().log_root);
  CHECK(r->consistency_checked);

  SUBCASE("log subtrees that do not fold to the base's log root") {
    wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      if (target.rfind("/v1/proofs/frontier", 0) != 0) return false;
      auto j = Json::parse(res.body);
      std::string h = j["subtrees"][0];
      h[0] = h[0] == '0' ? '1' : '0';
      j["subtrees"][0] = h;
      res.body = j.dump();
      return true;
    });
    auto bad = c.verify_chain();
    REQUIRE(bad.is_ok());
    CHECK_FALSE(bad->valid);
    CHECK(bad->failure.code() == "CHAIN_LOG_MISMATCH");
    CHECK(bad->failed_height == base);
    CHECK(wire->interventions() > 0);
  }
  SUBCASE("a base the node does not hold") {
    wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
      if (target != "/v1/health") return false;
      auto j = Json::parse(res.body);
      j["base_height"] = base - 1;
      res.body = j.dump();
      return true;
    });
    auto bad = c.verify_chain();
    CHECK((!bad.is_ok() || !bad->valid));
    CHECK(wire->interventions() > 0);
  }
}

TEST_CASE("sdk: verify_chain names the height that fails") {
  Fixture f(/*page=*/3);
  for (int i = 0; i < 5; ++i)
    REQUIRE(f.client->submit(f.reg("f" + std::to_string(i)), true).is_ok());
  REQUIRE(f.node.ledger().head().height == 5);
  // The checkpoint the node signs, as the tamperers below start from it.
  auto honest = [&](const std::string& note) {
    auto cp = verify_checkpoint(note, f.genesis);
    REQUIRE_MESSAGE(cp.is_ok(), cp.status().to_string());
    CHECK(cp->size == 5);
    return *cp;
  };

  SUBCASE("a block whose bytes were changed") {
    f.wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      return target == "/v1/blocks/4" && flip_field(res, "block", 200);
    });
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failed_height == 4);
    CHECK(r->height == 0);
    CHECK(starts_with(r->failure.code(), "CHAIN_"));
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("a header list that disagrees with the blocks") {
    f.wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      if (!starts_with(target, "/v1/headers?from=1&")) return false;
      auto j = Json::parse(res.body);
      j["headers"][1]["encoded"] = j["headers"][0]["encoded"];
      res.body = j.dump();
      return true;
    });
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failed_height == 2);
    CHECK(r->failure.code() == "CHAIN_HEADER_MISMATCH");
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("a checkpoint signed by a stranger") {
    f.wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
      if (target != "/v1/checkpoint") return false;
      res.body = sign_checkpoint(honest(res.body), "v.node", client_test::key_from(66));
      return true;
    });
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(starts_with(r->failure.code(), "CHECKPOINT_"));
    CHECK(f.wire->interventions() == 1);
  }
  SUBCASE("a checkpoint of another log") {
    f.wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
      if (target != "/v1/checkpoint") return false;
      Checkpoint cp = honest(res.body);
      cp.root[0] ^= 1;
      res.body = sign_checkpoint(cp, "v.node", f.validator);
      return true;
    });
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failure.code() == "CHAIN_CHECKPOINT_INVALID");
    CHECK(f.wire->interventions() == 1);
  }
}

TEST_CASE("sdk: one Client serves several threads") {
  Fixture f;
  std::vector<Tx> txs;
  for (int i = 0; i < 8; ++i) txs.push_back(f.reg("t" + std::to_string(i)));
  f.commit(txs);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < 8; i += 4)
        if (auto r = f.client->record(record_id_for(txs[i].id())); r.is_ok() && r->has_value())
          ++ok;
    });
  for (auto& th : threads) th.join();
  CHECK(ok == 8);
}

TEST_CASE("sdk: submit_batch reports each transaction in order") {
  Fixture f;
  std::vector<Tx> txs;
  for (int i = 0; i < 3; ++i)
    txs.push_back(build_tx(f.genesis, f.signer, TxType::kRegisterRecord,
                           encode(RegisterRecord{record_body("batch " + std::to_string(i))}), 0,
                           random_nonce()));
  // The same content twice: the second registration is a duplicate record.
  txs.push_back(build_tx(f.genesis, f.signer, TxType::kRegisterRecord,
                         encode(RegisterRecord{record_body("batch 0")}), 0, random_nonce()));
  auto r = f.client->submit_batch(txs, true);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->size() == 4);
  // The node may cut the batch into several blocks, but keeps its order:
  // the three registrations take log positions 0, 1, 2.
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK((*r)[i].status == "committed");
    CHECK((*r)[i].id == txs[i].id());
    CHECK((*r)[i].log_index == i);
    CHECK((*r)[i].height >= 1);
    auto st = f.client->tx_status(txs[i].id());
    REQUIRE(st.is_ok());
    CHECK(st->status == "committed");
    CHECK(st->height == (*r)[i].height);
    CHECK(st->log_index == i);
  }
  CHECK((*r)[3].status == "rejected");
  CHECK((*r)[3].id == txs[3].id());
  CHECK((*r)[3].error.code() == "DUPLICATE_RECORD");
  CHECK(f.node.ledger().head().log_size == 3);

  std::vector<Tx> too_many(Client::kBatchTxsMax + 1, txs[0]);
  CHECK(f.client->submit_batch(too_many, false).status().code() == "BAD_ARGUMENT");
}

// Records how requests went out. kJsonOnlyTransport: send() is the base
// class's, which carries nothing but GET and JSON POST, as a minimal transport
// would. kJsonOnlyNode: a binary batch is answered as a node built before the
// binary body answers it, reading it as JSON.
enum class Peer { kFull, kJsonOnlyTransport, kJsonOnlyNode };
class RecordingTransport : public Transport {
 public:
  RecordingTransport(std::unique_ptr<Transport> real, Peer peer)
      : real_(std::move(real)), peer_(peer) {}
  Result<client::HttpResponse> get(const std::string& target) override {
    return real_->get(target);
  }
  Result<client::HttpResponse> post(const std::string& target, const std::string& json_body,
                                    bool long_wait) override {
    ++json_posts;
    return real_->post(target, json_body, long_wait);
  }
  Result<client::HttpResponse> send(const HttpCall& call) override {
    if (peer_ == Peer::kJsonOnlyTransport) return Transport::send(call);
    sent_types.push_back(call.content_type);
    if (peer_ == Peer::kJsonOnlyNode)
      return client::HttpResponse{
          400, R"({"error":{"code":"MALFORMED_JSON","message":"parse error","details":{}}})",
          "application/json"};
    return real_->send(call);
  }
  int json_posts = 0;
  std::vector<std::string> sent_types;

 private:
  std::unique_ptr<Transport> real_;
  Peer peer_;
};

TEST_CASE("sdk: submit_batch sends the binary body, and JSON to a JSON-only transport or node") {
  Fixture f;
  int n = 0;
  for (Peer peer : {Peer::kFull, Peer::kJsonOnlyTransport, Peer::kJsonOnlyNode}) {
    CAPTURE(static_cast<int>(peer));
    auto t = std::make_unique<RecordingTransport>(make_http_transport(f.node.url()), peer);
    RecordingTransport* wire = t.get();
    Client c(std::move(t), f.genesis, ClientOptions{});
    std::vector<Tx> txs;
    for (int i = 0; i < 2; ++i, ++n)
      txs.push_back(build_tx(f.genesis, f.signer, TxType::kRegisterRecord,
                             encode(RegisterRecord{record_body("batch body " + std::to_string(n))}),
                             0, random_nonce()));
    auto r = c.submit_batch(txs, true);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    REQUIRE(r->size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK((*r)[i].status == "committed");
      CHECK((*r)[i].id == txs[i].id());
    }
    const std::vector<std::string> binary{std::string(kTxBatchMediaType)};
    switch (peer) {
      case Peer::kFull:
        CHECK(wire->json_posts == 0);
        CHECK(wire->sent_types == binary);
        break;
      case Peer::kJsonOnlyTransport:
        CHECK(wire->json_posts == 1);
        CHECK(wire->sent_types.empty());
        break;
      case Peer::kJsonOnlyNode:
        CHECK(wire->json_posts == 1);
        CHECK(wire->sent_types == binary);
        break;
    }
  }
  CHECK(f.node.ledger().head().log_size == 6);
}
