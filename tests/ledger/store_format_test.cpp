// The store's format entry: formats this release refuses, and the in-place
// upgrades from formats 2 and 3 (docs/formats/storage.md, "Format"; ADR 029,
// ADR 030, ADR 032).
#include <set>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;
using emledger::testing::store_dump;

TEST_CASE("ledger: a store in a format this release cannot read is refused, unchanged") {
  Net net;
  REQUIRE(net.commit_one(net.reg("before-the-change")).is_ok());
  auto opened_as = [&](std::optional<Bytes> format) {
    net.ledger.reset();
    auto store = open_leveldb(net.dir.str() + "/db");
    REQUIRE(store.is_ok());
    WriteBatch b;
    if (format) {
      b.put(Bytes{'F'}, *format);
    } else {
      b.erase(Bytes{'F'});  // as a store written before ADR 027 has it
    }
    REQUIRE((*store)->write(b, true).is_ok());
    const auto before = store_dump(**store);
    auto l = Ledger::open(std::move(*store), net.genesis, net.options);
    if (l.is_ok()) {
      net.ledger = std::move(*l);
      return std::string("opened");
    }
    const std::string code = l.status().code();
    auto again = open_leveldb(net.dir.str() + "/db");
    REQUIRE(again.is_ok());
    CHECK(store_dump(**again) == before);  // nothing written
    return code;
  };
  CHECK(opened_as(std::nullopt) == "STORAGE_FORMAT");
  CHECK(opened_as(Bytes{1}) == "STORAGE_FORMAT");
  // Format 2 is upgraded, but this store has no per-node log entries to upgrade.
  CHECK(opened_as(Bytes{2}) == "STORAGE_CORRUPT");
  // Format 3 is upgraded, but this store's flat index entries are values
  // alone, which do not begin with their hashes.
  CHECK(opened_as(Bytes{3}) == "STORAGE_CORRUPT");
  CHECK(opened_as(Bytes{4, 0}) == "STORAGE_FORMAT");
  CHECK(opened_as(Bytes{5}) == "STORAGE_FORMAT");
  CHECK(opened_as(Bytes{4}) == "opened");
  CHECK(net.ledger->head().height == 1);
}

namespace {

Bytes per_node_log_key(unsigned level, std::uint64_t index) {
  Bytes k{'l', static_cast<std::uint8_t>(level)};
  for (int shift = 56; shift >= 0; shift -= 8)
    k.push_back(static_cast<std::uint8_t>(index >> shift));
  return k;
}

std::size_t keys_under(const KvStore& store, std::uint8_t prefix) {
  std::size_t n = 0;
  REQUIRE(store
              .scan(Bytes{prefix}, {},
                    [&](ByteView, ByteView) {
                      ++n;
                      return true;
                    })
              .is_ok());
  return n;
}

// Rewrites a store as format 2 kept it: each perfect log subtree its own
// entry ('l' + u8 level + u64 index -> hash), no tiles; the flat index
// holding value hashes, every value under 'v' + hash; format entry 2.
// Returns the 'v' keys it added (the head's values).
std::set<Bytes> rewrite_as_format_2(KvStore& store, std::uint64_t log_size) {
  std::vector<Hash> level;
  std::set<Bytes> added;
  WriteBatch b;
  REQUIRE(store
              .scan(Bytes{'s'}, {},
                    [&](ByteView k, ByteView v) {
                      const Hash hash = crypto::sha256(v);
                      b.put(k, hash);
                      Bytes vkey{'v'};
                      vkey.insert(vkey.end(), hash.begin(), hash.end());
                      auto had = store.get(vkey);
                      REQUIRE(had.is_ok());
                      if (!had->has_value()) {
                        b.put(vkey, v);
                        added.insert(vkey);
                      }
                      return true;
                    })
              .is_ok());
  REQUIRE(store
              .scan(Bytes{'t'}, {},
                    [&](ByteView k, ByteView v) {
                      b.erase(k);
                      if (k[1] != 0) return true;
                      auto hashes = log_tile_hashes(v);
                      REQUIRE(hashes.is_ok());
                      level.insert(level.end(), hashes->begin(), hashes->end());
                      return true;
                    })
              .is_ok());
  REQUIRE(level.size() == log_size);
  for (unsigned lv = 0; !level.empty(); ++lv) {
    std::vector<Hash> up;
    for (std::uint64_t i = 0; i < level.size(); ++i) {
      b.put(per_node_log_key(lv, i), level[i]);
      if (i % 2 == 1) up.push_back(log_node_hash(level[i - 1], level[i]));
    }
    level = std::move(up);
  }
  b.put(Bytes{'F'}, Bytes{2});
  REQUIRE(store.write(b, true).is_ok());
  return added;
}

// A flat index entry as format 3 kept it: the value's hash, then the value.
Bytes format_3_entry(ByteView value) {
  const Hash h = crypto::sha256(value);
  Bytes e(h.begin(), h.end());
  e.insert(e.end(), value.begin(), value.end());
  return e;
}

// Rewrites a store as format 3 kept it: each flat index entry the value's
// hash, then the value; format entry 3. Returns the flat index keys in order.
std::vector<Bytes> rewrite_as_format_3(KvStore& store) {
  std::vector<Bytes> keys;
  WriteBatch b;
  REQUIRE(store
              .scan(Bytes{'s'}, {},
                    [&](ByteView k, ByteView v) {
                      keys.emplace_back(k.begin(), k.end());
                      b.put(k, format_3_entry(v));
                      return true;
                    })
              .is_ok());
  b.put(Bytes{'F'}, Bytes{3});
  REQUIRE(store.write(b, true).is_ok());
  return keys;
}

// A dump without the keys in `skip`.
std::vector<std::pair<Bytes, Bytes>> without(std::vector<std::pair<Bytes, Bytes>> kv,
                                             const std::set<Bytes>& skip) {
  std::erase_if(kv, [&](const auto& e) { return skip.count(e.first) != 0; });
  return kv;
}

}  // namespace

TEST_CASE("ledger: a format 2 store is upgraded in place, and an upgrade cut short ends") {
  Net net;
  for (int block = 0; block < 5; ++block) {
    std::vector<Tx> txs;
    for (int i = 0; i < 9; ++i)
      txs.push_back(net.reg("upgrade-" + std::to_string(block) + "-" + std::to_string(i)));
    net.commit(txs);
  }
  const ChainHead head = net.ledger->head();
  REQUIRE(head.log_size == 45);
  const auto before = store_dump(*net.ledger);
  auto proof = net.ledger->inclusion_proof(17, 45);
  REQUIRE(proof.is_ok());
  net.ledger.reset();

  auto reopen_store = [&] {
    auto store = open_leveldb(net.dir.str() + "/db");
    REQUIRE(store.is_ok());
    return std::move(*store);
  };
  std::set<Bytes> added;
  {
    auto store = reopen_store();
    added = rewrite_as_format_2(*store, head.log_size);
    CHECK(keys_under(*store, 't') == 0);
    CHECK(keys_under(*store, 'l') == 2 * 45 - std::popcount(45u));
    CHECK(added.size() > 2 * 45);  // a record and its content index per register
  }
  std::vector<std::string> told;
  net.options.progress = [&](const std::string& line) { told.push_back(line); };
  net.reopen();  // upgrades to format 3, then to format 4
  // The operator is told the upgrades' steps, counts included.
  const std::string entries = std::to_string(keys_under(net.ledger->store(), 's'));
  REQUIRE(told.size() == 7);
  CHECK(told[0].starts_with("upgrading the store from format 2 to format 3"));
  CHECK(told[0].find("the log's 45 leaves") != std::string::npos);
  CHECK(told[1] == "log: 45 leaves in tiles, root checked");
  CHECK(told[2] == "flat index: " + entries + " entries hold their values");
  CHECK(told[3] == "format 3 written; erasing the per-node log entries");
  CHECK(told[4] == "upgrade to format 3 done");
  CHECK(told[5].starts_with("starting the upgrade of the store from format 3 to format 4"));
  CHECK(told[6] == "flat index: " + entries + " entries rewritten; format 4 written, upgrade done");
  told.clear();
  // The tiles, the flat index and format 4, byte for byte; format 2's copies
  // of the head's values stay.
  CHECK(without(store_dump(*net.ledger), added) == before);
  CHECK(store_dump(*net.ledger).size() == before.size() + added.size());
  CHECK(net.ledger->inclusion_proof(17, 45)->path == proof->path);
  CHECK(*net.ledger->log_root(45) == head.log_root);
  net.commit({net.reg("after-the-upgrade")});
  CHECK(*net.ledger->log_root(46) == net.ledger->head().log_root);
  const auto after = store_dump(*net.ledger);
  net.ledger.reset();

  // An upgrade that wrote its format entry and stopped before its erases:
  // the next open erases the per-node entries and changes nothing else.
  {
    auto store = reopen_store();
    WriteBatch b;
    b.put(per_node_log_key(0, 3), Hash{});
    b.put(per_node_log_key(5, 0), Hash{});
    REQUIRE(store->write(b, true).is_ok());
  }
  net.reopen();
  CHECK(store_dump(*net.ledger) == after);
  CHECK(told.empty());  // nothing to tell: the leftover erase is quick
}

TEST_CASE("ledger: a format 2 upgrade cut short after some flat index entries goes on") {
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 30; ++i) txs.push_back(net.reg("half-" + std::to_string(i)));
  net.commit(txs);
  const std::uint64_t size = net.ledger->head().log_size;
  const auto before = store_dump(*net.ledger);
  net.ledger.reset();
  std::set<Bytes> added;
  {
    auto store = open_leveldb(net.dir.str() + "/db");
    REQUIRE(store.is_ok());
    added = rewrite_as_format_2(**store, size);
    // The first few flat index entries as the interrupted attempt left them
    // (format 3's entries: the hash, then the value).
    WriteBatch b;
    std::size_t n = 0;
    for (const auto& [k, v] : before)
      if (k[0] == 's' && n++ < 5) b.put(k, format_3_entry(v));
    REQUIRE(n > 5);
    REQUIRE((*store)->write(b, true).is_ok());
  }
  net.reopen();
  CHECK(without(store_dump(*net.ledger), added) == before);
}

TEST_CASE(
    "ledger: a format 2 store whose log does not give the head's root is refused, unchanged") {
  Net net;
  std::vector<Tx> txs;
  // 300 leaves: tiles at levels 0, 4 and 8.
  for (int i = 0; i < 300; ++i) txs.push_back(net.reg("bad-log-" + std::to_string(i)));
  net.commit(txs);
  const std::uint64_t size = net.ledger->head().log_size;
  net.ledger.reset();
  auto store = open_leveldb(net.dir.str() + "/db");
  REQUIRE(store.is_ok());
  const std::set<Bytes> added = rewrite_as_format_2(**store, size);
  SUBCASE("a leaf changed, below a node of level 4 that the root covers") {
    WriteBatch b;
    b.put(per_node_log_key(0, 7), crypto::sha256(as_bytes("not the leaf")));
    REQUIRE((*store)->write(b, true).is_ok());
  }
  SUBCASE("a node of level 4 changed, below the node of level 8 that the root covers") {
    WriteBatch b;
    b.put(per_node_log_key(4, 3), crypto::sha256(as_bytes("not the node")));
    REQUIRE((*store)->write(b, true).is_ok());
  }
  SUBCASE("a value of the flat index missing") {
    REQUIRE_FALSE(added.empty());
    WriteBatch b;
    b.erase(*added.begin());
    REQUIRE((*store)->write(b, true).is_ok());
  }
  SUBCASE("a leaf missing") {
    WriteBatch b;
    b.erase(per_node_log_key(0, 299));
    REQUIRE((*store)->write(b, true).is_ok());
  }
  SUBCASE("a node of a tile level not 32 bytes") {
    WriteBatch b;
    b.put(per_node_log_key(4, 0), Bytes(31, 1));
    REQUIRE((*store)->write(b, true).is_ok());
  }
  const auto bad = store_dump(**store);
  auto l = Ledger::open(std::move(*store), net.genesis, net.options);
  REQUIRE_FALSE(l.is_ok());
  CHECK(l.status().code() == "STORAGE_CORRUPT");
  auto again = open_leveldb(net.dir.str() + "/db");
  REQUIRE(again.is_ok());
  // The format entry stays 2 and every per-node entry stays; tiles and flat
  // index entries with their values may have been written (the next attempt
  // recognizes them), nothing else.
  std::vector<std::pair<Bytes, Bytes>> rest_now, rest_before;
  for (auto& kv : store_dump(**again))
    if (kv.first[0] != 't' && kv.first[0] != 's') rest_now.push_back(kv);
  for (auto& kv : bad)
    if (kv.first[0] != 's') rest_before.push_back(kv);
  CHECK(rest_now == rest_before);
}

TEST_CASE("ledger: a format 3 store is upgraded in place, and an upgrade cut short goes on") {
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 30; ++i) txs.push_back(net.reg("format-3-" + std::to_string(i)));
  net.commit(txs);
  const auto before = store_dump(*net.ledger);
  net.ledger.reset();
  auto rewrite = [&](std::size_t done) {
    // A format 3 store; with `done` > 0, as an upgrade stopped after its
    // first `done` entries left it (those rewritten, the mark on the last).
    auto store = open_leveldb(net.dir.str() + "/db");
    REQUIRE(store.is_ok());
    const std::vector<Bytes> keys = rewrite_as_format_3(**store);
    REQUIRE(keys.size() > 60);  // a record and its content index per register
    if (done == 0) return keys.size();
    WriteBatch b;
    for (std::size_t i = 0; i < done; ++i)
      for (const auto& [k, v] : before)
        if (k == keys[i]) b.put(k, v);
    b.put(Bytes{'U'}, keys[done - 1]);
    REQUIRE((*store)->write(b, true).is_ok());
    return keys.size();
  };
  std::vector<std::string> told;
  net.options.progress = [&](const std::string& line) { told.push_back(line); };

  const std::size_t entries = rewrite(0);
  net.reopen();
  CHECK(store_dump(*net.ledger) == before);  // format 4 and its entries, byte for byte
  REQUIRE(told.size() == 2);
  CHECK(told[0].starts_with("starting the upgrade of the store from format 3 to format 4"));
  CHECK(told[1] == "flat index: " + std::to_string(entries) +
                       " entries rewritten; format 4 written, upgrade done");
  told.clear();
  net.ledger.reset();

  rewrite(7);
  net.reopen();
  CHECK(store_dump(*net.ledger) == before);  // the mark is gone too
  REQUIRE(told.size() == 2);
  CHECK(told[0].starts_with("going on with the upgrade of the store from format 3"));
  CHECK(told[1] == "flat index: " + std::to_string(entries - 7) +
                       " entries rewritten; format 4 written, upgrade done");
  told.clear();

  // A start with nothing to upgrade tells nothing, and the ledger goes on.
  net.reopen();
  CHECK(told.empty());
  net.commit({net.reg("after-the-upgrade")});
  CHECK(net.ledger->head().log_size == 31);
}

TEST_CASE("ledger: a format 3 entry whose value does not match its hash is refused") {
  Net net;
  std::vector<Tx> txs;
  for (int i = 0; i < 10; ++i) txs.push_back(net.reg("bad-entry-" + std::to_string(i)));
  net.commit(txs);
  net.ledger.reset();
  auto store = open_leveldb(net.dir.str() + "/db");
  REQUIRE(store.is_ok());
  const std::vector<Bytes> keys = rewrite_as_format_3(**store);
  auto entry = (*store)->get(keys[keys.size() / 2]);
  REQUIRE(entry.is_ok());
  REQUIRE(entry->has_value());
  Bytes bad = **entry;
  SUBCASE("a byte of the value changed") { bad.back() ^= 1; }
  SUBCASE("shorter than a hash") { bad.resize(kHashSize - 1); }
  WriteBatch b;
  b.put(keys[keys.size() / 2], bad);
  REQUIRE((*store)->write(b, true).is_ok());
  const auto dump = store_dump(**store);
  auto l = Ledger::open(std::move(*store), net.genesis, net.options);
  REQUIRE_FALSE(l.is_ok());
  CHECK(l.status().code() == "STORAGE_CORRUPT");
  auto again = open_leveldb(net.dir.str() + "/db");
  REQUIRE(again.is_ok());
  // The whole store fits one batch, which the bad entry stopped: unchanged,
  // format 3 still.
  CHECK(store_dump(**again) == dump);
}

TEST_CASE("ledger: a format 3 upgrade whose mark names no flat index key is refused") {
  Net net;
  net.commit({net.reg("bad-mark")});
  net.ledger.reset();
  auto store = open_leveldb(net.dir.str() + "/db");
  REQUIRE(store.is_ok());
  rewrite_as_format_3(**store);
  WriteBatch b;
  SUBCASE("a key of another prefix") { b.put(Bytes{'U'}, Bytes{'x', 1, 2}); }
  SUBCASE("empty") { b.put(Bytes{'U'}, Bytes{}); }
  REQUIRE((*store)->write(b, true).is_ok());
  const auto dump = store_dump(**store);
  auto l = Ledger::open(std::move(*store), net.genesis, net.options);
  REQUIRE_FALSE(l.is_ok());
  CHECK(l.status().code() == "STORAGE_CORRUPT");
  CHECK(l.status().message().find("mark") != std::string::npos);
  auto again = open_leveldb(net.dir.str() + "/db");
  REQUIRE(again.is_ok());
  CHECK(store_dump(**again) == dump);  // format 3 and the mark, unchanged
}
