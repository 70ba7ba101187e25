// The state commitment (docs/formats/smt.md): a sparse Merkle tree whose
// leaves sit at the shallowest depth where they are alone, stored
// content-addressed so that every past root stays readable.
#include "emledger/ledger/smt.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <new>
#include <span>
#include <string>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {
namespace {

constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kInternalPrefix = 0x01;
constexpr std::uint8_t kNodeKeyTag = 'n';
constexpr std::uint8_t kValueKeyTag = 'v';
constexpr std::uint8_t kKindLeaf = 0;
constexpr std::uint8_t kKindInternal = 1;
constexpr std::size_t kNodeBytes = kSmtNodeBytes;
constexpr std::size_t kPathBits = 8 * kHashSize;
// Internal nodes sit at depths 0..255, so a proof has at most 256 siblings,
// the bound StateProof::describe encodes.
static_assert(kPathBits == 256);

Status corrupt(const std::string& what) { return Status::error("STORAGE_CORRUPT", what); }

bool path_bit(const Hash& path, std::size_t depth) {
  EMLEDGER_ASSERT(depth < kPathBits);
  return ((path[depth / 8] >> (7 - depth % 8)) & 1) != 0;
}

// Number of leading bits two paths share.
std::size_t common_prefix_bits(const Hash& a, const Hash& b) {
  for (std::size_t i = 0; i < kHashSize; ++i) {
    const std::uint8_t diff = a[i] ^ b[i];
    if (diff != 0) return 8 * i + static_cast<std::size_t>(std::countl_zero(diff));
  }
  return kPathBits;
}

// A node or value key, built on the stack: one is made for every node read
// and written.
using TaggedKey = std::array<std::uint8_t, 1 + kHashSize>;
TaggedKey tagged_key(std::uint8_t tag, const Hash& h) {
  TaggedKey key;
  key[0] = tag;
  std::copy(h.begin(), h.end(), key.begin() + 1);
  return key;
}

// A stored node. Leaf: a = path, b = value hash. Internal: a = left, b = right.
struct Node {
  std::uint8_t kind = kKindLeaf;
  Hash a{};
  Hash b{};

  Hash hash() const { return kind == kKindLeaf ? smt_leaf_hash(a, b) : smt_internal_hash(a, b); }
  std::array<std::uint8_t, kNodeBytes> encode() const {
    std::array<std::uint8_t, kNodeBytes> out;
    out[0] = kind;
    std::copy(a.begin(), a.end(), out.begin() + 1);
    std::copy(b.begin(), b.end(), out.begin() + 1 + kHashSize);
    return out;
  }
};

Node decode_node(const SmtNodeBytes& raw) {
  Node node;
  node.kind = raw[0];
  std::copy(raw.begin() + 1, raw.begin() + 1 + kHashSize, node.a.begin());
  std::copy(raw.begin() + 1 + kHashSize, raw.end(), node.b.begin());
  return node;
}

// Reads the node with hash `h` (never the zero hash) and checks that its bytes
// hash back to `h`, so a flipped byte on disk is reported, not followed. A
// node in `cache` was checked when it was read.
Result<Node> load_node(const KvReader& store, const SmtNodeCache* cache, const Hash& h) {
  EMLEDGER_ASSERT(!is_zero(h));
  if (cache)
    if (auto hit = cache->find(h)) return decode_node(*hit);
  auto got = store.get(tagged_key(kNodeKeyTag, h));
  if (!got) return got.status();
  if (!got->has_value()) return corrupt("state node " + to_hex(h) + " is missing");
  const Bytes& raw = **got;
  if (raw.size() != kNodeBytes || raw[0] > kKindInternal)
    return corrupt("state node " + to_hex(h) + " is malformed");
  SmtNodeBytes fixed;
  std::copy(raw.begin(), raw.end(), fixed.begin());
  Node node = decode_node(fixed);
  if (node.hash() != h) return corrupt("state node " + to_hex(h) + " does not match its hash");
  if (cache) cache->insert(h, fixed);
  return node;
}

Result<Bytes> load_value(const KvReader& store, const Hash& value_hash) {
  auto got = store.get(tagged_key(kValueKeyTag, value_hash));
  if (!got) return got.status();
  if (!got->has_value()) return corrupt("state value " + to_hex(value_hash) + " is missing");
  Bytes value = std::move(**got);
  if (value.size() > kStateValueBytesMax || crypto::sha256(value) != value_hash)
    return corrupt("state value " + to_hex(value_hash) + " does not match its hash");
  return value;
}

// One pending leaf. `value` is null for a leaf already in the tree (its value
// is stored); otherwise it points into the caller's puts.
struct Put {
  Hash path;
  Hash value_hash;
  const Bytes* value;
};
using Puts = std::span<const Put>;

// First put in `puts` (sorted by path, all sharing `depth` leading bits) that
// goes right at `depth`.
std::size_t split_at(Puts puts, std::size_t depth) {
  auto it = std::partition_point(puts.begin(), puts.end(),
                                 [&](const Put& p) { return !path_bit(p.path, depth); });
  return static_cast<std::size_t>(it - puts.begin());
}

// Writes the new nodes of one update to `out`; reads old nodes from `store`.
class Updater {
 public:
  Updater(const KvReader& store, const SmtNodeCache* cache, Overlay& out, StateUpdateTrace* trace)
      : store_(store), cache_(cache), out_(out), trace_(trace) {}

  // Paths of the keys whose new leaf was already stored (see
  // StateUpdateTrace::revived).
  const std::vector<Hash>& revived_paths() const { return revived_paths_; }

  // The subtree at `depth` holding exactly `puts` (sorted, distinct paths).
  Hash build(std::size_t depth, Puts puts) {
    if (puts.empty()) return smt_empty_root();
    if (puts.size() == 1) {
      const Put& p = puts.front();
      const Node leaf{kKindLeaf, p.path, p.value_hash};
      if (p.value == nullptr) return leaf.hash();  // an old leaf moved down: stored already
      out_.put(tagged_key(kValueKeyTag, p.value_hash), *p.value);
      return write(leaf);
    }
    // Distinct paths part before depth 256.
    EMLEDGER_ASSERT(depth < kPathBits);
    const std::size_t mid = split_at(puts, depth);
    Hash left = build(depth + 1, puts.first(mid));
    Hash right = build(depth + 1, puts.subspan(mid));
    return write(Node{kKindInternal, left, right});
  }

  // The subtree at `depth` whose old root is `node`, with `puts` applied.
  Result<Hash> apply(const Hash& node, std::size_t depth, Puts puts) {
    if (puts.empty()) return node;
    if (is_zero(node)) return build(depth, puts);
    auto loaded = load_node(store_, cache_, node);
    if (!loaded) return loaded.status();
    const Node& n = *loaded;
    if (n.kind == kKindLeaf) return merge_leaf(node, n, depth, puts);
    if (depth >= kPathBits) return corrupt("state tree deeper than 256 levels");
    const std::size_t mid = split_at(puts, depth);
    auto left = apply(n.a, depth + 1, puts.first(mid));
    if (!left) return left.status();
    auto right = apply(n.b, depth + 1, puts.subspan(mid));
    if (!right) return right.status();
    if (*left == n.a && *right == n.b) return node;  // nothing changed below
    supersede(node);
    return write(Node{kKindInternal, *left, *right});
  }

 private:
  // An old leaf where puts arrive: it joins them unless one of them replaces it.
  Result<Hash> merge_leaf(const Hash& node, const Node& leaf, std::size_t depth, Puts puts) {
    if (common_prefix_bits(leaf.a, puts.front().path) < depth)
      return corrupt("state leaf " + to_hex(node) + " is off its path");
    auto pos = std::lower_bound(puts.begin(), puts.end(), leaf.a,
                                [](const Put& p, const Hash& path) { return p.path < path; });
    if (pos != puts.end() && pos->path == leaf.a) {
      if (puts.size() == 1 && pos->value_hash == leaf.b) return node;  // same value again
      // Forgotten before build writes anything: with its value unchanged,
      // build writes the same leaf again and it stays.
      if (pos->value_hash != leaf.b) {
        supersede(node);
        EMLEDGER_TRY(note_if_revived(leaf.a, pos->value_hash));
      }
      return build(depth, puts);
    }
    std::vector<Put> joined(puts.begin(), pos);
    joined.push_back(Put{leaf.a, leaf.b, nullptr});
    joined.insert(joined.end(), pos, puts.end());
    return build(depth, joined);
  }

  // The next block's update reads most of the nodes this one writes: the
  // upper levels always, so they go to the cache at once. A node of a block
  // that never commits is only a wasted entry: its hash names its content.
  Hash write(const Node& node) {
    Hash h = node.hash();
    const SmtNodeBytes bytes = node.encode();
    out_.put(tagged_key(kNodeKeyTag, h), bytes);
    if (cache_) cache_->insert(h, bytes);
    return h;
  }

  // `node` is not in the tree this update builds. A node's hash names its
  // position (it commits to the full paths below it), so nothing this update
  // writes elsewhere can be the same node.
  void supersede(const Hash& node) {
    if (cache_) cache_->forget(node);
    if (trace_) trace_->superseded.push_back(node);
  }

  // A key takes a new value: if its leaf for that value is stored already
  // (the key had the value before and the leaf is not yet pruned), the nodes
  // above it may be earlier nodes too. Only a changed leaf can bring an
  // earlier node back: keys are never removed, so a subtree equals an earlier
  // state of itself only once each of its keys has an earlier value again.
  Status note_if_revived(const Hash& path, const Hash& value_hash) {
    if (!trace_) return Status::ok();
    auto got = store_.get(tagged_key(kNodeKeyTag, smt_leaf_hash(path, value_hash)));
    if (!got) return got.status();
    if (got->has_value()) revived_paths_.push_back(path);
    return Status::ok();
  }

  const KvReader& store_;
  const SmtNodeCache* cache_;
  Overlay& out_;
  StateUpdateTrace* trace_;
  std::vector<Hash> revived_paths_;
};

// Where a walk from the root along `path` ends.
struct Walk {
  std::vector<Hash> siblings;    // from the root down
  std::optional<Node> terminal;  // nullopt: an empty subtree; else a leaf
};

Result<Walk> walk(const KvReader& store, const SmtNodeCache* cache, const Hash& root,
                  const Hash& path) {
  Walk w;
  Hash node = root;
  while (!is_zero(node)) {
    auto loaded = load_node(store, cache, node);
    if (!loaded) return loaded.status();
    if (loaded->kind == kKindLeaf) {
      if (common_prefix_bits(loaded->a, path) < w.siblings.size())
        return corrupt("state leaf " + to_hex(node) + " is off its path");
      w.terminal = *loaded;
      break;
    }
    const std::size_t depth = w.siblings.size();
    if (depth >= kPathBits) return corrupt("state tree deeper than 256 levels");
    const bool right = path_bit(path, depth);
    w.siblings.push_back(right ? loaded->a : loaded->b);
    node = right ? loaded->b : loaded->a;
  }
  return w;
}

}  // namespace

Result<Bytes> load_state_value(const KvReader& store, const Hash& value_hash) {
  return load_value(store, value_hash);
}

Hash smt_path(ByteView state_key) { return crypto::sha256(state_key); }

Hash smt_leaf_hash(const Hash& path, const Hash& value_hash) {
  const std::uint8_t prefix = kLeafPrefix;
  return crypto::Sha256().update(ByteView(&prefix, 1)).update(path).update(value_hash).finish();
}

Hash smt_internal_hash(const Hash& left, const Hash& right) {
  const std::uint8_t prefix = kInternalPrefix;
  return crypto::Sha256().update(ByteView(&prefix, 1)).update(left).update(right).finish();
}

Hash smt_empty_root() { return Hash{}; }

SmtNodeCache::SmtNodeCache(unsigned slot_bits, bool huge_pages) {
  EMLEDGER_ASSERT(slot_bits >= 2 && slot_bits < 32);
  static_assert(kWays == 4);
  set_mask_ = (std::uint64_t{1} << (slot_bits - 2)) - 1;
  const std::size_t bytes = (std::size_t{1} << slot_bits) * sizeof(Slot);
  // An anonymous mapping of its own: zeroed by the kernel page by page as it
  // is touched, and advised before any page is.
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const bool huge = huge_pages && bytes >= kHugePage;
  // For huge pages, one huge page more, so that the table can start on a
  // huge-page boundary; the unused ends go back at once.
  const std::size_t reserve = huge ? bytes + kHugePage : bytes;
  void* raw = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto* start = static_cast<std::uint8_t*>(raw);
  if (huge) {
    const auto at = reinterpret_cast<std::uintptr_t>(start);
    const std::size_t head = ((at + kHugePage - 1) & ~(kHugePage - 1)) - at;
    if (head > 0) ::munmap(start, head);
    start += head;
    ::munmap(start + bytes, kHugePage - head);  // head < kHugePage: never empty
    // A refusal (a kernel without transparent huge pages) leaves ordinary
    // pages, which work the same, only slower.
    ::madvise(start, bytes, MADV_HUGEPAGE);
  }
  slots_ = std::unique_ptr<Slot[], FreeTable>(reinterpret_cast<Slot*>(start), FreeTable{bytes});
}

void SmtNodeCache::FreeTable::operator()(Slot* p) const { ::munmap(p, bytes); }

std::optional<SmtNodeBytes> SmtNodeCache::find(const Hash& h) const {
  std::lock_guard<std::mutex> lock(mu_);
  Slot* set = set_of(h);
  for (std::size_t w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.used != 0 && s.hash == h) {
      s.used = ++clock_;
      return s.node;
    }
  }
  return std::nullopt;
}

void SmtNodeCache::insert(const Hash& h, const SmtNodeBytes& node) const {
  std::lock_guard<std::mutex> lock(mu_);
  Slot* set = set_of(h);
  // The way already holding h, else an empty one, else the least recently used.
  Slot* victim = &set[0];
  for (std::size_t w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.used != 0 && s.hash == h) {
      victim = &s;
      break;
    }
    if (s.used < victim->used) victim = &s;
  }
  victim->used = ++clock_;
  victim->hash = h;
  victim->node = node;
}

void SmtNodeCache::forget(const Hash& h) const {
  std::lock_guard<std::mutex> lock(mu_);
  Slot* set = set_of(h);
  for (std::size_t w = 0; w < kWays; ++w)
    if (set[w].used != 0 && set[w].hash == h) set[w].used = 0;
}

Status StateProof::check() const {
  auto bad = [](const std::string& why) {
    return Status::error("MALFORMED_ENCODING", std::string(kDomain) + ": " + why);
  };
  if (terminal > 1) return bad("terminal out of range");
  if (present && terminal != 1) return bad("a present key must end at its leaf");
  if (!present && !value.empty()) return bad("value given for an absent key");
  const bool other_leaf = terminal == 1 && !present;
  if (!other_leaf && (!is_zero(other_path) || !is_zero(other_value_hash)))
    return bad("other leaf given without an other-leaf terminal");
  if (siblings.size() > kPathBits) return bad("more siblings than path bits");
  if (key.size() > kStateKeyBytesMax || value.size() > kStateValueBytesMax)
    return bad("field longer than its maximum");
  return Status::ok();
}

bool verify_state_proof(const StateProof& proof, const Hash& root) {
  if (!proof.check().is_ok()) return false;
  const Hash path = smt_path(proof.key);
  const std::size_t depth = proof.siblings.size();
  Hash h = smt_empty_root();
  if (proof.terminal == 1 && proof.present) {
    h = smt_leaf_hash(path, crypto::sha256(proof.value));
  } else if (proof.terminal == 1) {
    // Another key's leaf alone in the subtree where this key would be.
    if (proof.other_path == path || common_prefix_bits(proof.other_path, path) < depth)
      return false;
    h = smt_leaf_hash(proof.other_path, proof.other_value_hash);
  }
  for (std::size_t i = depth; i-- > 0;) {
    const Hash& sibling = proof.siblings[i];
    h = path_bit(path, i) ? smt_internal_hash(sibling, h) : smt_internal_hash(h, sibling);
  }
  return h == root;
}

Result<Hash> StateTree::update(const Hash& root, const std::vector<std::pair<Bytes, Bytes>>& puts,
                               Overlay& out, StateUpdateTrace* trace) const {
  std::vector<Put> sorted;
  sorted.reserve(puts.size());
  for (const auto& [key, value] : puts) {
    // Keys and values come from validated transactions; an oversized one is a
    // bug upstream and could never be proven (StateProof bounds them).
    EMLEDGER_ASSERT(key.size() <= kStateKeyBytesMax);
    EMLEDGER_ASSERT(value.size() <= kStateValueBytesMax);
    sorted.push_back(Put{smt_path(key), crypto::sha256(value), &value});
  }
  // Path order makes the result independent of the order of `puts`; for a key
  // given more than once, the stable sort keeps input order and the last wins.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Put& x, const Put& y) { return x.path < y.path; });
  std::vector<Put> last;
  last.reserve(sorted.size());
  for (const Put& p : sorted) {
    if (!last.empty() && last.back().path == p.path) {
      last.back() = p;
    } else {
      last.push_back(p);
    }
  }
  Updater updater(store_, cache_, out, trace);
  auto new_root = updater.apply(root, 0, last);
  if (!new_root || !trace) return new_root;
  // Every node from the new root down to each revived leaf, read through
  // `out` (which holds the nodes just written).
  for (const Hash& path : updater.revived_paths()) {
    Hash node = *new_root;
    std::size_t depth = 0;
    while (!is_zero(node)) {
      trace->revived.push_back(node);
      auto loaded = load_node(out, cache_, node);
      if (!loaded) return loaded.status();
      if (loaded->kind == kKindLeaf) break;
      if (depth >= kPathBits) return corrupt("state tree deeper than 256 levels");
      node = path_bit(path, depth) ? loaded->b : loaded->a;
      ++depth;
    }
  }
  return new_root;
}

Result<std::optional<Bytes>> StateTree::get(const Hash& root, ByteView state_key) const {
  const Hash path = smt_path(state_key);
  auto w = walk(store_, cache_, root, path);
  if (!w) return w.status();
  if (!w->terminal || w->terminal->a != path) return std::optional<Bytes>();
  auto value = load_value(store_, w->terminal->b);
  if (!value) return value.status();
  return std::optional<Bytes>(std::move(*value));
}

Result<StateProof> StateTree::prove(const Hash& root, ByteView state_key) const {
  if (state_key.size() > kStateKeyBytesMax)
    return Status::error("BAD_PARAMETER",
                         "state key longer than " + std::to_string(kStateKeyBytesMax) + " bytes");
  const Hash path = smt_path(state_key);
  auto w = walk(store_, cache_, root, path);
  if (!w) return w.status();
  StateProof proof;
  proof.key.assign(state_key.begin(), state_key.end());
  proof.siblings = std::move(w->siblings);
  if (w->terminal) {
    proof.terminal = 1;
    if (w->terminal->a == path) {
      auto value = load_value(store_, w->terminal->b);
      if (!value) return value.status();
      proof.present = true;
      proof.value = std::move(*value);
    } else {
      proof.other_path = w->terminal->a;
      proof.other_value_hash = w->terminal->b;
    }
  }
  EMLEDGER_ASSERT(proof.check().is_ok());
  return proof;
}

}  // namespace emledger::ledger
