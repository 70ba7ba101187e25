// Kill -9 during a stream of submissions: every transaction the node
// acknowledged as committed must be there after restart, and the chain must
// verify from genesis.
#include <atomic>
#include <mutex>
#include <thread>

#include "e2e_support.hpp"
#include "emledger/ledger/ledger.hpp"

using namespace emledger;
using namespace emledger::e2e;
using namespace emledger::ledger;

namespace {

std::string signed_register(const Genesis& g, const crypto::KeyPair& key, std::uint64_t n) {
  RegisterRecord r;
  r.body.kind = static_cast<std::uint8_t>(RecordKind::kMaterial);
  r.body.type_code = "durability.material";
  r.body.holder_ref = crypto::sha256(as_bytes("holder"));
  r.body.content_hash = crypto::sha256(as_bytes("durability-" + std::to_string(n)));
  r.body.size_bytes = n + 1;
  TxBody b = make_body(TxType::kRegisterRecord, r);
  b.chain_id = g.chain_id;
  b.signer_org = "dev.issuer";
  b.key_id = 1;
  b.expires_at_height = 50000;
  b.nonce = n;
  return to_hex(encode(sign_tx(std::move(b), key)));
}

// Five rounds of submissions, each ended by SIGKILL and followed by a
// restart that must hold every acknowledged transaction; then the chain
// verifies from genesis. `extra` goes to the node's command line.
void survive_kills(const std::string& name, const std::vector<std::string>& extra,
                   std::vector<std::string>& acked, Scratch& s, testing::NodeProcess& node) {
  std::vector<std::string> args{"--dev", "--data", s.path("node"), "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  CAPTURE(name);
  REQUIRE_MESSAGE(node.start(args), node.log());
  auto genesis = load_genesis_file(s.path("node/genesis.json"));
  auto key = crypto::read_key_file(s.path("node/keys/dev.issuer.key"), std::nullopt);
  REQUIRE((genesis.is_ok() && key.is_ok()));

  std::mutex mu;
  std::atomic<std::uint64_t> nonce{0};
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    const std::size_t acked_before = acked.size();
    std::atomic<bool> stop{false};
    std::vector<std::thread> submitters;
    for (int t = 0; t < 3; ++t)
      submitters.emplace_back([&, t] {
        httplib::Client c(node.host(), node.port());
        c.set_read_timeout(30, 0);
        while (!stop) {
          // Alternate single submissions and small batches.
          const int n = t == 0 ? 1 : 16;
          Json body = {{"txs", Json::array()}};
          for (int i = 0; i < n; ++i)
            body["txs"].push_back(signed_register(*genesis, *key, nonce++));
          auto r = c.Post("/v1/transactions/batch?wait=commit", body.dump(), "application/json");
          if (!r) return;  // the node is gone
          if (r->status != 200) continue;
          Json j = Json::parse(r->body, nullptr, false);
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& res : j["results"])
            if (res.value("status", "") == "committed")
              acked.push_back(res["id"].get<std::string>());
        }
      });
    // Kill at a moment that moves from round to round, but only once this
    // round has something acknowledged to lose: on a loaded machine the
    // restarted node's first block can take longer than the planned delay.
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 170 * round));
    for (int waited = 0; waited < 400; ++waited) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (acked.size() > acked_before) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    node.stop(SIGKILL);
    stop = true;
    for (auto& th : submitters) th.join();
    CHECK_MESSAGE(acked.size() > acked_before, "round " << round << " acknowledged nothing");

    REQUIRE_MESSAGE(node.start(args), node.log());
    std::size_t missing = 0;
    for (const auto& id : acked) {
      auto r = http_json(node, "GET", "/v1/transactions/" + id);
      if (r.status != 200 || r.body.value("status", "") != "committed") ++missing;
    }
    CHECK_MESSAGE(missing == 0,
                  missing << " of " << acked.size() << " acknowledged transactions lost");
  }
  MESSAGE("acknowledged and verified after " << kRounds << " kills: " << acked.size());
  auto chain =
      cli(s, {"chain", "verify", "--node", node.url(), "--trust", s.path("node/genesis.json")});
  CHECK_MESSAGE(chain.exit_code == 0, chain.out);
}

}  // namespace

TEST_CASE("e2e: acknowledged transactions survive repeated SIGKILL") {
  Scratch s("durability");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  std::vector<std::string> acked;  // tx ids acknowledged as committed
  survive_kills("archive", {}, acked, s, node);
}

TEST_CASE("e2e: a node pruning state trees survives repeated SIGKILL and keeps its window") {
  // Pruning writes and erases in each block's one synced batch (ADR 021): a
  // kill at any instant leaves the window whole. Every transaction here is
  // signed by an org, so the chain walk needs no old state.
  Scratch s("durability-pruned");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  std::vector<std::string> acked;
  const std::uint64_t w = kStateRetentionBlocksMin;
  survive_kills("pruned", {"--state-retention-blocks", std::to_string(w)}, acked, s, node);
  const std::uint64_t head = height_of(node);
  REQUIRE(head > w + 1);  // five rounds of 300 ms and more make dozens of blocks
  auto id = hash_from_hex(acked.front());
  REQUIRE(id);
  const std::string key = "/v1/proofs/state?key=" + to_hex(record_state_key(record_id_for(*id)));
  CHECK(error_code(http_json(node, "GET", key + "&height=1")) == "PRUNED");
  for (std::uint64_t h : {head - w + 1, head}) {
    CAPTURE(h);
    auto r = http_json(node, "GET", key + "&height=" + std::to_string(h));
    REQUIRE(r.status == 200);
    auto bytes = from_hex(r.body.at("proof").get<std::string>());
    REQUIRE(bytes);
    auto proof = decode<StateProof>(*bytes);
    REQUIRE(proof.is_ok());
    auto root = hash_from_hex(r.body.at("state_root").get<std::string>());
    REQUIRE(root);
    if (h == head) CHECK(proof->present);
    CHECK(verify_state_proof(*proof, *root));
  }
}
