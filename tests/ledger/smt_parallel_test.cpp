// A state-tree update on several threads (ADR 040) against the same update
// on one: the same root, the same writes in the same order, the same trace,
// whatever the tree's shape above the split and whatever the thread count.
#include <doctest/doctest.h>

#include <map>
#include <vector>

#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/smt_page_cache.hpp"
#include "fixture.hpp"
#include "smt_support.hpp"

using namespace emledger;
using namespace emledger::ledger;
using namespace emledger::smt_testing;

namespace {

struct Outcome {
  Hash root{};
  std::vector<std::pair<Bytes, Bytes>> writes;  // in the batch's order
  StateUpdateTrace trace;
};

Outcome update_with(const TreeFixture& t, const Puts& puts, unsigned threads,
                    const SmtPageCache* cache) {
  Overlay overlay(*t.store);
  Outcome o;
  auto next = StateTree(overlay, cache, threads).update(t.root, puts, overlay, &o.trace);
  REQUIRE(next.is_ok());
  o.root = *next;
  for (const auto& [k, v] : overlay.batch().entries())
    o.writes.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
  return o;
}

// Updates `t` with `puts` on 1, 2, 3 and 16 threads, checks that every run
// agrees with the first, and commits the first.
void apply_checked(TreeFixture& t, const Puts& puts, const SmtPageCache* cache) {
  const Outcome one = update_with(t, puts, 1, cache);
  for (unsigned threads : {2u, 3u, 16u}) {
    CAPTURE(threads);
    const Outcome many = update_with(t, puts, threads, cache);
    CHECK(many.root == one.root);
    REQUIRE(many.writes.size() == one.writes.size());
    CHECK(many.writes == one.writes);
    CHECK(many.trace.superseded == one.trace.superseded);
    CHECK(many.trace.revived == one.trace.revived);
  }
  WriteBatch batch;
  for (const auto& [k, v] : one.writes) batch.put(k, v);
  REQUIRE(t.store->write(batch, false).is_ok());
  t.root = one.root;
  for (const auto& [k, v] : puts) t.state[k] = v;
  REQUIRE(t.root == naive_root(t.state));
}

}  // namespace

TEST_CASE("smt: an update on several threads writes what one thread writes, in the same order") {
  TreeFixture t;
  Rng rng(40);
  SmtPageCache cache(std::size_t{448} << 10);
  std::map<Bytes, Bytes> earlier;  // a state to give keys back their values from
  std::size_t superseded = 0, revived = 0;
  for (int round = 0; round < 8; ++round) {
    CAPTURE(round);
    Puts puts = random_puts(rng, 300 + rng.below(900), t.state);
    // Some keys take back the value they had some rounds ago (revived pages),
    // some get their own value again (no change).
    int n = 0;
    for (const auto& [k, v] : earlier)
      if (n++ % 5 == 0) puts.emplace_back(k, v);
    n = 0;
    for (const auto& [k, v] : t.state)
      if (n++ % 11 == 0) puts.emplace_back(k, v);
    const Outcome probe = update_with(t, puts, 1, &cache);
    superseded += probe.trace.superseded.size();
    revived += probe.trace.revived.size();
    if (round % 3 == 0) earlier = t.state;
    apply_checked(t, puts, round % 2 == 0 ? &cache : nullptr);
  }
  // The rounds did exercise both lists.
  CHECK(superseded > 1000);
  CHECK(revived > 0);
}

TEST_CASE("smt: a parallel update over a tree whose top holds leaves and empty subtrees") {
  // A few keys: the root's page holds leaves above the split depth, and
  // subtrees there are empty; a large batch then lands on them all.
  TreeFixture t;
  Rng rng(41);
  apply_checked(t, random_puts(rng, 3, t.state), nullptr);
  apply_checked(t, random_puts(rng, 700, t.state), nullptr);
  // From the empty tree at once, and a batch too small to split.
  TreeFixture fresh;
  apply_checked(fresh, random_puts(rng, 1000, fresh.state), nullptr);
  apply_checked(fresh, random_puts(rng, 40, fresh.state), nullptr);
}

TEST_CASE("smt: a large update whose puts reach a single subtree below the split") {
  // Two keys whose paths share their first 8 bits: the top four levels hold
  // one internal path and empty siblings. A subtree at depth 4 with puts is a
  // job (its old node internal or empty); leaving out the puts under the
  // path's sibling at depth 4 leaves one job, on the path: the walk must
  // update it itself (the puts elsewhere build from empty subtrees above
  // depth 4).
  TreeFixture t;
  Rng rng(43);
  const Bytes first = B("shared-0");
  const std::uint8_t top = smt_path(first)[0];
  Bytes second;
  for (int i = 1; second.empty(); ++i) {
    Bytes k = B("shared-" + std::to_string(i));
    if (smt_path(k)[0] == top) second = k;
  }
  apply_checked(t, {{first, B("1")}, {second, B("2")}}, nullptr);
  const std::uint8_t path_nibble = top >> 4;
  Puts puts;
  std::size_t on_path = 0;
  for (auto& [k, v] : random_puts(rng, 500, t.state)) {
    const std::uint8_t nibble = smt_path(k)[0] >> 4;
    if (nibble == (path_nibble ^ 1)) continue;  // the path's sibling at depth 4
    on_path += nibble == path_nibble ? 1 : 0;
    puts.emplace_back(k, v);
  }
  REQUIRE(puts.size() >= 256);
  REQUIRE(on_path > 0);
  apply_checked(t, puts, nullptr);
}

TEST_CASE("smt: a parallel update reports a corrupt page as one thread does") {
  TreeFixture t;
  Rng rng(42);
  apply_checked(t, random_puts(rng, 2000, t.state), nullptr);
  // Remove one page below the split depth that the next batch reads.
  Puts puts = random_puts(rng, 600, t.state);
  const Bytes key = t.state.begin()->first;
  puts.emplace_back(key, B("a new value"));
  auto proof = StateTree(*t.store).prove(t.root, key);
  REQUIRE(proof.is_ok());
  const std::vector<Hash> nodes = path_nodes(*proof);  // terminal up to the root
  REQUIRE(proof->siblings.size() >= 8);
  // The page rooted at depth 8 on that key's path.
  const Hash page = nodes[nodes.size() - 1 - 8];
  WriteBatch erase;
  erase.erase(page_key(page));
  REQUIRE(t.store->write(erase, false).is_ok());
  for (unsigned threads : {1u, 2u}) {
    CAPTURE(threads);
    Overlay overlay(*t.store);
    auto next = StateTree(overlay, nullptr, threads).update(t.root, puts, overlay);
    REQUIRE_FALSE(next.is_ok());
    CHECK(next.status().code() == "STORAGE_CORRUPT");
  }
}
