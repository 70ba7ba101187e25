#include <set>

#include "emledger/crypto/hex.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;
using emledger::testing::store_dump;

namespace {

// Runs `a`'s block at `h` on `b` (whose head is below it), as a follower
// does: execute, then commit with `a`'s certificate.
void follow(Net& a, Net& b, std::uint64_t h) {
  auto block = a.ledger->block(h);
  REQUIRE((block.is_ok() && block->has_value()));
  auto p = b.ledger->execute(**block);
  REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
  REQUIRE(b.ledger->commit(*p, **a.ledger->certificate(h)).is_ok());
}
void follow(Net& a, Net& b) { follow(a, b, a.ledger->head().height); }

// Opening a fresh store with `o` fails with CONFIG_ERROR and writes nothing.
void check_refused_before_writing(const LedgerOptions& o) {
  emledger::testing::TempDir dir;
  auto store = open_leveldb(dir.str() + "/db");
  REQUIRE(store.is_ok());
  auto l = Ledger::open(std::move(*store), Net().genesis, o);
  REQUIRE_FALSE(l.is_ok());
  CHECK(l.status().code() == "CONFIG_ERROR");
  auto again = open_leveldb(dir.str() + "/db");
  REQUIRE(again.is_ok());
  int keys = 0;
  REQUIRE((*again)->scan({}, {}, [&](ByteView, ByteView) { return ++keys, true; }).is_ok());
  CHECK(keys == 0);
}

}  // namespace

TEST_CASE("ledger: genesis opens once, reopens, and refuses another genesis") {
  Net net;
  CHECK(net.ledger->head().height == 0);
  CHECK(net.ledger->head().header_hash == net.genesis.hash());
  auto org = net.ledger->state_value(org_state_key("a.issuer"));
  REQUIRE(org.is_ok());
  REQUIRE(org->has_value());
  CHECK(decode<Org>(**org)->id == "a.issuer");
  net.reopen();
  CHECK(net.ledger->head().height == 0);

  Genesis other = net.genesis;
  other.chain_id = "other-chain";
  net.ledger.reset();
  auto store = open_leveldb(net.dir.str() + "/db");
  REQUIRE(store.is_ok());
  auto l = Ledger::open(std::move(*store), other);
  REQUIRE_FALSE(l.is_ok());
  CHECK(l.status().code() == "GENESIS_MISMATCH");
}

TEST_CASE("ledger: register commits a record, its index and its transaction") {
  Net net;
  Tx t = net.reg("file-1");
  REQUIRE(net.ledger->check_tx_stateless(t).is_ok());
  CHECK(net.commit_one(t).is_ok());
  auto head = net.ledger->head();
  CHECK(head.height == 1);
  CHECK(head.log_size == 1);
  auto rec = net.ledger->record(record_id_for(t.id()));
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->issuer == "a.issuer");
  CHECK((*rec)->status == static_cast<std::uint8_t>(RecordStatus::kActive));
  CHECK((*rec)->anchor_tx == t.id());
  auto by_hash = net.ledger->records_by_hash(Net::body("file-1").content_hash);
  REQUIRE(by_hash.is_ok());
  REQUIRE(by_hash->size() == 1);
  auto entry = net.ledger->tx_entry(t.id());
  REQUIRE(entry.is_ok());
  REQUIRE(entry->has_value());
  CHECK((*entry)->height == 1);
  CHECK((*entry)->log_index == 0);
  auto blk = net.ledger->block(1);
  REQUIRE(blk.is_ok());
  REQUIRE(blk->has_value());
  CHECK((*blk)->txs.size() == 1);
  CHECK((*blk)->header.payload_digest == payload_digest({t.id()}));
  // The head survives a reopen without replay.
  net.reopen();
  CHECK(net.ledger->head().height == 1);
  CHECK(net.ledger->head().state_root == head.state_root);
}

TEST_CASE("ledger: stateless checks name what is wrong") {
  Net net;
  Tx good = net.reg("x");
  Tx t = good;
  t.signature[5] ^= 1;
  CHECK(net.ledger->check_tx_stateless(t).code() == "BAD_SIGNATURE");
  t = good;
  t.body.chain_id = "other";
  t = sign_tx(t.body, net.issuer_a);
  CHECK(net.ledger->check_tx_stateless(t).code() == "WRONG_CHAIN");
  t = good;
  t.body.signer_org = "nobody";
  t = sign_tx(t.body, net.issuer_a);
  CHECK(net.ledger->check_tx_stateless(t).code() == "UNKNOWN_ORG");
  t = good;
  t.body.key_id = 9;
  t = sign_tx(t.body, net.issuer_a);
  CHECK(net.ledger->check_tx_stateless(t).code() == "UNKNOWN_KEY");
  // Signed by another org's key under a.issuer's name.
  t = sign_tx(good.body, net.issuer_b);
  CHECK(net.ledger->check_tx_stateless(t).code() == "BAD_SIGNATURE");
  CHECK(parse_tx(Bytes(kTxBytesMax + 1, 0)).status().code() == "TX_TOO_LARGE");
  CHECK(parse_tx(Bytes{1, 2, 3}).status().code() == "TX_MALFORMED");
}

TEST_CASE("ledger: checking many at once gives each one's own status") {
  // check_txs_stateless verifies the org signatures together (ADR 039); each
  // status must still be check_tx_stateless's, in order.
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 40; ++i) txs.push_back(net.reg("many-" + std::to_string(i)));
  for (int i = 0; i < 10; ++i)
    txs.push_back(net.tx(net.issuer_b, "b.issuer", TxType::kRegisterRecord,
                         RegisterRecord{Net::body("b-" + std::to_string(i))}));
  txs[3].signature[7] ^= 1;
  txs[20] = sign_tx(txs[20].body, net.issuer_b);  // a.issuer's name, b.issuer's key
  txs[41].signature[40] ^= 1;
  txs[30].body.chain_id = "other";
  txs[30] = sign_tx(txs[30].body, net.issuer_a);
  txs[45].body.signer_org = "nobody";
  std::vector<const Tx*> ptrs;
  for (const auto& t : txs) ptrs.push_back(&t);
  const auto st = net.ledger->check_txs_stateless(ptrs);
  REQUIRE(st.size() == txs.size());
  std::size_t ok = 0;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    CAPTURE(i);
    CHECK(st[i].code() == net.ledger->check_tx_stateless(txs[i]).code());
    ok += st[i].is_ok();
  }
  CHECK(ok == txs.size() - 5);
  CHECK(st[3].code() == "BAD_SIGNATURE");
  CHECK(st[20].code() == "BAD_SIGNATURE");
  CHECK(st[41].code() == "BAD_SIGNATURE");
  CHECK(st[30].code() == "WRONG_CHAIN");
  CHECK(st[45].code() == "UNKNOWN_ORG");
  CHECK(net.ledger->check_txs_stateless({}).empty());
}

TEST_CASE("ledger: stateful rules reject and change nothing") {
  Net net;
  Tx t = net.reg("doc");
  REQUIRE(net.commit_one(t).is_ok());
  const Hash rid = record_id_for(t.id());
  auto expect_rejected = [&](const Tx& bad, const char* code) {
    const auto before = net.ledger->head();
    std::vector<TxOutcome> oc;
    auto p = net.ledger->prepare({bad}, net.clock_ms + 1, 0, net.validator.public_key(), false, oc);
    REQUIRE(p.is_ok());
    REQUIRE(oc.size() == 1);
    CHECK(oc[0].status.code() == code);
    CHECK(p->block.txs.empty());
    CHECK(p->block.header.state_root == before.state_root);
    CHECK(p->block.header.log_size == before.log_size);
  };
  SUBCASE("replay of a committed transaction") { expect_rejected(t, "DUPLICATE_TX"); }
  SUBCASE("org without the issuer role") {
    expect_rejected(net.tx(net.consumer, "c.consumer", TxType::kRegisterRecord,
                           RegisterRecord{Net::body("other")}),
                    "NOT_ISSUER");
  }
  SUBCASE("revoking another issuer's record") {
    expect_rejected(net.tx(net.issuer_b, "b.issuer", TxType::kRevokeRecord, RevokeRecord{rid, 3}),
                    "NOT_RECORD_ISSUER");
  }
  SUBCASE("revoking an unknown record") {
    Hash nothing{};
    nothing[0] = 7;
    expect_rejected(
        net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord, RevokeRecord{nothing, 3}),
        "RECORD_NOT_FOUND");
  }
  SUBCASE("expired transaction") {
    Tx e = net.reg("late");
    e.body.expires_at_height = 1;  // the next block is height 2
    e = sign_tx(e.body, net.issuer_a);
    expect_rejected(e, "EXPIRED");
  }
  SUBCASE("expiry too far ahead") {
    expect_rejected(net.tx(net.issuer_a, "a.issuer", TxType::kRegisterRecord,
                           RegisterRecord{Net::body("far")}, kTxLifetimeBlocksMax + 10),
                    "EXPIRY_TOO_FAR");
  }
  SUBCASE("same issuer anchoring the same content twice") {
    expect_rejected(net.reg("doc"), "DUPLICATE_RECORD");
  }
  SUBCASE("renewing a material") {
    Tx m = net.reg("material", RecordKind::kMaterial);
    REQUIRE(net.commit_one(m).is_ok());
    expect_rejected(net.tx(net.issuer_a, "a.issuer", TxType::kRenewLicense,
                           RenewLicense{record_id_for(m.id()), net.clock_ms + 100000}),
                    "NOT_A_LICENSE");
  }
  SUBCASE("malformed payload") {
    TxBody b = make_body(TxType::kRevokeRecord, RegisterRecord{Net::body("p")});
    b.chain_id = net.genesis.chain_id;
    b.signer_org = "a.issuer";
    b.key_id = 1;
    b.expires_at_height = 50;
    expect_rejected(sign_tx(b, net.issuer_a), "INVALID_PAYLOAD");
  }
}

TEST_CASE("ledger: lifecycle of a license: change, renew, revoke") {
  Net net;
  RecordBody b = Net::body("v1");
  b.valid_from_ms = 1;
  b.valid_until_ms = net.clock_ms + 10'000'000;
  Tx r = net.tx(net.issuer_a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{b});
  REQUIRE(net.commit_one(r).is_ok());
  const Hash v1 = record_id_for(r.id());

  RecordBody b2 = b;
  b2.content_hash = crypto::sha256(as_bytes("v2"));
  Tx c = net.tx(net.issuer_a, "a.issuer", TxType::kChangeLicense, ChangeLicense{v1, b2});
  REQUIRE(net.commit_one(c).is_ok());
  const Hash v2 = record_id_for(c.id());
  auto old = net.ledger->record(v1);
  auto neu = net.ledger->record(v2);
  REQUIRE((old.is_ok() && old->has_value() && neu.is_ok() && neu->has_value()));
  CHECK((*old)->status == static_cast<std::uint8_t>(RecordStatus::kSuperseded));
  CHECK((*old)->superseded_by == v2);
  CHECK((*neu)->supersedes == v1);
  CHECK((*neu)->version == 2);
  // The superseded version cannot be changed or revoked again.
  CHECK(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord, RevokeRecord{v1, 1}))
            .code() == "ILLEGAL_TRANSITION");

  std::uint64_t until = b.valid_until_ms + 5'000'000;
  REQUIRE(net.commit_one(
                 net.tx(net.issuer_a, "a.issuer", TxType::kRenewLicense, RenewLicense{v2, until}))
              .is_ok());
  CHECK((*net.ledger->record(v2))->body.valid_until_ms == until);
  // A renewal that shortens the window is refused.
  CHECK(net.commit_one(
               net.tx(net.issuer_a, "a.issuer", TxType::kRenewLicense, RenewLicense{v2, until - 1}))
            .code() == "INVALID_PAYLOAD");

  REQUIRE(
      net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord, RevokeRecord{v2, 42}))
          .is_ok());
  auto revoked = net.ledger->record(v2);
  CHECK((*revoked)->status == static_cast<std::uint8_t>(RecordStatus::kRevoked));
  CHECK((*revoked)->revoke_reason == 42);
  CHECK(
      net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord, RevokeRecord{v2, 42}))
          .code() == "ILLEGAL_TRANSITION");
}

TEST_CASE("ledger: a block re-executed on another node gives the identical header") {
  Net a;
  Net b;  // same genesis and keys, separate LevelDB
  std::vector<Tx> txs;
  for (int i = 0; i < 20; ++i) txs.push_back(a.reg("doc-" + std::to_string(i)));
  txs.push_back(txs[3]);  // a duplicate inside the block is dropped
  auto oc = a.commit(txs);
  CHECK(oc.back().status.code() == "DUPLICATE_TX");
  auto blk = a.ledger->block(1);
  REQUIRE((blk.is_ok() && blk->has_value()));
  auto p = b.ledger->execute(**blk);
  REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
  CHECK(p->block.header.hash() == (*blk)->header.hash());
  Certificate cert = **a.ledger->certificate(1);
  REQUIRE(b.ledger->commit(*p, cert).is_ok());
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);
  CHECK(b.ledger->head().log_root == a.ledger->head().log_root);

  // A tampered block is refused.
  Block bad = **blk;
  bad.header.state_root[0] ^= 1;
  Net c;
  CHECK(c.ledger->execute(bad).status().code() == "BLOCK_INVALID");
}

TEST_CASE("ledger: the state cache's size changes no stored byte") {
  // Two nodes run the same blocks, one with the smallest cache (1 MiB, whose
  // ring blocks of 300 registers go round), one with the default.
  Net a;
  LedgerOptions smallest;
  smallest.state_cache_mib = kStateCacheMibMin;
  Net b(smallest);
  std::vector<Hash> ids;
  for (int blk = 0; blk < 4; ++blk) {
    std::vector<Tx> txs;
    for (int i = 0; i < 300; ++i) {
      txs.push_back(a.reg("cache-" + std::to_string(blk) + "-" + std::to_string(i)));
      ids.push_back(record_id_for(txs.back().id()));
    }
    a.commit(txs);
    follow(a, b);
  }
  const auto da = store_dump(*a.ledger);
  CHECK(da.size() > 4 * 300 * 4);  // the blocks' tree nodes, at least
  CHECK(da == store_dump(*b.ledger));
  // Proofs walk the tree through the small cache as well.
  for (std::size_t i = 0; i < ids.size(); i += 97) {
    const Hash& id = ids[i];
    auto pa = a.ledger->state_proof(record_state_key(id), std::nullopt);
    auto pb = b.ledger->state_proof(record_state_key(id), std::nullopt);
    REQUIRE((pa.is_ok() && pb.is_ok()));
    CHECK(encode(*pa) == encode(*pb));
    CHECK(pb->present);
    CHECK(verify_state_proof(*pb, b.ledger->head().state_root));
  }
}

TEST_CASE("ledger: the state update's thread count changes no stored byte") {
  // Blocks of 300 registers write 600 state keys: above the threshold, so the
  // ledger with 4 threads splits each update (ADR 040); b follows a's blocks.
  LedgerOptions many;
  many.state_update_threads = 4;
  Net a(many);
  Net b;
  LedgerOptions pruning = many;  // with the trace pruning keeps (ADR 021)
  pruning.state_retention_blocks = kStateRetentionBlocksMin;
  Net c(pruning);
  LedgerOptions pruning_one;
  pruning_one.state_retention_blocks = kStateRetentionBlocksMin;
  Net d(pruning_one);
  for (int blk = 0; blk < 4; ++blk) {
    std::vector<Tx> txs;
    for (int i = 0; i < 300; ++i)
      txs.push_back(a.reg("threads-" + std::to_string(blk) + "-" + std::to_string(i)));
    a.commit(txs);
    follow(a, b);
    follow(a, c);
    follow(a, d);
  }
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);
  CHECK(store_dump(*a.ledger) == store_dump(*b.ledger));
  CHECK(store_dump(*c.ledger) == store_dump(*d.ledger));

  // Out of bounds: refused before anything is written.
  for (unsigned threads : {0u, kStateUpdateThreadsMax + 1}) {
    LedgerOptions o;
    o.state_update_threads = threads;
    check_refused_before_writing(o);
  }
}

TEST_CASE("ledger: a state cache outside its bounds is refused before anything is written") {
  for (std::uint64_t mib : {kStateCacheMibMin - 1, kStateCacheMibMax + 1}) {
    LedgerOptions o;
    o.state_cache_mib = mib;
    check_refused_before_writing(o);
  }
}

namespace {

std::set<Hash> stored_state_pages(const Ledger& l) {
  std::set<Hash> out;
  auto view = l.read_view();
  REQUIRE(view->scan(Bytes{'n'}, Bytes{'n'},
                     [&](ByteView k, ByteView) {
                       Hash h;
                       std::copy(k.begin() + 1, k.end(), h.begin());
                       out.insert(h);
                       return true;
                     })
              .is_ok());
  return out;
}

std::vector<std::uint64_t> stale_list_heights(const Ledger& l) {
  std::vector<std::uint64_t> out;
  auto view = l.read_view();
  REQUIRE(view->scan(Bytes{'k'}, Bytes{'k'},
                     [&](ByteView k, ByteView) {
                       std::uint64_t h = 0;
                       for (std::size_t i = 1; i < 9; ++i) h = (h << 8) | k[i];
                       out.push_back(h);
                       return true;
                     })
              .is_ok());
  return out;
}

// The nodes of every state tree from `from` (>= 1) to the head.
std::set<Hash> pages_of_trees(Ledger& l, std::uint64_t from) {
  std::set<Hash> out;
  for (std::uint64_t h = from; h <= l.head().height; ++h) {
    auto hd = l.header(h);
    REQUIRE((hd.is_ok() && hd->has_value()));
    auto n = emledger::testing::reachable_state_pages(l.store(), (*hd)->state_root);
    out.insert(n.begin(), n.end());
  }
  return out;
}

// One block of five registers and a revocation of an earlier record (a key
// whose value changes, so its old leaf is superseded).
void churn_block(Net& net, std::vector<Hash>& ids, int blk) {
  std::vector<Tx> txs;
  for (int i = 0; i < 5; ++i) {
    txs.push_back(net.reg("prune-" + std::to_string(blk) + "-" + std::to_string(i)));
    ids.push_back(record_id_for(txs.back().id()));
  }
  if (ids.size() > 10) {
    const Hash& old = ids[ids.size() - 10];
    txs.push_back(net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord, RevokeRecord{old, 7}));
  }
  for (const auto& oc : net.commit(txs)) REQUIRE(oc.status.is_ok());
}

// What a ledger with a window of `w` blocks must hold: exactly the nodes of
// the trees from pruned_below() up, no stale list at or below it, and proofs
// there but PRUNED below it.
void check_window(Net& net, std::uint64_t w, const Hash& some_record) {
  Ledger& l = *net.ledger;
  const std::uint64_t head = l.head().height;
  const std::uint64_t floor = l.pruned_below();
  CAPTURE(head);
  CAPTURE(floor);
  if (head < w) {
    CHECK(floor == 0);
    return;
  }
  CHECK(floor >= 1);
  CHECK(floor <= head - w + 1);
  CHECK(stored_state_pages(l) == pages_of_trees(l, floor));
  for (std::uint64_t s : stale_list_heights(l)) CHECK(s > floor);
  const Bytes key = record_state_key(some_record);
  auto at = l.state_proof(key, floor);
  REQUIRE_MESSAGE(at.is_ok(), at.status().to_string());
  CHECK(verify_state_proof(*at, (*l.header(floor))->state_root));
  if (floor > 1) CHECK(l.state_proof(key, floor - 1).status().code() == "PRUNED");
  auto now = l.state_proof(key, std::nullopt);
  REQUIRE(now.is_ok());
  CHECK(verify_state_proof(*now, l.head().state_root));
}

}  // namespace

TEST_CASE("ledger: a retention window keeps exactly the state trees of its last heights") {
  const std::uint64_t w = kStateRetentionBlocksMin;
  LedgerOptions o;
  o.state_retention_blocks = w;
  Net a(o);
  Net b(o);  // runs a's blocks as a follower: the same bytes on disk
  std::vector<Hash> ids;
  for (int blk = 0; blk < 30; ++blk) {
    churn_block(a, ids, blk);
    follow(a, b);
    const std::uint64_t h = a.ledger->head().height;
    check_window(a, w, ids.front());
    if (h >= w) CHECK(a.ledger->pruned_below() == h - w + 1);  // one list a block
  }
  CHECK(store_dump(*a.ledger) == store_dump(*b.ledger));
  // Every record is still readable at the head; the history of values stays.
  for (const Hash& id : ids) {
    auto r = a.ledger->record(id);
    REQUIRE((r.is_ok() && r->has_value()));
  }

  // A restart resumes where the last block left pruning.
  const std::uint64_t before = a.ledger->pruned_below();
  a.reopen();
  CHECK(a.ledger->pruned_below() == before);
  churn_block(a, ids, 100);
  check_window(a, w, ids.front());

  // A wider window keeps what is there and waits until the head passes it.
  a.options.state_retention_blocks = 4 * w;
  a.reopen();
  const std::uint64_t held = a.ledger->pruned_below();
  for (int blk = 0; blk < 10; ++blk) {
    churn_block(a, ids, 200 + blk);
    CHECK(a.ledger->pruned_below() == held);
    CHECK(stored_state_pages(*a.ledger) == pages_of_trees(*a.ledger, held));
  }
  // Narrowed again: at most kPruneListsPerBlockMax lists a block until the
  // window is caught up.
  a.options.state_retention_blocks = w;
  a.reopen();
  std::uint64_t floor = a.ledger->pruned_below();
  for (int blk = 0; blk < 6; ++blk) {
    churn_block(a, ids, 300 + blk);
    const std::uint64_t target = a.ledger->head().height - w + 1;
    const std::uint64_t now = a.ledger->pruned_below();
    CHECK(now == std::min(target, floor + kPruneListsPerBlockMax));
    floor = now;
    check_window(a, w, ids.front());
  }
  CHECK(floor == a.ledger->head().height - w + 1);
}

TEST_CASE("ledger: a revival marker keeps a node that an older stale list names") {
  // A revival needs a key to take back an earlier value, which the values of
  // these transactions never do (they carry heights); the marker a revival
  // writes is planted here, as block 12 would have written it for a node
  // superseded at height 10.
  const std::uint64_t w = kStateRetentionBlocksMin;
  LedgerOptions o;
  o.state_retention_blocks = w;
  Net net(o);
  std::vector<Hash> ids;
  for (int blk = 0; blk < 20; ++blk) churn_block(net, ids, blk);
  auto list = net.ledger->store().get(Bytes{'k', 0, 0, 0, 0, 0, 0, 0, 10});
  REQUIRE((list.is_ok() && list->has_value() && (*list)->size() >= 2 * kHashSize));
  Hash kept, gone;
  std::copy((*list)->begin(), (*list)->begin() + kHashSize, kept.begin());
  std::copy((*list)->begin() + kHashSize, (*list)->begin() + 2 * kHashSize, gone.begin());
  auto node_key = [](const Hash& h) {
    Bytes k{'n'};
    k.insert(k.end(), h.begin(), h.end());
    return k;
  };
  Bytes marker{'r', 0, 0, 0, 0, 0, 0, 0, 12};
  marker.insert(marker.end(), kept.begin(), kept.end());
  WriteBatch plant;
  plant.put(marker, Bytes{});
  REQUIRE(net.ledger->store().write(plant, true).is_ok());
  net.reopen();  // markers are loaded at open
  while (net.ledger->pruned_below() < 10) churn_block(net, ids, 100 + static_cast<int>(ids.size()));
  CHECK(net.ledger->store().get(node_key(kept))->has_value());
  CHECK_FALSE(net.ledger->store().get(node_key(gone))->has_value());
  CHECK(net.ledger->store().get(marker)->has_value());  // lists 11 and 12 may still need it
  while (net.ledger->pruned_below() < 12) churn_block(net, ids, 100 + static_cast<int>(ids.size()));
  CHECK_FALSE(net.ledger->store().get(marker)->has_value());
  CHECK(net.ledger->store().get(node_key(kept))->has_value());
}

TEST_CASE("ledger: an archive ledger keeps every tree and writes no pruning keys") {
  Net net;
  std::vector<Hash> ids;
  for (int blk = 0; blk < 20; ++blk) churn_block(net, ids, blk);
  CHECK(net.ledger->pruned_below() == 0);
  CHECK(stale_list_heights(*net.ledger).empty());
  auto view = net.ledger->read_view();
  int pruning_keys = 0;
  for (std::uint8_t tag : {'k', 'r', 'P'})
    REQUIRE(
        view->scan(Bytes{tag}, Bytes{tag}, [&](ByteView, ByteView) { return ++pruning_keys, true; })
            .is_ok());
  CHECK(pruning_keys == 0);
  const auto all = pages_of_trees(*net.ledger, 1);
  const auto kept = stored_state_pages(*net.ledger);
  CHECK(std::includes(kept.begin(), kept.end(), all.begin(), all.end()));
  auto first = net.ledger->state_proof(record_state_key(ids.front()), 1);
  REQUIRE(first.is_ok());
  CHECK(verify_state_proof(*first, (*net.ledger->header(1))->state_root));
}

TEST_CASE("ledger: a retention window out of bounds is refused before anything is written") {
  for (std::uint64_t w :
       {std::uint64_t{1}, kStateRetentionBlocksMin - 1, kStateRetentionBlocksMax + 1}) {
    LedgerOptions o;
    o.state_retention_blocks = w;
    check_refused_before_writing(o);
  }
}

TEST_CASE("ledger: commit refuses a certificate that does not match") {
  Net net;
  std::vector<TxOutcome> oc;
  auto p = net.ledger->prepare({net.reg("z")}, net.clock_ms + 1, 0, net.validator.public_key(),
                               false, oc);
  REQUIRE(p.is_ok());
  Certificate cert;
  CHECK(net.ledger->commit(*p, cert).code() == "CERT_MISMATCH");
  sign_certificate(net.genesis, p->block.header, 0, net.validator, cert);
  cert.signatures[0].signature[0] ^= 1;
  CHECK(net.ledger->commit(*p, cert).code() == "CERT_BAD_SIGNATURE");
  cert.signatures.clear();
  CHECK(net.ledger->commit(*p, cert).code() == "CERT_NO_QUORUM");
  CHECK(net.ledger->head().height == 0);
}

TEST_CASE("ledger: proofs from the kernel verify against committed headers") {
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 5; ++i) txs.push_back(net.reg("p-" + std::to_string(i)));
  net.commit(txs);
  net.commit({net.reg("later")});
  auto h1 = **net.ledger->header(1);
  auto h2 = **net.ledger->header(2);
  auto incl = net.ledger->inclusion_proof(3, h2.log_size);
  REQUIRE(incl.is_ok());
  CHECK(verify_inclusion(log_leaf_hash(encode(txs[3])), *incl, h2.log_root));
  auto cons = net.ledger->consistency_proof(h1.log_size, h2.log_size);
  REQUIRE(cons.is_ok());
  CHECK(verify_consistency(*cons, h1.log_root, h2.log_root));
  auto sp = net.ledger->state_proof(record_state_key(record_id_for(txs[0].id())), 1);
  REQUIRE(sp.is_ok());
  CHECK(sp->present);
  CHECK(verify_state_proof(*sp, h1.state_root));
  auto absent = net.ledger->state_proof(record_state_key(Hash{}), std::nullopt);
  REQUIRE(absent.is_ok());
  CHECK_FALSE(absent->present);
  CHECK(verify_state_proof(*absent, h2.state_root));
  CHECK(net.ledger->inclusion_proof(0, h2.log_size + 1).status().code() == "PROOF_OUT_OF_RANGE");
}

TEST_CASE("ledger: the flat head index always agrees with the state tree") {
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 30; ++i) txs.push_back(net.reg("agree-" + std::to_string(i)));
  net.commit(txs);
  REQUIRE(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord,
                                RevokeRecord{record_id_for(txs[7].id()), 2}))
              .is_ok());
  const Hash root = net.ledger->head().state_root;
  StateTree tree(net.ledger->store());
  std::vector<Bytes> keys{org_state_key("a.issuer"), org_state_key("nobody")};
  for (const auto& t : txs) {
    keys.push_back(record_state_key(record_id_for(t.id())));
    keys.push_back(hash_index_state_key(decode<RegisterRecord>(t.body.payload)->body.content_hash));
  }
  for (const auto& k : keys) {
    auto flat = net.ledger->state_value(k);
    auto walked = tree.get(root, k);
    REQUIRE((flat.is_ok() && walked.is_ok()));
    CHECK(*flat == *walked);
  }
}

TEST_CASE("ledger: a block prepared on an uncommitted parent equals the sequential result") {
  Net piped;
  Net seq;
  std::vector<Tx> first, second;
  for (int i = 0; i < 10; ++i) first.push_back(piped.reg("pipe-a-" + std::to_string(i)));
  for (int i = 0; i < 10; ++i) second.push_back(piped.reg("pipe-b-" + std::to_string(i)));
  // The second block revokes a record of the first and replays one of its txs.
  second.push_back(piped.tx(piped.issuer_a, "a.issuer", TxType::kRevokeRecord,
                            RevokeRecord{record_id_for(first[2].id()), 9}));
  second.push_back(first[4]);

  std::vector<TxOutcome> oc1, oc2;
  auto p1 =
      piped.ledger->prepare(first, piped.clock_ms + 1, 1, piped.validator.public_key(), false, oc1);
  REQUIRE(p1.is_ok());
  auto p2 = piped.ledger->prepare(second, piped.clock_ms + 2, 2, piped.validator.public_key(),
                                  false, oc2, &*p1);
  REQUIRE(p2.is_ok());
  CHECK(oc2[10].status.is_ok());                   // sees the parent's record
  CHECK(oc2[11].status.code() == "DUPLICATE_TX");  // sees the parent's transaction
  // Committing out of order is refused; in order it succeeds.
  Certificate c1, c2;
  sign_certificate(piped.genesis, p1->block.header, 0, piped.validator, c1);
  sign_certificate(piped.genesis, p2->block.header, 0, piped.validator, c2);
  CHECK(piped.ledger->commit(*p2, c2).code() == "NOT_NEXT_BLOCK");
  REQUIRE(piped.ledger->commit(*p1, c1).is_ok());
  REQUIRE(piped.ledger->commit(*p2, c2).is_ok());

  for (auto* txs : {&first, &second}) {
    std::vector<TxOutcome> oc;
    auto p = seq.ledger->prepare(*txs, seq.clock_ms + (txs == &first ? 1 : 2),
                                 txs == &first ? 1 : 2, seq.validator.public_key(), false, oc);
    REQUIRE(p.is_ok());
    Certificate c;
    sign_certificate(seq.genesis, p->block.header, 0, seq.validator, c);
    REQUIRE(seq.ledger->commit(*p, c).is_ok());
  }
  CHECK(piped.ledger->head().header_hash == seq.ledger->head().header_hash);
  CHECK(piped.ledger->head().state_root == seq.ledger->head().state_root);
}

TEST_CASE("ledger: with a retention window, blocks prepared on uncommitted parents prune alike") {
  // Pairs of blocks, the second prepared while the first is in flight,
  // against the same blocks one at a time: the same bytes on disk.
  LedgerOptions o;
  o.state_retention_blocks = kStateRetentionBlocksMin;
  Net piped(o);
  Net seq(o);
  std::vector<Hash> ids;
  auto block_txs = [&](int blk) {
    std::vector<Tx> txs;
    for (int i = 0; i < 5; ++i) {
      txs.push_back(piped.reg("pair-" + std::to_string(blk) + "-" + std::to_string(i)));
      ids.push_back(record_id_for(txs.back().id()));
    }
    if (ids.size() > 10)
      txs.push_back(piped.tx(piped.issuer_a, "a.issuer", TxType::kRevokeRecord,
                             RevokeRecord{ids[ids.size() - 8], 3}));
    return txs;
  };
  for (int pair = 0; pair < 20; ++pair) {
    const auto first = block_txs(2 * pair);
    const auto second = block_txs(2 * pair + 1);
    const std::uint64_t t = piped.clock_ms + 2000 * static_cast<std::uint64_t>(pair + 1);
    std::vector<TxOutcome> oc1, oc2;
    auto p1 = piped.ledger->prepare(first, t, 1, piped.validator.public_key(), false, oc1);
    REQUIRE(p1.is_ok());
    auto p2 =
        piped.ledger->prepare(second, t + 1, 2, piped.validator.public_key(), false, oc2, &*p1);
    REQUIRE(p2.is_ok());
    for (const auto& oc : oc1) REQUIRE(oc.status.is_ok());
    for (const auto& oc : oc2) REQUIRE(oc.status.is_ok());
    for (const PreparedBlock* p : {&*p1, &*p2}) {
      Certificate c;
      sign_certificate(piped.genesis, p->block.header, 0, piped.validator, c);
      REQUIRE(piped.ledger->commit(*p, c).is_ok());
    }
    follow(piped, seq, piped.ledger->head().height - 1);
    follow(piped, seq);
  }
  CHECK(store_dump(*piped.ledger) == store_dump(*seq.ledger));
  CHECK(piped.ledger->head().height == 40);
  CHECK(piped.ledger->pruned_below() == 40 - kStateRetentionBlocksMin + 1);
  check_window(piped, kStateRetentionBlocksMin, ids.front());
}
