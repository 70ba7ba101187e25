// The producer against a real LevelDB ledger, without HTTP: block time,
// group commit, outcomes reaching waiters.
#include "producer.hpp"

#include <doctest/doctest.h>

#include <set>

#include "node_test_util.hpp"

using namespace emledger;
using namespace emledger::node;
using namespace emledger::node::test;

namespace {

struct Fixture {
  TempDir dir;
  MultiOrgNetwork net;
  std::unique_ptr<ledger::Ledger> ledger;
  Mempool pool;
  Fixture() {
    net.write(dir);
    auto store = ledger::open_leveldb(dir.str("db"));
    REQUIRE(store.is_ok());
    auto l = ledger::Ledger::open(std::move(*store), net.genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
  }
  Hash add(const ledger::Tx& tx, std::vector<TxResult>* sink) {
    Hash id = tx.id();
    REQUIRE(ledger->check_tx_stateless(tx).is_ok());
    TxWaiter w;
    if (sink) w = [sink](const TxResult& r) { sink->push_back(r); };
    REQUIRE(pool.add(tx, id, w).is_ok());
    return id;
  }
};

}  // namespace

TEST_CASE("producer: block time is the clock, but never before the parent") {
  Fixture f;
  std::uint64_t now = f.net.genesis.time_ms + 5000;
  Producer p(*f.ledger, f.pool, f.net.v, 0, [&now] { return now; });

  std::vector<TxResult> results;
  f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()), &results);
  p.produce(f.pool.try_take(ledger::kBlockTxsMax));
  REQUIRE(results.size() == 1);
  CHECK(results[0].status.is_ok());
  CHECK(results[0].height == 1);
  CHECK(results[0].log_index == 0);
  auto h1 = f.ledger->header(1);
  REQUIRE((h1.is_ok() && h1->has_value()));
  CHECK((*h1)->time_ms == now);

  now -= 4000;  // the wall clock steps back
  f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()), &results);
  p.produce(f.pool.try_take(ledger::kBlockTxsMax));
  auto h2 = f.ledger->header(2);
  REQUIRE((h2.is_ok() && h2->has_value()));
  CHECK((*h2)->time_ms == (*h1)->time_ms);
  CHECK(f.ledger->head().height == 2);
  // The certificate verifies under the genesis validator set.
  auto cert = f.ledger->certificate(2);
  REQUIRE((cert.is_ok() && cert->has_value()));
  CHECK(ledger::verify_certificate(f.net.genesis, **h2, **cert).is_ok());
}

TEST_CASE("producer: one block holds every valid candidate; rejections get their code") {
  Fixture f;
  Producer p(*f.ledger, f.pool, f.net.v, 0);
  std::vector<TxResult> results;
  f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()), &results);
  f.add(register_tx(f.net.chain_id, "c.consumer", f.net.c, random_hash()), &results);
  f.add(register_tx(f.net.chain_id, "b.issuer", f.net.b, random_hash()), &results);
  p.produce(f.pool.try_take(ledger::kBlockTxsMax));
  REQUIRE(results.size() == 3);
  CHECK(results[0].status.is_ok());
  CHECK(results[1].status.code() == "NOT_ISSUER");
  CHECK(results[2].status.is_ok());
  CHECK(results[0].log_index == 0);
  CHECK(results[2].log_index == 1);
  CHECK(results[2].height == 1);
  CHECK(f.ledger->head().log_size == 2);
  CHECK(f.pool.lookup(results[1].id).where == Mempool::Where::kRejected);
}

TEST_CASE("producer: a batch with no valid transaction makes no block") {
  Fixture f;
  Producer p(*f.ledger, f.pool, f.net.v, 0);
  std::vector<TxResult> results;
  f.add(register_tx(f.net.chain_id, "c.consumer", f.net.c, random_hash()), &results);
  p.produce(f.pool.try_take(ledger::kBlockTxsMax));
  REQUIRE(results.size() == 1);
  CHECK(results[0].status.code() == "NOT_ISSUER");
  CHECK(f.ledger->head().height == 0);
}

TEST_CASE("producer thread: group commit and clean stop") {
  Fixture f;
  Producer p(*f.ledger, f.pool, f.net.v, 0);
  p.start();
  std::mutex mu;
  std::vector<TxResult> results;
  constexpr int kTxs = 200;
  for (int i = 0; i < kTxs; ++i) {
    auto tx = register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash());
    REQUIRE(f.pool
                .add(tx, tx.id(),
                     [&](const TxResult& r) {
                       std::lock_guard lock(mu);
                       results.push_back(r);
                     })
                .is_ok());
  }
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (results.size() == kTxs) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  f.pool.close();
  p.stop();
  REQUIRE(results.size() == kTxs);
  std::set<std::uint64_t> indexes;
  for (const auto& r : results) {
    CHECK(r.status.is_ok());
    indexes.insert(r.log_index);
  }
  CHECK(indexes.size() == kTxs);
  CHECK(f.ledger->head().log_size == kTxs);
  // Transactions that arrive while a block commits share the next block.
  CHECK(f.ledger->head().height < kTxs / 2);
  CHECK(p.blocks_committed() == f.ledger->head().height);
}
