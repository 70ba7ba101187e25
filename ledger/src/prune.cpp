// Pruning of state-tree nodes below a retention window (ADR 021): the part
// of Ledger::prepare that lists, marks and erases, and the state it keeps.
// Storage: docs/formats/storage.md, section Retention.
#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "emledger/ledger/ledger.hpp"
#include "keys.hpp"

namespace emledger::ledger {
namespace {

using namespace detail;  // NOLINT: the key layout of keys.hpp

std::uint64_t read_u64(ByteView b) {
  EMLEDGER_ASSERT(b.size() >= 8);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

Bytes u64_bytes(std::uint64_t v) {
  Bytes b;
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return b;
}

Bytes revived_key(std::uint64_t height, const Hash& node) {
  Bytes k = height_key(kKeyRevived, height);
  k.insert(k.end(), node.begin(), node.end());
  return k;
}

}  // namespace

Status Ledger::prune_step(std::uint64_t height, const StateUpdateTrace& trace,
                          const PreparedBlock* parent, Overlay& ov, PreparedBlock& out) const {
  // This block's stale list and revival markers.
  if (!trace.superseded.empty()) {
    Bytes list;
    list.reserve(kHashSize * trace.superseded.size());
    for (const Hash& x : trace.superseded) list.insert(list.end(), x.begin(), x.end());
    ov.put(height_key(kKeyStaleList, height), list);
  }
  for (const Hash& x : trace.revived) ov.put(revived_key(height, x), Bytes{});
  out.revived = trace.revived;
  // Where pruning stands below this block, and the revival markers that may
  // still matter: committed ones, the parent's (in flight) and this block's.
  std::map<Hash, std::uint64_t> revived;
  std::vector<std::pair<std::uint64_t, Hash>> committed_markers;
  std::uint64_t next = 0;
  std::uint64_t through = 0;  // as the block below left it
  {
    std::lock_guard<std::mutex> lock(head_mu_);
    next = parent ? parent->prune_next : prune_next_;
    through = parent ? parent->pruned_through : pruned_through_;
    revived = revived_;
    committed_markers.assign(revived_order_.begin(), revived_order_.end());
  }
  auto mark = [&](const std::vector<Hash>& nodes, std::uint64_t at) {
    for (const Hash& x : nodes) {
      auto [it, fresh] = revived.emplace(x, at);
      if (!fresh) it->second = std::max(it->second, at);
    }
  };
  if (parent) mark(parent->revived, height - 1);
  mark(trace.revived, height);
  out.prune_next = next;
  out.pruned_through = through;
  // The window holds the trees of heights target .. height.
  if (height < retention_) return Status::ok();
  const std::uint64_t target = height - retention_ + 1;
  if (next > target) return Status::ok();
  // The stale lists of heights next .. target, oldest first. All are
  // committed: the window is wider than the one block that may be in flight.
  std::vector<std::pair<std::uint64_t, Bytes>> lists;
  bool more = false;
  Status bad = Status::ok();
  EMLEDGER_TRY(store_->scan(Bytes{kKeyStaleList}, height_key(kKeyStaleList, next),
                            [&](ByteView key, ByteView value) {
                              if (key.size() != 9 || value.size() % kHashSize != 0) {
                                bad = Status::error("STORAGE_CORRUPT", "malformed stale list");
                                return false;
                              }
                              const std::uint64_t s = read_u64(key.subspan(1));
                              if (s > target) return false;
                              if (lists.size() == kPruneListsPerBlockMax) {
                                more = true;
                                return false;
                              }
                              lists.emplace_back(s, Bytes(value.begin(), value.end()));
                              return true;
                            }));
  EMLEDGER_TRY(bad);
  for (const auto& [s, list] : lists) {
    for (std::size_t off = 0; off < list.size(); off += kHashSize) {
      Hash x;
      std::copy(list.begin() + static_cast<std::ptrdiff_t>(off),
                list.begin() + static_cast<std::ptrdiff_t>(off + kHashSize), x.begin());
      // Revived above s: a tree this window keeps holds it again.
      if (auto it = revived.find(x); it != revived.end() && it->second > s) continue;
      ov.batch().erase(hash_key(kKeyStateNode, x));
    }
    ov.batch().erase(height_key(kKeyStaleList, s));
  }
  const std::uint64_t below = through;
  through = more ? lists.back().first : target;
  // A marker protects a node from lists below its height; those are done now
  // for the markers up to `through`. Those up to `below` were erased by an
  // earlier block (and may linger in the copy while the parent commits).
  for (const auto& [at, x] : committed_markers) {
    if (at > through) break;
    if (at > below) ov.batch().erase(revived_key(at, x));
  }
  if (parent && height - 1 <= through && height - 1 > below)
    for (const Hash& x : parent->revived) ov.batch().erase(revived_key(height - 1, x));
  ov.put(Bytes{kKeyPrunedBelow}, u64_bytes(through));
  out.prune_next = through + 1;
  out.pruned_through = through;
  return Status::ok();
}

Status Ledger::load_prune_state() {
  auto p = store_->get(Bytes{kKeyPrunedBelow});
  if (!p) return p.status();
  if (p->has_value()) {
    if ((*p)->size() != 8) return Status::error("STORAGE_CORRUPT", "bad pruning mark");
    pruned_through_ = read_u64(**p);
    if (pruned_through_ > head_.height)
      return Status::error("STORAGE_CORRUPT", "pruning mark above the head");
  }
  prune_next_ = pruned_through_ + 1;
  Status bad = Status::ok();
  EMLEDGER_TRY(store_->scan(Bytes{kKeyRevived}, Bytes{kKeyRevived}, [&](ByteView key, ByteView) {
    if (key.size() != 1 + 8 + kHashSize) {
      bad = Status::error("STORAGE_CORRUPT", "malformed revival marker");
      return false;
    }
    const std::uint64_t at = read_u64(key.subspan(1));
    Hash x;
    std::copy(key.begin() + 9, key.end(), x.begin());
    // Keys run in height order, so the last marker of a node is its latest.
    if (auto [it, fresh] = revived_.emplace(x, at); !fresh) {
      revived_order_.erase({it->second, x});
      it->second = at;
    }
    revived_order_.insert({at, x});
    return true;
  }));
  return bad;
}

std::uint64_t Ledger::pruned_below() const {
  std::lock_guard<std::mutex> lock(head_mu_);
  return pruned_through_;
}

}  // namespace emledger::ledger
