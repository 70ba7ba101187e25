// State snapshots (snapshot.hpp, docs/formats/snapshot.md): a restored
// ledger answers like the one that executed every block, executes the next
// block identically, still refuses replays, and a damaged or foreign
// snapshot is refused.
#include "emledger/ledger/snapshot.hpp"

#include <chrono>
#include <thread>

#include "emledger/ledger/bundle.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;
using emledger::testing::TempDir;
using emledger::testing::wait_for_filters;

namespace {

const Hash kHolder = crypto::sha256(as_bytes("holder-1"));  // Net::body's holder_ref

Hash file_hash(std::string_view content) { return crypto::sha256(as_bytes(content)); }

Bytes snapshot_of(const Ledger& l, std::uint64_t window = kTxLifetimeBlocksMax,
                  SnapshotInfo* info = nullptr) {
  Bytes out;
  auto r = write_snapshot(
      l,
      [&](ByteView b) {
        out.insert(out.end(), b.begin(), b.end());
        return Status::ok();
      },
      window);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK(r->bytes == out.size());
  if (info) *info = *r;
  return out;
}

SnapshotSource source_of(const Bytes& bytes) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&bytes, pos](std::span<std::uint8_t> out) -> Result<std::size_t> {
    const std::size_t n = std::min(out.size(), bytes.size() - *pos);
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(*pos), n, out.begin());
    *pos += n;
    return n;
  };
}

// A restored ledger in its own directory.
struct Restored {
  TempDir dir;
  std::unique_ptr<KvStore> target;
  Result<SnapshotInfo> info = Status::error("UNSET", "");

  Restored(const Bytes& snapshot, const Genesis& genesis,
           std::uint64_t window_min = kTxLifetimeBlocksMax) {
    auto t = open_leveldb(dir.str() + "/db");
    REQUIRE(t.is_ok());
    target = std::move(*t);
    auto scratch = open_leveldb(dir.str() + "/sort");
    REQUIRE(scratch.is_ok());
    info = import_snapshot(source_of(snapshot), genesis, *target, **scratch, window_min);
  }
  // Whether the import left anything that Ledger::open would take for a ledger.
  bool has_head() const {
    auto h = target->get(Bytes{'H'});
    REQUIRE(h.is_ok());
    return h->has_value();
  }
  std::unique_ptr<Ledger> open(const Genesis& genesis) {
    REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
    auto l = Ledger::open(std::move(target), genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    return std::move(*l);
  }
};

// A chain with a holder binding, records (one superseded), a grant and
// accesses over several blocks.
struct Chain : Net {
  std::vector<Tx> committed;
  Hash record{};
  Hash grant{};

  Status add(const Tx& t) {
    Status st = commit_one(t);
    if (st.is_ok()) committed.push_back(t);
    return st;
  }

  void build(int extra_blocks) {
    REQUIRE(add(tx(identity, "i.identity", TxType::kBindHolder,
                   BindHolder{kHolder, holder.public_key()}))
                .is_ok());
    Tx r = reg("license-v1");
    REQUIRE(add(r).is_ok());
    record = record_id_for(r.id());
    REQUIRE(add(tx(issuer_a, "a.issuer", TxType::kChangeLicense,
                   ChangeLicense{record, body("license-v2")}))
                .is_ok());
    record = record_id_for(committed.back().id());
    GrantTerms t;
    t.holder_ref = kHolder;
    t.grantee = "c.consumer";
    t.record_ids = {record};
    t.service_code = "svc.business-permit";
    t.case_id = "case-42";
    t.not_after_ms = clock_ms + 100'000'000;
    t.max_uses = 100;
    Tx g = holder_tx(holder, 1, TxType::kCreateGrant, CreateGrant{t});
    REQUIRE(add(g).is_ok());
    grant = grant_id_for(g.id());
    for (int i = 0; i < extra_blocks; ++i) {
      std::vector<Tx> txs{reg("file-" + std::to_string(i)),
                          tx(consumer, "c.consumer", TxType::kRecordAccess,
                             RecordAccess{record, grant, "case-42"})};
      auto oc = commit(txs);
      for (std::size_t k = 0; k < oc.size(); ++k) {
        REQUIRE_MESSAGE(oc[k].status.is_ok(), oc[k].status.to_string());
        committed.push_back(txs[k]);
      }
    }
  }
};

std::vector<Hash> ids(const Result<std::vector<Ledger::Listed>>& listed) {
  REQUIRE(listed.is_ok());
  std::vector<Hash> out;
  for (const auto& l : *listed) out.push_back(l.id);
  return out;
}

// Everything the API reads at the head, compared between two ledgers.
void check_same_head_reads(const Ledger& a, const Ledger& b) {
  CHECK(encode(a.head()) == encode(b.head()));
  const std::uint64_t s = a.head().height;
  CHECK(encode(**a.header(s)) == encode(**b.header(s)));
  CHECK(encode(**a.block(s)) == encode(**b.block(s)));
  CHECK(encode_finality_proof(**a.finality_proof(s)) ==
        encode_finality_proof(**b.finality_proof(s)));
  for (auto list :
       {Ledger::HolderList::kRecords, Ledger::HolderList::kGrants, Ledger::HolderList::kAccesses})
    CHECK(ids(a.holder_list(list, kHolder, 1000)) == ids(b.holder_list(list, kHolder, 1000)));
  CHECK(ids(a.accesses(0, UINT64_MAX, 1000)) == ids(b.accesses(0, UINT64_MAX, 1000)));
  const std::uint64_t n = a.head().log_size;
  for (std::uint64_t i = 0; i < n; ++i) {
    CHECK(*a.log_leaf(i) == *b.log_leaf(i));
    CHECK(encode(*a.inclusion_proof(i, n)) == encode(*b.inclusion_proof(i, n)));
  }
  for (std::uint64_t m = 1; m < n; ++m)
    CHECK(encode(*a.consistency_proof(m, n)) == encode(*b.consistency_proof(m, n)));
}

// Every state key of `a` reads the same, with the same proof, on `b`.
void check_same_state(Ledger& a, Ledger& b) {
  std::size_t keys = 0;
  REQUIRE(a.store()
              .scan(Bytes{'s'}, {},
                    [&](ByteView k, ByteView) {
                      const Bytes key(k.begin() + 1, k.end());
                      auto va = a.state_value(key);
                      auto vb = b.state_value(key);
                      REQUIRE((va.is_ok() && vb.is_ok()));
                      CHECK(*va == *vb);
                      CHECK(encode(*a.state_proof(key, std::nullopt)) ==
                            encode(*b.state_proof(key, std::nullopt)));
                      ++keys;
                      return true;
                    })
              .is_ok());
  CHECK(keys > 10);
}

}  // namespace

TEST_CASE("snapshot: a restored ledger reads, proves and executes like the original") {
  Chain c;
  c.build(6);
  // Two blocks of their own views (the fixture's are all 0), so that the
  // view of the block below the snapshot's is something to get right.
  for (std::uint64_t view : {7, 9}) {
    std::vector<TxOutcome> oc;
    c.clock_ms += 1000;
    Tx t = c.reg("view-" + std::to_string(view));
    auto p = c.ledger->prepare({t}, c.clock_ms, view, c.validator.public_key(), false, oc);
    REQUIRE(p.is_ok());
    Certificate cert;
    sign_certificate(c.genesis, p->block.header, 0, c.validator, cert);
    REQUIRE(c.ledger->commit(*p, cert).is_ok());
    c.committed.push_back(t);
  }
  SnapshotInfo written;
  const Bytes snap = snapshot_of(*c.ledger, kTxLifetimeBlocksMax, &written);
  const std::uint64_t s = c.ledger->head().height;
  CHECK(written.height == s);
  CHECK(written.window_first == 1);
  CHECK(written.counts.headers == s - 1);
  CHECK(written.counts.window_txs == c.committed.size());
  CHECK(written.counts.anchor_txs == 0);  // every anchor is inside the window

  Restored r(snap, c.genesis);
  REQUIRE_MESSAGE(r.info.is_ok(), r.info.status().to_string());
  CHECK(encode(r.info->counts) == encode(written.counts));
  auto restored = r.open(c.genesis);
  CHECK(restored->base_height() == s);
  CHECK(restored->base_parent_view() == 7);
  CHECK(c.ledger->base_height() == 0);
  CHECK(c.ledger->base_parent_view() == 0);
  check_same_head_reads(*c.ledger, *restored);
  check_same_state(*c.ledger, *restored);
  // History below the snapshot is not held.
  CHECK_FALSE(restored->header(s - 1)->has_value());
  CHECK_FALSE(restored->block(s - 1)->has_value());
  // Every committed transaction is known (the window reaches genesis).
  for (const Tx& t : c.committed)
    CHECK(encode(**restored->tx_entry(t.id())) == encode(**c.ledger->tx_entry(t.id())));

  // A proof bundle from the restored ledger verifies and equals the original's.
  auto ba = c.ledger->bundle_for_hash(file_hash("license-v2"));
  auto bb = restored->bundle_for_hash(file_hash("license-v2"));
  REQUIRE((ba.is_ok() && bb.is_ok()));
  CHECK(encode(*ba) == encode(*bb));
  CHECK(verify_bundle(c.genesis, *bb, file_hash("license-v2"))->overall == Verdict::kValid);

  // The next block executes to the same header on both; a replay is refused,
  // also once the committed-id filter is complete (ADR 023: a restored store
  // lists the window's ids only under 'x').
  wait_for_filters(*restored);
  for (const Tx& t : c.committed) CHECK_FALSE(restored->tx_surely_uncommitted(t.id()));
  std::vector<Tx> next{c.reg("after-snapshot"), c.committed[3]};
  std::vector<TxOutcome> oa, ob;
  auto pa = c.ledger->prepare(next, c.clock_ms + 1000, 0, c.validator.public_key(), false, oa);
  auto pb = restored->prepare(next, c.clock_ms + 1000, 0, c.validator.public_key(), false, ob);
  REQUIRE((pa.is_ok() && pb.is_ok()));
  CHECK(encode(pa->block.header) == encode(pb->block.header));
  REQUIRE(ob.size() == 2);
  CHECK(ob[0].status.is_ok());
  CHECK(ob[1].status.code() == "DUPLICATE_TX");
  Certificate cert;
  sign_certificate(c.genesis, pb->block.header, 0, c.validator, cert);
  REQUIRE(restored->commit(*pb, cert).is_ok());
  CHECK(restored->head().height == s + 1);
}

TEST_CASE("snapshot: a window shorter than the chain carries anchors and keeps replays out") {
  Chain c;
  c.build(8);
  const std::uint64_t s = c.ledger->head().height;  // 12
  constexpr std::uint64_t kWindow = 3;
  SnapshotInfo written;
  const Bytes snap = snapshot_of(*c.ledger, kWindow, &written);
  CHECK(written.window_first == s - kWindow);
  CHECK(written.counts.headers == kWindow);
  CHECK(written.counts.window_txs == 2 * kWindow);
  CHECK(written.counts.anchor_txs > 0);

  SUBCASE("refused by a node that requires the full replay window") {
    Restored r(snap, c.genesis);
    CHECK(r.info.status().code() == "SNAPSHOT_INVALID");
    CHECK_FALSE(r.has_head());
  }
  SUBCASE("restored by one that accepts it") {
    Restored r(snap, c.genesis, kWindow);
    auto restored = r.open(c.genesis);
    check_same_head_reads(*c.ledger, *restored);
    check_same_state(*c.ledger, *restored);
    // Anchors outside the window are held, so every record's bundle works,
    // including the first version registered at height 2.
    for (std::string_view f : {"license-v1", "license-v2", "file-0", "file-7"}) {
      CAPTURE(f);
      auto ba = c.ledger->bundle_for_hash(file_hash(f));
      auto bb = restored->bundle_for_hash(file_hash(f));
      REQUIRE_MESSAGE(bb.is_ok(), bb.status().to_string());
      CHECK(encode(*ba) == encode(*bb));
    }
    // The holder binding at height 1 anchors nothing: not held. A window
    // transaction is, at its position.
    CHECK_FALSE(restored->tx_entry(c.committed[0].id())->has_value());
    const Tx& last = c.committed.back();
    CHECK(encode(**restored->tx_entry(last.id())) == encode(**c.ledger->tx_entry(last.id())));
    // A transaction of the window is still refused as a replay, by the
    // committed-id filter too once it is complete.
    wait_for_filters(*restored);
    CHECK_FALSE(restored->tx_surely_uncommitted(last.id()));
    std::vector<TxOutcome> oc;
    auto p = restored->prepare({last}, c.clock_ms + 1000, 0, c.validator.public_key(), false, oc);
    REQUIRE(p.is_ok());
    CHECK(oc[0].status.code() == "DUPLICATE_TX");
    // A restored ledger cannot yet write a snapshot with a full window.
    Bytes sink;
    auto again = write_snapshot(
        *restored,
        [&](ByteView b) {
          sink.insert(sink.end(), b.begin(), b.end());
          return Status::ok();
        },
        kWindow);
    CHECK(again.status().code() == "SNAPSHOT_UNAVAILABLE");
  }
}

TEST_CASE("snapshot: the writer reads one instant while blocks keep committing") {
  Chain c;
  c.build(2);
  const ChainHead before = c.ledger->head();
  Bytes snap;
  bool committed = false;
  auto r = write_snapshot(*c.ledger, [&](ByteView b) {
    if (!committed) {  // a block lands while the snapshot is being written
      committed = true;
      c.commit({c.reg("during-the-snapshot")});
    }
    snap.insert(snap.end(), b.begin(), b.end());
    return Status::ok();
  });
  REQUIRE(r.is_ok());
  CHECK(c.ledger->head().height == before.height + 1);
  Restored restored(snap, c.genesis);
  REQUIRE_MESSAGE(restored.info.is_ok(), restored.info.status().to_string());
  CHECK(encode(restored.open(c.genesis)->head()) == encode(before));
}

TEST_CASE("snapshot: damage, truncation, a foreign genesis and a used store are refused") {
  Chain c;
  c.build(2);
  const Bytes snap = snapshot_of(*c.ledger, 2);

  SUBCASE("every flipped byte") {
    // The first 64 bytes (frame length, tags, genesis hash, window), then
    // one byte in 61 across every section (each import opens two LevelDB
    // stores, so every byte would take minutes): each import fails and
    // leaves no head behind.
    std::size_t tried = 0;
    for (std::size_t i = 0; i < snap.size(); i += (i < 64 ? 1 : 61)) {
      CAPTURE(i);
      Bytes bad = snap;
      bad[i] ^= 0x01;
      Restored r(bad, c.genesis, 2);
      CHECK_FALSE(r.info.is_ok());
      CHECK_FALSE(r.has_head());
      ++tried;
    }
    CHECK(tried > 150);
  }
  SUBCASE("every truncation at a frame boundary and inside frames") {
    for (std::size_t len : {std::size_t{0}, std::size_t{3}, std::size_t{4}, snap.size() / 3,
                            snap.size() / 2, snap.size() - 1}) {
      CAPTURE(len);
      Restored r(Bytes(snap.begin(), snap.begin() + static_cast<std::ptrdiff_t>(len)), c.genesis,
                 2);
      CHECK(r.info.status().code() == "SNAPSHOT_TRUNCATED");
      CHECK_FALSE(r.has_head());
    }
    Bytes longer = snap;
    longer.push_back(0);
    CHECK(Restored(longer, c.genesis, 2).info.status().code() == "SNAPSHOT_TRUNCATED");
  }
  SUBCASE("another genesis") {
    Genesis other = c.genesis;
    other.chain_id = "other-chain";
    Restored r(snap, other, 2);
    CHECK(r.info.status().code() == "SNAPSHOT_INVALID");
  }
  SUBCASE("a store that already holds data") {
    Restored first(snap, c.genesis, 2);
    REQUIRE(first.info.is_ok());
    auto scratch_dir = TempDir();
    auto scratch = open_leveldb(scratch_dir.str());
    REQUIRE(scratch.is_ok());
    auto again = import_snapshot(source_of(snap), c.genesis, *first.target, **scratch, 2);
    CHECK(again.status().code() == "STORAGE_ERROR");
  }
}
