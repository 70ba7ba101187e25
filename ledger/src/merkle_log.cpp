// The transaction log (docs/formats/merkle_log.md): RFC 9162 hashing, proofs
// and verification, over perfect subtrees stored in tiles.
//
// Every range this file asks the store for is "aligned": it starts at a
// multiple of the smallest power of two >= its length. Such a range splits, by
// the binary digits of its length, into at most 64 perfect aligned subtrees,
// each one node of one tile, which is why any root or proof costs O(log n)
// reads. A node at a level between the tiles' levels is hashed up from at most
// 8 hashes of one tile.
#include "emledger/ledger/merkle_log.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <string>

#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {
namespace {

constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;
constexpr std::uint8_t kTileKeyTag = 't';
constexpr std::size_t kTileKeyBytes = 1 + 1 + 8;
// A tile holds the nodes of one tree level divisible by kTileHeight, in runs of
// kTileWidth: tile (t, k) holds the perfect subtrees of 2^(4t) leaves with
// indices 16k .. 16k + 15, as many as are complete.
constexpr unsigned kTileHeight = kLogTileHeight;
constexpr std::uint64_t kTileWidth = kLogTileWidth;
// No log comes near this; it keeps begin + length and 2^level far from overflow.
constexpr std::uint64_t kLogSizeMax = std::uint64_t{1} << 62;
constexpr unsigned kLogLevelsMax = 62;
constexpr unsigned kTileLevels = kLogLevelsMax / kTileHeight + 1;
static_assert(kLogSizeMax == std::uint64_t{1} << kLogLevelsMax);
// Perfect subtrees of one aligned range: one per binary digit of its length.
static_assert(kLogLevelsMax + 1 <= kProofHashesMax);

Status out_of_range(const std::string& what) { return Status::error("PROOF_OUT_OF_RANGE", what); }

Status corrupt(const std::string& what) { return Status::error("STORAGE_CORRUPT", what); }

std::string node_name(unsigned level, std::uint64_t index) {
  return "log node (level " + std::to_string(level) + ", index " + std::to_string(index) + ")";
}

std::string tile_name(unsigned tile_level, std::uint64_t tile_index) {
  return "log tile (level " + std::to_string(tile_level) + ", index " + std::to_string(tile_index) +
         ")";
}

// RFC 9162's k for a tree of n >= 2 leaves: the largest power of two < n.
std::uint64_t split_point(std::uint64_t n) {
  EMLEDGER_ASSERT(n >= 2);
  return std::bit_floor(n - 1);
}

bool aligned(std::uint64_t begin, std::uint64_t end) {
  return begin < end && begin % std::bit_ceil(end - begin) == 0;
}

// Reads tiles for one operation, keeping the few it read last: the nodes one
// proof or append needs at four consecutive levels mostly lie in one tile.
// Never kept across operations, so an append's longer tile is never missed.
class TileReader {
 public:
  explicit TileReader(const KvReader& store) : store_(store) {}

  // The tile's bytes (a whole number of hashes, 1 to 16), or an empty view
  // when it is absent. The view stays valid until the next call.
  Result<ByteView> tile(unsigned tile_level, std::uint64_t tile_index) {
    for (Slot& s : slots_)
      if (s.used && s.level == tile_level && s.index == tile_index) return ByteView(s.raw);
    Slot& s = slots_[next_];
    next_ = (next_ + 1) % slots_.size();
    auto got = store_.get(log_tile_key(static_cast<std::uint8_t>(tile_level), tile_index));
    if (!got) return got.status();
    s.used = true;
    s.level = tile_level;
    s.index = tile_index;
    s.raw = got->has_value() ? std::move(**got) : Bytes();
    if (s.raw.size() % kHashSize != 0 || s.raw.size() > kTileWidth * kHashSize) {
      s.used = false;
      return corrupt(tile_name(tile_level, tile_index) + " is " + std::to_string(s.raw.size()) +
                     " bytes, not 32 to 512 in steps of 32");
    }
    return ByteView(s.raw);
  }

 private:
  struct Slot {
    bool used = false;
    unsigned level = 0;
    std::uint64_t index = 0;
    Bytes raw;
  };
  const KvReader& store_;
  std::array<Slot, 4> slots_{};
  std::size_t next_ = 0;
};

Hash hash_at(ByteView raw, std::uint64_t i) {
  Hash h{};
  std::copy_n(raw.begin() + static_cast<std::ptrdiff_t>(i * kHashSize), kHashSize, h.begin());
  return h;
}

// A stored node: the perfect subtree over 2^(level mod 4) consecutive hashes of
// one tile, hashed up pairwise. nullopt when the tile does not hold them all.
Result<std::optional<Hash>> read_node(TileReader& tiles, unsigned level, std::uint64_t index) {
  EMLEDGER_ASSERT(level <= kLogLevelsMax);
  const unsigned tile_level = level / kTileHeight;
  const unsigned rise = level % kTileHeight;
  const std::uint64_t first = index << rise;  // at level tile_level * 4
  const std::uint64_t count = std::uint64_t{1} << rise;
  auto raw = tiles.tile(tile_level, first / kTileWidth);
  if (!raw) return raw.status();
  const std::uint64_t offset = first % kTileWidth;
  if (raw->size() / kHashSize < offset + count) return std::optional<Hash>();
  std::array<Hash, kTileWidth / 2> row{};
  for (std::uint64_t i = 0; i < count; ++i) row[i] = hash_at(*raw, offset + i);
  return std::optional<Hash>(log_perfect_root(std::span<const Hash>(row.data(), count)));
}

Result<Hash> require_node(TileReader& tiles, unsigned level, std::uint64_t index) {
  auto node = read_node(tiles, level, index);
  if (!node) return node.status();
  if (!node->has_value()) return corrupt(node_name(level, index) + " is missing");
  return **node;
}

// The perfect subtree roots covering the aligned range [begin, end), largest
// (leftmost) first: one node per binary digit of end - begin.
Result<std::vector<Hash>> load_range(TileReader& tiles, std::uint64_t begin, std::uint64_t end) {
  std::vector<Hash> parts;
  if (begin == end) return parts;
  EMLEDGER_ASSERT(aligned(begin, end));
  for (unsigned level = kLogLevelsMax + 1; level-- > 0;) {
    const std::uint64_t width = std::uint64_t{1} << level;
    if ((end - begin) & width) {
      auto node = require_node(tiles, level, begin >> level);
      if (!node) return node.status();
      parts.push_back(*node);
      begin += width;
    }
  }
  EMLEDGER_ASSERT(begin == end);
  return parts;
}

// MTH of a range from its perfect parts: the right edge folds from the right.
Hash fold(const std::vector<Hash>& parts) {
  EMLEDGER_ASSERT(!parts.empty());
  Hash r = parts.back();
  for (std::size_t i = parts.size() - 1; i-- > 0;) r = log_node_hash(parts[i], r);
  return r;
}

// Adds one leaf to a frontier (perfect subtree roots, largest first) of a tree
// of `size` leaves, reporting each completed perfect subtree to `emit`.
template <class Emit>
void frontier_push(std::vector<Hash>& stack, std::uint64_t& size, const Hash& leaf_hash,
                   Emit&& emit) {
  EMLEDGER_ASSERT(size < kLogSizeMax);
  EMLEDGER_ASSERT(stack.size() == static_cast<std::size_t>(std::popcount(size)));
  emit(0u, size, leaf_hash);
  stack.push_back(leaf_hash);
  ++size;
  // Each trailing zero of the new size closes one more perfect subtree.
  const unsigned merges = static_cast<unsigned>(std::countr_zero(size));
  for (unsigned level = 1; level <= merges; ++level) {
    Hash right = stack.back();
    stack.pop_back();
    Hash joined = log_node_hash(stack.back(), right);
    stack.back() = joined;
    emit(level, (size >> level) - 1, joined);
  }
}

// The stored size is not kept here; instead, the rightmost perfect subtree of
// [0, size) exists exactly when at least `size` leaves were appended.
Status require_stored(TileReader& tiles, std::uint64_t size) {
  if (size > kLogSizeMax) return out_of_range("log size " + std::to_string(size) + " too large");
  if (size == 0) return Status::ok();
  const unsigned level = static_cast<unsigned>(std::countr_zero(size));
  auto node = read_node(tiles, level, (size >> level) - 1);
  if (!node) return node.status();
  if (!node->has_value())
    return out_of_range("log holds fewer than " + std::to_string(size) + " leaves");
  return Status::ok();
}

Result<Hash> subtree(TileReader& tiles, std::uint64_t begin, std::uint64_t end) {
  EMLEDGER_ASSERT(aligned(begin, end));
  auto parts = load_range(tiles, begin, end);
  if (!parts) return parts.status();
  return fold(*parts);
}

// Gathers an append's new nodes at the tiles' levels and puts each tile once:
// when it fills, or at the end with what it then holds. It reads the partial
// tiles it goes on from before the first put, so a store that does not match
// the log's size fails the append before anything is written.
class TileWriter {
 public:
  explicit TileWriter(Overlay& out) : out_(out) {}

  // Loads the last, partial tile of every tile level of a log of `size` leaves.
  Status resume(TileReader& tiles, std::uint64_t size) {
    for (unsigned t = 0; t < kTileLevels; ++t) {
      const std::uint64_t nodes = size >> (t * kTileHeight);
      if (nodes == 0) break;
      const std::uint64_t held = nodes % kTileWidth;
      if (held == 0) continue;
      auto raw = tiles.tile(t, nodes / kTileWidth);
      if (!raw) return raw.status();
      if (raw->size() != held * kHashSize)
        return corrupt(tile_name(t, nodes / kTileWidth) + " holds " +
                       std::to_string(raw->size() / kHashSize) + " nodes, not the " +
                       std::to_string(held) + " a log of " + std::to_string(size) +
                       " leaves has there");
      open_[t].active = true;
      open_[t].index = nodes / kTileWidth;
      open_[t].raw.assign(raw->begin(), raw->end());
    }
    return Status::ok();
  }

  void add(unsigned level, std::uint64_t index, const Hash& h) {
    if (level % kTileHeight != 0) return;
    Open& o = open_[level / kTileHeight];
    if (!o.active) {
      EMLEDGER_ASSERT(index % kTileWidth == 0);
      o.active = true;
      o.index = index / kTileWidth;
      o.raw.clear();
    }
    EMLEDGER_ASSERT(o.index == index / kTileWidth &&
                    o.raw.size() == (index % kTileWidth) * kHashSize);
    o.raw.insert(o.raw.end(), h.begin(), h.end());
    o.dirty = true;
    if (o.raw.size() == kTileWidth * kHashSize) {
      put(level / kTileHeight, o);
      o.active = false;
    }
  }

  void finish() {
    for (unsigned t = 0; t < kTileLevels; ++t)
      if (open_[t].active && open_[t].dirty) put(t, open_[t]);
  }

 private:
  struct Open {
    bool active = false;
    bool dirty = false;
    std::uint64_t index = 0;
    Bytes raw;
  };
  void put(unsigned t, Open& o) {
    out_.put(log_tile_key(static_cast<std::uint8_t>(t), o.index), o.raw);
    o.dirty = false;
  }
  Overlay& out_;
  std::array<Open, kTileLevels> open_{};
};

}  // namespace

Hash log_leaf_hash(ByteView entry) {
  const std::uint8_t prefix = kLeafPrefix;
  return crypto::Sha256().update(ByteView(&prefix, 1)).update(entry).finish();
}

Hash log_node_hash(const Hash& left, const Hash& right) {
  const std::uint8_t prefix = kNodePrefix;
  return crypto::Sha256().update(ByteView(&prefix, 1)).update(left).update(right).finish();
}

Hash log_empty_root() { return crypto::sha256(ByteView()); }

Hash log_perfect_root(std::span<const Hash> nodes) {
  EMLEDGER_ASSERT(!nodes.empty() && nodes.size() <= kTileWidth &&
                  std::has_single_bit(nodes.size()));
  std::array<Hash, kTileWidth> row{};
  std::copy(nodes.begin(), nodes.end(), row.begin());
  for (std::size_t width = nodes.size(); width > 1; width /= 2)
    for (std::size_t i = 0; i < width / 2; ++i) row[i] = log_node_hash(row[2 * i], row[2 * i + 1]);
  return row[0];
}

Bytes log_tile_key(std::uint8_t tile_level, std::uint64_t tile_index) {
  Bytes key;
  key.reserve(kTileKeyBytes);
  key.push_back(kTileKeyTag);
  key.push_back(tile_level);
  for (int shift = 56; shift >= 0; shift -= 8)
    key.push_back(static_cast<std::uint8_t>(tile_index >> shift));
  EMLEDGER_ASSERT(key.size() == kTileKeyBytes);
  return key;
}

Result<std::vector<Hash>> log_tile_hashes(ByteView raw) {
  if (raw.empty() || raw.size() % kHashSize != 0 || raw.size() > kTileWidth * kHashSize)
    return corrupt("a log tile of " + std::to_string(raw.size()) +
                   " bytes, not 32 to 512 in steps of 32");
  std::vector<Hash> out(raw.size() / kHashSize);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = hash_at(raw, i);
  return out;
}

bool verify_inclusion(const Hash& leaf_hash, const InclusionProof& proof, const Hash& root) {
  if (proof.leaf_index >= proof.tree_size) return false;
  std::uint64_t fn = proof.leaf_index;
  std::uint64_t sn = proof.tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof.path) {
    if (sn == 0) return false;  // more hashes than levels
    if ((fn & 1) != 0 || fn == sn) {
      r = log_node_hash(p, r);
      // A last node with no right sibling rises without hashing.
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = log_node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool verify_consistency(const ConsistencyProof& proof, const Hash& first_root,
                        const Hash& second_root) {
  if (proof.first == 0 || proof.first > proof.second) return false;
  if (proof.first == proof.second) return proof.path.empty() && first_root == second_root;
  if (proof.path.empty()) return false;
  // When the first tree is a perfect left subtree of the second, its root is
  // the implicit first element of the path (RFC 9162 section 2.1.4.2 step 2).
  const bool seeded = std::has_single_bit(proof.first);
  const std::size_t count = proof.path.size() + (seeded ? 1 : 0);
  auto at = [&](std::size_t i) -> const Hash& {
    if (seeded) return i == 0 ? first_root : proof.path[i - 1];
    return proof.path[i];
  };
  std::uint64_t fn = proof.first - 1;
  std::uint64_t sn = proof.second - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = at(0);
  Hash sr = at(0);
  for (std::size_t i = 1; i < count; ++i) {
    const Hash& c = at(i);
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = log_node_hash(c, fr);
      sr = log_node_hash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = log_node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == first_root && sr == second_root;
}

Result<Hash> MerkleLog::append(std::uint64_t size, const std::vector<Hash>& leaf_hashes,
                               Overlay& out) const {
  EMLEDGER_ASSERT(size <= kLogSizeMax && leaf_hashes.size() <= kLogSizeMax - size);
  TileReader tiles(store_);
  auto loaded = load_range(tiles, 0, size);
  if (!loaded) return loaded.status();
  if (leaf_hashes.empty()) return size == 0 ? log_empty_root() : fold(*loaded);
  // Writing over a longer log would silently rewrite history; refuse.
  auto next = read_node(tiles, 0, size);
  if (!next) return next.status();
  if (next->has_value())
    return corrupt("log already holds leaf " + std::to_string(size) + "; append at wrong size");
  TileWriter writer(out);
  EMLEDGER_TRY(writer.resume(tiles, size));
  std::vector<Hash> stack = std::move(*loaded);
  std::uint64_t n = size;
  for (const Hash& leaf : leaf_hashes)
    frontier_push(stack, n, leaf, [&](unsigned level, std::uint64_t index, const Hash& h) {
      writer.add(level, index, h);
    });
  writer.finish();
  return fold(stack);
}

Result<Hash> MerkleLog::root(std::uint64_t size) const {
  TileReader tiles(store_);
  EMLEDGER_TRY(require_stored(tiles, size));
  if (size == 0) return log_empty_root();
  return subtree(tiles, 0, size);
}

Result<Hash> MerkleLog::leaf(std::uint64_t index) const {
  TileReader tiles(store_);
  auto node = read_node(tiles, 0, index);
  if (!node) return node.status();
  if (!node->has_value()) return out_of_range("no leaf " + std::to_string(index) + " in the log");
  return **node;
}

Result<InclusionProof> MerkleLog::inclusion(std::uint64_t leaf_index, std::uint64_t size) const {
  if (leaf_index >= size)
    return out_of_range("leaf " + std::to_string(leaf_index) + " not below size " +
                        std::to_string(size));
  TileReader tiles(store_);
  EMLEDGER_TRY(require_stored(tiles, size));
  InclusionProof proof;
  proof.leaf_index = leaf_index;
  proof.tree_size = size;
  // RFC 9162 PATH(m, D[begin:end]), walked from the root down. Only the first
  // step to the left can leave a non-perfect sibling; every other is one read.
  std::uint64_t begin = 0;
  std::uint64_t end = size;
  while (end - begin > 1) {
    const std::uint64_t k = split_point(end - begin);
    Result<Hash> sibling =
        leaf_index < begin + k ? subtree(tiles, begin + k, end) : subtree(tiles, begin, begin + k);
    if (!sibling) return sibling.status();
    proof.path.push_back(*sibling);
    if (leaf_index < begin + k) {
      end = begin + k;
    } else {
      begin += k;
    }
  }
  std::reverse(proof.path.begin(), proof.path.end());
  EMLEDGER_ASSERT(proof.path.size() <= kProofHashesMax);
  return proof;
}

Result<ConsistencyProof> MerkleLog::consistency(std::uint64_t first, std::uint64_t second) const {
  if (first == 0 || first > second)
    return out_of_range("consistency needs 0 < first <= second, got " + std::to_string(first) +
                        ", " + std::to_string(second));
  TileReader tiles(store_);
  EMLEDGER_TRY(require_stored(tiles, second));
  ConsistencyProof proof;
  proof.first = first;
  proof.second = second;
  // RFC 9162 SUBPROOF(m, D[begin:end], b), walked from the root down; `first`
  // stays an absolute leaf count, begin <= first <= end throughout.
  std::uint64_t begin = 0;
  std::uint64_t end = second;
  bool whole_first_tree = true;  // b: [begin, end) still starts at leaf 0
  while (first != end) {
    const std::uint64_t k = split_point(end - begin);
    const bool go_left = first <= begin + k;
    Result<Hash> sibling =
        go_left ? subtree(tiles, begin + k, end) : subtree(tiles, begin, begin + k);
    if (!sibling) return sibling.status();
    proof.path.push_back(*sibling);
    if (go_left) {
      end = begin + k;
    } else {
      begin += k;
      whole_first_tree = false;
    }
  }
  // The first tree's own root is implied when it is a perfect left subtree.
  if (!whole_first_tree) {
    EMLEDGER_ASSERT(begin < end);
    auto own = subtree(tiles, begin, end);
    if (!own) return own.status();
    proof.path.push_back(*own);
  }
  std::reverse(proof.path.begin(), proof.path.end());
  EMLEDGER_ASSERT(proof.path.size() <= kProofHashesMax);
  return proof;
}

Result<std::vector<Hash>> MerkleLog::frontier(std::uint64_t size) const {
  TileReader tiles(store_);
  EMLEDGER_TRY(require_stored(tiles, size));
  return load_range(tiles, 0, size);
}

Result<LogFrontier> LogFrontier::resume(std::uint64_t size, std::vector<Hash> subtrees) {
  if (size > kLogSizeMax || subtrees.size() != static_cast<std::size_t>(std::popcount(size)))
    return Status::error("PROOF_INVALID", "a log of " + std::to_string(size) + " leaves has " +
                                              std::to_string(std::popcount(size)) +
                                              " perfect subtrees, not " +
                                              std::to_string(subtrees.size()));
  LogFrontier f;
  f.size_ = size;
  f.stack_ = std::move(subtrees);
  return f;
}

void LogFrontier::append(const Hash& leaf_hash) {
  frontier_push(stack_, size_, leaf_hash, [](unsigned, std::uint64_t, const Hash&) {});
}

Hash LogFrontier::root() const { return size_ == 0 ? log_empty_root() : fold(stack_); }

}  // namespace emledger::ledger
