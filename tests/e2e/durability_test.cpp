// Kill -9 during a stream of submissions: every transaction the node
// acknowledged as committed must be there after restart, and the chain must
// verify from genesis.
#include <atomic>
#include <mutex>
#include <thread>

#include "e2e_support.hpp"

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

}  // namespace

TEST_CASE("e2e: acknowledged transactions survive repeated SIGKILL") {
  Scratch s("durability");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  const std::vector<std::string> args{"--dev", "--data", s.path("node"), "--listen", "127.0.0.1:0"};
  REQUIRE_MESSAGE(node.start(args), node.log());
  auto genesis = load_genesis_file(s.path("node/genesis.json"));
  auto key = crypto::read_key_file(s.path("node/keys/dev.issuer.key"), std::nullopt);
  REQUIRE((genesis.is_ok() && key.is_ok()));

  std::mutex mu;
  std::vector<std::string> acked;  // tx ids acknowledged as committed
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
