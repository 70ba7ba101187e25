// Issue 4's fault acceptance with real processes: four emledger-node
// validators, each behind a TcpProxy on its peer port, take a steady stream
// of transactions (batches with ?wait=commit, to every node) while the test
// SIGKILLs and restarts one validator, then cuts validator 3 off from the
// others for several seconds and heals the cut. The three connected
// validators are a quorum (3 of 4) and must keep committing; the isolated one
// must not commit on its own, and must catch up and lead blocks again after
// the heal. At the end:
// every transaction acknowledged committed (by any node) is committed on every
// node, the nodes agree on every header hash, every finality proof verifies
// against the genesis, and `emledger chain verify` passes against every node.
// A transaction that was not acknowledged (its batch timed out or its node
// died) may or may not be committed: nothing is asserted about it.
#include <algorithm>
#include <chrono>
#include <thread>

#include "support/checks.hpp"
#include "support/tx_stream.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

constexpr std::size_t kValidators = 4;
// The highest index: every link of validator 3 is inbound through proxy(3)
// (support/network.hpp), so cutting that proxy isolates it.
constexpr std::size_t kIsolated = kValidators - 1;
constexpr std::size_t kKilled = 1;
constexpr std::uint64_t kViewTimeoutMs = 1500;  // as in multi_validator_test.cpp
constexpr int kDownMs = 3000;                   // how long validator 1 stays dead
constexpr int kPartitionMs = 8000;              // how long validator 3 stays cut off
// Blocks each connected validator must commit while 3 is cut off. They
// usually commit 9 to 14 in 8 s (3 blocks per 1.5 s view timeout of 3's
// views), but views of connected leaders were seen to time out too, stalling
// them for 4.5 s once (1.5 s, then 3 s of backoff); 2 still shows the quorum
// at work without failing on such a stall.
constexpr std::uint64_t kPartitionBlocksMin = 2;
constexpr int kCatchUpTimeoutS = 45;  // a restarted or healed node reaches the others
constexpr int kAfterHealMs = 2000;    // the stream runs on through all four

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<std::uint64_t> heights(Network& net, const std::vector<std::size_t>& which) {
  std::vector<std::uint64_t> out;
  for (auto i : which) out.push_back(height_of(net.node(i)));
  return out;
}

// The views up to node 0's header at `top` that have no block, each as
// "view(leader)": the views that timed out, for the log.
std::string views_without_block(Network& net, std::uint64_t top) {
  std::string out;
  std::uint64_t next = 1;
  for (const Json& item : headers_of(net.node(0), top)) {
    const std::uint64_t view = item.at("header").at("view").get<std::uint64_t>();
    for (; next < view; ++next)
      out += std::to_string(next) + "(" + std::to_string(next % kValidators) + ") ";
    next = view + 1;
  }
  return out;
}

// Waits until node 0 has a block above `height` from a view `leader` leads:
// that validator takes part in consensus again. Returns the block's height.
std::optional<std::uint64_t> wait_for_block_led_by(Network& net, std::size_t leader,
                                                   std::uint64_t height, int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  std::uint64_t from = height + 1;
  while (Clock::now() < deadline) {
    const std::uint64_t to = std::min(height_of(net.node(0)), from + kHeadersPageMax - 1);
    if (to >= from) {
      auto r = http_json(net.node(0), "GET",
                         "/v1/headers?from=" + std::to_string(from) + "&to=" + std::to_string(to));
      REQUIRE(r.status == 200);
      for (const auto& item : r.body.at("headers")) {
        const std::uint64_t view = item.at("header").at("view").get<std::uint64_t>();
        if (view % kValidators == leader) return item.at("height").get<std::uint64_t>();
      }
      from = to + 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return std::nullopt;
}

// What a run of the scenario leaves for the checks.
struct PartitionRun {
  std::vector<std::string> acked;
  std::uint64_t top = 0;  // every node is at this height or above
};

// (a) of the file comment: validator 1 dies mid-stream and comes back.
void kill_and_restart(Network& net, TxStream& stream) {
  stream.mark_down(kKilled);
  net.node(kKilled).stop(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(kDownMs));
  REQUIRE_MESSAGE(net.start(kKilled), net.node(kKilled).log());
  stream.mark_up(kKilled);
  const auto restarted_at = Clock::now();
  const std::uint64_t missed = height_of(net.node(0));
  REQUIRE_MESSAGE(wait_for_height(net, {kKilled}, missed, kCatchUpTimeoutS),
                  "validator 1 stayed at " << height_of(net.node(kKilled)) << " below " << missed);
  MESSAGE("validator 1 restarted and reached height " << missed << " in "
                                                      << seconds_since(restarted_at) << " s");
}

// (b): validator 3 is cut off; the other three are a quorum and go on. Then
// the heal: validators 0-2 redial 3 (backoff up to 5 s), it catches up and
// leads a block again.
void partition_and_heal(Network& net) {
  const std::vector<std::size_t> connected{0, 1, 2};
  REQUIRE(wait_for_height(net, {kIsolated}, height_of(net.node(0)), kCatchUpTimeoutS));
  net.proxy(kIsolated).cut();
  const std::uint64_t isolated_at_cut = height_of(net.node(kIsolated));
  const std::vector<std::uint64_t> before = heights(net, connected);
  std::this_thread::sleep_for(std::chrono::milliseconds(kPartitionMs));
  const std::vector<std::uint64_t> after = heights(net, connected);
  const std::uint64_t isolated_after = height_of(net.node(kIsolated));
  for (std::size_t k = 0; k < connected.size(); ++k)
    CHECK_MESSAGE(after[k] >= before[k] + kPartitionBlocksMin,
                  "validator " << connected[k] << " went from " << before[k] << " to " << after[k]
                               << " while 3 was cut off");
  // Nothing alone: at most one block past what it or the others had
  // committed when the cut came. It may trail the others by a block whose
  // votes it already held, and hold the votes of one more whose commit was
  // still being written (seen once: 15 to 17 while the others stood at 16).
  const std::uint64_t known_at_cut =
      std::max(isolated_at_cut, *std::max_element(before.begin(), before.end()));
  CHECK_MESSAGE(isolated_after <= known_at_cut + 1,
                "cut-off validator 3 went from " << isolated_at_cut << " to " << isolated_after
                                                 << " (the others stood at " << known_at_cut
                                                 << " after the cut)");
  MESSAGE("partition of " << kPartitionMs << " ms: validators 0-2 went from " << before[0] << " to "
                          << after[0] << ", validator 3 from " << isolated_at_cut << " to "
                          << isolated_after);

  net.proxy(kIsolated).heal();
  const auto healed_at = Clock::now();
  const std::uint64_t target = height_of(net.node(0));
  REQUIRE_MESSAGE(wait_for_height(net, {kIsolated}, target, kCatchUpTimeoutS),
                  "validator 3 stayed at " << height_of(net.node(kIsolated)) << " below " << target
                                           << " after the heal");
  MESSAGE("validator 3 reached height " << target << " " << seconds_since(healed_at)
                                        << " s after the heal");
  // Catching up is fetching; it must also lead again, which needs its links
  // to a quorum back (the others redial with a backoff of up to 5 s).
  const auto led = wait_for_block_led_by(net, kIsolated, target, kCatchUpTimeoutS);
  REQUIRE_MESSAGE(led.has_value(),
                  "validator 3 led no block in " << kCatchUpTimeoutS << " s after the heal");
  MESSAGE("validator 3 led block " << *led << " " << seconds_since(healed_at)
                                   << " s after the heal");
}

// The scenario of the file comment on a started proxied network, asserting
// liveness and isolation as it goes.
PartitionRun run_partition_scenario(Network& net) {
  const std::vector<std::size_t> all{0, 1, 2, 3};
  TxStream stream(net, TxStream::Config{});
  REQUIRE_MESSAGE(wait_for_height(net, all, 5, 30), "the network did not commit 5 blocks");
  kill_and_restart(net, stream);
  partition_and_heal(net);
  std::this_thread::sleep_for(std::chrono::milliseconds(kAfterHealMs));
  stream.stop();

  PartitionRun run;
  run.acked = stream.acked();
  run.top = top_height(net, all);
  REQUIRE_MESSAGE(wait_for_height(net, all, run.top, kCatchUpTimeoutS),
                  "the nodes did not all reach height " << run.top);
  MESSAGE(run.acked.size() << " of " << stream.submitted()
                           << " transactions acknowledged committed (" << stream.batches_failed()
                           << " batches failed or timed out, " << stream.not_committed()
                           << " answered otherwise); height " << run.top
                           << "; views without a block (leader): "
                           << views_without_block(net, run.top));
  return run;
}

}  // namespace

TEST_CASE("e2e: a killed validator and a cut-off validator; the quorum commits, all agree after") {
  Scratch s("partition");
  Network net(s, kValidators, kViewTimeoutMs, PeerLinks::kProxied);
  for (std::size_t i = 0; i < kValidators; ++i)
    REQUIRE_MESSAGE(net.start(i), "node " << i << ": " << net.node(i).log());
  const auto started = Clock::now();
  const PartitionRun run = run_partition_scenario(net);
  const std::vector<std::size_t> all{0, 1, 2, 3};

  CHECK(!run.acked.empty());
  for (auto i : all)
    CHECK_MESSAGE(missing_on(net.node(i), run.acked) == 0,
                  "node " << i << " lacks acknowledged transactions");
  check_same_hashes(net, all, run.top);
  for (auto i : all) check_certified_chain(net, i, run.top);
  for (auto i : all) check_chain_verifies(s, net, i);
  MESSAGE("partition scenario and checks took " << seconds_since(started) << " s");
}
