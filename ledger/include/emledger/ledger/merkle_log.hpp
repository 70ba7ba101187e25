// The transaction log: an RFC 9162 (Certificate Transparency 2.0) Merkle tree
// over every committed transaction in order. leaf hash = SHA-256(0x00 || entry),
// interior = SHA-256(0x01 || left || right), empty tree = SHA-256("").
// Storage: docs/formats/merkle_log.md ("t" keys). The perfect (complete,
// aligned) subtrees at every fourth level are stored in tiles of 16, and the
// levels between are hashed up from them, so an append writes about one key
// per 16 leaves and any root or proof costs O(log n) reads.
#pragma once

#include <span>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::ledger {

Hash log_leaf_hash(ByteView entry);
Hash log_node_hash(const Hash& left, const Hash& right);
Hash log_empty_root();

struct InclusionProof {
  static constexpr std::string_view kDomain = "emledger.proof.inclusion";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t leaf_index = 0;
  std::uint64_t tree_size = 0;
  std::vector<Hash> path;  // RFC 9162 section 2.1.3.1 order
  template <class V>
  void describe(V& v) {
    v.u64(leaf_index);
    v.u64(tree_size);
    v.hash_list(path, kProofHashesMax);
  }
};

struct ConsistencyProof {
  static constexpr std::string_view kDomain = "emledger.proof.consistency";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t first = 0;
  std::uint64_t second = 0;
  std::vector<Hash> path;  // RFC 9162 section 2.1.4.1 order
  template <class V>
  void describe(V& v) {
    v.u64(first);
    v.u64(second);
    v.hash_list(path, kProofHashesMax);
  }
};

// RFC 9162 section 2.1.3.2. Pure; no storage.
bool verify_inclusion(const Hash& leaf_hash, const InclusionProof& proof, const Hash& root);
// RFC 9162 section 2.1.4.2. first == second requires an empty path and equal roots;
// first == 0 is rejected (nothing to prove).
bool verify_consistency(const ConsistencyProof& proof, const Hash& first_root,
                        const Hash& second_root);

// The stored log. Stateless apart from the reader; `size` is always explicit
// so that a reader can answer for any past size.
class MerkleLog {
 public:
  explicit MerkleLog(const KvReader& store) : store_(store) {}
  // Appends leaves [size, size + leaf_hashes.size()) writing new perfect
  // subtree nodes to `out`; `store_` must already hold the log of `size`
  // leaves (or be an Overlay over it). Returns the new root.
  Result<Hash> append(std::uint64_t size, const std::vector<Hash>& leaf_hashes, Overlay& out) const;
  Result<Hash> root(std::uint64_t size) const;
  Result<Hash> leaf(std::uint64_t index) const;
  // Errors: PROOF_OUT_OF_RANGE when leaf_index >= size or size > stored size.
  Result<InclusionProof> inclusion(std::uint64_t leaf_index, std::uint64_t size) const;
  // Errors: PROOF_OUT_OF_RANGE unless 0 < first <= second <= stored size.
  Result<ConsistencyProof> consistency(std::uint64_t first, std::uint64_t second) const;
  // The roots of the perfect subtrees that make up the first `size` leaves,
  // largest first (one per set bit of `size`): what LogFrontier::resume needs
  // to go on from `size`. Errors: PROOF_OUT_OF_RANGE beyond the stored size.
  Result<std::vector<Hash>> frontier(std::uint64_t size) const;

 private:
  const KvReader& store_;
};

// Tiles sit at every kLogTileHeight-th level and hold kLogTileWidth nodes of it.
inline constexpr unsigned kLogTileHeight = 4;
inline constexpr std::uint64_t kLogTileWidth = std::uint64_t{1} << kLogTileHeight;
// The root over a power-of-two count (1 to 16) of consecutive perfect subtrees
// of one level, aligned to their count: the nodes hashed up pairwise.
Hash log_perfect_root(std::span<const Hash> nodes);

// Key of the tile at `tile_level` and `tile_index`: the perfect subtrees of
// 2^(4 * tile_level) leaves with indices 16 * tile_index .. + 15, as many as
// are complete, one 32-byte hash each.
Bytes log_tile_key(std::uint8_t tile_level, std::uint64_t tile_index);
// The hashes of a stored tile's value (1 to 16). Errors: STORAGE_CORRUPT.
Result<std::vector<Hash>> log_tile_hashes(ByteView raw);

// An in-memory compact range (the right frontier of the tree): lets a client
// recompute log roots block by block while walking a chain, in O(log n) memory.
class LogFrontier {
 public:
  // A frontier that goes on from a log of `size` leaves, given its perfect
  // subtree roots (MerkleLog::frontier); the caller checks root() against a
  // trusted root. Errors: PROOF_INVALID when their count is not the number
  // of set bits of `size`.
  static Result<LogFrontier> resume(std::uint64_t size, std::vector<Hash> subtrees);
  void append(const Hash& leaf_hash);
  std::uint64_t size() const { return size_; }
  Hash root() const;

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> stack_;  // perfect subtree roots, largest first
};

}  // namespace emledger::ledger
