// The transaction log (docs/formats/merkle_log.md): RFC 9162 hashing, proofs
// and verification, over stored perfect subtrees.
//
// Every range this file asks the store for is "aligned": it starts at a
// multiple of the smallest power of two >= its length. Such a range splits, by
// the binary digits of its length, into at most 64 perfect aligned subtrees,
// each one stored node, which is why any root or proof costs O(log n) reads.
#include "emledger/ledger/merkle_log.hpp"

#include <algorithm>
#include <bit>
#include <string>

#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {
namespace {

constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;
constexpr std::uint8_t kLogKeyTag = 'l';
constexpr std::size_t kLogKeyBytes = 1 + 1 + 8;
// No log comes near this; it keeps begin + length and 2^level far from overflow.
constexpr std::uint64_t kLogSizeMax = std::uint64_t{1} << 62;
constexpr unsigned kLogLevelsMax = 62;
static_assert(kLogSizeMax == std::uint64_t{1} << kLogLevelsMax);
// Perfect subtrees of one aligned range: one per binary digit of its length.
static_assert(kLogLevelsMax + 1 <= kProofHashesMax);

Status out_of_range(const std::string& what) { return Status::error("PROOF_OUT_OF_RANGE", what); }

Status corrupt(const std::string& what) { return Status::error("STORAGE_CORRUPT", what); }

std::string node_name(unsigned level, std::uint64_t index) {
  return "log node (level " + std::to_string(level) + ", index " + std::to_string(index) + ")";
}

// RFC 9162's k for a tree of n >= 2 leaves: the largest power of two < n.
std::uint64_t split_point(std::uint64_t n) {
  EMLEDGER_ASSERT(n >= 2);
  return std::bit_floor(n - 1);
}

bool aligned(std::uint64_t begin, std::uint64_t end) {
  return begin < end && begin % std::bit_ceil(end - begin) == 0;
}

// Reads one stored node; nullopt when absent, STORAGE_CORRUPT when not a hash.
Result<std::optional<Hash>> read_node(const KvReader& store, unsigned level, std::uint64_t index) {
  EMLEDGER_ASSERT(level <= kLogLevelsMax);
  auto got = store.get(log_node_key(static_cast<std::uint8_t>(level), index));
  if (!got) return got.status();
  if (!got->has_value()) return std::optional<Hash>();
  const Bytes& raw = **got;
  if (raw.size() != kHashSize) return corrupt(node_name(level, index) + " is not 32 bytes");
  Hash h{};
  std::copy(raw.begin(), raw.end(), h.begin());
  return std::optional<Hash>(h);
}

Result<Hash> require_node(const KvReader& store, unsigned level, std::uint64_t index) {
  auto node = read_node(store, level, index);
  if (!node) return node.status();
  if (!node->has_value()) return corrupt(node_name(level, index) + " is missing");
  return **node;
}

// The perfect subtree roots covering the aligned range [begin, end), largest
// (leftmost) first: one read per binary digit of end - begin.
Result<std::vector<Hash>> load_range(const KvReader& store, std::uint64_t begin,
                                     std::uint64_t end) {
  std::vector<Hash> parts;
  if (begin == end) return parts;
  EMLEDGER_ASSERT(aligned(begin, end));
  for (unsigned level = kLogLevelsMax + 1; level-- > 0;) {
    const std::uint64_t width = std::uint64_t{1} << level;
    if ((end - begin) & width) {
      auto node = require_node(store, level, begin >> level);
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
Status require_stored(const KvReader& store, std::uint64_t size) {
  if (size > kLogSizeMax) return out_of_range("log size " + std::to_string(size) + " too large");
  if (size == 0) return Status::ok();
  const unsigned level = static_cast<unsigned>(std::countr_zero(size));
  auto node = read_node(store, level, (size >> level) - 1);
  if (!node) return node.status();
  if (!node->has_value())
    return out_of_range("log holds fewer than " + std::to_string(size) + " leaves");
  return Status::ok();
}

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

Bytes log_node_key(std::uint8_t level, std::uint64_t index) {
  Bytes key;
  key.reserve(kLogKeyBytes);
  key.push_back(kLogKeyTag);
  key.push_back(level);
  for (int shift = 56; shift >= 0; shift -= 8)
    key.push_back(static_cast<std::uint8_t>(index >> shift));
  EMLEDGER_ASSERT(key.size() == kLogKeyBytes);
  return key;
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

Result<Hash> MerkleLog::subtree(std::uint64_t begin, std::uint64_t end) const {
  EMLEDGER_ASSERT(aligned(begin, end));
  auto parts = load_range(store_, begin, end);
  if (!parts) return parts.status();
  return fold(*parts);
}

Result<Hash> MerkleLog::append(std::uint64_t size, const std::vector<Hash>& leaf_hashes,
                               Overlay& out) const {
  EMLEDGER_ASSERT(size <= kLogSizeMax && leaf_hashes.size() <= kLogSizeMax - size);
  auto loaded = load_range(store_, 0, size);
  if (!loaded) return loaded.status();
  if (leaf_hashes.empty()) return size == 0 ? log_empty_root() : fold(*loaded);
  // Writing over a longer log would silently rewrite history; refuse.
  auto next = read_node(store_, 0, size);
  if (!next) return next.status();
  if (next->has_value())
    return corrupt("log already holds leaf " + std::to_string(size) + "; append at wrong size");
  std::vector<Hash> stack = std::move(*loaded);
  std::uint64_t n = size;
  for (const Hash& leaf : leaf_hashes) {
    frontier_push(stack, n, leaf, [&](unsigned level, std::uint64_t index, const Hash& h) {
      out.put(log_node_key(static_cast<std::uint8_t>(level), index), h);
    });
  }
  return fold(stack);
}

Result<Hash> MerkleLog::root(std::uint64_t size) const {
  EMLEDGER_TRY(require_stored(store_, size));
  if (size == 0) return log_empty_root();
  return subtree(0, size);
}

Result<Hash> MerkleLog::leaf(std::uint64_t index) const {
  auto node = read_node(store_, 0, index);
  if (!node) return node.status();
  if (!node->has_value()) return out_of_range("no leaf " + std::to_string(index) + " in the log");
  return **node;
}

Result<InclusionProof> MerkleLog::inclusion(std::uint64_t leaf_index, std::uint64_t size) const {
  if (leaf_index >= size)
    return out_of_range("leaf " + std::to_string(leaf_index) + " not below size " +
                        std::to_string(size));
  EMLEDGER_TRY(require_stored(store_, size));
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
        leaf_index < begin + k ? subtree(begin + k, end) : subtree(begin, begin + k);
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
  EMLEDGER_TRY(require_stored(store_, second));
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
    Result<Hash> sibling = go_left ? subtree(begin + k, end) : subtree(begin, begin + k);
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
    auto own = subtree(begin, end);
    if (!own) return own.status();
    proof.path.push_back(*own);
  }
  std::reverse(proof.path.begin(), proof.path.end());
  EMLEDGER_ASSERT(proof.path.size() <= kProofHashesMax);
  return proof;
}

Result<std::vector<Hash>> MerkleLog::frontier(std::uint64_t size) const {
  EMLEDGER_TRY(require_stored(store_, size));
  return load_range(store_, 0, size);
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
