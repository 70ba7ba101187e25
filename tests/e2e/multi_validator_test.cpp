// Four emledger-node processes as the four validators of one genesis, on
// loopback: transactions submitted to different nodes are all committed,
// every node reports the same header hash at the same height, every node
// serves a checkpoint cosigned by a quorum of the validators and
// `emledger chain verify` passes against each; a validator killed with
// SIGKILL while the others keep committing serves its persisted checkpoint
// at once after its restart, catches up (block fetch), agrees on every hash,
// and chain verify passes against it too.
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "emledger/ledger/checkpoint.hpp"
#include "support/network.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

constexpr std::size_t kValidators = 4;

// Submits `count` transactions (nonces from `*nonce`) to `node` in batches of
// `batch`, waiting for their commit; returns the ids acknowledged committed.
std::vector<std::string> submit_committed(const Network& net, const testing::NodeProcess& node,
                                          std::atomic<std::uint64_t>* nonce, int count, int batch) {
  std::vector<std::string> acked;
  httplib::Client c(node.host(), node.port());
  c.set_read_timeout(60, 0);
  for (int sent = 0; sent < count; sent += batch) {
    Json body = {{"txs", Json::array()}};
    for (int i = 0; i < batch; ++i) body["txs"].push_back(net.register_tx((*nonce)++));
    auto r = c.Post("/v1/transactions/batch?wait=commit", body.dump(), "application/json");
    if (!r || r->status != 200) continue;
    Json j = Json::parse(r->body, nullptr, false);
    for (const auto& res : j["results"])
      if (res.value("status", "") == "committed") acked.push_back(res["id"].get<std::string>());
  }
  return acked;
}

// Waits until every listed node is at `height` or above.
bool wait_for_height(Network& net, const std::vector<std::size_t>& which, std::uint64_t height,
                     int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (auto i : which) all = all && height_of(net.node(i)) >= height;
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::size_t missing_on(const testing::NodeProcess& node, const std::vector<std::string>& ids) {
  std::size_t missing = 0;
  for (const auto& id : ids) {
    auto r = http_json(node, "GET", "/v1/transactions/" + id);
    if (r.status != 200 || r.body.value("status", "") != "committed") ++missing;
  }
  return missing;
}

// Every listed node has the same header hash at every height in [1, top].
void check_same_hashes(Network& net, const std::vector<std::size_t>& which, std::uint64_t top) {
  for (std::uint64_t h = 1; h <= top; ++h) {
    const std::string first = header_hash_at(net.node(which[0]), h);
    REQUIRE_MESSAGE(!first.empty(), "node " << which[0] << " has no block " << h);
    for (std::size_t k = 1; k < which.size(); ++k)
      REQUIRE_MESSAGE(header_hash_at(net.node(which[k]), h) == first,
                      "nodes " << which[0] << " and " << which[k] << " differ at height " << h);
  }
}

// Every header of node i up to `top`, from genesis: each names its parent's
// hash, and its finality proof (own certificate or finalized descendant)
// verifies against the genesis: a quorum (3 of 4) of finalize signatures.
std::size_t check_certified_chain(Network& net, std::size_t i, std::uint64_t top) {
  std::size_t by_descendant = 0;
  Hash parent = net.genesis.hash();
  for (std::uint64_t from = 1; from <= top; from += 500) {
    const std::uint64_t to = std::min(top, from + 499);
    auto r = http_json(net.node(i), "GET",
                       "/v1/headers?from=" + std::to_string(from) + "&to=" + std::to_string(to));
    REQUIRE(r.status == 200);
    const auto& list = r.body.at("headers");
    REQUIRE(list.size() == to - from + 1);
    for (const auto& item : list) {
      auto hb = from_hex(item.at("encoded").get<std::string>());
      auto cb = from_hex(item.at("certificate").get<std::string>());
      REQUIRE((hb && cb));
      auto header = ledger::decode<ledger::BlockHeader>(*hb);
      auto proof = ledger::decode_finality_proof(*cb);
      REQUIRE_MESSAGE(header.is_ok(), header.status().to_string());
      REQUIRE_MESSAGE(proof.is_ok(), proof.status().to_string());
      CHECK_MESSAGE(header->parent == parent, "node " << i << " height " << header->height);
      CHECK(proof->certificate.signatures.size() >= net.genesis.quorum());
      if (proof->by_descendant()) ++by_descendant;
      Status st = ledger::verify_finality(net.genesis, *header, *proof);
      CHECK_MESSAGE(st.is_ok(),
                    "node " << i << " height " << header->height << ": " << st.to_string());
      parent = header->hash();
    }
  }
  return by_descendant;
}

// GET /v1/checkpoint of node i: the note's size when it verifies against the
// genesis (a quorum of validator signatures), nullopt otherwise.
std::optional<std::uint64_t> checkpoint_size(Network& net, std::size_t i) {
  httplib::Client c(net.node(i).host(), net.node(i).port());
  c.set_read_timeout(10, 0);
  auto r = c.Get("/v1/checkpoint");
  if (!r || r->status != 200) return std::nullopt;
  auto cp = ledger::verify_checkpoint(r->body, net.genesis);
  if (!cp) return std::nullopt;
  return cp->size;
}

// Waits until node i serves a quorate checkpoint of its whole log (the
// validators cosign each log size they commit, so an idle network's
// checkpoint reaches the head).
bool wait_for_head_checkpoint(Network& net, std::size_t i, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto size = checkpoint_size(net, i);
    auto h = http_json(net.node(i), "GET", "/v1/health");
    if (size && h.status == 200 && *size == h.body.at("log_size").get<std::uint64_t>()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The quorate note node i persisted (DATA/consensus/checkpoint.note), if any.
std::optional<std::uint64_t> persisted_checkpoint_size(const Scratch& s, Network& net,
                                                       std::size_t i) {
  std::ifstream in(s.path("node" + std::to_string(i)) + "/consensus/checkpoint.note",
                   std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto cp = ledger::verify_checkpoint(text.str(), net.genesis);
  if (!cp) return std::nullopt;
  return cp->size;
}

// The real CLI, `emledger chain verify`, against node i: every header,
// finality proof, parent link and log root, and last the checkpoint, which
// must carry a quorum of validator signatures. It must pass.
void check_chain_verifies(const Scratch& s, Network& net, std::size_t i) {
  REQUIRE_MESSAGE(wait_for_head_checkpoint(net, i, 20),
                  "node " << i << " serves no quorate checkpoint of its head\n"
                          << net.node(i).log());
  auto chain =
      cli(s, {"chain", "verify", "--node", net.node(i).url(), "--trust", net.genesis_path});
  CHECK_MESSAGE(chain.exit_code == 0, "node " << i << ": " << chain.out);
}

}  // namespace

TEST_CASE("e2e: four validators agree; a killed validator catches up after restart") {
  Scratch s("multi-validator");
  Network net(s, kValidators, /*view_timeout_ms=*/1500);
  // Alone, a validator has no quorum to cosign anything: no checkpoint yet.
  REQUIRE_MESSAGE(net.start(0), "node 0: " << net.node(0).log());
  auto pending = http_json(net.node(0), "GET", "/v1/checkpoint");
  CHECK(pending.status == 503);
  CHECK(error_code(pending) == "CHECKPOINT_PENDING");
  for (std::size_t i = 1; i < kValidators; ++i)
    REQUIRE_MESSAGE(net.start(i), "node " << i << ": " << net.node(i).log());
  const std::vector<std::size_t> all{0, 1, 2, 3};
  const std::vector<std::size_t> survivors{0, 1, 2};

  // Phase 1: every node takes transactions; all of them commit everywhere.
  std::atomic<std::uint64_t> nonce{0};
  std::mutex mu;
  std::vector<std::string> acked;
  {
    std::vector<std::thread> submitters;
    for (std::size_t i = 0; i < kValidators; ++i)
      submitters.emplace_back([&, i] {
        auto ids = submit_committed(net, net.node(i), &nonce, 24, 4);
        std::lock_guard lock(mu);
        acked.insert(acked.end(), ids.begin(), ids.end());
      });
    for (auto& t : submitters) t.join();
  }
  CHECK_MESSAGE(acked.size() == 4 * 24, "committed " << acked.size() << " of 96");
  std::uint64_t top = 0;
  for (auto i : all) top = std::max(top, height_of(net.node(i)));
  REQUIRE_MESSAGE(wait_for_height(net, all, top, 20), "the nodes did not reach height " << top);
  for (auto i : all) CHECK_MESSAGE(missing_on(net.node(i), acked) == 0, "node " << i);
  check_same_hashes(net, all, top);
  for (auto i : all) check_certified_chain(net, i, top);
  for (auto i : all) check_chain_verifies(s, net, i);

  // Phase 2: validator 3 dies; the other three (a quorum of 3) go on. The
  // quorate checkpoint it serves is on disk first (written at most a second
  // after it formed).
  const auto served = checkpoint_size(net, 3);
  REQUIRE(served);
  std::optional<std::uint64_t> persisted;
  for (int tries = 0; tries < 50 && persisted != served; ++tries) {
    persisted = persisted_checkpoint_size(s, net, 3);
    if (persisted != served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE_MESSAGE(persisted == served, "node 3 did not persist the checkpoint it serves");
  net.node(3).stop(SIGKILL);
  const std::uint64_t height_at_kill = height_of(net.node(0));
  {
    std::vector<std::thread> submitters;
    for (auto i : survivors)
      submitters.emplace_back([&, i] {
        auto ids = submit_committed(net, net.node(i), &nonce, 12, 4);
        std::lock_guard lock(mu);
        acked.insert(acked.end(), ids.begin(), ids.end());
      });
    for (auto& t : submitters) t.join();
  }
  CHECK_MESSAGE(acked.size() == 4 * 24 + 3 * 12, "committed " << acked.size() << " of 132");
  const std::uint64_t height_missed = height_of(net.node(0));
  CHECK(height_missed > height_at_kill);

  // Phase 3: it comes back, fetches what it missed and takes part again.
  REQUIRE_MESSAGE(net.start(3), net.node(3).log());
  // Before it hears from any peer, it serves the note it persisted.
  const auto served_at_start = checkpoint_size(net, 3);
  CHECK_MESSAGE(served_at_start.has_value(), "node 3 serves no checkpoint after its restart");
  if (served_at_start) CHECK(*served_at_start >= *persisted);
  REQUIRE_MESSAGE(wait_for_height(net, {3}, height_missed, 30),
                  "node 3 stayed at " << height_of(net.node(3)) << " below " << height_missed
                                      << "\n"
                                      << net.node(3).log());
  auto late = submit_committed(net, net.node(3), &nonce, 8, 4);
  CHECK_MESSAGE(late.size() == 8, "node 3 committed " << late.size() << " of 8 after restart");
  acked.insert(acked.end(), late.begin(), late.end());
  top = 0;
  for (auto i : all) top = std::max(top, height_of(net.node(i)));
  REQUIRE(wait_for_height(net, all, top, 20));
  for (auto i : all) CHECK_MESSAGE(missing_on(net.node(i), acked) == 0, "node " << i);
  check_same_hashes(net, all, top);
  std::size_t by_descendant = 0;
  for (auto i : all) by_descendant += check_certified_chain(net, i, top);
  for (auto i : all) check_chain_verifies(s, net, i);
  MESSAGE("4 validators, " << acked.size() << " transactions committed, height " << top
                           << "; node 3 caught up from " << height_at_kill << " to "
                           << height_missed
                           << "; blocks final through a descendant, over all nodes: "
                           << by_descendant << "; checkpoint size persisted by node 3 before "
                           << "the kill: " << *persisted << "; chain verify passed on all 4");
}
