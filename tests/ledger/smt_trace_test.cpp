// The trace of a state-tree update (StateUpdateTrace, ADR 021 and ADR 027):
// the pages the new tree lost and the earlier pages it brings back, checked
// against the pages actually stored; and how pages follow leaves that move.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "emledger/ledger/smt.hpp"
#include "fixture.hpp"
#include "smt_support.hpp"

using namespace emledger;
using namespace emledger::ledger;
using namespace emledger::smt_testing;

namespace {

bool stored(const KvReader& store, const Hash& h) {
  auto got = store.get(page_key(h));
  REQUIRE(got.is_ok());
  return got->has_value();
}

// One traced update, committed; checks the trace against the stored trees:
// `superseded` is exactly the old tree's pages the new one lacks, and
// `revived` exactly the pages of the new tree that were stored before
// without being in the old tree.
StateUpdateTrace traced_apply(TreeFixture& t, const Puts& puts) {
  const std::set<Hash> before = testing::reachable_state_pages(*t.store, t.root);
  std::set<Hash> new_nodes_stored_before;
  Overlay overlay(*t.store);
  StateUpdateTrace trace;
  auto next = StateTree(overlay).update(t.root, puts, overlay, &trace);
  REQUIRE(next.is_ok());
  for (const auto& [key, value] : overlay.batch().entries())
    if (key[0] == 'n') {
      Hash h;
      std::copy(key.begin() + 1, key.end(), h.begin());
      if (stored(*t.store, h) && !before.count(h)) new_nodes_stored_before.insert(h);
    }
  REQUIRE(t.store->write(overlay.batch(), false).is_ok());
  t.root = *next;
  for (const auto& [k, v] : puts) t.state[k] = v;
  REQUIRE(t.root == naive_root(t.state));
  const std::set<Hash> after = testing::reachable_state_pages(*t.store, t.root);
  std::set<Hash> lost;
  for (const Hash& h : before)
    if (!after.count(h)) lost.insert(h);
  const std::set<Hash> superseded(trace.superseded.begin(), trace.superseded.end());
  CHECK(superseded.size() == trace.superseded.size());  // each named once
  CHECK(superseded == lost);
  const std::set<Hash> revived(trace.revived.begin(), trace.revived.end());
  CHECK(revived.size() == trace.revived.size());
  CHECK(revived == new_nodes_stored_before);
  return trace;
}

}  // namespace

TEST_CASE("smt: an update's trace names exactly the pages the new tree lost") {
  TreeFixture t;
  Rng rng(11);
  std::size_t superseded = 0;
  for (int batch = 0; batch < 12; ++batch) {
    Puts puts = random_puts(rng, 60, t.state);
    // Some keys again with their own value: neither superseded nor revived.
    int again = 0;
    for (const auto& [k, v] : t.state)
      if (again++ % 7 == 0) puts.emplace_back(k, v);
    auto trace = traced_apply(t, puts);
    superseded += trace.superseded.size();
  }
  CHECK(superseded > 300);
}

TEST_CASE("smt: a key given back an earlier value revives its leaf's page and the pages above") {
  TreeFixture t;
  Rng rng(12);
  t.apply(random_puts(rng, 200, t.state));
  // A key whose leaf roots a page of its own (a depth divisible by 4), so
  // that its leaf is a page pruning erases.
  Bytes key;
  std::size_t depth = 0;
  for (const auto& [k, v] : t.state) {
    auto p = StateTree(*t.store).prove(t.root, k);
    REQUIRE(p.is_ok());
    if (p->siblings.size() % 4 == 0) {
      key = k;
      depth = p->siblings.size();
      break;
    }
  }
  REQUIRE(depth >= 4);
  const Bytes first = t.state[key];
  const Hash first_root = t.root;
  auto t1 = traced_apply(t, {{key, B("second")}});
  CHECK(t1.revived.empty());
  // One page every four levels, the leaf's included, each rewritten.
  CHECK(t1.superseded.size() == depth / 4 + 1);
  const Hash first_leaf = smt_leaf_hash(smt_path(key), crypto::sha256(first));
  CHECK(std::count(t1.superseded.begin(), t1.superseded.end(), first_leaf) == 1);
  CHECK(std::count(t1.superseded.begin(), t1.superseded.end(), first_root) == 1);

  // Back to the first value, while the old pages are still stored: the
  // leaf's page and every page from the root down to it come back.
  auto t2 = traced_apply(t, {{key, first}});
  CHECK(t.root == first_root);
  CHECK(t2.revived.size() == depth / 4 + 1);
  CHECK(std::count(t2.revived.begin(), t2.revived.end(), first_leaf) == 1);
  CHECK(std::count(t2.revived.begin(), t2.revived.end(), t.root) == 1);

  // Once what the change superseded is gone from the store (pruned, as a
  // ledger erases a stale list), going back writes the pages afresh and
  // revives nothing.
  auto t3 = traced_apply(t, {{key, B("second")}});
  const Hash second_leaf = smt_leaf_hash(smt_path(key), crypto::sha256(B("second")));
  CHECK(std::count(t3.revived.begin(), t3.revived.end(), second_leaf) == 1);
  CHECK(std::count(t3.superseded.begin(), t3.superseded.end(), first_leaf) == 1);
  WriteBatch prune;
  for (const Hash& h : t3.superseded) prune.erase(page_key(h));
  REQUIRE(t.store->write(prune, false).is_ok());
  CHECK_FALSE(stored(*t.store, first_leaf));
  auto t4 = traced_apply(t, {{key, first}});
  CHECK(t4.revived.empty());
  CHECK(stored(*t.store, first_leaf));
}

// Leaves float: a leaf pushed down by a new key beside it may come to a depth
// rooting a page, or leave one. Its page is then written, or superseded; and
// a page a leaf had before, still stored, is revived when the leaf comes back
// to a depth rooting one.
TEST_CASE("smt: a leaf moved down gains or loses its own page") {
  TreeFixture t;
  Rng rng(13);
  t.apply(random_puts(rng, 300, t.state));
  int gained = 0;
  int lost = 0;
  for (int i = 0; i < 400 && (gained < 3 || lost < 3); ++i) {
    const Bytes fresh = B("fresh-" + std::to_string(i));
    auto before = StateTree(*t.store).prove(t.root, fresh);
    REQUIRE(before.is_ok());
    if (before->terminal != 1) continue;  // lands in an empty subtree: no leaf moves
    const Hash other = smt_leaf_hash(before->other_path, before->other_value_hash);
    const std::size_t from = before->siblings.size();
    auto trace = traced_apply(t, {{fresh, B("v")}});
    auto after = StateTree(*t.store).prove(t.root, fresh);
    REQUIRE(after.is_ok());
    const std::size_t to = after->siblings.size();  // both leaves sit there now
    REQUIRE(to > from);
    REQUIRE(after->siblings.back() == other);
    const bool superseded =
        std::count(trace.superseded.begin(), trace.superseded.end(), other) == 1;
    CHECK(superseded == (from % 4 == 0 && to % 4 != 0));
    if (from % 4 == 0 || to % 4 == 0) CHECK(stored(*t.store, other));
    if (from % 4 != 0 && to % 4 == 0) ++gained;
    if (from % 4 == 0 && to % 4 != 0) ++lost;
  }
  CHECK(gained >= 3);
  CHECK(lost >= 3);
}

TEST_CASE("smt: a batch erases before it puts, so a key erased and put stays") {
  TreeFixture t;
  WriteBatch b;
  b.put(B("kept"), B("1"));
  b.put(B("gone"), B("2"));
  REQUIRE(t.store->write(b, false).is_ok());
  WriteBatch c;
  c.put(B("kept"), B("3"));  // put first, erased after: the put still wins
  c.erase(B("kept"));
  c.erase(B("gone"));
  CHECK_FALSE(c.empty());
  REQUIRE(t.store->write(c, false).is_ok());
  CHECK(**t.store->get(B("kept")) == B("3"));
  CHECK_FALSE(t.store->get(B("gone"))->has_value());
}
