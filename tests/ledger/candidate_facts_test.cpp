// What a caller tells Ledger::prepare about its candidates (ADR 022): the
// encoding, the id and an "absent at height H" stamp. True facts must give the
// very block prepare builds without them; a stamp must never hide a commit
// above its height, nor one from before the Ledger was opened.
#include <doctest/doctest.h>

#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/recent_tx_ids.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;

namespace {

Hash id_of(std::uint8_t n) {
  Hash h{};
  h.fill(n);
  return h;
}

// Facts for `txs`: their encodings (kept in `encodings`) and ids, each
// stamped absent at `absent_at`.
std::vector<CandidateFacts> facts_for(const std::vector<Tx>& txs, std::uint64_t absent_at,
                                      std::vector<Bytes>& encodings) {
  encodings.clear();
  for (const Tx& t : txs) encodings.push_back(encode(t));
  std::vector<CandidateFacts> out;
  for (std::size_t i = 0; i < txs.size(); ++i)
    out.push_back(CandidateFacts{encodings[i], crypto::sha256(encodings[i]), absent_at,
                                 log_leaf_hash(encodings[i])});
  return out;
}

}  // namespace

TEST_CASE("recent tx ids: a stamp answers only for heights every block of which is held") {
  RecentTxIds r(3, 10);
  CHECK(r.from_height() == 11);
  CHECK(r.absent_since(id_of(1), 10));       // no block since the stamp
  CHECK_FALSE(r.absent_since(id_of(1), 9));  // block 10 was never added

  r.add_block(11, {id_of(1)});
  CHECK_FALSE(r.absent_since(id_of(1), 10));  // block 11 holds it
  CHECK(r.absent_since(id_of(2), 10));
  CHECK(r.absent_since(id_of(2), 11));

  r.add_block(12, {id_of(2)});
  r.add_block(13, {});
  r.add_block(14, {id_of(3)});  // 11 falls out: three blocks held
  CHECK(r.from_height() == 12);
  CHECK_FALSE(r.absent_since(id_of(5), 10));  // block 11 is no longer held
  CHECK(r.absent_since(id_of(5), 11));
  CHECK(r.absent_since(id_of(1), 11));  // 11's ids left with it
  CHECK_FALSE(r.absent_since(id_of(2), 11));
  CHECK_FALSE(r.absent_since(id_of(3), 13));

  // A height that does not extend the set (a gap, or a block added again
  // after its write failed) starts it afresh there.
  r.add_block(20, {id_of(4)});
  CHECK(r.from_height() == 20);
  CHECK_FALSE(r.absent_since(id_of(5), 18));
  CHECK(r.absent_since(id_of(5), 19));
  CHECK_FALSE(r.absent_since(id_of(4), 19));
  CHECK(r.absent_since(id_of(2), 19));  // ids from before the restart are gone
  r.add_block(20, {id_of(6)});
  CHECK(r.absent_since(id_of(4), 19));
  CHECK_FALSE(r.absent_since(id_of(6), 19));

  r.reset(30);
  CHECK(r.from_height() == 31);
  CHECK(r.absent_since(id_of(6), 30));
  CHECK_FALSE(r.absent_since(id_of(6), 29));
}

TEST_CASE("ledger: true candidate facts give the block prepare builds without them") {
  Net maker;  // makes the transactions; both ledgers below execute them
  Net plain;
  Net told;
  std::vector<Bytes> enc;
  std::vector<std::string> codes_plain, codes_told;
  std::uint64_t t = plain.clock_ms;
  auto step = [&](const std::vector<Tx>& txs, std::uint64_t absent_at) {
    t += 1000;
    auto facts = facts_for(txs, absent_at, enc);
    PreparedBlock a = plain.prepare_on(txs, t, codes_plain);
    PreparedBlock b = told.prepare_on(txs, t, codes_told, nullptr, facts);
    CHECK(codes_plain == codes_told);
    CHECK(a.block.header.hash() == b.block.header.hash());
    CHECK(a.writes.entries().size() == b.writes.entries().size());
    plain.commit_prepared(a);
    told.commit_prepared(b);
    return codes_told;
  };
  std::vector<Tx> first;
  for (int i = 0; i < 6; ++i) first.push_back(maker.reg("facts-1-" + std::to_string(i)));
  CHECK(step(first, 0) == std::vector<std::string>(6, ""));

  // Replays stamped at heights before their commit: still refused, from the
  // held ids of block 1.
  std::vector<Tx> second{maker.reg("facts-2-0"), first[1], first[4]};
  CHECK(step(second, 0) == std::vector<std::string>{"", "DUPLICATE_TX", "DUPLICATE_TX"});

  // Pipelined: the third block on an uncommitted parent that holds a
  // transaction stamped absent at the head.
  std::vector<Tx> p3{maker.reg("facts-3-0"), maker.reg("facts-3-1")};
  std::vector<Tx> p4{maker.reg("facts-4-0"), p3[1]};
  const std::uint64_t head = told.ledger->head().height;
  std::vector<Bytes> enc3, enc4;
  auto f3 = facts_for(p3, head, enc3);
  auto f4 = facts_for(p4, head, enc4);
  PreparedBlock a3 = plain.prepare_on(p3, t + 1000, codes_plain);
  PreparedBlock b3 = told.prepare_on(p3, t + 1000, codes_told, nullptr, f3);
  PreparedBlock a4 = plain.prepare_on(p4, t + 2000, codes_plain, &a3);
  PreparedBlock b4 = told.prepare_on(p4, t + 2000, codes_told, &b3, f4);
  CHECK(codes_told == std::vector<std::string>{"", "DUPLICATE_TX"});
  CHECK(codes_plain == codes_told);
  CHECK(a4.block.header.hash() == b4.block.header.hash());
  plain.commit_prepared(a3);
  told.commit_prepared(b3);
  plain.commit_prepared(a4);
  told.commit_prepared(b4);
  t += 2000;

  // After a reopen nothing is held: an old stamp goes to the store.
  told.reopen();
  CHECK(step({first[0], maker.reg("facts-5-0")}, 1) ==
        std::vector<std::string>{"DUPLICATE_TX", ""});
  CHECK(plain.ledger->head().header_hash == told.ledger->head().header_hash);
  CHECK(plain.ledger->head().state_root == told.ledger->head().state_root);
}

TEST_CASE(
    "ledger: prepare believes an absent stamp it can cover (a canary for the lookup it saves)") {
  // The caller vouches for its stamps. A false one, here "absent at the very
  // height that committed it", is believed once the Ledger holds no block
  // above it (reopened there): that shows prepare skips the store when it
  // may. The same replay without a stamp is refused as a replay.
  Net net;
  const Tx t = net.reg("canary");
  REQUIRE(net.commit_one(t).is_ok());
  net.reopen();
  const std::uint64_t head = net.ledger->head().height;
  std::vector<Bytes> enc;
  std::vector<std::string> codes;
  auto lying = facts_for({t}, head, enc);
  net.prepare_on({t}, net.clock_ms + 1000, codes, nullptr, lying);
  // Past the id check, the register meets its own record.
  CHECK(codes == std::vector<std::string>{"DUPLICATE_RECORD"});
  net.prepare_on({t}, net.clock_ms + 1000, codes);
  CHECK(codes == std::vector<std::string>{"DUPLICATE_TX"});
  // A stamp below the committing block is covered and refused.
  auto true_stamp = facts_for({t}, head - 1, enc);
  net.prepare_on({t}, net.clock_ms + 1000, codes, nullptr, true_stamp);
  CHECK(codes == std::vector<std::string>{"DUPLICATE_TX"});
}

TEST_CASE(
    "ledger: prepare takes the log leaf it is given with the encoding, and hashes without one") {
  // The caller vouches for the leaf as for the id: a false one goes into the
  // log root (a canary that the hash it saves is really not recomputed).
  Net maker;
  Net a;
  Net b;
  Net c;
  std::vector<Tx> txs{maker.reg("leaf-0"), maker.reg("leaf-1")};
  std::vector<Bytes> enc;
  auto facts = facts_for(txs, CandidateFacts::kUnknown, enc);
  std::vector<std::string> codes;
  const std::uint64_t t = a.clock_ms + 1000;
  PreparedBlock plain = a.prepare_on(txs, t, codes);
  // Without a leaf, prepare hashes: the same block.
  auto no_leaf = facts;
  for (auto& f : no_leaf) f.leaf.reset();
  PreparedBlock hashed = b.prepare_on(txs, t, codes, nullptr, no_leaf);
  CHECK(hashed.block.header.hash() == plain.block.header.hash());
  auto wrong = facts;
  wrong[1].leaf = crypto::sha256(as_bytes("not the leaf"));
  PreparedBlock believed = c.prepare_on(txs, t, codes, nullptr, wrong);
  CHECK(believed.block.header.log_root != plain.block.header.log_root);
}
