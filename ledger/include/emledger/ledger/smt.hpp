// The state commitment: a sparse Merkle tree over 256-bit paths
// (path = SHA-256(state key), bits most-significant first). docs/formats/smt.md.
//
//   empty subtree      = 32 zero bytes
//   leaf               = SHA-256(0x00 || path || SHA-256(value))
//   subtree, 1 leaf    = that leaf's hash (the leaf sits where it is alone)
//   subtree, >= 2      = SHA-256(0x01 || left || right)
//
// Nodes are stored content-addressed in pages: "n" + the hash of a node at a
// depth divisible by 4 -> that node's subtree down to 4 levels below it
// (smt_page.hpp, ADR 027). Values are stored by value hash ("v" + hash). So
// every past root stays readable and provable.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::ledger {

Hash smt_path(ByteView state_key);
Hash smt_leaf_hash(const Hash& path, const Hash& value_hash);
Hash smt_internal_hash(const Hash& left, const Hash& right);
Hash smt_empty_root();  // 32 zero bytes

// The flat index of the head state, kept by StateTree::update
// (docs/formats/storage.md): "s" + state key -> the value itself (store
// format 4, ADR 032; format 3 put the value's SHA-256 before it). A value the
// head no longer holds under a key is kept under "v" + its hash, written by
// the update that replaced it.
Bytes state_index_key(ByteView state_key);
// The value a flat index entry holds, checked for its size.
// Errors: STORAGE_CORRUPT.
Result<Bytes> parse_state_index_entry(ByteView entry);
// The head's value of `state_key`, through the flat index.
// Errors: STORAGE_CORRUPT.
Result<std::optional<Bytes>> load_head_state_value(const KvReader& store, ByteView state_key);
// A value some key held before it took another ("v" + hash), checked
// against the hash. Errors: STORAGE_CORRUPT when missing or altered.
Result<Bytes> load_replaced_state_value(const KvReader& store, const Hash& value_hash);
// The value with hash `value_hash` that `state_key` holds or held: the flat
// index's when it is that one, else the replaced value's entry ("v" + hash).
// Errors: STORAGE_CORRUPT when neither holds it, or it is altered.
Result<Bytes> load_state_value(const KvReader& store, ByteView state_key, const Hash& value_hash);

// A proof for one key against one root, membership or non-membership.
struct StateProof {
  static constexpr std::string_view kDomain = "emledger.proof.state";
  static constexpr std::uint8_t kVersion = 1;
  Bytes key;  // the state key asked about
  bool present = false;
  Bytes value;  // the value when present, empty otherwise
  // Where the walk from the root ended, at depth siblings.size():
  // 0 = an empty subtree, 1 = a leaf (the key's own when present; another
  // key's leaf sharing the first `depth` path bits for non-membership).
  std::uint8_t terminal = 0;
  Hash other_path{};           // terminal == 1 and !present: the other leaf's path
  Hash other_value_hash{};     // ... and its value hash
  std::vector<Hash> siblings;  // from the root down; zero hash = empty sibling
  template <class V>
  void describe(V& v) {
    v.bytes(key, kStateKeyBytesMax);
    v.boolean(present);
    v.bytes(value, kStateValueBytesMax);
    v.u8(terminal);
    v.fixed(other_path);
    v.fixed(other_value_hash);
    v.hash_list(siblings, 256);
  }
  Status check() const;
};

// True when `proof` shows its key present with its value (or absent) under `root`.
bool verify_state_proof(const StateProof& proof, const Hash& root);

// The encoded form of one state-tree node (docs/formats/smt.md): kind, then
// two hashes.
inline constexpr std::size_t kSmtNodeBytes = 1 + 2 * kHashSize;
using SmtNodeBytes = std::array<std::uint8_t, kSmtNodeBytes>;

// A node with its hash: what the cache holds, and what a page holds.
struct SmtHashedNode {
  Hash hash;
  SmtNodeBytes node;
};

// What an update did to the tree besides writing pages: what pruning needs
// (ADR 021, ADR 027). Both lists name pages by their root's hash (the key
// pruning erases) and are in the order the walk met them, which depends only
// on the old tree and the puts.
struct StateUpdateTrace {
  // Pages of the old tree that the new tree no longer holds: those rooted by
  // an internal node rewritten or by a leaf given a new value, and the page
  // of a leaf that moved down to a depth rooting none.
  std::vector<Hash> superseded;
  // Pages of the new tree that may have been stored before the update,
  // though the old tree did not hold them: for a key whose new value was
  // stored already (it may be taking back a value it had earlier), every
  // page from the new root down to its leaf; and the page of a leaf that
  // moved down to a depth rooting one, when that page is stored. An earlier
  // update may have listed them as superseded; pruning must not erase them
  // for that. Found with one lookup per leaf whose value changes and per
  // leaf that comes to root a page; the list may name pages that were never
  // superseded (harmless).
  std::vector<Hash> revived;
};

class SmtPageCache;  // smt_page_cache.hpp

class StateTree {
 public:
  // `cache` (optional) must outlive the tree; see SmtPageCache. `threads`
  // (at least 1) bounds the threads an update may use, the caller's
  // included (ADR 040): a large update splits the tree below the root's page
  // into subtrees updated at once. The result, the writes and their order do
  // not depend on it. With more than one, `store` must be safe to read from
  // several threads, and nothing may write it during an update.
  explicit StateTree(const KvReader& store, const SmtPageCache* cache = nullptr,
                     unsigned threads = 1)
      : store_(store), cache_(cache), threads_(threads) {
    EMLEDGER_ASSERT(threads >= 1);
  }
  // Applies puts (state key -> value) to the tree at `root`, writing new
  // nodes to `out`, and the flat index entry of each key whose value changes
  // (with the value it replaces under "v" + its hash). Keys are applied in path order, so the
  // result does not depend on the order of `puts`. Deletion is not supported: no transaction
  // removes state. With `trace`, also reports what pruning needs (StateUpdateTrace). With
  // `put_paths`, appends smt_path of each key put, once and in path order (the caller's
  // record of the keys that now hold a value, without hashing them again).
  Result<Hash> update(const Hash& root, const std::vector<std::pair<Bytes, Bytes>>& puts,
                      Overlay& out, StateUpdateTrace* trace = nullptr,
                      std::vector<Hash>* put_paths = nullptr) const;
  Result<std::optional<Bytes>> get(const Hash& root, ByteView state_key) const;
  Result<StateProof> prove(const Hash& root, ByteView state_key) const;

 private:
  const KvReader& store_;
  const SmtPageCache* cache_;
  unsigned threads_;
};

}  // namespace emledger::ledger
