// The state tree against a naive recursive reference written here from the
// definition in smt.hpp, over a real LevelDB; proofs, history and tampering.
#include "emledger/ledger/smt.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/store.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

using Puts = std::vector<std::pair<Bytes, Bytes>>;

// The hashes of the nodes on `proof`'s path, from its terminal up to the root.
std::vector<Hash> path_nodes(const StateProof& proof) {
  std::vector<Hash> nodes;
  Hash h = smt_leaf_hash(smt_path(proof.key), crypto::sha256(proof.value));
  nodes.push_back(h);
  const Hash path = smt_path(proof.key);
  for (std::size_t i = proof.siblings.size(); i-- > 0;) {
    const bool right = ((path[i / 8] >> (7 - i % 8)) & 1) != 0;
    const Hash& s = proof.siblings[i];
    Bytes in{0x01};
    const Hash& l = right ? s : h;
    const Hash& r = right ? h : s;
    in.insert(in.end(), l.begin(), l.end());
    in.insert(in.end(), r.begin(), r.end());
    h = crypto::sha256(in);
    nodes.push_back(h);
  }
  return nodes;
}

// The 'n' key of the page rooted at `h`.
Bytes page_key(const Hash& h) {
  Bytes key{'n'};
  key.insert(key.end(), h.begin(), h.end());
  return key;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "emledger-smt-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// splitmix64: a fixed seed gives the same keys on every run and machine.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  Bytes bytes(std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(next());
    return b;
  }

 private:
  std::uint64_t s_;
};

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

// The definition, recursively over the whole key set: empty = zero, one leaf
// = its leaf hash, otherwise SHA-256(0x01 || left || right) split on the bit
// at `depth`.
Hash naive_root(const std::vector<std::pair<Hash, Hash>>& leaves, std::size_t depth) {
  if (leaves.empty()) return Hash{};
  if (leaves.size() == 1) return smt_leaf_hash(leaves[0].first, leaves[0].second);
  std::vector<std::pair<Hash, Hash>> left, right;
  for (const auto& l : leaves) {
    const bool bit = (l.first[depth / 8] >> (7 - depth % 8)) & 1;
    (bit ? right : left).push_back(l);
  }
  const std::uint8_t one = 1;
  return crypto::Sha256()
      .update(ByteView(&one, 1))
      .update(naive_root(left, depth + 1))
      .update(naive_root(right, depth + 1))
      .finish();
}

Hash naive_root(const std::map<Bytes, Bytes>& state) {
  std::vector<std::pair<Hash, Hash>> leaves;
  for (const auto& [k, v] : state) leaves.emplace_back(smt_path(k), crypto::sha256(v));
  return naive_root(leaves, 0);
}

struct TreeFixture {
  TempDir dir;
  std::unique_ptr<KvStore> store;
  Hash root = smt_empty_root();
  std::map<Bytes, Bytes> state;  // what the tree should hold

  TreeFixture() {
    auto opened = open_leveldb(dir.path());
    REQUIRE(opened.is_ok());
    store = std::move(*opened);
  }

  // Applies one batch as a block would: through an overlay, then committed.
  void apply(const Puts& puts) {
    Overlay overlay(*store);
    StateTree tree(overlay);
    auto next = tree.update(root, puts, overlay);
    REQUIRE(next.is_ok());
    REQUIRE(store->write(overlay.batch(), false).is_ok());
    root = *next;
    for (const auto& [k, v] : puts) state[k] = v;
  }
};

Puts random_puts(Rng& rng, std::size_t count, const std::map<Bytes, Bytes>& existing) {
  Puts puts;
  for (std::size_t i = 0; i < count; ++i) {
    Bytes key;
    if (!existing.empty() && rng.below(5) == 0) {
      auto it = existing.begin();
      std::advance(it, static_cast<long>(rng.below(existing.size())));
      key = it->first;  // overwrite an existing key
    } else {
      key = B("key-");
      Bytes tail = rng.bytes(1 + rng.below(24));
      key.insert(key.end(), tail.begin(), tail.end());
    }
    puts.emplace_back(key, rng.bytes(rng.below(48)));
  }
  return puts;
}

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
    // A new key adds its value and the pages on its path, one every four
    // levels from the root's to its leaf's (ADR 027), and a page for the leaf
    // it displaces only if that comes to a depth rooting one.
    Overlay overlay(*f.store);
    StateTree tree(overlay);
    auto root = tree.update(f.root, {{B("fresh"), B("value")}}, overlay);
    REQUIRE(root.is_ok());
    auto proof = tree.prove(*root, as_bytes("fresh"));
    REQUIRE(proof.is_ok());
    const std::size_t depth = proof->siblings.size();
    const std::vector<Hash> up = path_nodes(*proof);  // the leaf first
    std::set<Bytes> expected{[] {
      Bytes k{'v'};
      const Hash vh = crypto::sha256(B("value"));
      k.insert(k.end(), vh.begin(), vh.end());
      return k;
    }()};
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
  TempDir dir;
  auto opened = open_leveldb(dir.path());
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
  const Bytes value_key = [&] {
    Bytes k{'v'};
    Hash vh = crypto::sha256(puts[0].second);
    k.insert(k.end(), vh.begin(), vh.end());
    return k;
  }();
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
  fixed.put(value_key, B("not the value"));
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

TEST_CASE("smt: a forgotten node frees its way for the next insert") {
  SmtNodeCache cache(2);
  for (std::uint8_t t = 1; t <= 4; ++t) cache.insert(same_set_hash(t), node_bytes(t));
  cache.forget(same_set_hash(3));
  cache.forget(same_set_hash(9));  // not held: changes nothing
  CHECK_FALSE(cache.find(same_set_hash(3)).has_value());
  cache.insert(same_set_hash(5), node_bytes(5));  // takes 3's way, not an LRU victim
  for (std::uint8_t t : {1, 2, 4, 5}) CHECK(cache.find(same_set_hash(t)).has_value());
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
