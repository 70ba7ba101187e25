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
#include <optional>
#include <sstream>
#include <thread>

#include "emledger/ledger/checkpoint.hpp"
#include "support/checks.hpp"
#include "support/network.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

constexpr std::size_t kValidators = 4;

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
  std::uint64_t top = top_height(net, all);
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
  top = top_height(net, all);
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
