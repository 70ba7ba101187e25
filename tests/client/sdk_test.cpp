// The Client end to end over an in-process node (fake_node.hpp): it returns
// only what verifies, and reports a node that lies, stalls or runs another
// network with the right class of error.
#include "emledger/client/sdk.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "fake_node.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using emledger::client_test::FakeNode;
using emledger::client_test::TestNet;

namespace {

struct Fixture {
  TestNet net;
  FakeNode* node = nullptr;  // owned by client
  std::unique_ptr<Client> client;

  explicit Fixture(std::uint64_t page = 200) {
    auto fake = std::make_unique<FakeNode>(net);
    node = fake.get();
    ClientOptions options;
    options.chain_page_headers = page;
    client = std::make_unique<Client>(std::move(fake), net.genesis, options);
  }
};

// Flips one hex digit of the value of `field` in a JSON answer.
void flip_field(client::HttpResponse& res, const std::string& field, std::size_t at) {
  auto j = Json::parse(res.body);
  std::string v = j[field];
  v[at] = v[at] == '0' ? '1' : '0';
  j[field] = v;
  res.body = j.dump();
}

}  // namespace

TEST_CASE("sdk: submit, status, inclusion, record and bundle of a registration") {
  Fixture f;
  auto signer = signer_for_key(f.net.genesis, f.net.issuer);
  REQUIRE(signer.is_ok());
  auto tx = f.client->make_tx(*signer, TxType::kRegisterRecord,
                              encode(RegisterRecord{TestNet::body("the file")}));
  REQUIRE(tx.is_ok());
  CHECK(tx->body.expires_at_height == 0 + kTxExpiryBlocks);
  auto sub = f.client->submit(*tx, true);
  REQUIRE_MESSAGE(sub.is_ok(), sub.status().to_string());
  CHECK(sub->status == "committed");
  CHECK(sub->height == 1);

  auto st = f.client->tx_status(tx->id());
  REQUIRE(st.is_ok());
  CHECK(st->status == "committed");
  REQUIRE(st->tx.has_value());
  CHECK(f.client->verify_tx_committed(*tx).is_ok());

  const Hash id = record_id_for(tx->id());
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

  // A second submit of the same transaction is refused by the kernel.
  auto again = f.client->submit(*tx, true);
  CHECK(!again.is_ok());
  CHECK(again.status().code() == "DUPLICATE_TX");
  CHECK(classify(again.status()) == ErrorClass::kBadInput);
}

TEST_CASE("sdk: before the first block there is no certified state to prove against") {
  Fixture f;
  client_test::TempDir dir;
  auto v = f.client->verify_file(dir.write("licence.pdf", "licence bytes"));
  REQUIRE(!v.is_ok());
  CHECK(v.status().code() == "NO_BLOCKS");
  CHECK(f.client->latest_header().status().code() == "NOT_FOUND");
}

TEST_CASE("sdk: verdicts valid, revoked, superseded, expired, not anchored") {
  Fixture f;
  client_test::TempDir dir;
  auto t_valid = f.net.reg("valid file");
  auto t_revoked = f.net.reg("revoked file");
  auto t_old = f.net.reg("old version");
  auto t_expiring = f.net.reg("short-lived", f.net.clock_ms + 1500);
  f.net.commit({t_valid, t_revoked, t_old, t_expiring});
  f.net.commit(
      {f.net.tx(TxType::kRevokeRecord, encode(RevokeRecord{record_id_for(t_revoked.id()), 7}),
                f.net.issuer),
       f.net.tx(TxType::kChangeLicense,
                encode(ChangeLicense{record_id_for(t_old.id()), TestNet::body("new version")}),
                f.net.issuer)});
  auto verdict = [&](const std::string& content) {
    auto v = f.client->verify_file(dir.write("f", content));
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    return *v;
  };
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
  CHECK(absent.height == 2);
  CHECK(f.client->verify_file(dir.file("missing")).status().code() == "IO_ERROR");
}

TEST_CASE("sdk: a node that lies is caught, one that is down is unreachable") {
  Fixture f;
  auto tx = f.net.reg("file");
  f.net.commit({tx});
  const Hash content = crypto::sha256(as_bytes(std::string("file")));

  SUBCASE("tampered bundle") {
    f.node->tamper = [](const std::string& target, client::HttpResponse& res) {
      if (target.rfind("/v1/bundles", 0) == 0) flip_field(res, "bundle", 300);
    };
    auto b = f.client->fetch_bundle(content);
    REQUIRE(!b.is_ok());
    CHECK(classify(b.status()) != ErrorClass::kBadInput);
  }
  SUBCASE("tampered state proof") {
    f.node->tamper = [](const std::string& target, client::HttpResponse& res) {
      if (target.rfind("/v1/proofs/state", 0) == 0) flip_field(res, "proof", 160);
    };
    auto r = f.client->record(record_id_for(tx.id()));
    REQUIRE(!r.is_ok());
    CHECK(classify(r.status()) != ErrorClass::kBadInput);
  }
  SUBCASE("tampered latest header") {
    f.node->tamper = [](const std::string& target, client::HttpResponse& res) {
      if (target == "/v1/headers/latest") flip_field(res, "encoded", 90);
    };
    auto h = f.client->latest_header();
    REQUIRE(!h.is_ok());
    CHECK(classify(h.status()) == ErrorClass::kVerifiedFalse);
  }
  SUBCASE("another network's genesis") {
    Genesis other = f.net.genesis;
    other.time_ms += 1;
    f.node->claimed_genesis = other;
    CHECK(f.client->genesis().status().code() == "GENESIS_MISMATCH");
  }
  SUBCASE("the right genesis") { CHECK(f.client->genesis().is_ok()); }
  SUBCASE("not JSON") {
    f.node->tamper = [](const std::string&, client::HttpResponse& res) { res.body = "<html>"; };
    CHECK(f.client->health().status().code() == "NODE_BAD_RESPONSE");
  }
  SUBCASE("down") {
    f.node->down = true;
    auto b = f.client->fetch_bundle(content);
    CHECK(b.status().code() == "NODE_UNREACHABLE");
    CHECK(classify(b.status()) == ErrorClass::kUnavailable);
    CHECK(f.client->verify_chain().status().code() == "NODE_UNREACHABLE");
  }
}

TEST_CASE("sdk: verify_chain walks pages, checks consistency and the checkpoint") {
  Fixture f(/*page=*/2);
  for (int i = 0; i < 7; ++i)
    f.net.commit(i == 3 ? std::vector<Tx>{} : std::vector<Tx>{f.net.reg("f" + std::to_string(i))});
  std::vector<std::uint64_t> seen;
  auto r = f.client->verify_chain([&](std::uint64_t h, std::uint64_t head) {
    CHECK(head == 7);
    seen.push_back(h);
  });
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK_MESSAGE(r->valid, r->failure.to_string());
  CHECK(r->height == 7);
  CHECK(r->tx_count == 6);
  CHECK(r->log_size == 6);
  CHECK(r->log_root == f.net.ledger->head().log_root);
  CHECK(r->consistency_checked);
  REQUIRE(r->checkpoint.has_value());
  CHECK(r->checkpoint->size == 6);
  CHECK(seen == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("sdk: verify_chain on an empty chain is valid at genesis") {
  Fixture f;
  auto r = f.client->verify_chain();
  REQUIRE(r.is_ok());
  CHECK(r->valid);
  CHECK(r->height == 0);
  CHECK(r->head_hash == f.net.genesis.hash());
}

TEST_CASE("sdk: verify_chain names the height that fails") {
  Fixture f(/*page=*/3);
  for (int i = 0; i < 5; ++i) f.net.commit({f.net.reg("f" + std::to_string(i))});

  SUBCASE("a block whose bytes were changed") {
    f.node->tamper = [](const std::string& target, client::HttpResponse& res) {
      if (target == "/v1/blocks/4") flip_field(res, "block", 200);
    };
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failed_height == 4);
    CHECK(r->height == 0);
    CHECK(r->failure.code().rfind("CHAIN_", 0) == 0);
  }
  SUBCASE("a header list that disagrees with the blocks") {
    f.node->tamper = [](const std::string& target, client::HttpResponse& res) {
      if (target.rfind("/v1/headers?from=1", 0) == 0) {
        auto j = Json::parse(res.body);
        j["headers"][1]["encoded"] = j["headers"][0]["encoded"];
        res.body = j.dump();
      }
    };
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failed_height == 2);
    CHECK(r->failure.code() == "CHAIN_HEADER_MISMATCH");
  }
  SUBCASE("a checkpoint signed by a stranger") {
    f.node->checkpoint_signer = std::make_pair(std::string("v.node"), client_test::key_from(66));
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failure.code().rfind("CHECKPOINT_", 0) == 0);
  }
  SUBCASE("a checkpoint of another log") {
    f.node->tamper = [&](const std::string& target, client::HttpResponse& res) {
      if (target != "/v1/checkpoint") return;
      Checkpoint cp{f.net.genesis.chain_id, 5, f.net.ledger->head().log_root};
      cp.root[0] ^= 1;
      res.body = sign_checkpoint(cp, "v.node", f.net.validator);
    };
    auto r = f.client->verify_chain();
    REQUIRE(r.is_ok());
    CHECK(!r->valid);
    CHECK(r->failure.code() == "CHAIN_CHECKPOINT_INVALID");
  }
}

TEST_CASE("sdk: one Client serves several threads") {
  Fixture f;
  std::vector<Tx> txs;
  for (int i = 0; i < 8; ++i) txs.push_back(f.net.reg("t" + std::to_string(i)));
  f.net.commit(txs);
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
  auto signer = signer_for_key(f.net.genesis, f.net.issuer);
  REQUIRE(signer.is_ok());
  std::vector<Tx> txs;
  for (int i = 0; i < 3; ++i)
    txs.push_back(build_tx(f.net.genesis, *signer, TxType::kRegisterRecord,
                           encode(RegisterRecord{TestNet::body("batch " + std::to_string(i))}), 0,
                           random_nonce()));
  // The same content twice: the second registration is a duplicate record.
  txs.push_back(build_tx(f.net.genesis, *signer, TxType::kRegisterRecord,
                         encode(RegisterRecord{TestNet::body("batch 0")}), 0, random_nonce()));
  auto r = f.client->submit_batch(txs, true);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->size() == 4);
  for (int i = 0; i < 3; ++i) {
    CHECK((*r)[i].status == "committed");
    CHECK((*r)[i].id == txs[i].id());
    CHECK((*r)[i].height == 1);
  }
  CHECK((*r)[3].status == "rejected");
  CHECK((*r)[3].error.code() == "DUPLICATE_RECORD");

  std::vector<Tx> too_many(Client::kBatchTxsMax + 1, txs[0]);
  CHECK(f.client->submit_batch(too_many, false).status().code() == "BAD_ARGUMENT");
}
