// The state-key filter (ADR 026): a block's read of a state key the filter
// has never seen skips the store, so the filter must hold every key committed
// before open (the scan) and after (commit), and a block on an uncommitted
// parent must still see the keys the parent writes.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;
using emledger::testing::wait_for_filters;

namespace {

Tx revoke(Net& net, const Tx& registered) {
  return net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord,
                RevokeRecord{record_id_for(registered.id()), 3});
}

}  // namespace

TEST_CASE("ledger: the state-key filter holds the keys committed before open and after") {
  Net net;
  CHECK(net.ledger->state_key_filter_complete());  // a fresh genesis: its orgs were added
  std::vector<Tx> before;
  for (int i = 0; i < 12; ++i) before.push_back(net.reg("state-before-" + std::to_string(i)));
  REQUIRE(net.commit(before).size() == 12);
  net.reopen();  // the scan of the 's' keys must find these records
  wait_for_filters(*net.ledger);
  // A revoke reads its record: were the key missing from the filter, the
  // read would be skipped and the revoke refused as RECORD_NOT_FOUND.
  CHECK(net.commit_one(revoke(net, before[2])).is_ok());
  CHECK(net.commit_one(revoke(net, before[9])).is_ok());
  // Keys committed after open come from commit().
  const Tx after = net.reg("state-after");
  REQUIRE(net.commit_one(after).is_ok());
  CHECK(net.commit_one(revoke(net, after)).is_ok());
  // The orgs of the genesis are state keys too: issuing still works after a
  // reopen (the signer's org is read for each transaction).
  net.reopen();
  wait_for_filters(*net.ledger);
  CHECK(net.commit_one(net.reg("state-after-reopen")).is_ok());
}

TEST_CASE("ledger: the state-key filter answers, not the store (a canary for the read it saves)") {
  // A record key planted below the kernel, never committed: the filter has
  // not seen it, so a revoke does not read it and finds no record. Opened
  // without the scan (no filter), the same revoke reads the planted key.
  auto plant_and_revoke = [](LedgerOptions o) {
    Net net(o);
    net.reopen();
    // The scan at open reads every 's' key: it must be over before the key
    // is planted, or it could add the planted key to the filter (or leave the
    // filter incomplete, so that the revoke reads the store anyway).
    if (o.scan_committed_ids) wait_for_filters(*net.ledger);
    const Tx ghost = net.reg("state-ghost");  // never committed
    WriteBatch b;
    Bytes key{'s'};
    const Bytes state_key = record_state_key(record_id_for(ghost.id()));
    key.insert(key.end(), state_key.begin(), state_key.end());
    const Hash value_hash = crypto::sha256(as_bytes("no such value"));
    b.put(key, Bytes(value_hash.begin(), value_hash.end()));
    REQUIRE(net.ledger->store().write(b, true).is_ok());
    std::vector<TxOutcome> oc;
    auto p = net.ledger->prepare({revoke(net, ghost)}, net.clock_ms + 1000, 0,
                                 net.validator.public_key(), false, oc);
    if (!p) return p.status().code();
    REQUIRE(oc.size() == 1);
    return oc[0].status.code();
  };
  CHECK(plant_and_revoke(LedgerOptions{}) == "RECORD_NOT_FOUND");
  LedgerOptions no_scan;
  no_scan.scan_committed_ids = false;
  // The planted index entry names a value the store lacks.
  CHECK(plant_and_revoke(no_scan) == "STORAGE_CORRUPT");
}

TEST_CASE("ledger: with or without the state-key filter, the same blocks, pipelined or not") {
  LedgerOptions no_scan;
  no_scan.scan_committed_ids = false;
  Net maker;  // makes the transactions; both ledgers below execute them
  Net plain(no_scan);
  plain.reopen();  // so that its filter is never complete
  Net filtered;
  std::vector<std::string> codes_plain, codes_filtered;
  std::uint64_t t = plain.clock_ms;
  auto same = [&](const PreparedBlock& a, const PreparedBlock& b) {
    CHECK(codes_plain == codes_filtered);
    CHECK(a.block.header.hash() == b.block.header.hash());
  };
  std::vector<Tx> first;
  for (int i = 0; i < 5; ++i) first.push_back(maker.reg("pipe-1-" + std::to_string(i)));
  PreparedBlock a1 = plain.prepare_on(first, t += 1000, codes_plain);
  PreparedBlock b1 = filtered.prepare_on(first, t, codes_filtered);
  same(a1, b1);
  // Block 2 on the uncommitted block 1 revokes a record block 1 registers:
  // the filter has not seen its key, the parent's writes hold it.
  const std::vector<Tx> second{revoke(maker, first[1]), maker.reg("pipe-2-0")};
  PreparedBlock a2 = plain.prepare_on(second, t += 1000, codes_plain, &a1);
  PreparedBlock b2 = filtered.prepare_on(second, t, codes_filtered, &b1);
  CHECK(codes_filtered == std::vector<std::string>{"", ""});
  same(a2, b2);
  plain.commit_prepared(a1);
  filtered.commit_prepared(b1);
  plain.commit_prepared(a2);
  filtered.commit_prepared(b2);
  // After a reopen, once the scan ends: records of both blocks, revoked or
  // not, and one that never was.
  filtered.reopen();
  wait_for_filters(*filtered.ledger);
  const std::vector<Tx> third{revoke(maker, first[3]), revoke(maker, first[1]),
                              revoke(maker, maker.reg("pipe-never")), revoke(maker, second[1])};
  PreparedBlock a3 = plain.prepare_on(third, t += 1000, codes_plain);
  PreparedBlock b3 = filtered.prepare_on(third, t, codes_filtered);
  CHECK(codes_filtered[0] == "");
  CHECK(codes_filtered[2] == "RECORD_NOT_FOUND");
  CHECK(codes_filtered[3] == "");
  same(a3, b3);
  plain.commit_prepared(a3);
  filtered.commit_prepared(b3);
  CHECK(plain.ledger->head().state_root == filtered.ledger->head().state_root);
  CHECK_FALSE(plain.ledger->state_key_filter_complete());
}
