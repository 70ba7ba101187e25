// Several cores wired together by a tiny in-test message loop: every
// broadcast reaches every other running validator, in order; when nothing is
// in flight, time jumps to the earliest timer. Deterministic; the simulator
// in tests/sim explores delays, drops and crashes.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>

#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

struct Network {
  std::vector<std::unique_ptr<Driver>> nodes;
  std::set<ValidatorIndex> down;  // not running: sends nothing, receives nothing
  std::deque<std::pair<ValidatorIndex, Message>> in_flight;
  std::uint64_t now_ms = 0;
  std::map<Hash, BlockRef> registry;  // where drivers fetch missing blocks
  View build_until;
  // What `to` receives when `from` broadcast `m` (default: `m` itself).
  std::function<std::vector<Message>(ValidatorIndex from, ValidatorIndex to, const Message& m)>
      tamper;

  Network(std::size_t n, std::set<ValidatorIndex> silent, View build)
      : down(std::move(silent)), build_until(build) {
    auto keys = keys_for(n);
    for (std::size_t i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<Driver>(keys, static_cast<ValidatorIndex>(i)));
      nodes.back()->build_until = build_until;
      nodes.back()->registry = &registry;
    }
  }
  Network(const Network&) = delete;

  // Stops validator i; its WAL and what it reported survive.
  void crash(ValidatorIndex i) { down.insert(i); }

  // Starts validator i again from its last final block and its WAL (read
  // back through the WAL record encoding).
  void restart(ValidatorIndex i) {
    Driver& old = *nodes[i];
    auto fresh = std::make_unique<Driver>(old.keys, i, old.core.last_finalized());
    fresh->build_until = build_until;
    fresh->registry = &registry;
    fresh->now_ms = now_ms;
    std::vector<Vote> logged;
    for (const Vote& v : old.wal) {
      auto back = ledger::decode<Vote>(ledger::encode(v));
      REQUIRE(back.is_ok());
      logged.push_back(*back);
    }
    REQUIRE(fresh->core.replay(logged).is_ok());
    fresh->wal = old.wal;
    fresh->finalized = old.finalized;
    fresh->log = old.log;
    nodes[i] = std::move(fresh);
    down.erase(i);
    send(i, nodes[i]->start());
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
          if (!tamper) {
            send(to, nodes[i]->deliver(m));
            continue;
          }
          for (const Message& changed : tamper(from, to, m)) send(to, nodes[i]->deliver(changed));
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

namespace {

// No validator wrote two different votes of one kind for one view, and no
// one saw an equivocation.
void check_no_double_votes(const Network& net) {
  for (const auto& node : net.nodes) {
    std::map<std::pair<std::uint8_t, View>, Vote> seen;
    for (const Vote& v : node->wal) {
      auto [it, inserted] = seen.emplace(std::make_pair(v.kind, v.view), v);
      CHECK((inserted || it->second == v));
    }
    CHECK(all_of<Equivocation>(node->log).empty());
  }
}

}  // namespace

TEST_CASE("a crashed validator restarts from its WAL, catches up, and never votes twice") {
  Network net(4, {}, /*build_until=*/1000);
  net.start();
  net.run_until(10, 200000);
  net.crash(2);
  net.run_until(25, 400000);  // the three others are a quorum
  CHECK(net.nodes[2]->finalized.size() < 25);
  net.restart(2);
  net.run_until(40, 800000);
  net.check_agreement(40);
  check_no_double_votes(net);
  // It learned what finalized while it was away through fetched ancestors.
  CHECK_FALSE(all_of<FetchBlock>(net.nodes[2]->log).empty());
}

TEST_CASE(
    "an equivocating leader: honest validators agree, and the one shown both blocks reports it") {
  Network net(4, {}, /*build_until=*/1000);
  auto keys = keys_for(4);
  // Validator 1 sends validator 3 another block first, then the real one.
  net.tamper = [&keys](ValidatorIndex from, ValidatorIndex to, const Message& m) {
    const Proposal* p = std::get_if<Proposal>(&m);
    if (from != 1 || to != 3 || p == nullptr) return std::vector<Message>{m};
    BlockRef parent{p->block.parent_view, p->block.height - 1, 0, Hash{}, p->block.parent};
    return std::vector<Message>{propose(keys, 1, make_block(p->block.view, parent, 77)), m};
  };
  net.start();
  net.run_until(20, 400000);
  net.check_agreement(20);
  auto evidence = all_of<Equivocation>(net.nodes[3]->log);
  REQUIRE_FALSE(evidence.empty());
  for (const auto& e : evidence) CHECK(e.evidence.first.validator == 1);
  std::vector<PublicKey> set = net.nodes[3]->core.config().validators;
  CHECK(verify_evidence(kChain, kEpoch, set, ed25519_verifier(), evidence[0].evidence).is_ok());
  // Validator 3 notarized the wrong block, so it had to fetch the right one.
  CHECK_FALSE(all_of<FetchBlock>(net.nodes[3]->log).empty());
}

TEST_CASE("the same inputs give the same run") {
  auto run = [] {
    auto net = std::make_unique<Network>(4, std::set<ValidatorIndex>{1}, 300);
    net->start();
    net->run_until(15, 400000);
    return net;
  };
  auto a = run();
  auto b = run();
  CHECK(a->now_ms == b->now_ms);
  for (std::size_t i = 0; i < a->nodes.size(); ++i) {
    CHECK(a->nodes[i]->wal == b->nodes[i]->wal);
    REQUIRE(a->nodes[i]->log.size() == b->nodes[i]->log.size());
    for (std::size_t k = 0; k < a->nodes[i]->log.size(); ++k) {
      const auto* ma = std::get_if<Broadcast>(&a->nodes[i]->log[k]);
      const auto* mb = std::get_if<Broadcast>(&b->nodes[i]->log[k]);
      REQUIRE((ma == nullptr) == (mb == nullptr));
      if (ma != nullptr) CHECK(encode_message(ma->message) == encode_message(mb->message));
    }
  }
}
