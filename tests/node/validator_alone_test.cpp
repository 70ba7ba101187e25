// A network of one validator (n = 1, the dev mode) runs the same Validator as
// any other, against a real LevelDB ledger and vote WAL, without HTTP: block
// time, one block for every candidate, outcomes reaching waiters, no empty
// blocks, group commit and a clean stop.
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "node_test_util.hpp"
#include "validator.hpp"

using namespace emledger;
using namespace emledger::node;
using namespace emledger::node::test;

namespace {

struct Fixture {
  TempDir dir;
  MultiOrgNetwork net;
  std::unique_ptr<ledger::Ledger> ledger;
  Mempool pool;
  std::unique_ptr<Validator> validator;
  std::mutex mu;
  std::vector<TxResult> results;  // in the order the waiters were called

  Fixture() {
    net.write(dir);
    auto store = ledger::open_leveldb(dir.str("db"));
    REQUIRE(store.is_ok());
    auto l = ledger::Ledger::open(std::move(*store), net.genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
  }
  ~Fixture() { stop(); }
  void start(Clock clock = system_clock_ms) {
    REQUIRE(net.genesis.validators.size() == 1);
    ValidatorConfig vc;
    vc.data_dir = dir.str("node");
    auto v = Validator::start(*ledger, pool, net.v, vc, std::move(clock));
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    validator = std::move(*v);
  }
  void stop() {
    if (!validator) return;
    pool.close();
    validator->stop();
    validator.reset();
  }
  Hash add(const ledger::Tx& tx) {
    Hash id = tx.id();
    REQUIRE(ledger->check_tx_stateless(tx).is_ok());
    REQUIRE(pool.add(tx, id,
                     [this](const TxResult& r) {
                       std::lock_guard lock(mu);
                       results.push_back(r);
                     })
                .is_ok());
    return id;
  }
  bool wait_results(std::size_t n) {
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lock(mu);
        if (results.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  TxResult result_of(const Hash& id) {
    std::lock_guard lock(mu);
    for (const auto& r : results)
      if (r.id == id) return r;
    FAIL("no result for a transaction");
    return {};
  }
};

}  // namespace

TEST_CASE("alone: block time is the clock, but never before the parent") {
  Fixture f;
  std::atomic<std::uint64_t> now{f.net.genesis.time_ms + 5000};
  f.start([&now] { return now.load(); });
  f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()));
  REQUIRE(f.wait_results(1));
  CHECK(f.results[0].status.is_ok());
  CHECK(f.results[0].height == 1);
  CHECK(f.results[0].log_index == 0);
  auto h1 = f.ledger->header(1);
  REQUIRE((h1.is_ok() && h1->has_value()));
  CHECK((*h1)->time_ms == now.load());

  now -= 4000;  // the wall clock steps back
  f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()));
  REQUIRE(f.wait_results(2));
  auto h2 = f.ledger->header(2);
  REQUIRE((h2.is_ok() && h2->has_value()));
  CHECK((*h2)->time_ms == (*h1)->time_ms);
  CHECK(f.ledger->head().height == 2);
  // The finality certificate verifies under the genesis validator set.
  auto cert = f.ledger->certificate(2);
  REQUIRE((cert.is_ok() && cert->has_value()));
  CHECK(ledger::verify_certificate(f.net.genesis, **h2, **cert).is_ok());
}

TEST_CASE("alone: one block holds every valid candidate; rejections get their code") {
  Fixture f;
  // Pending before the validator starts: its first build takes them all.
  const Hash a = f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()));
  const Hash c = f.add(register_tx(f.net.chain_id, "c.consumer", f.net.c, random_hash()));
  const Hash b = f.add(register_tx(f.net.chain_id, "b.issuer", f.net.b, random_hash()));
  f.start();
  REQUIRE(f.wait_results(3));
  CHECK(f.result_of(a).status.is_ok());
  CHECK(f.result_of(c).status.code() == "NOT_ISSUER");
  CHECK(f.result_of(b).status.is_ok());
  CHECK(f.result_of(a).log_index == 0);
  CHECK(f.result_of(b).log_index == 1);
  CHECK(f.result_of(b).height == 1);
  CHECK(f.ledger->head().log_size == 2);
  CHECK(f.pool.lookup(c).where == Mempool::Where::kRejected);
}

TEST_CASE("alone: no block without a valid transaction, however long it waits") {
  Fixture f;
  f.start();
  const Hash c = f.add(register_tx(f.net.chain_id, "c.consumer", f.net.c, random_hash()));
  REQUIRE(f.wait_results(1));
  CHECK(f.result_of(c).status.code() == "NOT_ISSUER");
  // Views come and go (nobody else needs them to end in a block).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(f.ledger->head().height == 0);
}

TEST_CASE("alone: transactions that arrive while a block commits share the next; clean stop") {
  Fixture f;
  f.start();
  constexpr int kTxs = 200;
  for (int i = 0; i < kTxs; ++i)
    f.add(register_tx(f.net.chain_id, "a.issuer", f.net.a, random_hash()));
  REQUIRE(f.wait_results(kTxs));
  f.stop();
  std::set<std::uint64_t> indexes;
  for (const auto& r : f.results) {
    CHECK(r.status.is_ok());
    indexes.insert(r.log_index);
  }
  CHECK(indexes.size() == kTxs);
  CHECK(f.ledger->head().log_size == kTxs);
  CHECK(f.ledger->head().height < kTxs / 2);
}
