// The HTTP API end to end inside one process: a real node (LevelDB in a temp
// dir, Beast server on a loopback port) driven by cpp-httplib.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/tx_batch.hpp"
#include "node_test_util.hpp"

using namespace emledger;
using namespace emledger::node;
using namespace emledger::node::test;

namespace {

template <class T>
T decode_hex(const json& j) {
  auto bytes = from_hex(j.get<std::string>());
  REQUIRE(bytes.has_value());
  auto v = ledger::decode<T>(*bytes);
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  return std::move(*v);
}

struct Head {
  std::uint64_t height, log_size;
};
Head head_of(Node& n) {
  auto h = get(n, "/v1/health");
  REQUIRE(h.status == 200);
  return {h.body["height"].get<std::uint64_t>(), h.body["log_size"].get<std::uint64_t>()};
}

}  // namespace

TEST_CASE("dev node: submit with wait=commit, then every read shows it") {
  TempDir dir;
  auto node = start_node(dev_config(dir.str("data")));
  const std::string chain = node->identity().genesis.chain_id;
  CHECK(chain == kDevChainId);
  auto key = dev_issuer_key(dir.str("data"));

  auto health = get(*node, "/v1/health");
  CHECK(health.status == 200);
  CHECK(health.body["status"] == "ok");
  CHECK(health.body["chain_id"] == chain);
  CHECK(health.body["height"] == 0);
  CHECK(health.body["genesis_hash"] == to_hex(node->ledger().genesis_hash()));
  CHECK(health.body["committed_id_filter"] == "complete");  // a new chain has nothing to scan
  // ADR 034: a new chain's few writes are in LevelDB's memtable; no level
  // is over its limit.
  CHECK(health.body["compaction"] == "idle");
  // ADR 047: the state cache's memory, and the pages written to it so far.
  CHECK(health.body["state_cache"]["bytes"].get<std::uint64_t>() ==
        node->ledger().state_pages().mapped_bytes());
  const auto cache_written = health.body["state_cache"]["written_bytes"].get<std::uint64_t>();
  CHECK(cache_written == node->ledger().state_pages().written_bytes());
  CHECK(error_code(get(*node, "/v1/headers/latest")) == "NOT_FOUND");

  auto g = get(*node, "/v1/genesis");
  REQUIRE(g.status == 200);
  auto parsed = ledger::genesis_from_json(g.body);
  REQUIRE(parsed.is_ok());
  CHECK(parsed->hash() == node->ledger().genesis_hash());

  const Hash content = random_hash();
  auto tx = register_tx(chain, kDevIssuerOrg, key, content);
  const std::string id = to_hex(tx.id());
  auto r = post(*node, "/v1/transactions?wait=commit", submit_body(tx));
  REQUIRE_MESSAGE(r.status == 200, r.raw);
  CHECK(r.body["id"] == id);
  CHECK(r.body["status"] == "committed");
  CHECK(r.body["height"] == 1);
  CHECK(r.body["log_index"] == 0);
  // The block rewrote the pages on its keys' paths into the cache.
  CHECK(get(*node, "/v1/health").body["state_cache"]["written_bytes"].get<std::uint64_t>() >
        cache_written);

  auto t = get(*node, "/v1/transactions/" + id);
  REQUIRE(t.status == 200);
  CHECK(t.body["status"] == "committed");
  CHECK(t.body["height"] == 1);
  CHECK(t.body["index"] == 0);
  CHECK(t.body["tx"] == tx_hex(tx));
  CHECK(t.body["decoded"]["signer_org"] == kDevIssuerOrg);

  const std::string record_id = to_hex(ledger::record_id_for(tx.id()));
  auto rec = get(*node, "/v1/records/" + record_id);
  REQUIRE(rec.status == 200);
  CHECK(rec.body["record"]["issuer"] == kDevIssuerOrg);
  auto record = decode_hex<ledger::Record>(rec.body["encoded"]);
  CHECK(record.body.content_hash == content);
  auto by_hash = get(*node, "/v1/records?content_hash=" + to_hex(content));
  REQUIRE(by_hash.status == 200);
  CHECK(by_hash.body["records"].size() == 1);
  auto none = get(*node, "/v1/records?content_hash=" + to_hex(random_hash()));
  CHECK(none.status == 200);
  CHECK(none.body["records"].empty());

  auto hdr = get(*node, "/v1/headers/latest");
  REQUIRE(hdr.status == 200);
  CHECK(hdr.body["height"] == 1);
  auto header = decode_hex<ledger::BlockHeader>(hdr.body["encoded"]);
  auto cert = decode_hex<ledger::Certificate>(hdr.body["certificate"]);
  CHECK(to_hex(header.hash()) == hdr.body["hash"]);
  CHECK(ledger::verify_certificate(node->ledger().genesis(), header, cert).is_ok());
  CHECK(get(*node, "/v1/headers/1").body == hdr.body);
  CHECK(error_code(get(*node, "/v1/headers/2")) == "NOT_FOUND");
  auto range = get(*node, "/v1/headers?from=1&to=5");
  REQUIRE(range.status == 200);
  CHECK(range.body["headers"].size() == 1);

  auto blk = get(*node, "/v1/blocks/1");
  REQUIRE(blk.status == 200);
  auto block = decode_hex<ledger::Block>(blk.body["block"]);
  REQUIRE(block.txs.size() == 1);
  CHECK(block.txs[0] == ledger::encode(tx));

  auto inc = get(*node, "/v1/proofs/inclusion?tx=" + id);
  REQUIRE_MESSAGE(inc.status == 200, inc.raw);
  auto proof = decode_hex<ledger::InclusionProof>(inc.body["proof"]);
  auto leaf = hash_from_hex(inc.body["leaf_hash"].get<std::string>());
  auto root = hash_from_hex(inc.body["root"].get<std::string>());
  REQUIRE((leaf && root));
  CHECK(*leaf == ledger::log_leaf_hash(ledger::encode(tx)));
  CHECK(*root == header.log_root);
  CHECK(ledger::verify_inclusion(*leaf, proof, *root));
  CHECK(get(*node, "/v1/proofs/inclusion?index=0&size=1").body == inc.body);

  auto sp = get(*node, "/v1/proofs/state?key=" +
                           to_hex(ledger::record_state_key(ledger::record_id_for(tx.id()))));
  REQUIRE_MESSAGE(sp.status == 200, sp.raw);
  auto state_proof = decode_hex<ledger::StateProof>(sp.body["proof"]);
  CHECK(state_proof.present);
  CHECK(sp.body["state_root"] == to_hex(header.state_root));
  CHECK(ledger::verify_state_proof(state_proof, header.state_root));

  auto b = get(*node, "/v1/bundles?content_hash=" + to_hex(content));
  REQUIRE_MESSAGE(b.status == 200, b.raw);
  auto bundle = decode_hex<ledger::ProofBundle>(b.body["bundle"]);
  auto verdict = ledger::verify_bundle(node->ledger().genesis(), bundle, content);
  REQUIRE_MESSAGE(verdict.is_ok(), verdict.status().to_string());
  CHECK(verdict->overall == ledger::Verdict::kValid);

  auto client = client_for(*node);
  auto cp = client.Get("/v1/checkpoint");
  REQUIRE(cp);
  CHECK(cp->status == 200);
  CHECK(cp->get_header_value("Content-Type").rfind("text/plain", 0) == 0);
  auto checkpoint = ledger::verify_checkpoint(cp->body, node->ledger().genesis());
  REQUIRE_MESSAGE(checkpoint.is_ok(), checkpoint.status().to_string());
  CHECK(checkpoint->size == 1);
  CHECK(checkpoint->root == header.log_root);

  auto api = get(*node, "/v1/openapi.json");
  CHECK(api.status == 200);
  CHECK(api.body["openapi"].get<std::string>().rfind("3.0", 0) == 0);

  // A second transaction extends the log; consistency 1 -> 2 verifies.
  auto tx2 = register_tx(chain, kDevIssuerOrg, key, random_hash());
  REQUIRE(post(*node, "/v1/transactions?wait=commit", submit_body(tx2)).status == 200);
  auto cons = get(*node, "/v1/proofs/consistency?first=1&second=2");
  REQUIRE_MESSAGE(cons.status == 200, cons.raw);
  auto cproof = decode_hex<ledger::ConsistencyProof>(cons.body["proof"]);
  auto h2 = decode_hex<ledger::BlockHeader>(get(*node, "/v1/headers/2").body["encoded"]);
  CHECK(ledger::verify_consistency(cproof, header.log_root, h2.log_root));

  // The log's subtrees at size 2 fold to that root; a verifier walks on from them.
  auto frontier = get(*node, "/v1/proofs/frontier?size=2");
  REQUIRE_MESSAGE(frontier.status == 200, frontier.raw);
  std::vector<Hash> subtrees;
  for (const auto& h : frontier.body["subtrees"]) {
    auto raw = from_hex(h.get<std::string>());
    REQUIRE((raw && raw->size() == kHashSize));
    Hash x;
    std::copy(raw->begin(), raw->end(), x.begin());
    subtrees.push_back(x);
  }
  auto resumed = ledger::LogFrontier::resume(2, subtrees);
  REQUIRE(resumed.is_ok());
  CHECK(resumed->root() == h2.log_root);
  CHECK(get(*node, "/v1/health").body["base_height"] == 0);
}

TEST_CASE("submit without wait is 202 pending, then commits") {
  TempDir dir;
  auto node = start_node(dev_config(dir.str("data")));
  auto key = dev_issuer_key(dir.str("data"));
  auto tx = register_tx(kDevChainId, kDevIssuerOrg, key, random_hash());
  auto r = post(*node, "/v1/transactions", submit_body(tx));
  REQUIRE(r.status == 202);
  CHECK(r.body["status"] == "pending");
  CHECK(r.body["id"] == to_hex(tx.id()));
  std::string status;
  for (int i = 0; i < 300 && status != "committed"; ++i) {
    status = get(*node, "/v1/transactions/" + to_hex(tx.id())).body.value("status", "");
    if (status != "committed") std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(status == "committed");
}

TEST_CASE("batch: results in request order, with wait and without") {
  TempDir dir;
  auto node = start_node(dev_config(dir.str("data")));
  auto key = dev_issuer_key(dir.str("data"));
  std::vector<ledger::Tx> txs;
  json hexes = json::array();
  for (int i = 0; i < 20; ++i) {
    txs.push_back(register_tx(kDevChainId, kDevIssuerOrg, key, random_hash()));
    hexes.push_back(tx_hex(txs.back()));
  }
  hexes.push_back(tx_hex(txs[3]));  // a duplicate inside the batch
  ledger::Tx forged = txs[0];
  forged.body.nonce += 1000;  // the signature no longer matches
  hexes.push_back(tx_hex(forged));
  hexes.push_back("00");  // not a transaction

  auto r = post(*node, "/v1/transactions/batch?wait=commit", json{{"txs", hexes}}.dump());
  REQUIRE_MESSAGE(r.status == 200, r.raw);
  const auto& results = r.body["results"];
  REQUIRE(results.size() == hexes.size());
  std::set<std::uint64_t> indexes;
  for (int i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(results[i]["id"] == to_hex(txs[i].id()));
    CHECK(results[i]["status"] == "committed");
    indexes.insert(results[i]["log_index"].get<std::uint64_t>());
  }
  CHECK(indexes.size() == 20);
  CHECK(results[20]["status"] == "rejected");
  CHECK(results[20]["error"]["code"] == "DUPLICATE_TX");
  CHECK(results[21]["error"]["code"] == "BAD_SIGNATURE");
  CHECK(results[22]["error"]["code"] == "TX_MALFORMED");
  CHECK(head_of(*node).log_size == 20);
  // The answer is written as text (api.cpp): the same bytes as the JSON
  // library's own serialization of it, keys in order, no spaces.
  CHECK(r.raw == r.body.dump());
  for (int i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(results[i].size() == 4);
    CHECK(results[i]["height"].get<std::uint64_t>() >= 1);
  }

  auto more = register_tx(kDevChainId, kDevIssuerOrg, key, random_hash());
  auto p =
      post(*node, "/v1/transactions/batch", json{{"txs", {tx_hex(more), tx_hex(txs[0])}}}.dump());
  REQUIRE(p.status == 200);
  CHECK(p.body["results"][0]["status"] == "pending");
  CHECK(p.body["results"][1]["error"]["code"] == "DUPLICATE_TX");
  CHECK(p.raw == p.body.dump());

  CHECK(error_code(post(*node, "/v1/transactions/batch", R"({"txs":[]})")) == "MALFORMED_REQUEST");
  CHECK(error_code(post(*node, "/v1/transactions/batch", R"({"tx":"00"})")) == "MALFORMED_REQUEST");
}

Reply post_binary(Node& n, const std::string& path, const Bytes& body,
                  const std::string& content_type = std::string(ledger::kTxBatchMediaType)) {
  auto c = client_for(n);
  return to_reply(c.Post(path.c_str(), std::string(body.begin(), body.end()), content_type));
}

TEST_CASE(
    "batch: the binary body gets the same answers as JSON, and a malformed one admits nothing") {
  TempDir dir;
  auto node = start_node(dev_config(dir.str("data")));
  auto key = dev_issuer_key(dir.str("data"));
  std::vector<ledger::Tx> txs;
  ledger::TxBatch batch;
  for (int i = 0; i < 12; ++i) {
    txs.push_back(register_tx(kDevChainId, kDevIssuerOrg, key, random_hash()));
    batch.txs.push_back(ledger::encode(txs.back()));
  }
  batch.txs.push_back(batch.txs[2]);  // a duplicate inside the batch
  ledger::Tx forged = txs[0];
  forged.body.nonce += 1000;  // the signature no longer matches
  batch.txs.push_back(ledger::encode(forged));
  batch.txs.push_back(Bytes{0x00});  // not a transaction: that entry's result only

  // The media type is matched without regard to case or parameters.
  auto r = post_binary(*node, "/v1/transactions/batch?wait=commit", ledger::encode(batch),
                       "Application/Vnd.Emledger.Tx-Batch; charset=binary");
  REQUIRE_MESSAGE(r.status == 200, r.raw);
  const auto& results = r.body["results"];
  REQUIRE(results.size() == batch.txs.size());
  for (int i = 0; i < 12; ++i) {
    CAPTURE(i);
    CHECK(results[i]["id"] == to_hex(txs[i].id()));
    CHECK(results[i]["status"] == "committed");
  }
  CHECK(results[12]["error"]["code"] == "DUPLICATE_TX");
  CHECK(results[13]["error"]["code"] == "BAD_SIGNATURE");
  CHECK(results[14]["error"]["code"] == "TX_MALFORMED");
  CHECK(head_of(*node).log_size == 12);

  // Without wait: pending, then committed like any other.
  auto more = register_tx(kDevChainId, kDevIssuerOrg, key, random_hash());
  ledger::TxBatch one;
  one.txs.push_back(ledger::encode(more));
  auto p = post_binary(*node, "/v1/transactions/batch", ledger::encode(one));
  REQUIRE_MESSAGE(p.status == 200, p.raw);
  CHECK(p.body["results"][0]["status"] == "pending");
  for (int i = 0; i < 200 && head_of(*node).log_size < 13; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(head_of(*node).log_size == 13);

  // Refused whole, admitting nothing: a batch that does not decode.
  auto fresh = register_tx(kDevChainId, kDevIssuerOrg, key, random_hash());
  ledger::TxBatch good;
  good.txs.push_back(ledger::encode(fresh));
  const Bytes enc = ledger::encode(good);
  Bytes truncated(enc.begin(), enc.end() - 1);
  Bytes trailing = enc;
  trailing.push_back(0);
  Bytes empty = ledger::encode(ledger::TxBatch{});
  Bytes too_many = enc;  // the count field claims 4097 transactions
  const std::size_t count_at = 1 + ledger::TxBatch::kDomain.size() + 1;
  too_many[count_at] = 0;
  too_many[count_at + 1] = 0;
  too_many[count_at + 2] = 0x10;
  too_many[count_at + 3] = 0x01;
  Bytes wrong_tag = enc;
  wrong_tag[1] ^= 0x20;
  for (const Bytes* bad : {&truncated, &trailing, &empty, &too_many, &wrong_tag}) {
    auto b = post_binary(*node, "/v1/transactions/batch?wait=commit", *bad);
    CHECK(b.status == 400);
    CHECK(error_code(b) == "MALFORMED_REQUEST");
    CHECK(b.body["error"]["details"]["media_type"] == std::string(ledger::kTxBatchMediaType));
  }
  // The same bytes under another media type are read as JSON.
  CHECK(error_code(post_binary(*node, "/v1/transactions/batch", enc, "application/json")) ==
        "MALFORMED_JSON");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(head_of(*node).log_size == 13);
  auto status = get(*node, "/v1/transactions/" + to_hex(fresh.id()));
  CHECK(status.status == 404);
}

TEST_CASE("bad input: each gets its 4xx code, state is unchanged, the node keeps serving") {
  TempDir dir;
  MultiOrgNetwork net;
  auto node = start_node(net.write(dir));
  const std::string& chain = net.chain_id;

  // One committed record by a.issuer, to replay and to revoke.
  auto reg = register_tx(chain, "a.issuer", net.a, random_hash());
  auto ok = post(*node, "/v1/transactions?wait=commit", submit_body(reg));
  REQUIRE_MESSAGE(ok.status == 200, ok.raw);
  const Head before = head_of(*node);
  CHECK(before.height == 1);

  auto expect = [&](const Reply& r, int status, const std::string& code) {
    CAPTURE(r.raw);
    CHECK(r.status == status);
    CHECK(error_code(r) == code);
    CHECK(r.body["error"]["message"].is_string());
    CHECK(r.body["error"]["details"].is_object());
  };
  auto submit = [&](const std::string& body) {
    return post(*node, "/v1/transactions?wait=commit", body);
  };

  expect(submit("{\"tx\": "), 400, "MALFORMED_JSON");
  expect(submit("[1, 2"), 400, "MALFORMED_JSON");
  expect(submit("{\"nope\": 1}"), 400, "MALFORMED_REQUEST");
  expect(submit("{\"tx\": \"zz\"}"), 400, "MALFORMED_REQUEST");
  expect(submit("{\"tx\": \"abc\"}"), 400, "MALFORMED_REQUEST");
  expect(submit("{\"tx\": \"00ff\"}"), 400, "TX_MALFORMED");
  {
    std::string huge = "{\"tx\": \"" + std::string(9u << 20, 'a') + "\"}";
    expect(submit(huge), 413, "BODY_TOO_LARGE");
  }
  {
    auto forged = register_tx(chain, "a.issuer", net.a, random_hash());
    forged.signature[0] ^= 1;
    expect(submit(submit_body(forged)), 401, "BAD_SIGNATURE");
  }
  {
    auto signed_by_b = register_tx(chain, "a.issuer", net.b, random_hash());  // a's name, b's key
    expect(submit(submit_body(signed_by_b)), 401, "BAD_SIGNATURE");
  }
  expect(submit(submit_body(register_tx("another-chain", "a.issuer", net.a, random_hash()))), 400,
         "WRONG_CHAIN");
  expect(submit(submit_body(register_tx(chain, "z.nobody", net.a, random_hash()))), 403,
         "UNKNOWN_ORG");
  {
    auto tx = register_tx(chain, "c.consumer", net.c, random_hash());
    expect(submit(submit_body(tx)), 403, "NOT_ISSUER");
    // The rejection is remembered for GET.
    auto t = get(*node, "/v1/transactions/" + to_hex(tx.id()));
    CHECK(t.status == 200);
    CHECK(t.body["status"] == "rejected");
    CHECK(t.body["error"]["code"] == "NOT_ISSUER");
  }
  expect(submit(submit_body(revoke_tx(chain, "b.issuer", net.b, ledger::record_id_for(reg.id())))),
         403, "NOT_RECORD_ISSUER");
  expect(submit(submit_body(revoke_tx(chain, "a.issuer", net.a, random_hash()))), 422,
         "RECORD_NOT_FOUND");
  expect(submit(submit_body(
             signed_tx(ledger::make_body(ledger::TxType::kRegisterRecord,
                                         ledger::RegisterRecord{license_body(random_hash())}),
                       chain, "a.issuer", net.a, /*expires_at_height=*/0))),
         422, "EXPIRED");
  expect(submit(submit_body(reg)), 409, "DUPLICATE_TX");  // replay of a committed tx
  {
    // Already pending: without wait the first is queued (or already
    // committed); either way the second is a 409.
    auto tx = register_tx(chain, "a.issuer", net.a, random_hash());
    auto first = post(*node, "/v1/transactions", submit_body(tx));
    CHECK(first.status == 202);
    expect(post(*node, "/v1/transactions", submit_body(tx)), 409, "DUPLICATE_TX");
    for (int i = 0; i < 300 && head_of(*node).log_size == before.log_size; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Head after_pending = head_of(*node);
  CHECK(after_pending.log_size == before.log_size + 1);  // only the one valid tx

  // Reads with bad parameters.
  expect(get(*node, "/v1/transactions/xyz"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/transactions/" + to_hex(random_hash())), 404, "TX_NOT_FOUND");
  expect(get(*node, "/v1/records/" + to_hex(random_hash())), 404, "RECORD_NOT_FOUND");
  expect(get(*node, "/v1/records"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/headers/abc"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/headers?from=1&to=1001"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/headers?from=0&to=1"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/blocks/99"), 404, "NOT_FOUND");
  expect(get(*node, "/v1/proofs/inclusion?index=50"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/proofs/inclusion"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/proofs/consistency?first=2&second=1"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/proofs/frontier"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/proofs/frontier?size=99"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/proofs/frontier?size=-1"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/proofs/state?key=zz"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/bundles?content_hash=12"), 400, "BAD_PARAMETER");
  expect(get(*node, "/v1/nothing"), 404, "NOT_FOUND");
  expect(post(*node, "/v1/health", "{}"), 405, "METHOD_NOT_ALLOWED");
  expect(post(*node, "/v1/transactions?wait=soon", submit_body(reg)), 400, "BAD_PARAMETER");

  {
    std::string res = raw_exchange(
        node->port(), "POST /v1/transactions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECK(res.rfind("HTTP/1.1 411", 0) == 0);
    CHECK(res.find("LENGTH_REQUIRED") != std::string::npos);
    std::string garbage = raw_exchange(node->port(), "NOT HTTP AT ALL\r\n\r\n");
    CHECK(garbage.rfind("HTTP/1.1 400", 0) == 0);
  }

  // Nothing above changed state, and the node still commits.
  CHECK(head_of(*node).log_size == after_pending.log_size);
  auto again = post(*node, "/v1/transactions?wait=commit",
                    submit_body(register_tx(chain, "b.issuer", net.b, random_hash())));
  CHECK(again.status == 200);
  CHECK(head_of(*node).log_size == after_pending.log_size + 1);
}

TEST_CASE("keep-alive: many requests over one connection, with concurrent submitters") {
  TempDir dir;
  auto node = start_node(dev_config(dir.str("data")));
  auto key = dev_issuer_key(dir.str("data"));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 15;
  std::atomic<int> committed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", node->port());
      c.set_keep_alive(true);
      c.set_read_timeout(30);
      for (int i = 0; i < kPerThread; ++i) {
        auto tx = register_tx(kDevChainId, kDevIssuerOrg, key, random_hash());
        auto r = c.Post("/v1/transactions?wait=commit", submit_body(tx), "application/json");
        if (r && r->status == 200) committed.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(committed.load() == kThreads * kPerThread);
  CHECK(head_of(*node).log_size == kThreads * kPerThread);
}

TEST_CASE("restart with the same data keeps the chain") {
  TempDir dir;
  std::string genesis_hash;
  std::vector<Hash> ids;
  std::vector<ledger::Tx> txs;
  {
    auto node = start_node(dev_config(dir.str("data")));
    auto key = dev_issuer_key(dir.str("data"));
    for (int i = 0; i < 3; ++i) {
      auto tx = register_tx(kDevChainId, kDevIssuerOrg, key, random_hash());
      ids.push_back(tx.id());
      txs.push_back(tx);
      REQUIRE(post(*node, "/v1/transactions?wait=commit", submit_body(tx)).status == 200);
    }
    genesis_hash = get(*node, "/v1/health").body["genesis_hash"];
    node->shutdown();
  }
  auto node = start_node(dev_config(dir.str("data")));
  auto h = get(*node, "/v1/health");
  CHECK(h.body["height"] == 3);
  CHECK(h.body["log_size"] == 3);
  CHECK(h.body["genesis_hash"] == genesis_hash);  // the dev network is reused, not remade
  for (const auto& id : ids)
    CHECK(get(*node, "/v1/transactions/" + to_hex(id)).body["status"] == "committed");
  // The filters of committed ids and state keys read what was committed
  // before the start (ADR 023, 026); once complete, replays are still refused.
  std::string filter = h.body["committed_id_filter"];
  CHECK((filter == "scanning" || filter == "complete"));
  for (int i = 0; i < 400 && filter != "complete"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    filter = get(*node, "/v1/health").body["committed_id_filter"];
  }
  CHECK(filter == "complete");
  for (const auto& tx : txs)
    CHECK(error_code(post(*node, "/v1/transactions", submit_body(tx))) == "DUPLICATE_TX");
  // And it keeps growing from there.
  auto key = dev_issuer_key(dir.str("data"));
  auto r = post(*node, "/v1/transactions?wait=commit",
                submit_body(register_tx(kDevChainId, kDevIssuerOrg, key, random_hash())));
  CHECK(r.body["height"] == 4);
}

TEST_CASE("shutdown refuses new work with 503 SHUTTING_DOWN") {
  TempDir dir;
  auto node = start_node(dev_config(dir.str("data")));
  auto key = dev_issuer_key(dir.str("data"));
  node->mempool().close();  // the first step of shutdown()
  auto r = post(*node, "/v1/transactions",
                submit_body(register_tx(kDevChainId, kDevIssuerOrg, key, random_hash())));
  CHECK(r.status == 503);
  CHECK(error_code(r) == "SHUTTING_DOWN");
  node->shutdown();
}

TEST_CASE(
    "config: a non-dev node refuses a clear key file; a key outside the validator set runs "
    "read-only") {
  TempDir dir;
  MultiOrgNetwork net;
  Config cfg = net.write(dir);
  cfg.dev = false;
  auto n = Node::start(cfg);
  REQUIRE_FALSE(n.is_ok());
  CHECK(n.status().code() == "CONFIG_ERROR");

  // A key that is no validator of the set in force (a change of set may
  // have removed it, or never added it) starts no validator: reads are
  // served, transactions and checkpoints refused.
  Config other = cfg;
  other.dev = true;
  REQUIRE(crypto::write_key_file(dir.str("a.key"), net.a, std::nullopt).is_ok());
  other.key_file = dir.str("a.key");
  auto m = start_node(other);
  CHECK(m->validator() == nullptr);
  CHECK(get(*m, "/v1/health").body["chain_id"] == net.chain_id);
  auto validators = get(*m, "/v1/validators");
  REQUIRE(validators.status == 200);
  CHECK(validators.body["epoch"] == 0);
  CHECK(validators.body["validators"][0]["public_key"] == to_hex(net.v.public_key()));
  auto r = post(*m, "/v1/transactions",
                submit_body(register_tx(net.chain_id, "a.issuer", net.a, random_hash())));
  CHECK(r.status == 503);
  CHECK(error_code(r) == "NOT_A_VALIDATOR");
  CHECK(error_code(get(*m, "/v1/checkpoint")) == "CHECKPOINT_PENDING");
}

TEST_CASE("config: a non-dev node opens an encrypted key with --passphrase-file") {
  TempDir dir;
  MultiOrgNetwork net;
  Config cfg = net.write(dir);
  REQUIRE(
      crypto::write_key_file(dir.str("v.sealed.key"), net.v, std::string("correct horse")).is_ok());
  cfg.dev = false;
  cfg.key_file = dir.str("v.sealed.key");
  {
    std::ofstream(dir.str("pass.txt")) << "wrong\n";
    cfg.passphrase_file = dir.str("pass.txt");
    auto bad = Node::start(cfg);
    REQUIRE_FALSE(bad.is_ok());
    CHECK(bad.status().code() == "KEYFILE_BAD_PASSPHRASE");
  }
  std::ofstream(dir.str("pass.txt")) << "correct horse\n";
  auto node = start_node(cfg);
  CHECK(get(*node, "/v1/health").body["chain_id"] == net.chain_id);
  auto r = post(*node, "/v1/transactions?wait=commit",
                submit_body(register_tx(net.chain_id, "a.issuer", net.a, random_hash())));
  CHECK(r.status == 200);
}

TEST_CASE("dev node with a retention window: state proofs below it answer 410 PRUNED") {
  TempDir dir;
  Config c = dev_config(dir.str("data"));
  c.state_retention_blocks = ledger::kStateRetentionBlocksMin;
  auto node = start_node(c);
  const std::string chain = node->identity().genesis.chain_id;
  auto key = dev_issuer_key(dir.str("data"));
  std::string record_key;
  // One block per transaction: 20 blocks, so heights 1 to 4 leave the window.
  for (int i = 0; i < 20; ++i) {
    auto tx = register_tx(chain, kDevIssuerOrg, key, random_hash());
    if (record_key.empty())
      record_key = to_hex(ledger::record_state_key(ledger::record_id_for(tx.id())));
    auto r = post(*node, "/v1/transactions?wait=commit", submit_body(tx));
    REQUIRE_MESSAGE(r.status == 200, r.raw);
  }
  const std::uint64_t head = head_of(*node).height;
  REQUIRE(head == 20);
  const std::uint64_t floor = head - ledger::kStateRetentionBlocksMin + 1;
  CHECK(node->ledger().pruned_below() == floor);
  auto expect = [&](const Reply& r, int status, const std::string& code) {
    CAPTURE(r.raw);
    CHECK(r.status == status);
    CHECK(error_code(r) == code);
  };
  expect(get(*node, "/v1/proofs/state?key=" + record_key + "&height=1"), 410, "PRUNED");
  expect(get(*node, "/v1/proofs/state?key=" + record_key + "&height=" + std::to_string(floor - 1)),
         410, "PRUNED");
  for (std::uint64_t h : {floor, head}) {
    auto sp = get(*node, "/v1/proofs/state?key=" + record_key + "&height=" + std::to_string(h));
    REQUIRE_MESSAGE(sp.status == 200, sp.raw);
    auto proof = decode_hex<ledger::StateProof>(sp.body["proof"]);
    CHECK(proof.present);
    auto root = hash_from_hex(sp.body["state_root"].get<std::string>());
    REQUIRE(root);
    CHECK(*root == (*node->ledger().header(h))->state_root);
    CHECK(ledger::verify_state_proof(proof, *root));
  }
}
