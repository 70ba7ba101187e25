// Several cores wired together by a tiny in-test message loop: every
// broadcast reaches every other running validator, in order; when nothing is
// in flight, time jumps to the earliest timer. Deterministic; the simulator
// in tests/sim explores delays, drops and crashes.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <memory>

#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

struct Network {
  std::vector<std::unique_ptr<Driver>> nodes;
  std::set<ValidatorIndex> down;  // never started, never receives
  std::deque<std::pair<ValidatorIndex, Message>> in_flight;
  std::uint64_t now_ms = 0;

  Network(std::size_t n, std::set<ValidatorIndex> silent, View build_until) : down(silent) {
    auto keys = keys_for(n);
    for (std::size_t i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<Driver>(keys, static_cast<ValidatorIndex>(i)));
      nodes.back()->build_until = build_until;
    }
  }

  void send(ValidatorIndex from, const std::vector<Action>& step) {
    for (const auto& b : all_of<Broadcast>(step)) in_flight.emplace_back(from, b.message);
  }

  void start() {
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (!down.contains(static_cast<ValidatorIndex>(i)))
        send(static_cast<ValidatorIndex>(i), nodes[i]->start());
  }

  std::size_t min_finalized() const {
    std::size_t m = ~std::size_t{0};
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (!down.contains(static_cast<ValidatorIndex>(i)))
        m = std::min(m, nodes[i]->finalized.size());
    return m;
  }

  // Runs until every running node finalized `blocks` blocks or `steps_max`
  // deliveries and ticks happened.
  void run_until(std::size_t blocks, std::size_t steps_max) {
    for (std::size_t step = 0; step < steps_max && min_finalized() < blocks; ++step) {
      if (!in_flight.empty()) {
        auto [from, m] = std::move(in_flight.front());
        in_flight.pop_front();
        for (std::size_t i = 0; i < nodes.size(); ++i) {
          const auto to = static_cast<ValidatorIndex>(i);
          if (to == from || down.contains(to)) continue;
          nodes[i]->now_ms = now_ms;
          send(to, nodes[i]->deliver(m));
        }
        continue;
      }
      std::uint64_t next = ~std::uint64_t{0};
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (!down.contains(static_cast<ValidatorIndex>(i)))
          next = std::min(next, nodes[i]->wake_ms);
      now_ms = std::max(now_ms, next);
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (!down.contains(static_cast<ValidatorIndex>(i)) && nodes[i]->wake_ms <= now_ms)
          send(static_cast<ValidatorIndex>(i), nodes[i]->tick(now_ms));
    }
  }

  // Every running node reported the same blocks in the same order, heights
  // 1, 2, 3, ... each linked to the one before.
  void check_agreement(std::size_t blocks) const {
    const Driver* ref = nullptr;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (down.contains(static_cast<ValidatorIndex>(i))) continue;
      const auto& mine = nodes[i]->finalized;
      REQUIRE(mine.size() >= blocks);
      Hash parent = genesis_hash();
      for (std::size_t h = 0; h < mine.size(); ++h) {
        CHECK(mine[h].block.height == h + 1);
        CHECK(mine[h].block.parent == parent);
        parent = mine[h].block.digest;
      }
      if (ref == nullptr) {
        ref = nodes[i].get();
        continue;
      }
      const std::size_t common = std::min(mine.size(), ref->finalized.size());
      for (std::size_t h = 0; h < common; ++h) CHECK(mine[h].block == ref->finalized[h].block);
    }
  }
};

}  // namespace

TEST_CASE("n = 4, all honest: every view's leader proposes and every block is finalized") {
  Network net(4, {}, /*build_until=*/200);
  net.start();
  net.run_until(30, 200000);
  net.check_agreement(30);
  for (const auto& node : net.nodes) {
    // No view timed out: one block per view, no nullify, nothing refused.
    for (std::size_t h = 0; h < 30; ++h) {
      CHECK(node->finalized[h].block.view == h + 1);
      CHECK_FALSE(node->finalized[h].by_descendant);
    }
    CHECK(std::none_of(node->wal.begin(), node->wal.end(),
                       [](const Vote& v) { return v.vote_kind() == VoteKind::kNullify; }));
    const Counters& c = node->core.counters();
    CHECK(c.refused_bad_signature + c.refused_malformed + c.refused_unknown_validator +
              c.refused_not_leader + c.refused_no_quorum + c.refused_bad_answer + c.evidence +
              c.safety_faults ==
          0);
    CHECK(node->core.views_held() <= kViewsRetainedBelowFinalized + kViewsAheadMax);
  }
  CHECK(net.now_ms == 0);  // no timer ever had to fire
}

TEST_CASE("n = 4, one validator down: its views are nullified after a timeout, the chain grows") {
  Network net(4, {2}, /*build_until=*/400);
  net.start();
  net.run_until(30, 400000);
  net.check_agreement(30);
  const Driver& node = *net.nodes[0];
  // The views led by validator 2 never produced a block, and were nullified.
  for (const auto& f : node.finalized) CHECK(net.nodes[0]->core.leader(f.block.view) != 2);
  CHECK(std::any_of(node.wal.begin(), node.wal.end(),
                    [](const Vote& v) { return v.vote_kind() == VoteKind::kNullify; }));
  CHECK(net.now_ms > 0);
}

TEST_CASE("n = 7, two validators down (f = 2): still safe and live") {
  Network net(7, {3, 5}, /*build_until=*/400);
  net.start();
  net.run_until(20, 800000);
  net.check_agreement(20);
}
