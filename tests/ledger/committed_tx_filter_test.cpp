// The committed-id filter (ADR 023): no false negatives, a bounded rate of
// "maybe" for absent ids as it grows, and in the Ledger a "surely
// uncommitted" only once the scan at open has read every committed id.
#include "emledger/ledger/committed_tx_filter.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;
using emledger::testing::wait_for_filters;

namespace {

Hash nth_id(std::uint64_t n, char kind) {
  Bytes b(9);
  b[0] = static_cast<std::uint8_t>(kind);
  for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return crypto::sha256(b);
}

// Absent ids of a fresh series that the filter calls "maybe", per 10,000.
std::uint64_t maybes_per_10k(const CommittedTxFilter& f, char kind) {
  std::uint64_t maybe = 0;
  for (std::uint64_t i = 0; i < 10000; ++i) maybe += f.surely_absent(nth_id(i, kind)) ? 0 : 1;
  return maybe;
}

}  // namespace

TEST_CASE("committed tx filter: no false negatives, few maybes, and growth past its capacity") {
  CommittedTxFilter f(0);                        // the minimum first segment
  CHECK_FALSE(f.surely_absent(nth_id(1, 'a')));  // incomplete: nothing is sure
  f.set_complete();
  CHECK(f.surely_absent(nth_id(1, 'a')));
  CHECK(f.segments() == 1);

  const std::uint64_t n = kTxFilterIdsMin;  // fills the first segment exactly
  for (std::uint64_t i = 0; i < n; ++i) f.add(nth_id(i, 'a'));
  CHECK(f.ids_added() == n);
  CHECK(f.segments() == 1);
  // At 10 bits and 7 probes per id a blocked filter reads "maybe" for about
  // 1% of absent ids; 2.5% bounds it with room for the sample's spread.
  const std::uint64_t full = maybes_per_10k(f, 'b');
  CHECK(full > 0);
  CHECK(full < 250);

  // Past its capacity a second segment of twice the size takes new ids.
  std::vector<Hash> more;
  for (std::uint64_t i = n; i < 2 * n; ++i) more.push_back(nth_id(i, 'a'));
  f.add(more);
  CHECK(f.segments() == 2);
  CHECK(maybes_per_10k(f, 'c') < 500);  // one block read per segment

  std::uint64_t missed = 0;
  for (std::uint64_t i = 0; i < 2 * n; ++i) missed += f.surely_absent(nth_id(i, 'a')) ? 1 : 0;
  CHECK(missed == 0);
}

TEST_CASE("ledger: the committed-id filter covers what was committed before open and after") {
  Net net;
  CHECK(net.ledger->tx_filter_complete());  // a fresh genesis has nothing to scan
  std::vector<Tx> before;
  for (int i = 0; i < 20; ++i) before.push_back(net.reg("filter-before-" + std::to_string(i)));
  REQUIRE(net.commit(before).size() == 20);
  for (const Tx& t : before) CHECK_FALSE(net.ledger->tx_surely_uncommitted(t.id()));

  net.reopen();  // the scan of the 'x' keys fills the filter for these
  wait_for_filters(*net.ledger);
  for (const Tx& t : before) CHECK_FALSE(net.ledger->tx_surely_uncommitted(t.id()));
  const Tx after = net.reg("filter-after");
  CHECK(net.ledger->tx_surely_uncommitted(after.id()));
  REQUIRE(net.commit_one(after).is_ok());
  CHECK_FALSE(net.ledger->tx_surely_uncommitted(after.id()));
  // Replays are refused by prepare, stamp or none.
  CHECK(net.commit_one(before[3]).code() == "DUPLICATE_TX");
  CHECK(net.commit_one(after).code() == "DUPLICATE_TX");

  // A canary: an id planted below the kernel (never committed) is not in the
  // filter, so prepare does not read the store for it and takes the
  // transaction. This shows that the filter, not the store, answered.
  const Tx planted = net.reg("filter-planted");
  WriteBatch b;
  Bytes key{'x'};
  key.insert(key.end(), planted.id().begin(), planted.id().end());
  b.put(key, Bytes{1, 2, 3});
  REQUIRE(net.ledger->store().write(b, true).is_ok());
  auto raw = net.ledger->store().get(key);
  REQUIRE(raw.is_ok());
  CHECK(raw->has_value());  // the store has it
  CHECK(net.ledger->tx_surely_uncommitted(planted.id()));
  CHECK(net.commit_one(planted).is_ok());
}

TEST_CASE("ledger: destroyed while its filter scan runs, a ledger stops the scan") {
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 200; ++i) txs.push_back(net.reg("filter-stop-" + std::to_string(i)));
  REQUIRE(net.commit(txs).size() == 200);
  for (int i = 0; i < 5; ++i) net.reopen();  // each reopen destroys a ledger that may be scanning
  wait_for_filters(*net.ledger);
  for (const Tx& t : txs) CHECK_FALSE(net.ledger->tx_surely_uncommitted(t.id()));
}

TEST_CASE(
    "ledger: opened without the scan, a ledger's filter stays incomplete and every check reads the "
    "store") {
  LedgerOptions o;
  o.scan_committed_ids = false;
  Net net(o);
  const Tx t = net.reg("no-scan");
  REQUIRE(net.commit_one(t).is_ok());
  net.reopen();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(net.ledger->tx_filter_complete());
  CHECK_FALSE(net.ledger->tx_surely_uncommitted(net.reg("no-scan-2").id()));
  CHECK(net.commit_one(t).code() == "DUPLICATE_TX");
}
