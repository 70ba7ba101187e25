#include "mempool.hpp"

#include <doctest/doctest.h>

#include <thread>

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
