// The state tree's node cache (SmtNodeCache): it changes no result, keeps the
// live tree, forgets what an update supersedes, evicts the least recently
// used way of a full set, is not touched by a prefetch, and sits on huge
// pages when asked (ADR 024).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "emledger/ledger/smt.hpp"
#include "smt_support.hpp"

using namespace emledger;
using namespace emledger::ledger;
using namespace emledger::smt_testing;

namespace {

// Hashes that all fall in set 0 of a cache of `slot_bits` (the set is named
// by the first bytes), told apart by their last byte.
Hash same_set_hash(std::uint8_t tag) {
  Hash h{};
  h[31] = tag;
  return h;
}

SmtNodeBytes node_bytes(std::uint8_t tag) {
  SmtNodeBytes n{};
  n[0] = 1;
  n[64] = tag;
  return n;
}

// The kernel's transparent-huge-page mode, the bracketed word of
// "always [madvise] never"; empty without THP support.
std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  const auto open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return line.substr(open + 1, close - open - 1);
}

// This process's anonymous memory on transparent huge pages, in KiB.
std::uint64_t anon_huge_kib() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("AnonHugePages:", 0) == 0) return std::stoull(line.substr(14));
  return 0;
}

// Inserts one node into every set of a cache of `slot_bits`, so that every
// page of its table is touched, and checks that each is found again.
void fill_every_set(const SmtNodeCache& cache, unsigned slot_bits) {
  const std::uint64_t sets = std::uint64_t{1} << (slot_bits - 2);
  auto hash_of = [](std::uint64_t i) {
    Hash h{};
    std::memcpy(h.data(), &i, sizeof i);  // the first bytes name the set
    h[31] = 0x5a;
    return h;
  };
  for (std::uint64_t i = 0; i < sets; ++i) cache.insert(hash_of(i), node_bytes(7));
  for (std::uint64_t i = 0; i < sets; i += 997) {
    auto got = cache.find(hash_of(i));
    REQUIRE(got.has_value());
    CHECK(*got == node_bytes(7));
  }
}

}  // namespace

TEST_CASE("smt: a node cache, however small, changes no root, value or proof") {
  // A 16-slot cache: nearly every insert evicts another node, so hits, misses
  // and replaced slots all occur. The cached tree must match the uncached
  // one and the reference exactly.
  SmtNodeCache cache(4);
  TreeFixture plain, cached;
  Rng rng(99);
  for (int batch = 0; batch < 6; ++batch) {
    const Puts puts = random_puts(rng, 50 + batch * 30, plain.state);
    plain.apply(puts);
    Overlay overlay(*cached.store);
    auto next = StateTree(overlay, &cache).update(cached.root, puts, overlay);
    REQUIRE(next.is_ok());
    REQUIRE(cached.store->write(overlay.batch(), false).is_ok());
    cached.root = *next;
    CHECK(cached.root == plain.root);
  }
  CHECK(plain.root == naive_root(plain.state));
  StateTree tree(*cached.store, &cache);
  for (const auto& [key, value] : plain.state) {
    auto got = tree.get(cached.root, key);
    REQUIRE(got.is_ok());
    REQUIRE(got->has_value());
    CHECK(**got == value);
    auto proof = tree.prove(cached.root, key);
    REQUIRE(proof.is_ok());
    CHECK(verify_state_proof(*proof, cached.root));
  }
}

TEST_CASE("smt: a full cache set gives up its least recently used way") {
  static_assert(SmtNodeCache::kWays == 4);
  SmtNodeCache cache(2);  // one set of four ways
  const Hash a = same_set_hash(1), b = same_set_hash(2), c = same_set_hash(3), d = same_set_hash(4),
             e = same_set_hash(5);
  CHECK_FALSE(cache.find(a).has_value());
  for (std::uint8_t t = 1; t <= 4; ++t) cache.insert(same_set_hash(t), node_bytes(t));
  for (std::uint8_t t = 1; t <= 4; ++t) {
    auto got = cache.find(same_set_hash(t));
    REQUIRE(got.has_value());
    CHECK(*got == node_bytes(t));  // each hash answers with its own node
  }
  // Now a is the least recently used; reading it again makes b the one.
  REQUIRE(cache.find(a).has_value());
  cache.insert(e, node_bytes(5));
  CHECK_FALSE(cache.find(b).has_value());
  CHECK(cache.find(a).has_value());
  CHECK(cache.find(c).has_value());
  CHECK(cache.find(d).has_value());
  CHECK(*cache.find(e) == node_bytes(5));
  // Inserting a held hash again refreshes it in place: nothing is evicted.
  cache.insert(c, node_bytes(3));
  CHECK(cache.find(a).has_value());
  CHECK(cache.find(d).has_value());
  CHECK(cache.find(e).has_value());
}

TEST_CASE("smt: insert_all inserts as inserts one by one would, in order") {
  SmtNodeCache cache(2);  // one set of four ways
  std::vector<SmtHashedNode> nodes;
  for (std::uint8_t t = 1; t <= 5; ++t)
    nodes.push_back(SmtHashedNode{same_set_hash(t), node_bytes(t)});
  // The same hash again later in the batch: refreshed in place, not a second way.
  nodes.push_back(SmtHashedNode{same_set_hash(3), node_bytes(3)});
  cache.insert_all(nodes);
  // Five into four ways: the first, least recently used, gave its way up.
  CHECK_FALSE(cache.find(same_set_hash(1)).has_value());
  for (std::uint8_t t = 2; t <= 5; ++t) {
    auto got = cache.find(same_set_hash(t));
    REQUIRE(got.has_value());
    CHECK(*got == node_bytes(t));
  }
  cache.insert_all({});  // nothing: changes nothing
  CHECK(cache.find(same_set_hash(2)).has_value());
}

TEST_CASE("smt: a forgotten node frees its way for the next insert") {
  SmtNodeCache cache(2);
  for (std::uint8_t t = 1; t <= 4; ++t) cache.insert(same_set_hash(t), node_bytes(t));
  cache.forget(same_set_hash(3));
  cache.forget(same_set_hash(9));  // not held: changes nothing
  CHECK_FALSE(cache.find(same_set_hash(3)).has_value());
  cache.insert(same_set_hash(5), node_bytes(5));  // takes 3's way, not an LRU victim
  for (std::uint8_t t : {1, 2, 4, 5}) CHECK(cache.find(same_set_hash(t)).has_value());
}

TEST_CASE("smt: a node cache asked for huge pages gets them where the kernel gives them") {
  const std::string mode = thp_mode();
  if (mode != "always" && mode != "madvise") {
    MESSAGE("this kernel gives no transparent huge pages (mode '" << mode
                                                                  << "'): nothing to check");
    return;
  }
  constexpr unsigned kBits = 18;  // 2^18 slots of 112 bytes: 28 MiB
  {
    const std::uint64_t before = anon_huge_kib();
    SmtNodeCache cache(kBits, true);
    fill_every_set(cache, kBits);
    // 14 huge pages at most; the kernel may fall back to small pages for a
    // few when it cannot find 2 MiB free at once.
    CHECK(anon_huge_kib() >= before + 16 * 1024);
  }
  if (mode == "madvise") {
    // Unasked, the table stays on 4 KiB pages: the advice is what made them.
    const std::uint64_t before = anon_huge_kib();
    SmtNodeCache cache(kBits, false);
    fill_every_set(cache, kBits);
    CHECK(anon_huge_kib() < before + 4 * 1024);
  }
}

TEST_CASE("smt: an update forgets the nodes it supersedes and keeps the live tree cached") {
  // A cache far larger than the tree, so nothing is evicted: after each
  // update, every node of the new tree must be cached (forgetting never drops
  // a live node, even a leaf put again with its own value), and the roots it
  // replaced must not be. Old roots stay readable from the store.
  SmtNodeCache cache(14);
  TreeFixture t;
  Rng rng(7);
  std::vector<Hash> old_roots;
  for (int batch = 0; batch < 5; ++batch) {
    Puts puts = random_puts(rng, 40, t.state);
    // Every existing key again with its own value, and some with new ones:
    // leaves meet several puts, one of which leaves them unchanged.
    for (const auto& [k, v] : t.state) puts.emplace_back(k, v);
    Overlay overlay(*t.store);
    auto next = StateTree(overlay, &cache).update(t.root, puts, overlay);
    REQUIRE(next.is_ok());
    REQUIRE(t.store->write(overlay.batch(), false).is_ok());
    if (t.root != smt_empty_root()) old_roots.push_back(t.root);
    t.root = *next;
    for (const auto& [k, v] : puts) t.state[k] = v;
    REQUIRE(t.root == naive_root(t.state));
    StateTree plain(*t.store);
    for (const auto& [k, v] : t.state) {
      auto proof = plain.prove(t.root, k);
      REQUIRE(proof.is_ok());
      REQUIRE(proof->present);
      for (const Hash& n : path_nodes(*proof)) CHECK(cache.find(n).has_value());
    }
    for (const Hash& r : old_roots) CHECK_FALSE(cache.find(r).has_value());
  }
  // The first root is still provable, through the cache or without it.
  const Hash first = old_roots.front();
  StateTree cached(*t.store, &cache);
  int proven = 0;
  for (const auto& [k, v] : t.state) {
    auto p = cached.prove(first, k);
    REQUIRE(p.is_ok());
    CHECK(verify_state_proof(*p, first));
    ++proven;
  }
  CHECK(proven > 100);
}

TEST_CASE("smt: a prefetch neither uses nor adds a node") {
  SmtNodeCache cache(2);  // one set of four ways
  for (std::uint8_t t = 1; t <= 4; ++t) cache.insert(same_set_hash(t), node_bytes(t));
  // A read would make 1 the most recently used; a prefetch leaves it the
  // least, so the next insert still takes its way.
  cache.prefetch(same_set_hash(1));
  cache.prefetch(same_set_hash(9));  // not held: nothing is added
  CHECK_FALSE(cache.find(same_set_hash(9)).has_value());
  cache.insert(same_set_hash(5), node_bytes(5));
  CHECK_FALSE(cache.find(same_set_hash(1)).has_value());
  for (std::uint8_t t = 2; t <= 5; ++t) {
    auto got = cache.find(same_set_hash(t));
    REQUIRE(got.has_value());
    CHECK(*got == node_bytes(t));
  }
}
