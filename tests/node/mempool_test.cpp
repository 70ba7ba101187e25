#include "mempool.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <thread>

#include "emledger/ledger/merkle_log.hpp"

using namespace emledger;
using namespace emledger::node;

namespace {

Hash id_of(std::uint8_t n) {
  Hash h{};
  h[0] = n;
  h[31] = n;
  return h;
}

}  // namespace

TEST_CASE("mempool: duplicates, bound, order and waiters") {
  Mempool pool(/*txs_max=*/3, /*rejections_max=*/2);
  std::vector<TxResult> seen;
  auto waiter = [&seen](const TxResult& r) { seen.push_back(r); };

  CHECK(pool.add(ledger::Tx{}, id_of(1), waiter).is_ok());
  CHECK(pool.add(ledger::Tx{}, id_of(1), waiter).code() == "DUPLICATE_TX");
  CHECK(pool.add(ledger::Tx{}, id_of(2), nullptr).is_ok());
  CHECK(pool.add(ledger::Tx{}, id_of(3), waiter).is_ok());
  CHECK(pool.add(ledger::Tx{}, id_of(4), waiter).code() == "MEMPOOL_FULL");
  CHECK(pool.pending_count() == 3);

  auto batch = pool.try_take(2);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].id == id_of(1));  // oldest first
  CHECK(batch[1].id == id_of(2));
  CHECK(pool.pending_count() == 1);
  CHECK(pool.in_flight_count() == 2);
  // In flight is still a duplicate, and no longer counts against the bound.
  CHECK(pool.add(ledger::Tx{}, id_of(1), waiter).code() == "DUPLICATE_TX");
  CHECK(pool.lookup(id_of(1)).where == Mempool::Where::kPending);
  CHECK(pool.add(ledger::Tx{}, id_of(4), waiter).is_ok());

  pool.complete({TxResult{id_of(1), Status::ok(), 5, 9},
                 TxResult{id_of(2), Status::error("NOT_ISSUER", "no"), 0, 0}});
  REQUIRE(seen.size() == 1);  // id 2 had no waiter
  CHECK(seen[0].id == id_of(1));
  CHECK(seen[0].height == 5);
  CHECK(seen[0].log_index == 9);
  CHECK(pool.in_flight_count() == 0);
  CHECK(pool.lookup(id_of(1)).where == Mempool::Where::kUnknown);
  auto rej = pool.lookup(id_of(2));
  CHECK(rej.where == Mempool::Where::kRejected);
  CHECK(rej.rejection.code() == "NOT_ISSUER");
}

TEST_CASE("mempool: recent rejections are bounded, oldest dropped") {
  Mempool pool(10, 2);
  for (std::uint8_t i = 1; i <= 3; ++i) REQUIRE(pool.add(ledger::Tx{}, id_of(i), nullptr).is_ok());
  auto batch = pool.try_take(10);
  REQUIRE(batch.size() == 3);
  std::vector<TxResult> results;
  for (const auto& c : batch)
    results.push_back(TxResult{c.id, Status::error("EXPIRED", "x"), 0, 0});
  pool.complete(results);
  CHECK(pool.lookup(id_of(1)).where == Mempool::Where::kUnknown);
  CHECK(pool.lookup(id_of(2)).where == Mempool::Where::kRejected);
  CHECK(pool.lookup(id_of(3)).where == Mempool::Where::kRejected);
}

TEST_CASE("mempool: take blocks until work arrives; close wakes it and refuses adds") {
  Mempool pool;
  std::vector<Candidate> got;
  std::thread taker([&] { got = pool.take(10); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(pool.add(ledger::Tx{}, id_of(7), nullptr).is_ok());
  taker.join();
  REQUIRE(got.size() == 1);
  CHECK(got[0].id == id_of(7));

  std::vector<Candidate> after_close{Candidate{}};
  std::thread waiting([&] { after_close = pool.take(10); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pool.close();
  waiting.join();
  CHECK(after_close.empty());
  CHECK(pool.add(ledger::Tx{}, id_of(8), nullptr).code() == "SHUTTING_DOWN");
}

TEST_CASE("mempool: fail_pending answers every pending waiter") {
  Mempool pool;
  int calls = 0;
  std::string code;
  auto w = [&](const TxResult& r) {
    ++calls;
    code = r.status.code();
  };
  REQUIRE(pool.add(ledger::Tx{}, id_of(1), w).is_ok());
  REQUIRE(pool.add(ledger::Tx{}, id_of(2), w).is_ok());
  pool.close();
  pool.fail_pending(Status::error("SHUTTING_DOWN", "bye"));
  CHECK(calls == 2);
  CHECK(code == "SHUTTING_DOWN");
  CHECK(pool.pending_count() == 0);
}

TEST_CASE("mempool: committed elsewhere completes pending and in-flight, and they stay gone") {
  Mempool pool(/*txs_max=*/4);
  std::vector<TxResult> seen;
  auto waiter = [&seen](const TxResult& r) { seen.push_back(r); };
  for (std::uint8_t n = 1; n <= 4; ++n) REQUIRE(pool.add(ledger::Tx{}, id_of(n), waiter).is_ok());
  auto mine = pool.try_take(1);  // id 1 in flight in our own proposal
  REQUIRE(mine.size() == 1);

  // Another validator's block commits 1 (in flight here), 3 (pending) and 9
  // (never seen here).
  pool.complete_committed({TxResult{id_of(1), Status::ok(), 7, 0},
                           TxResult{id_of(3), Status::ok(), 7, 1},
                           TxResult{id_of(9), Status::ok(), 7, 2}});
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].id == id_of(1));
  CHECK(seen[1].id == id_of(3));
  CHECK(seen[1].height == 7);
  CHECK(seen[1].log_index == 1);
  CHECK(pool.pending_count() == 2);
  CHECK(pool.in_flight_count() == 0);
  CHECK(pool.lookup(id_of(3)).where == Mempool::Where::kUnknown);
  // Our losing proposal gives its candidates back: 1 is not revived.
  pool.return_to_pending(std::move(mine));
  CHECK(pool.pending_count() == 2);
  // The bound counts pending transactions, not the stale places they left.
  CHECK(pool.add(ledger::Tx{}, id_of(5), waiter).is_ok());
  CHECK(pool.add(ledger::Tx{}, id_of(6), waiter).is_ok());
  CHECK(pool.add(ledger::Tx{}, id_of(7), waiter).code() == "MEMPOOL_FULL");
  auto next = pool.try_take(10);
  REQUIRE(next.size() == 4);
  CHECK(next[0].id == id_of(2));
  CHECK(next[1].id == id_of(4));
  CHECK(next[2].id == id_of(5));
  CHECK(next[3].id == id_of(6));
}

TEST_CASE("mempool: a long run of transactions committed elsewhere leaves no stale backlog") {
  Mempool pool;
  int announced = 0;
  pool.set_admit_listener([&](const ledger::Tx&) { ++announced; });
  Hash id{};
  std::vector<TxResult> gone;
  for (std::uint32_t n = 0; n < 5000; ++n) {
    std::memcpy(id.data(), &n, sizeof n);
    REQUIRE(pool.add(ledger::Tx{}, id, nullptr, /*announce=*/n % 2 == 0).is_ok());
    if (n % 10 != 0) gone.push_back(TxResult{id, Status::ok(), 1, n});
  }
  CHECK(announced == 2500);  // only what came with announce
  pool.complete_committed(gone);
  CHECK(pool.pending_count() == 500);
  auto all = pool.try_take(100'000);
  REQUIRE(all.size() == 500);
  for (std::size_t i = 0; i < all.size(); ++i) {
    std::uint32_t n = 0;
    std::memcpy(&n, all[i].id.data(), sizeof n);
    CHECK(n == i * 10);  // still oldest first
  }
}

TEST_CASE("mempool: the admission stamp travels with the candidate, in flight and back") {
  Mempool pool;
  constexpr std::uint64_t kUnknown = ledger::CandidateFacts::kUnknown;
  REQUIRE(pool.add(ledger::Tx{}, id_of(1), nullptr, /*announce=*/false, 7).is_ok());
  REQUIRE(pool.add(ledger::Tx{}, id_of(2), nullptr).is_ok());  // nobody looked it up
  CHECK(pool.lookup(id_of(1)).absent_at == 7);
  CHECK(pool.lookup(id_of(2)).absent_at == kUnknown);
  CHECK(pool.lookup(id_of(3)).absent_at == kUnknown);

  auto batch = pool.try_take(2);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].absent_at == 7);
  CHECK(batch[1].absent_at == kUnknown);
  CHECK(pool.lookup(id_of(1)).absent_at == 7);  // in flight: still held

  pool.return_to_pending(std::move(batch));
  auto again = pool.try_take(1);
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == id_of(1));
  CHECK(again[0].absent_at == 7);
}

TEST_CASE(
    "mempool: the admission's encoding and its log leaf travel with the candidate, in flight and "
    "back") {
  Mempool pool;
  const Bytes enc1{1, 2, 3};
  REQUIRE(pool.add(ledger::Tx{}, id_of(1), nullptr, /*announce=*/false, 7, enc1).is_ok());
  REQUIRE(pool.add(ledger::Tx{}, id_of(2), nullptr).is_ok());  // no encoding given

  auto batch = pool.try_take(2);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].encoding == enc1);
  CHECK(batch[1].encoding.empty());
  // Its log leaf, hashed on the adder's thread; none without an encoding.
  REQUIRE(batch[0].leaf.has_value());
  CHECK(*batch[0].leaf == ledger::log_leaf_hash(enc1));
  CHECK_FALSE(batch[1].leaf.has_value());

  pool.return_to_pending(std::move(batch));
  auto again = pool.try_take(2);
  REQUIRE(again.size() == 2);
  CHECK(again[0].id == id_of(1));
  CHECK(again[0].encoding == enc1);
  CHECK(again[0].leaf == ledger::log_leaf_hash(enc1));
  CHECK(again[1].encoding.empty());
}
