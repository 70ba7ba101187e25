// Helpers shared by the state-tree tests (smt_test.cpp, smt_page_cache_test.cpp,
// smt_trace_test.cpp): a naive reference root written from the definition in
// smt.hpp, a tree over a real LevelDB, and seeded random puts.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/store.hpp"
#include "fixture.hpp"

namespace emledger::smt_testing {

using namespace emledger::ledger;

using Puts = std::vector<std::pair<Bytes, Bytes>>;

// The hashes of the nodes on `proof`'s path, from its terminal up to the root.
inline std::vector<Hash> path_nodes(const StateProof& proof) {
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
inline Bytes page_key(const Hash& h) {
  Bytes key{'n'};
  key.insert(key.end(), h.begin(), h.end());
  return key;
}

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

inline Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

// The definition, recursively over the whole key set: empty = zero, one leaf
// = its leaf hash, otherwise SHA-256(0x01 || left || right) split on the bit
// at `depth`.
inline Hash naive_root(const std::vector<std::pair<Hash, Hash>>& leaves, std::size_t depth) {
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

inline Hash naive_root(const std::map<Bytes, Bytes>& state) {
  std::vector<std::pair<Hash, Hash>> leaves;
  for (const auto& [k, v] : state) leaves.emplace_back(smt_path(k), crypto::sha256(v));
  return naive_root(leaves, 0);
}

struct TreeFixture {
  testing::TempDir dir;
  std::unique_ptr<KvStore> store;
  Hash root = smt_empty_root();
  std::map<Bytes, Bytes> state;  // what the tree should hold

  TreeFixture() {
    auto opened = open_leveldb(dir.str());
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

inline Puts random_puts(Rng& rng, std::size_t count, const std::map<Bytes, Bytes>& existing) {
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

}  // namespace emledger::smt_testing
