// The state commitment: a sparse Merkle tree over 256-bit paths
// (path = SHA-256(state key), bits most-significant first). docs/formats/smt.md.
//
//   empty subtree      = 32 zero bytes
//   leaf               = SHA-256(0x00 || path || SHA-256(value))
//   subtree, 1 leaf    = that leaf's hash (the leaf sits where it is alone)
//   subtree, >= 2      = SHA-256(0x01 || left || right)
//
// Nodes are stored content-addressed ("n" + hash), values by value hash
// ("v" + hash), so every past root stays readable and provable.
#pragma once

#include <optional>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::ledger {

Hash smt_path(ByteView state_key);
Hash smt_leaf_hash(const Hash& path, const Hash& value_hash);
Hash smt_empty_root();  // 32 zero bytes

// Reads a stored state value ("v" + hash), checking that it hashes to
// `value_hash`. Errors: STORAGE_CORRUPT when missing or altered.
Result<Bytes> load_state_value(const KvReader& store, const Hash& value_hash);

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

class StateTree {
 public:
  explicit StateTree(const KvReader& store) : store_(store) {}
  // Applies puts (state key -> value) to the tree at `root`, writing new
  // nodes and values to `out`. Keys are applied in path order, so the result
  // does not depend on the order of `puts`. Deletion is not supported: no
  // transaction removes state.
  Result<Hash> update(const Hash& root, const std::vector<std::pair<Bytes, Bytes>>& puts,
                      Overlay& out) const;
  Result<std::optional<Bytes>> get(const Hash& root, ByteView state_key) const;
  Result<StateProof> prove(const Hash& root, ByteView state_key) const;

 private:
  const KvReader& store_;
};

}  // namespace emledger::ledger
