// The kernel's LevelDB key layout (docs/formats/storage.md), shared by block
// execution (ledger.cpp), the transaction rules (tx_rules.cpp), queries
// (ledger_queries.cpp) and snapshots (snapshot.cpp). Internal to ledger/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/store.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::ledger::detail {

// Single-byte key prefixes of docs/formats/storage.md.
inline constexpr std::uint8_t kKeyGenesis = 'G';
// The store's format ("F" -> one byte, kStoreFormat), written with the
// genesis entry. A store without it keeps one entry per state-tree node
// (format 1, before ADR 027) and is refused; format 2 keeps one entry per log
// node (before ADR 029) and format 3 each flat index value after its hash
// (before ADR 032): both are upgraded in place, docs/formats/storage.md.
inline constexpr std::uint8_t kKeyFormat = 'F';
inline constexpr std::uint8_t kStoreFormat = 4;
// Where an upgrade from format 3 has got to ("U" -> the last flat index key it
// rewrote); present only while such an upgrade is unfinished.
inline constexpr std::uint8_t kKeyUpgradeMark = 'U';
inline constexpr std::uint8_t kKeyHead = 'H';
// The lowest height whose block this store holds and the view of the block
// below it ("B" -> u64 height, u64 view, big-endian): present only in a store
// restored from a snapshot (docs/formats/snapshot.md).
inline constexpr std::uint8_t kKeyBase = 'B';
inline constexpr std::uint8_t kKeyHeader = 'h';
inline constexpr std::uint8_t kKeyCert = 'c';
// A block final through a descendant (ADR 014): "d" + height -> the 32-byte
// header hash of the finalized descendant; "D" + that hash -> the descendant
// form FinalityProof of the first block committed through it, whose links
// cover every later block committed through the same descendant.
inline constexpr std::uint8_t kKeyFinalizedBy = 'd';
inline constexpr std::uint8_t kKeyDescendantProof = 'D';
// A validator-set change below the base of a store restored from a snapshot
// ("e" + u64 epoch it ends -> encode(EpochChange)), from the snapshot's
// succession: the store holds no header, proof or state root there to build
// it from (docs/formats/succession.md).
inline constexpr std::uint8_t kKeyEpochChange = 'e';
// Pruning (ADR 021), only on a ledger with a retention window:
// "k" + u64 height -> the 32-byte hashes of the state-tree nodes that block
// superseded, concatenated (its stale list, erased once processed);
// "r" + u64 height + node hash -> empty: the block revived that node (a
// stale list below that height must not erase it);
// "P" -> u64: the lowest height whose state tree is whole.
inline constexpr std::uint8_t kKeyStaleList = 'k';
// A state-tree page ("n" + the hash of the node rooting it; smt.cpp reads and
// writes them, pruning erases them).
inline constexpr std::uint8_t kKeyStateNode = 'n';
inline constexpr std::uint8_t kKeyRevived = 'r';
inline constexpr std::uint8_t kKeyPrunedBelow = 'P';
// "V" + u64 height -> encode(StateProof) of the "validators" key at a block
// that changes the set: what EpochChange needs, kept apart from the tree so
// that a pruned ledger still serves the succession.
inline constexpr std::uint8_t kKeyValidatorsProof = 'V';
inline constexpr std::uint8_t kKeyBlockTxs = 'b';
inline constexpr std::uint8_t kKeyTx = 'x';
// Flat index of the head state: "s" + state key -> SHA-256 of the value, then
// the value (smt.hpp: state_index_key, written by StateTree::update). Written
// in the block's batch, so it always equals the state tree at the head; it
// spares a ~log2(n)-deep tree walk for every read the rules and the API make
// at the head. A value a key no longer holds is under "v" + its hash.
inline constexpr std::uint8_t kKeyStateIndex = 's';
// Secondary index keys ("i"): derived from blocks like everything else, kept
// out of the state tree; they let the node list a holder's records, grants
// and accesses, and every access in height order, without scanning state.
inline constexpr std::uint8_t kKeyIndex = 'i';
enum class IndexKind : std::uint8_t {
  kHolderRecord = 'r',
  kHolderGrant = 'g',
  kHolderAccess = 'a',
  kAccessByHeight = 'A',
};

inline Bytes height_key(std::uint8_t prefix, std::uint64_t height) {
  Bytes k{prefix};
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(height >> (8 * i)));
  return k;
}
inline Bytes hash_key(std::uint8_t prefix, const Hash& h) {
  Bytes k{prefix};
  k.insert(k.end(), h.begin(), h.end());
  return k;
}
inline Bytes prefixed(std::string_view prefix, ByteView rest) {
  Bytes k(prefix.begin(), prefix.end());
  k.insert(k.end(), rest.begin(), rest.end());
  return k;
}
// "i" + kind [+ holder_ref] + u64 height + u32 index in block.
inline Bytes index_key(IndexKind kind, const Hash* holder_ref, ChainPos pos) {
  Bytes k{kKeyIndex, static_cast<std::uint8_t>(kind)};
  if (holder_ref) k.insert(k.end(), holder_ref->begin(), holder_ref->end());
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(pos.height >> (8 * i)));
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(pos.index >> (8 * i)));
  return k;
}

// The ids of a block's transactions, in order ("b" + height).
struct BlockTxIds {
  static constexpr std::string_view kDomain = "emledger.block-txs";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<Hash> ids;
  template <class V>
  void describe(V& v) {
    v.hash_list(ids, kBlockTxsMax);
  }
};

template <class T>
Result<std::optional<T>> get_decoded(const KvReader& store, ByteView key) {
  auto raw = store.get(key);
  if (!raw) return raw.status();
  if (!raw->has_value()) return std::optional<T>();
  auto v = decode<T>(**raw);
  if (!v) return Status::error("STORAGE_CORRUPT", "stored value: " + v.status().message());
  return std::optional<T>(std::move(*v));
}

// The head's value of `state_key` through the flat index.
inline Result<std::optional<Bytes>> head_state_value(const KvReader& store, ByteView state_key) {
  return load_head_state_value(store, state_key);
}

}  // namespace emledger::ledger::detail
