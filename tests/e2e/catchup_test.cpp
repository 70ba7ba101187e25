// Issue 4's catch-up acceptance with real processes: one of four
// emledger-node validators is SIGKILLed while the other three commit at least
// kMissedBlocksMin blocks (a stream of small batches; empty blocks count as
// well), then restarted. It must reach the others' height within
// kCatchUpTimeoutS and then agree with them on every header hash; the test
// prints how long the catch-up took: the wait for the others to reconnect,
// then the rate of block fetch (node/src/block_fetch.cpp) in blocks per
// second. `emledger chain
// verify` then passes against it.
#include <chrono>
#include <thread>

#include "support/checks.hpp"
#include "support/tx_stream.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

constexpr std::size_t kValidators = 4;
constexpr std::size_t kStopped = 3;
// Short, so the views the stopped validator leads (one in four) cost little:
// the three others must commit kMissedBlocksMin blocks in kMissTimeoutS.
constexpr std::uint64_t kViewTimeoutMs = 300;
constexpr std::uint64_t kMissedBlocksMin = 300;
constexpr int kMissTimeoutS = 90;
constexpr int kCatchUpTimeoutS = 120;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

TEST_CASE("e2e: a validator stopped for 300 blocks catches up after its restart and agrees") {
  Scratch s("catchup");
  Network net(s, kValidators, kViewTimeoutMs);
  for (std::size_t i = 0; i < kValidators; ++i)
    REQUIRE_MESSAGE(net.start(i), "node " << i << ": " << net.node(i).log());
  const std::vector<std::size_t> all{0, 1, 2, 3};
  const std::vector<std::size_t> others{0, 1, 2};
  REQUIRE_MESSAGE(wait_for_height(net, all, 3, 30), "the network did not commit 3 blocks");

  net.node(kStopped).stop(SIGKILL);
  const std::uint64_t stopped_at = height_of(net.node(0));
  const auto missing_from = Clock::now();
  std::vector<std::string> acked;
  std::uint64_t missed_top = 0;
  {
    TxStream stream(net, TxStream::Config{.batch = 2});
    const bool enough = wait_for_height(net, others, stopped_at + kMissedBlocksMin, kMissTimeoutS);
    stream.stop();
    acked = stream.acked();
    missed_top = top_height(net, others);
    REQUIRE_MESSAGE(enough, "validators 0-2 went from " << stopped_at << " to " << missed_top
                                                        << " in " << kMissTimeoutS << " s");
  }
  MESSAGE("validators 0-2 committed " << missed_top - stopped_at << " blocks (" << acked.size()
                                      << " transactions) in " << seconds_since(missing_from)
                                      << " s without validator 3");

  // Validator 3 dials no one (it has the highest index): the others redial
  // it with a backoff of up to 5 s. The time to its first new block is that
  // wait; the rate after it is block fetch's.
  REQUIRE_MESSAGE(net.start(kStopped), net.node(kStopped).log());
  const auto restarted_at = Clock::now();
  const std::uint64_t from = height_of(net.node(kStopped));
  const std::uint64_t target = top_height(net, others);
  REQUIRE_MESSAGE(wait_for_height(net, {kStopped}, from + 1, kCatchUpTimeoutS),
                  "validator 3 fetched nothing in " << kCatchUpTimeoutS << " s");
  const double first_s = seconds_since(restarted_at);
  const auto fetching_from = Clock::now();
  const std::uint64_t first = height_of(net.node(kStopped));
  const int left_s = std::max(1, kCatchUpTimeoutS - static_cast<int>(first_s));
  const bool caught_up = wait_for_height(net, {kStopped}, target, left_s);
  const double fetch_s = seconds_since(fetching_from);
  REQUIRE_MESSAGE(caught_up, "validator 3 reached " << height_of(net.node(kStopped)) << " of "
                                                    << target << " in "
                                                    << seconds_since(restarted_at) << " s");
  MESSAGE("validator 3 caught up from "
          << from << " to " << target << " in " << seconds_since(restarted_at)
          << " s: first new block " << first_s << " s after the restart, then " << target - first
          << " blocks in " << fetch_s << " s (" << static_cast<double>(target - first) / fetch_s
          << " blocks/s)");

  // It keeps up with the head (empty blocks go on), and agrees on everything.
  const std::uint64_t top = top_height(net, others);
  REQUIRE_MESSAGE(wait_for_height(net, all, top, 30), "validator 3 fell behind again");
  check_same_hashes(net, all, top);
  check_certified_chain(net, kStopped, top);
  CHECK_MESSAGE(missing_on(net.node(kStopped), acked) == 0,
                "validator 3 lacks acknowledged transactions");
  check_chain_verifies(s, net, kStopped);
}
