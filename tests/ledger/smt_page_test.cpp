// The page codec of ADR 027 against trees the state tree builds: every page
// decodes to exactly the nodes of its four levels, re-encodes to the same
// bytes, and any change to its bytes is refused.
#include "emledger/ledger/smt_page.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "emledger/crypto/sha256.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

// A store with nothing in it: the trees below live in an Overlay's writes.
class EmptyStore : public KvReader {
 public:
  Result<std::optional<Bytes>> get(ByteView) const override { return std::optional<Bytes>(); }
};

// The two children of an internal node's stored form (kind, left, right).
std::array<Hash, 2> children_of(const SmtNodeBytes& raw) {
  std::array<Hash, 2> out;
  std::copy_n(raw.begin() + 1, kHashSize, out[0].begin());
  std::copy_n(raw.begin() + 1 + kHashSize, kHashSize, out[1].begin());
  return out;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

bool bit(const Hash& path, std::size_t depth) {
  return ((path[depth / 8] >> (7 - depth % 8)) & 1) != 0;
}

// A tree of `keys` keys: its nodes built here from the definition (smt.hpp),
// and the pages StateTree wrote for the same keys, read back from the raw
// 'n' entries.
struct Tree {
  Hash root{};
  std::map<Hash, SmtNodeBytes> nodes;
  std::map<Hash, Bytes> written;  // StateTree's pages, by root hash

  explicit Tree(std::size_t keys) {
    EmptyStore empty;
    Overlay ov(empty);
    std::vector<std::pair<Bytes, Bytes>> puts;
    std::vector<std::pair<Hash, Hash>> leaves;  // path, value hash
    for (std::size_t i = 0; i < keys; ++i) {
      puts.emplace_back(text("key/" + std::to_string(i)), text("value " + std::to_string(i)));
      leaves.emplace_back(smt_path(puts.back().first), crypto::sha256(puts.back().second));
    }
    std::sort(leaves.begin(), leaves.end());
    root = build(leaves, 0);
    auto r = StateTree(ov).update(smt_empty_root(), puts, ov);
    REQUIRE(r.is_ok());
    REQUIRE(*r == root);
    for (const auto& e : ov.batch().entries()) {
      if (e.key[0] != 'n') continue;
      Hash h;
      std::copy(e.key.begin() + 1, e.key.end(), h.begin());
      written[h] = Bytes(e.value.begin(), e.value.end());
    }
  }

  // The subtree at `depth` holding `leaves` (sorted by path), each node
  // kept in `nodes`.
  Hash build(std::span<const std::pair<Hash, Hash>> leaves, std::size_t depth) {
    if (leaves.empty()) return Hash{};
    SmtNodeBytes raw{};
    Hash a, b, h;
    if (leaves.size() == 1) {
      raw[0] = 0;
      a = leaves.front().first;
      b = leaves.front().second;
      h = smt_leaf_hash(a, b);
    } else {
      const auto mid = std::partition_point(leaves.begin(), leaves.end(),
                                            [&](const auto& l) { return !bit(l.first, depth); });
      const auto n = static_cast<std::size_t>(mid - leaves.begin());
      a = build(leaves.first(n), depth + 1);
      b = build(leaves.subspan(n), depth + 1);
      raw[0] = 1;
      h = smt_internal_hash(a, b);
    }
    std::copy(a.begin(), a.end(), raw.begin() + 1);
    std::copy(b.begin(), b.end(), raw.begin() + 1 + kHashSize);
    nodes[h] = raw;
    return h;
  }

  SmtNodeSource source() const {
    return [this](const Hash& h) -> std::optional<SmtNodeBytes> {
      auto it = nodes.find(h);
      if (it == nodes.end()) return std::nullopt;
      return it->second;
    };
  }

  // The nodes a page rooted at `h` must hold: those above its fifth level.
  void members(const Hash& h, std::size_t level, std::set<Hash>& out) const {
    if (is_zero(h) || level == kSmtPageLevels) return;
    out.insert(h);
    const SmtNodeBytes& raw = nodes.at(h);
    if (raw[0] == 0) return;
    for (const Hash& child : children_of(raw)) members(child, level + 1, out);
  }

  // Every node at a depth divisible by kSmtPageLevels: the page roots.
  std::vector<Hash> page_roots() const {
    std::vector<Hash> out;
    std::vector<std::pair<Hash, std::size_t>> todo{{root, 0}};
    while (!todo.empty()) {
      const auto [h, depth] = todo.back();
      todo.pop_back();
      if (is_zero(h)) continue;
      if (depth % kSmtPageLevels == 0) out.push_back(h);
      const SmtNodeBytes& raw = nodes.at(h);
      if (raw[0] == 0) continue;
      for (const Hash& child : children_of(raw)) todo.emplace_back(child, depth + 1);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("smt page: each page of a tree decodes to the nodes of its four levels and re-encodes") {
  const Tree tree(600);
  const std::vector<Hash> roots = tree.page_roots();
  REQUIRE(roots.size() > 16);  // the root, depth 4 and depth 8 pages at least
  std::size_t biggest = 0;
  for (const Hash& r : roots) {
    auto page = encode_smt_page(r, tree.source());
    REQUIRE(page.is_ok());
    CHECK(page->size() <= kSmtPageBytesMax);
    biggest = std::max(biggest, page->size());
    auto entries = decode_smt_page(*page, r);
    REQUIRE(entries.is_ok());
    REQUIRE(!entries->empty());
    CHECK(entries->front().hash == r);
    std::set<Hash> want, got;
    tree.members(r, 0, want);
    for (const SmtPageEntry& e : *entries) {
      got.insert(e.hash);
      CHECK(tree.nodes.at(e.hash) == e.node);
    }
    CHECK(got == want);
    CHECK(got.size() == entries->size());
    // Decoded entries are enough to write the page again, byte for byte.
    std::map<Hash, SmtNodeBytes> decoded;
    for (const SmtPageEntry& e : *entries) decoded[e.hash] = e.node;
    auto again = encode_smt_page(r, [&](const Hash& h) -> std::optional<SmtNodeBytes> {
      auto it = decoded.find(h);
      if (it == decoded.end()) return std::nullopt;
      return it->second;
    });
    REQUIRE(again.is_ok());
    CHECK(*again == *page);
  }
  // The top page of 600 keys is full: 15 internal nodes and 16 references.
  CHECK(biggest == kSmtPageBytesMax);
}

TEST_CASE("smt page: the state tree stores exactly the pages of its page roots") {
  for (std::size_t keys : {1, 2, 17, 600}) {
    CAPTURE(keys);
    const Tree tree(keys);
    const std::vector<Hash> roots = tree.page_roots();
    CHECK(tree.written.size() == roots.size());
    for (const Hash& r : roots) {
      auto page = encode_smt_page(r, tree.source());
      REQUIRE(page.is_ok());
      REQUIRE(tree.written.count(r) == 1);
      CHECK(tree.written.at(r) == *page);
    }
  }
}

TEST_CASE("smt page: a one-key tree's root is a leaf page") {
  const Tree tree(1);
  REQUIRE(tree.nodes.size() == 1);
  auto page = encode_smt_page(tree.root, tree.source());
  REQUIRE(page.is_ok());
  CHECK(page->size() == 1 + 2 * kHashSize);
  CHECK((*page)[0] == 1);
  auto entries = decode_smt_page(*page, tree.root);
  REQUIRE(entries.is_ok());
  REQUIRE(entries->size() == 1);
  CHECK(entries->front().hash == tree.root);
  CHECK(entries->front().node == tree.nodes.at(tree.root));
}

TEST_CASE("smt page: every flipped bit, cut and added byte is refused") {
  const Tree tree(40);
  auto page = encode_smt_page(tree.root, tree.source());
  REQUIRE(page.is_ok());
  for (std::size_t i = 0; i < page->size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = *page;
      bad[i] ^= static_cast<std::uint8_t>(1 << bit);
      auto r = decode_smt_page(bad, tree.root);
      REQUIRE_MESSAGE(!r.is_ok(), "byte " << i << " bit " << bit);
      CHECK(r.status().code() == "STORAGE_CORRUPT");
    }
  for (std::size_t n = 0; n < page->size(); ++n)
    CHECK(!decode_smt_page(ByteView(page->data(), n), tree.root).is_ok());
  Bytes longer = *page;
  longer.push_back(0);
  CHECK(!decode_smt_page(longer, tree.root).is_ok());
  // The right bytes under another hash.
  CHECK(!decode_smt_page(*page, crypto::sha256(text("another root"))).is_ok());
}

TEST_CASE("smt page: malformed shapes are refused even when they hash right") {
  const Hash path = crypto::sha256(text("p"));
  const Hash vh = crypto::sha256(text("v"));
  const Hash leaf = smt_leaf_hash(path, vh);
  auto leaf_bytes = [&] {
    Bytes b{1};
    b.insert(b.end(), path.begin(), path.end());
    b.insert(b.end(), vh.begin(), vh.end());
    return b;
  };
  SUBCASE("an empty root") { CHECK(!decode_smt_page(Bytes{0}, Hash{}).is_ok()); }
  SUBCASE("nothing") { CHECK(!decode_smt_page(Bytes{}, leaf).is_ok()); }
  SUBCASE("an internal node with no child") {
    CHECK(!decode_smt_page(Bytes{2, 0, 0}, smt_internal_hash(Hash{}, Hash{})).is_ok());
  }
  SUBCASE("a reference above the last level") {
    Bytes b{2, 3};
    b.insert(b.end(), leaf.begin(), leaf.end());
    b.push_back(0);
    CHECK(!decode_smt_page(b, smt_internal_hash(leaf, Hash{})).is_ok());
  }
  SUBCASE("a leaf at the last level, where only references go") {
    // Four internal nodes down the left edge, then a leaf at level 4.
    Bytes b{2, 2, 2, 2};
    const Bytes l = leaf_bytes();
    b.insert(b.end(), l.begin(), l.end());
    b.insert(b.end(), {0, 0, 0, 0});
    Hash h = leaf;
    for (int i = 0; i < 4; ++i) h = smt_internal_hash(h, Hash{});
    CHECK(!decode_smt_page(b, h).is_ok());
    // The same shape with a reference there decodes: a reference may root
    // any subtree, many leaves under one internal node too.
    Bytes ok{2, 2, 2, 2, 3};
    ok.insert(ok.end(), leaf.begin(), leaf.end());
    ok.insert(ok.end(), {0, 0, 0, 0});
    auto r = decode_smt_page(ok, h);
    REQUIRE(r.is_ok());
    CHECK(r->size() == 4);  // the four internal nodes; the referenced leaf is its own page
  }
  SUBCASE("a reference to the zero hash") {
    Bytes b{2, 2, 2, 2, 3};
    b.insert(b.end(), kHashSize, 0);
    b.insert(b.end(), {0, 0, 0, 0});
    CHECK(!decode_smt_page(b, Hash{}).is_ok());
  }
  SUBCASE("longer than any page") {
    Bytes b(kSmtPageBytesMax + 1, 0);
    CHECK(!decode_smt_page(b, leaf).is_ok());
  }
}

TEST_CASE("smt page: the encoder reports a node it cannot find") {
  const Tree tree(100);
  auto page = encode_smt_page(tree.root, [](const Hash&) { return std::optional<SmtNodeBytes>(); });
  REQUIRE(!page.is_ok());
  CHECK(page.status().code() == "STORAGE_CORRUPT");
}
