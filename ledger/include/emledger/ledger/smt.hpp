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
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>
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

// State-tree nodes already read or written, by hash. Nodes are
// content-addressed and never rewritten, so an entry can never go stale: a hit
// is the node any store holding that hash holds, whatever block is committed
// meanwhile. Every block update reads the paths from the root to each key it
// writes; without the cache, each read is a LevelDB lookup plus a SHA-256
// check.
//
// 2^slot_bits slots in sets of kWays; a node may sit in any way of the set its
// hash's first bytes name (SHA-256 outputs spread evenly). A full set gives up
// its least recently used way. An update forgets each node it supersedes (an
// internal node rewritten, a leaf given a new value): the newest tree no
// longer reaches it, and its way goes to a node the next block will read. So
// the ways hold the live tree first, not the history that a chain of
// updates leaves behind. No allocation after construction. The table is an
// anonymous mapping, zeroed by the kernel as it is touched, so its pages cost
// memory only once a node lands in them: a small ledger (a test's) uses
// little of a large table. With `huge_pages`, the table asks the kernel for
// transparent huge pages (madvise): nearly every lookup lands on a different
// 4 KiB page of a table far larger than the TLB covers, so each would
// otherwise pay a page walk besides its cache miss (ADR 024). Memory is then
// taken 2 MiB at a time. Lookups only:
// nothing iterates the table, so it cannot reach any state. Thread safe (the
// validator thread updates, on several threads (ADR 040), while HTTP threads
// prove): each set is guarded by one of kLockShards locks, so that threads
// working on different paths seldom wait for each other.
class SmtNodeCache {
 public:
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kSlotBytes = 112;  // the memory of one slot
  static constexpr std::size_t kLockShards = 256;
  // slot_bits >= 2: at least one set. Without kernel support for huge pages
  // the table simply stays on ordinary pages.
  explicit SmtNodeCache(unsigned slot_bits, bool huge_pages = false);
  std::optional<SmtNodeBytes> find(const Hash& h) const;
  void insert(const Hash& h, const SmtNodeBytes& node) const;
  // insert() of each, in order, with the sets of the next few asked of the
  // memory ahead of time: each insert of a lone node waits for its set's
  // cache lines, while these waits overlap.
  void insert_all(std::span<const SmtHashedNode> nodes) const;
  // Drops `h` if held: the node no longer in the newest tree. Reading it
  // later (an older root's proof) still works, from the store.
  void forget(const Hash& h) const;
  // Asks the memory for the set that would hold `h`, without waiting or
  // locking: a find or insert of `h` soon after finds its lines on the way.
  // A walk that knows the next nodes it reads lets their misses overlap.
  void prefetch(const Hash& h) const;

 private:
  // All zero bytes is an empty slot (a fresh mapping's). `used` orders the ways
  // of a set: 0 is empty, a larger stamp was used more recently.
  struct Slot {
    std::uint64_t used;
    Hash hash;
    SmtNodeBytes node;
  };
  static_assert(std::is_trivial_v<Slot>);
  static_assert(sizeof(Slot) == kSlotBytes);  // the figure docs/architecture.md gives
  struct FreeTable {
    std::size_t bytes;
    void operator()(Slot* p) const;
  };
  // One lock and its stamps, on a cache line of its own: the sets whose
  // index is its index modulo kLockShards. A stamp orders the ways of one
  // set, so each shard counts its own.
  struct alignas(64) Shard {
    std::mutex mu;
    std::uint64_t clock = 0;  // the last stamp given, guarded by mu
  };
  std::size_t set_index(const Hash& h) const {
    std::uint64_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return static_cast<std::size_t>(v & set_mask_);
  }
  Slot* set_at(std::size_t index) const { return slots_.get() + kWays * index; }
  Shard& shard_of(std::size_t index) const { return shards_[index % kLockShards]; }

  std::uint64_t set_mask_;
  mutable std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<Slot[], FreeTable> slots_;  // each set guarded by its shard's lock
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

class StateTree {
 public:
  // `cache` (optional) must outlive the tree; see SmtNodeCache. `threads`
  // (at least 1) bounds the threads an update may use, the caller's
  // included (ADR 040): a large update splits the tree below the root's page
  // into subtrees updated at once. The result, the writes and their order do
  // not depend on it. With more than one, `store` must be safe to read from
  // several threads, and nothing may write it during an update.
  explicit StateTree(const KvReader& store, const SmtNodeCache* cache = nullptr,
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
  const SmtNodeCache* cache_;
  unsigned threads_;
};

}  // namespace emledger::ledger
