// The state tree against a naive recursive reference written here from the
// definition in smt.hpp, over a real LevelDB; proofs, history and tampering.
// The page cache's cases are in smt_page_cache_test.cpp, the pruning trace's in
// smt_trace_test.cpp.
#include "emledger/ledger/smt.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/store.hpp"
#include "fixture.hpp"
#include "smt_support.hpp"

using namespace emledger;
using namespace emledger::ledger;
using namespace emledger::smt_testing;

namespace {

// Counts forged variants of a valid proof that still verify against `root`
// (the tree holding `state`). A proof for another key is only a forgery when
// its claim is false: an absent key's proof can also prove a neighbour absent.
int forged_state_proofs_accepted(const StateProof& good, const Hash& root,
                                 const std::map<Bytes, Bytes>& state) {
  int accepted = 0;
  auto try_proof = [&](const StateProof& p) {
    if (verify_state_proof(p, root)) ++accepted;
  };
  for (std::size_t i = 0; i < good.siblings.size(); ++i) {
    for (std::size_t j = 0; j < kHashSize; ++j) {
      StateProof p = good;
      p.siblings[i][j] ^= 0x04;
      try_proof(p);
    }
  }
  for (std::size_t j = 0; j < good.value.size(); ++j) {
    StateProof p = good;
    p.value[j] ^= 0x01;
    try_proof(p);
  }
  for (std::size_t j = 0; j < good.key.size(); ++j) {
    StateProof p = good;
    p.key[j] ^= 0x01;
    if (!verify_state_proof(p, root)) continue;
    auto it = state.find(p.key);
    const bool true_claim =
        p.present ? it != state.end() && it->second == p.value : it == state.end();
    if (!true_claim) ++accepted;
  }
  for (std::size_t j = 0; j < kHashSize; ++j) {
    StateProof p = good;
    p.other_path[j] ^= 0x01;
    try_proof(p);
    p = good;
    p.other_value_hash[j] ^= 0x01;
    try_proof(p);
  }
  StateProof p = good;
  p.present = !p.present;
  try_proof(p);
  if (good.present) {  // claim absence of a present key
    p = good;
    p.present = false;
    p.value.clear();
    try_proof(p);
  }
  p = good;
  p.terminal = static_cast<std::uint8_t>(1 - p.terminal);
  try_proof(p);
  p = good;
  p.value.push_back(0);
  try_proof(p);
  p = good;
  p.siblings.push_back(Hash{});
  try_proof(p);
  p = good;
  p.siblings.insert(p.siblings.begin(), Hash{});
  try_proof(p);
  if (!good.siblings.empty()) {
    p = good;
    p.siblings.pop_back();
    try_proof(p);
    p = good;
    p.siblings.erase(p.siblings.begin());
    try_proof(p);
  }
  return accepted;
}

std::size_t common_prefix(const Hash& a, const Hash& b) {
  std::size_t n = 0;
  while (n < 256 && ((a[n / 8] >> (7 - n % 8)) & 1) == ((b[n / 8] >> (7 - n % 8)) & 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("smt: the empty tree") {
  TreeFixture f;
  StateTree tree(*f.store);
  CHECK(smt_empty_root() == Hash{});
  auto got = tree.get(f.root, as_bytes("nothing"));
  REQUIRE(got.is_ok());
  CHECK_FALSE(got->has_value());
  auto proof = tree.prove(f.root, as_bytes("nothing"));
  REQUIRE(proof.is_ok());
  CHECK_FALSE(proof->present);
  CHECK(proof->terminal == 0);
  CHECK(proof->siblings.empty());
  CHECK(verify_state_proof(*proof, f.root));
  CHECK_FALSE(verify_state_proof(*proof, crypto::sha256(as_bytes("x"))));
}

TEST_CASE("smt: hashing follows the definition") {
  const Hash path = smt_path(as_bytes("k"));
  CHECK(path == crypto::sha256(as_bytes("k")));
  Bytes pre{0x00};
  pre.insert(pre.end(), path.begin(), path.end());
  const Hash vh = crypto::sha256(as_bytes("v"));
  pre.insert(pre.end(), vh.begin(), vh.end());
  CHECK(smt_leaf_hash(path, vh) == crypto::sha256(pre));
  // A one-key tree's root is that key's leaf: the leaf floats to the top.
  TreeFixture f;
  f.apply({{B("k"), B("v")}});
  CHECK(f.root == smt_leaf_hash(path, vh));
}

TEST_CASE("smt: root equals a naive reference over the full key set, batch after batch") {
  TreeFixture f;
  Rng rng(20240601);
  for (int batch = 0; batch < 8; ++batch) {
    f.apply(random_puts(rng, 1 + batch * 40, f.state));
    INFO("batch " << batch << ", " << f.state.size() << " keys");
    CHECK(f.root == naive_root(f.state));
  }
}

TEST_CASE("smt: membership and non-membership proofs verify") {
  TreeFixture f;
  Rng rng(7);
  f.apply(random_puts(rng, 600, f.state));
  StateTree tree(*f.store);
  for (const auto& [key, value] : f.state) {
    auto got = tree.get(f.root, key);
    REQUIRE(got.is_ok());
    REQUIRE(got->has_value());
    CHECK(**got == value);
    auto proof = tree.prove(f.root, key);
    REQUIRE(proof.is_ok());
    CHECK(proof->present);
    CHECK(proof->terminal == 1);
    CHECK(proof->value == value);
    CHECK(verify_state_proof(*proof, f.root));
  }
  int ended_empty = 0;
  int ended_other_leaf = 0;
  for (int i = 0; i < 600; ++i) {
    Bytes key = B("absent-");
    Bytes tail = rng.bytes(8);
    key.insert(key.end(), tail.begin(), tail.end());
    REQUIRE(f.state.count(key) == 0);
    auto got = tree.get(f.root, key);
    REQUIRE(got.is_ok());
    CHECK_FALSE(got->has_value());
    auto proof = tree.prove(f.root, key);
    REQUIRE(proof.is_ok());
    CHECK_FALSE(proof->present);
    CHECK(proof->check().is_ok());
    CHECK(verify_state_proof(*proof, f.root));
    if (proof->terminal == 0) ++ended_empty;
    if (proof->terminal == 1) {
      ++ended_other_leaf;
      CHECK(common_prefix(proof->other_path, smt_path(key)) >= proof->siblings.size());
    }
  }
  // Both kinds of non-membership occur with 600 keys.
  CHECK(ended_empty > 0);
  CHECK(ended_other_leaf > 0);
}

TEST_CASE("smt: the result does not depend on the order of puts; the later duplicate wins") {
  Rng rng(99);
  std::map<Bytes, Bytes> none;
  Puts puts = random_puts(rng, 300, none);
  TreeFixture a;
  a.apply(puts);

  Puts shuffled = puts;
  for (std::size_t i = shuffled.size(); i > 1; --i)
    std::swap(shuffled[i - 1], shuffled[rng.below(i)]);
  TreeFixture b;
  b.apply(shuffled);
  CHECK(a.root == b.root);

  TreeFixture c;  // the same puts spread over three blocks
  c.apply(Puts(puts.begin(), puts.begin() + 100));
  c.apply(Puts(puts.begin() + 100, puts.begin() + 101));
  c.apply(Puts(puts.begin() + 101, puts.end()));
  CHECK(a.root == c.root);
  CHECK(a.root == naive_root(a.state));

  TreeFixture d;
  d.apply({{B("dup"), B("first")}, {B("other"), B("x")}, {B("dup"), B("second")}});
  StateTree tree(*d.store);
  CHECK(**tree.get(d.root, as_bytes("dup")) == B("second"));
  TreeFixture e;
  e.apply({{B("dup"), B("second")}, {B("other"), B("x")}, {B("dup"), B("first")}});
  CHECK(**StateTree(*e.store).get(e.root, as_bytes("dup")) == B("first"));
}

TEST_CASE("smt: an update reports the path of each key put, once, in path order") {
  // Commit hands these to the state-key filter (ADR 026) in place of hashing
  // each key again: a key missing here would read as never written.
  TreeFixture t;
  Rng rng(7);
  std::map<Bytes, Bytes> none;
  Puts puts = random_puts(rng, 40, none);
  puts.push_back(puts[3]);  // a key put twice in one update
  puts.back().second = B("again");
  std::vector<Hash> expected;
  for (const auto& [k, v] : puts) expected.push_back(smt_path(k));
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  REQUIRE(expected.size() == 40);
  for (unsigned threads : {1u, 4u}) {
    Overlay overlay(*t.store);
    std::vector<Hash> paths{Hash{}};  // appended to, not replaced
    auto next = StateTree(overlay, nullptr, threads).update(t.root, puts, overlay, nullptr, &paths);
    REQUIRE(next.is_ok());
    REQUIRE(paths.size() == 41);
    CHECK(paths.front() == Hash{});
    CHECK(std::vector<Hash>(paths.begin() + 1, paths.end()) == expected);
  }
  // Without the vector, the same update and result.
  Overlay overlay(*t.store);
  auto plain = StateTree(overlay).update(t.root, puts, overlay);
  REQUIRE(plain.is_ok());
  Overlay again(*t.store);
  std::vector<Hash> paths;
  CHECK(*StateTree(again).update(t.root, puts, again, nullptr, &paths) == *plain);
}

TEST_CASE("smt: old roots stay readable and provable after later updates") {
  TreeFixture f;
  Rng rng(4242);
  std::vector<Hash> roots;
  std::vector<std::map<Bytes, Bytes>> states;
  for (int batch = 0; batch < 6; ++batch) {
    f.apply(random_puts(rng, 80, f.state));
    roots.push_back(f.root);
    states.push_back(f.state);
  }
  StateTree tree(*f.store);
  const auto& latest = states.back();
  for (std::size_t i = 0; i < roots.size(); ++i) {
    INFO("root after batch " << i);
    int checked = 0;
    for (const auto& [key, value] : latest) {
      if (checked++ % 7 != 0) continue;
      auto it = states[i].find(key);
      auto got = tree.get(roots[i], key);
      REQUIRE(got.is_ok());
      auto proof = tree.prove(roots[i], key);
      REQUIRE(proof.is_ok());
      CHECK(verify_state_proof(*proof, roots[i]));
      if (it == states[i].end()) {
        CHECK_FALSE(got->has_value());
        CHECK_FALSE(proof->present);
      } else {
        CHECK(**got == it->second);
        CHECK(proof->value == it->second);
      }
      if (roots[i] != f.root && (it == states[i].end() || it->second != value))
        CHECK_FALSE(verify_state_proof(*proof, f.root));
    }
  }
}

TEST_CASE("smt: tampered proofs are rejected") {
  TreeFixture f;
  Rng rng(31337);
  f.apply(random_puts(rng, 200, f.state));
  StateTree tree(*f.store);
  int checked = 0;
  for (const auto& [key, value] : f.state) {
    if (checked++ % 5 != 0) continue;
    auto proof = tree.prove(f.root, key);
    REQUIRE(proof.is_ok());
    CHECK(forged_state_proofs_accepted(*proof, f.root, f.state) == 0);
  }
  for (int i = 0; i < 60; ++i) {
    Bytes key = rng.bytes(12);
    auto proof = tree.prove(f.root, key);
    REQUIRE(proof.is_ok());
    REQUIRE_FALSE(proof->present);
    CHECK(forged_state_proofs_accepted(*proof, f.root, f.state) == 0);
  }
}

TEST_CASE("smt: keys sharing a long path prefix") {
  // Search (deterministically) for keys whose paths share 14+ leading bits.
  const Bytes first = B("deep-0");
  const Hash first_path = smt_path(first);
  std::vector<Bytes> deep{first};
  for (int i = 1; deep.size() < 3; ++i) {
    Bytes k = B("deep-" + std::to_string(i));
    if (common_prefix(smt_path(k), first_path) >= 14) deep.push_back(k);
  }
  TreeFixture f;
  f.apply({{deep[0], B("a")}, {B("shallow"), B("s")}});
  f.apply({{deep[1], B("b")}});
  CHECK(f.root == naive_root(f.state));
  StateTree tree(*f.store);
  auto p = tree.prove(f.root, deep[1]);
  REQUIRE(p.is_ok());
  CHECK(p->siblings.size() > 14);
  CHECK(verify_state_proof(*p, f.root));
  // The third key, absent, ends next to one of the two on the long chain.
  auto absent = tree.prove(f.root, deep[2]);
  REQUIRE(absent.is_ok());
  CHECK_FALSE(absent->present);
  CHECK(absent->siblings.size() >= 14);
  CHECK(verify_state_proof(*absent, f.root));
  CHECK(forged_state_proofs_accepted(*absent, f.root, f.state) == 0);
  f.apply({{deep[2], B("c")}});
  CHECK(f.root == naive_root(f.state));
  for (const auto& k : deep) CHECK(verify_state_proof(*tree.prove(f.root, k), f.root));
}

TEST_CASE("smt: an update writes only new nodes") {
  TreeFixture f;
  Rng rng(5);
  f.apply(random_puts(rng, 100, f.state));
  {
    Overlay overlay(*f.store);
    StateTree tree(overlay);
    Puts same(f.state.begin(), f.state.end());
    auto root = tree.update(f.root, same, overlay);
    REQUIRE(root.is_ok());
    CHECK(*root == f.root);
    CHECK(overlay.batch().empty());
    CHECK(*tree.update(f.root, {}, overlay) == f.root);
  }
  {
    // A new key adds its flat index entry (with its value) and the pages on
    // its path, one every four levels from the root's to its leaf's (ADR
    // 027), and a page for the leaf it displaces only if that comes to a
    // depth rooting one.
    Overlay overlay(*f.store);
    StateTree tree(overlay);
    auto root = tree.update(f.root, {{B("fresh"), B("value")}}, overlay);
    REQUIRE(root.is_ok());
    auto proof = tree.prove(*root, as_bytes("fresh"));
    REQUIRE(proof.is_ok());
    const std::size_t depth = proof->siblings.size();
    const std::vector<Hash> up = path_nodes(*proof);  // the leaf first
    std::set<Bytes> expected{state_index_key(as_bytes("fresh"))};
    for (std::size_t d = 0; d <= depth; d += 4) expected.insert(page_key(up[depth - d]));
    std::set<Bytes> written;
    for (const auto& [k, v] : overlay.batch().entries()) written.insert(Bytes(k.begin(), k.end()));
    CHECK(std::includes(written.begin(), written.end(), expected.begin(), expected.end()));
    std::set<Bytes> extra;
    std::set_difference(written.begin(), written.end(), expected.begin(), expected.end(),
                        std::inserter(extra, extra.end()));
    if (depth % 4 == 0) {
      CHECK(extra.size() <= 1);
      for (const Bytes& k : extra) CHECK(k == page_key(proof->siblings.back()));
    } else {
      CHECK(extra.empty());
    }
  }
}

TEST_CASE("smt: missing or altered storage is STORAGE_CORRUPT") {
  testing::TempDir dir;
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  Overlay overlay(store);
  StateTree tree(overlay);
  Rng rng(11);
  std::map<Bytes, Bytes> none;
  Puts puts = random_puts(rng, 50, none);
  puts[0].second = B("a value no other key has");
  auto root = tree.update(smt_empty_root(), puts, overlay);
  REQUIRE(root.is_ok());
  const Bytes root_key = page_key(*root);
  const Bytes value_key = state_index_key(puts[0].first);  // the head's value
  WriteBatch without_root;
  for (const auto& [k, v] : overlay.batch().entries())
    if (!std::equal(k.begin(), k.end(), root_key.begin(), root_key.end())) without_root.put(k, v);
  REQUIRE(store.write(without_root, false).is_ok());
  StateTree on_disk(store);
  CHECK(on_disk.get(*root, puts[0].first).status().code() == "STORAGE_CORRUPT");
  CHECK(on_disk.prove(*root, puts[0].first).status().code() == "STORAGE_CORRUPT");
  Overlay next(store);
  CHECK(on_disk.update(*root, {{B("k"), B("v")}}, next).status().code() == "STORAGE_CORRUPT");

  // The root page back, but with one byte changed: it no longer parses, or
  // its root no longer hashes to the key.
  const ByteView root_node = *overlay.batch().find(root_key);
  Bytes altered(root_node.begin(), root_node.end());
  altered[5] ^= 0x01;
  WriteBatch bad;
  bad.put(root_key, altered);
  REQUIRE(store.write(bad, false).is_ok());
  CHECK(on_disk.get(*root, puts[0].first).status().code() == "STORAGE_CORRUPT");

  WriteBatch fixed;
  fixed.put(root_key, root_node);
  Bytes forged(32, 0);  // a hash, then a value that is not the one hashed
  const Hash vh = crypto::sha256(puts[0].second);
  std::copy(vh.begin(), vh.end(), forged.begin());
  const Bytes other = B("not the value");
  forged.insert(forged.end(), other.begin(), other.end());
  fixed.put(value_key, forged);
  REQUIRE(store.write(fixed, false).is_ok());
  CHECK(on_disk.get(*root, puts[1].first).is_ok());
  CHECK(on_disk.get(*root, puts[0].first).status().code() == "STORAGE_CORRUPT");
}

TEST_CASE("smt: StateProof::check rejects inconsistent fields") {
  StateProof ok;
  ok.key = B("k");
  CHECK(ok.check().is_ok());
  StateProof p = ok;
  p.terminal = 2;
  CHECK(p.check().code() == "MALFORMED_ENCODING");
  p = ok;
  p.present = true;  // present needs terminal == 1
  CHECK_FALSE(p.check().is_ok());
  p = ok;
  p.value = B("v");  // value without present
  CHECK_FALSE(p.check().is_ok());
  p = ok;
  p.other_path[0] = 1;  // other leaf without an other-leaf terminal
  CHECK_FALSE(p.check().is_ok());
  p.terminal = 1;
  CHECK(p.check().is_ok());
  p.present = true;
  CHECK_FALSE(p.check().is_ok());
  p = ok;
  p.siblings.resize(257);
  CHECK_FALSE(p.check().is_ok());
}
