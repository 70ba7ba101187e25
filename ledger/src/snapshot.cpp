// State snapshots: writer and verifying importer. Format: snapshot.hpp and
// docs/formats/snapshot.md; key layout: keys.hpp.
#include "emledger/ledger/snapshot.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "keys.hpp"

namespace emledger::ledger {
namespace {

using namespace detail;  // NOLINT: the key layout of keys.hpp

constexpr std::string_view kRecordPrefix = "rec/";
constexpr std::string_view kGrantPrefix = "grant/";
constexpr std::string_view kAccessPrefix = "access/";
// Puts per write when the importer builds the state tree from sorted paths.
constexpr std::size_t kTreeBuildChunk = 4096;

bool starts_with(ByteView key, std::string_view prefix) {
  return key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
}

Status invalid(const std::string& what) { return Status::error("SNAPSHOT_INVALID", what); }

// The window's first height (the lowest header a snapshot of height `s`
// carries) and whether it is a boundary below the window's blocks.
struct Window {
  std::uint64_t first_header = 1;  // max(1, s - W)
  std::uint64_t first_block = 1;   // max(1, s - W + 1)
  // Records and grants created at or below this height have their anchor
  // transactions in the state section; 0 when the window reaches genesis.
  std::uint64_t anchors_at_or_below = 0;
};
Window window_of(std::uint64_t s, std::uint64_t window) {
  Window w;
  if (s > window) {
    w.first_header = s - window;
    w.first_block = w.first_header + 1;
    w.anchors_at_or_below = w.first_header;
  }
  return w;
}

// An anchor transaction the state names: a record's or grant's creator.
struct Anchor {
  Hash tx{};
  ChainPos pos;
  auto operator<=>(const Anchor&) const = default;
};

// What a state entry implies beyond the tree: its secondary index entries
// and, when it was created below the window, its anchor transaction.
// Errors: SNAPSHOT_INVALID for a value that does not decode.
Status derive(const SnapshotStateEntry& e, const Window& w,
              std::vector<std::pair<Bytes, Bytes>>* index_puts, std::vector<Anchor>* anchors) {
  const auto id_bytes = [](const Hash& id) { return Bytes(id.begin(), id.end()); };
  if (starts_with(e.key, kRecordPrefix)) {
    auto r = decode<Record>(e.value);
    if (!r) return invalid("record value: " + r.status().message());
    const ChainPos pos{r->anchor_height, r->anchor_index};
    if (index_puts)
      index_puts->emplace_back(index_key(IndexKind::kHolderRecord, &r->body.holder_ref, pos),
                               id_bytes(r->id));
    if (anchors && pos.height <= w.anchors_at_or_below) anchors->push_back({r->anchor_tx, pos});
  } else if (starts_with(e.key, kGrantPrefix)) {
    auto g = decode<Grant>(e.value);
    if (!g) return invalid("grant value: " + g.status().message());
    const ChainPos pos{g->created_height, g->created_index};
    if (index_puts)
      index_puts->emplace_back(index_key(IndexKind::kHolderGrant, &g->terms.holder_ref, pos),
                               id_bytes(g->id));
    if (anchors && pos.height <= w.anchors_at_or_below) anchors->push_back({g->created_by_tx, pos});
  } else if (starts_with(e.key, kAccessPrefix)) {
    auto a = decode<Access>(e.value);
    if (!a) return invalid("access value: " + a.status().message());
    const ChainPos pos{a->height, a->tx_index};
    if (index_puts) {
      index_puts->emplace_back(index_key(IndexKind::kHolderAccess, &a->holder_ref, pos),
                               id_bytes(a->id));
      index_puts->emplace_back(index_key(IndexKind::kAccessByHeight, nullptr, pos),
                               id_bytes(a->id));
    }
  }
  return Status::ok();
}

void sort_unique(std::vector<Anchor>& anchors) {
  std::sort(anchors.begin(), anchors.end());
  anchors.erase(std::unique(anchors.begin(), anchors.end(),
                            [](const Anchor& a, const Anchor& b) { return a.tx == b.tx; }),
                anchors.end());
}

// ---- writer ----

class FrameWriter {
 public:
  explicit FrameWriter(const SnapshotSink& sink) : sink_(sink) {}
  template <class T>
  Status emit(const T& item) {
    const Bytes body = encode(item);
    EMLEDGER_ASSERT(body.size() <= kSnapshotFrameBytesMax);
    std::uint8_t len[4];
    for (int i = 0; i < 4; ++i) len[i] = static_cast<std::uint8_t>(body.size() >> (8 * (3 - i)));
    EMLEDGER_TRY(sink_(ByteView(len, 4)));
    EMLEDGER_TRY(sink_(body));
    bytes_ += 4 + body.size();
    return Status::ok();
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  const SnapshotSink& sink_;
  std::uint64_t bytes_ = 0;
};

template <class T>
Result<T> must_get(const KvReader& store, ByteView key, const std::string& what) {
  auto v = get_decoded<T>(store, key);
  if (!v) return v.status();
  if (!v->has_value()) return Status::error("STORAGE_CORRUPT", "missing " + what);
  return std::move(**v);
}

// The transactions of one state frame's anchors.
Result<SnapshotTxs> anchor_txs(const KvReader& view, std::vector<Anchor> anchors) {
  sort_unique(anchors);
  SnapshotTxs out;
  for (const Anchor& a : anchors) {
    auto e = must_get<TxEntry>(view, hash_key(kKeyTx, a.tx), "anchor transaction " + to_hex(a.tx));
    if (!e) return e.status();
    out.txs.push_back(std::move(*e));
  }
  return out;
}

}  // namespace

Result<SnapshotInfo> write_snapshot(const Ledger& ledger, const SnapshotSink& sink,
                                    std::uint64_t window) {
  EMLEDGER_ASSERT(window >= 1);
  const std::unique_ptr<KvView> view = ledger.read_view();
  auto head = must_get<ChainHead>(*view, Bytes{kKeyHead}, "head");
  if (!head) return head.status();
  const std::uint64_t s = head->height;
  if (s == 0) return Status::error("NO_BLOCKS", "nothing to snapshot at height 0");
  const Window w = window_of(s, window);
  if (ledger.base_height() > w.first_header)
    return Status::error("SNAPSHOT_UNAVAILABLE",
                         "this ledger was restored at height " +
                             std::to_string(ledger.base_height()) + " and lacks the headers from " +
                             std::to_string(w.first_header) + " a snapshot carries");
  FrameWriter out(sink);
  SnapshotInfo info;
  info.height = s;
  info.header_hash = head->header_hash;
  info.window_first = w.first_header;
  info.window = window;

  SnapshotManifest m;
  m.genesis_hash = ledger.genesis_hash();
  m.window = window;
  auto hd = must_get<BlockHeader>(*view, height_key(kKeyHeader, s), "head header");
  if (!hd) return hd.status();
  m.header = std::move(*hd);
  auto fin = ledger.finality_proof(s);  // immutable once the head names s
  if (!fin) return fin.status();
  if (!fin->has_value()) return Status::error("STORAGE_CORRUPT", "head without finality proof");
  m.finality = std::move(**fin);
  // The ledger's succession may already reach past S (commits go on): keep
  // the changes at S and below, the ones S's state names.
  auto succession = ledger.succession();
  if (!succession) return succession.status();
  for (EpochChange& c : succession->changes)
    if (c.header.height <= s) m.succession.changes.push_back(std::move(c));
  EMLEDGER_TRY(out.emit(m));

  SnapshotHeaders headers;
  for (std::uint64_t h = w.first_header; h < s; ++h) {
    auto x = must_get<BlockHeader>(*view, height_key(kKeyHeader, h), "header " + std::to_string(h));
    if (!x) return x.status();
    headers.headers.push_back(std::move(*x));
    ++info.counts.headers;
    if (headers.headers.size() == kSnapshotHeadersPerFrame || h + 1 == s) {
      EMLEDGER_TRY(out.emit(headers));
      headers.headers.clear();
    }
  }

  // Leaves are the hashes of the level-0 log tiles, kLogTileWidth a tile, in
  // index order under one prefix.
  {
    const Bytes first = log_tile_key(0, 0);
    const ByteView prefix(first.data(), 2);
    SnapshotLeaves leaves;
    Status st;
    std::uint64_t tile_index = 0;
    Status scan = view->scan(prefix, first, [&](ByteView k, ByteView v) {
      if (info.counts.leaves == head->log_size) return false;
      auto hashes = log_tile_hashes(v);
      if (!hashes) {
        st = hashes.status();
        return false;
      }
      if (Bytes(k.begin(), k.end()) != log_tile_key(0, tile_index) ||
          info.counts.leaves != tile_index * kLogTileWidth ||
          (hashes->size() != kLogTileWidth &&
           info.counts.leaves + hashes->size() < head->log_size)) {
        st = Status::error("STORAGE_CORRUPT", "log leaves are not contiguous");
        return false;
      }
      ++tile_index;
      for (const Hash& leaf : *hashes) {
        if (info.counts.leaves == head->log_size) break;
        leaves.leaves.push_back(leaf);
        ++info.counts.leaves;
        if (leaves.leaves.size() == kSnapshotLeavesPerFrame) {
          st = out.emit(leaves);
          leaves.leaves.clear();
          if (!st.is_ok()) return false;
        }
      }
      return true;
    });
    EMLEDGER_TRY(scan);
    EMLEDGER_TRY(st);
    if (info.counts.leaves != head->log_size)
      return Status::error("STORAGE_CORRUPT", "the log holds fewer leaves than its size");
    if (!leaves.leaves.empty()) EMLEDGER_TRY(out.emit(leaves));
  }

  // State in key order, each frame followed by its anchors.
  {
    SnapshotState frame;
    std::vector<Anchor> anchors;
    Status st;
    const auto flush = [&]() -> Status {
      EMLEDGER_TRY(out.emit(frame));
      auto txs = anchor_txs(*view, std::move(anchors));
      if (!txs) return txs.status();
      info.counts.anchor_txs += txs->txs.size();
      EMLEDGER_TRY(out.emit(*txs));
      frame.entries.clear();
      anchors.clear();
      return Status::ok();
    };
    const Bytes prefix{kKeyStateIndex};
    Status scan = view->scan(prefix, prefix, [&](ByteView k, ByteView v) {
      if (k.size() < 2 || k.size() - 1 > kStateKeyBytesMax) {
        st = Status::error("STORAGE_CORRUPT", "bad state index entry");
        return false;
      }
      auto entry = parse_state_index_entry(v);
      if (!entry) {
        st = entry.status();
        return false;
      }
      SnapshotStateEntry e{Bytes(k.begin() + 1, k.end()), std::move(*entry)};
      st = derive(e, w, nullptr, &anchors);
      if (!st.is_ok()) {
        st = Status::error("STORAGE_CORRUPT", st.message());
        return false;
      }
      frame.entries.push_back(std::move(e));
      ++info.counts.state_entries;
      if (frame.entries.size() == kSnapshotStatePerFrame) {
        st = flush();
        if (!st.is_ok()) return false;
      }
      return true;
    });
    EMLEDGER_TRY(scan);
    EMLEDGER_TRY(st);
    if (!frame.entries.empty()) EMLEDGER_TRY(flush());
  }

  for (std::uint64_t h = w.first_block; h <= s; ++h) {
    auto ids = must_get<BlockTxIds>(*view, height_key(kKeyBlockTxs, h),
                                    "transactions of block " + std::to_string(h));
    if (!ids) return ids.status();
    SnapshotBlockTxs b;
    b.height = h;
    for (const Hash& id : ids->ids) {
      auto e = must_get<TxEntry>(*view, hash_key(kKeyTx, id), "transaction " + to_hex(id));
      if (!e) return e.status();
      b.txs.push_back(std::move(e->tx));
    }
    info.counts.window_txs += b.txs.size();
    EMLEDGER_TRY(out.emit(b));
  }

  EMLEDGER_TRY(out.emit(info.counts));
  info.bytes = out.bytes();
  return info;
}

// ---- importer ----

namespace {

class FrameReader {
 public:
  explicit FrameReader(const SnapshotSource& in) : in_(in) {}
  // The next frame's bytes; nullopt at a clean end of the stream.
  Result<std::optional<Bytes>> next() {
    std::uint8_t len[4];
    auto got = in_(std::span<std::uint8_t>(len, 4));
    if (!got) return got.status();
    if (*got == 0) return std::optional<Bytes>();
    if (*got != 4) return truncated();
    std::size_t n = 0;
    for (std::uint8_t b : len) n = (n << 8) | b;
    if (n > kSnapshotFrameBytesMax)
      return invalid("a frame of " + std::to_string(n) + " bytes exceeds the limit");
    Bytes body(n);
    got = in_(std::span<std::uint8_t>(body.data(), n));
    if (!got) return got.status();
    if (*got != n) return truncated();
    bytes_ += 4 + n;
    return std::optional<Bytes>(std::move(body));
  }
  // The next frame decoded as T. Errors: SNAPSHOT_TRUNCATED at the end,
  // SNAPSHOT_INVALID when it is something else.
  template <class T>
  Result<T> expect(std::string_view what) {
    auto f = next();
    if (!f) return f.status();
    if (!f->has_value()) return truncated();
    auto v = decode<T>(**f);
    if (!v)
      return invalid(std::string("expected ") + std::string(what) + ": " + v.status().message());
    return v;
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  static Status truncated() {
    return Status::error("SNAPSHOT_TRUNCATED", "the snapshot ends early");
  }
  const SnapshotSource& in_;
  std::uint64_t bytes_ = 0;
};

// What the importer keeps of each window header.
struct HeaderFacts {
  std::uint64_t log_size = 0;
  Hash payload_digest{};
  std::uint64_t view = 0;
};

class Importer {
 public:
  Importer(const Genesis& genesis, KvStore& target, KvStore& scratch, std::uint64_t window_min)
      : genesis_(genesis), target_(target), scratch_(scratch), window_min_(window_min) {}

  Result<SnapshotInfo> run(const SnapshotSource& source) {
    FrameReader in(source);
    EMLEDGER_TRY(check_empty());
    EMLEDGER_TRY(manifest(in));
    EMLEDGER_TRY(headers(in));
    EMLEDGER_TRY(leaves(in));
    auto next = state(in);
    if (!next) return next.status();
    EMLEDGER_TRY(build_tree());
    EMLEDGER_TRY(blocks(in, std::move(*next)));
    auto end = in.next();
    if (!end) return end.status();
    if (end->has_value()) return invalid("data after the end frame");
    EMLEDGER_TRY(commit());
    info_.bytes = in.bytes();
    return info_;
  }

 private:
  Status check_empty() {
    for (KvStore* store : {&target_, &scratch_}) {
      bool any = false;
      EMLEDGER_TRY(store->scan({}, {}, [&](ByteView, ByteView) {
        any = true;
        return false;
      }));
      if (any) return Status::error("STORAGE_ERROR", "a snapshot imports into empty stores only");
    }
    return Status::ok();
  }

  Status manifest(FrameReader& in) {
    auto m = in.expect<SnapshotManifest>("the manifest");
    if (!m) return m.status();
    if (m->genesis_hash != genesis_.hash())
      return invalid("the snapshot is of another genesis (" + to_hex(m->genesis_hash) + ")");
    if (m->header.chain_id != genesis_.chain_id) return invalid("the header names another chain");
    if (m->header.height == 0) return invalid("a snapshot is of height 1 or more");
    if (m->window < window_min_ || m->window == 0)
      return invalid("a replay window of " + std::to_string(m->window) + " blocks is below the " +
                     std::to_string(window_min_) + " this node requires");
    auto sets = verify_succession(genesis_, m->succession);
    if (!sets) {
      if (sets.status().code() == "SUCCESSION_INVALID")
        return invalid("succession: " + sets.status().message());
      return sets.status();
    }
    if (!m->succession.changes.empty() &&
        m->succession.changes.back().header.height > m->header.height)
      return invalid("the succession has a change above the snapshot's height");
    EMLEDGER_TRY(verify_finality_in_set(genesis_.chain_id, set_for_height(*sets, m->header.height),
                                        m->header, m->finality));
    sets_ = std::move(*sets);
    manifest_ = std::move(*m);
    s_ = manifest_.header.height;
    w_ = window_of(s_, manifest_.window);
    info_.window = manifest_.window;
    info_.height = s_;
    info_.header_hash = manifest_.header.hash();
    info_.window_first = w_.first_header;
    return Status::ok();
  }

  // Heights first_header .. s-1, linked by parent hashes up to the header
  // of s, whose finality the manifest proved.
  Status headers(FrameReader& in) {
    const std::uint64_t want = s_ - w_.first_header;
    Hash prev = w_.first_header == 1 ? genesis_.hash() : Hash{};
    facts_.reserve(want + 1);
    while (facts_.size() < want) {
      auto f = in.expect<SnapshotHeaders>("headers");
      if (!f) return f.status();
      if (f->headers.empty()) return invalid("an empty headers frame");
      for (const BlockHeader& h : f->headers) {
        const std::uint64_t height = w_.first_header + facts_.size();
        if (facts_.size() == want) return invalid("more headers than the window holds");
        if (h.height != height || h.chain_id != genesis_.chain_id)
          return invalid("header out of place at height " + std::to_string(height));
        // The first header of a window that starts above genesis is trusted
        // only through its child, like every other one.
        if (!(height == w_.first_header && w_.first_header != 1) && h.parent != prev)
          return invalid("header " + std::to_string(height) + " does not follow its parent");
        if (!facts_.empty() && h.log_size < facts_.back().log_size)
          return invalid("log size shrinks at height " + std::to_string(height));
        prev = h.hash();
        facts_.push_back({h.log_size, h.payload_digest, h.view});
        ++info_.counts.headers;
      }
    }
    const BlockHeader& top = manifest_.header;
    if (want > 0 ? top.parent != prev : (s_ == 1 && top.parent != genesis_.hash()))
      return invalid("the headers do not lead to the snapshot's header");
    if (!facts_.empty() && top.log_size < facts_.back().log_size)
      return invalid("log size shrinks at the snapshot's height");
    facts_.push_back({top.log_size, top.payload_digest, top.view});
    return Status::ok();
  }

  // The log size after block `h` (0 for genesis), for h in the window.
  std::uint64_t log_size_after(std::uint64_t h) const {
    if (h == 0) return 0;
    return facts_[h - w_.first_header].log_size;
  }

  Status leaves(FrameReader& in) {
    const std::uint64_t want = manifest_.header.log_size;
    Hash root = log_empty_root();
    while (info_.counts.leaves < want) {
      auto f = in.expect<SnapshotLeaves>("log leaves");
      if (!f) return f.status();
      if (f->leaves.empty() || f->leaves.size() > want - info_.counts.leaves)
        return invalid("a leaves frame of the wrong size");
      Overlay ov(target_);
      auto r = MerkleLog(ov).append(info_.counts.leaves, f->leaves, ov);
      if (!r) return r.status();
      root = *r;
      EMLEDGER_TRY(target_.write(ov.batch(), /*sync=*/false));
      info_.counts.leaves += f->leaves.size();
    }
    if (root != manifest_.header.log_root)
      return invalid("the log leaves do not give the header's log root");
    return Status::ok();
  }

  // The state frames and their anchors; returns the first frame after them.
  Result<Bytes> state(FrameReader& in) {
    Bytes last_key;
    for (;;) {
      auto f = in.next();
      if (!f) return f.status();
      if (!f->has_value()) return Status::error("SNAPSHOT_TRUNCATED", "the snapshot ends early");
      auto frame = decode<SnapshotState>(**f);
      if (!frame) return std::move(**f);  // the state section is over
      if (frame->entries.empty()) return invalid("an empty state frame");
      WriteBatch sorted;
      Overlay ov(target_);
      std::vector<std::pair<Bytes, Bytes>> index_puts;
      std::vector<Anchor> anchors;
      for (const SnapshotStateEntry& e : frame->entries) {
        if (e.key.empty() || (info_.counts.state_entries > 0 && !(last_key < e.key)))
          return invalid("state keys out of order");
        last_key = e.key;
        if (e.key == validators_key_) validators_value_ = e.value;
        EMLEDGER_TRY(derive(e, w_, &index_puts, &anchors));
        const Hash path = smt_path(e.key);
        sorted.put(path, encode(e));  // the tree's build writes the flat index
        ++info_.counts.state_entries;
      }
      for (const auto& [k, v] : index_puts) ov.put(k, v);
      EMLEDGER_TRY(anchor_frame(in, std::move(anchors), ov));
      EMLEDGER_TRY(scratch_.write(sorted, /*sync=*/false));
      EMLEDGER_TRY(target_.write(ov.batch(), /*sync=*/false));
    }
  }

  // The anchors frame after a state frame: exactly the transactions it
  // names, each the log leaf at its position.
  Status anchor_frame(FrameReader& in, std::vector<Anchor> want, Overlay& ov) {
    auto f = in.expect<SnapshotTxs>("anchor transactions");
    if (!f) return f.status();
    sort_unique(want);
    if (f->txs.size() != want.size()) return invalid("anchor transactions missing or extra");
    std::map<Hash, ChainPos> by_id;
    for (const Anchor& a : want) by_id.emplace(a.tx, a.pos);
    const std::uint64_t window_start = log_size_after(w_.first_block - 1);
    for (const TxEntry& e : f->txs) {
      const Hash id = crypto::sha256(e.tx);
      auto it = by_id.find(id);
      if (it == by_id.end()) return invalid("an anchor transaction nobody names: " + to_hex(id));
      if (it->second != ChainPos{e.height, e.index})
        return invalid("anchor transaction " + to_hex(id) + " at the wrong position");
      by_id.erase(it);
      if (e.log_index >= window_start)
        return invalid("anchor transaction " + to_hex(id) + " inside the window");
      EMLEDGER_TRY(check_leaf(e.log_index, e.tx));
      ov.put(hash_key(kKeyTx, id), encode(e));
      ++info_.counts.anchor_txs;
    }
    return Status::ok();
  }

  Status check_leaf(std::uint64_t log_index, ByteView tx) const {
    auto leaf = MerkleLog(target_).leaf(log_index);
    if (!leaf) return invalid("no log leaf " + std::to_string(log_index));
    if (*leaf != log_leaf_hash(tx))
      return invalid("transaction is not the log leaf " + std::to_string(log_index));
    return Status::ok();
  }

  // Builds the state tree from the entries in path order, so that each
  // write adds to the right edge of the tree and rewrites only that edge.
  Status build_tree() {
    Hash root = smt_empty_root();
    std::vector<std::pair<Bytes, Bytes>> puts;
    Status st;
    const auto flush = [&]() -> Status {
      Overlay ov(target_);
      auto r = StateTree(ov).update(root, puts, ov);
      if (!r) return r.status();
      root = *r;
      puts.clear();
      return target_.write(ov.batch(), /*sync=*/false);
    };
    EMLEDGER_TRY(scratch_.scan({}, {}, [&](ByteView, ByteView v) {
      auto e = decode<SnapshotStateEntry>(v);
      if (!e) {
        st = Status::error("STORAGE_CORRUPT", "scratch entry: " + e.status().message());
        return false;
      }
      puts.emplace_back(std::move(e->key), std::move(e->value));
      if (puts.size() == kTreeBuildChunk) {
        st = flush();
        if (!st.is_ok()) return false;
      }
      return true;
    }));
    EMLEDGER_TRY(st);
    if (!puts.empty()) EMLEDGER_TRY(flush());
    if (root != manifest_.header.state_root)
      return invalid("the state does not give the header's state root");
    // The state proves the set in force after S: the succession must reach
    // it, or the restored ledger could not serve a complete one.
    const bool complete = sets_.size() == 1 ? !validators_value_.has_value()
                                            : validators_value_ == encode(sets_.back());
    if (!complete) return invalid("the succession does not reach the validator set of the state");
    return Status::ok();
  }

  // Every block of the window, in height order: its transactions fill the
  // log positions its header says and give its payload digest.
  Status blocks(FrameReader& in, Bytes first) {
    std::set<Hash> seen;
    std::optional<Bytes> pending(std::move(first));
    for (std::uint64_t h = w_.first_block; h <= s_; ++h) {
      Bytes raw;
      if (pending) {
        raw = std::move(*pending);
        pending.reset();
      } else {
        auto f = in.next();
        if (!f) return f.status();
        if (!f->has_value()) return Status::error("SNAPSHOT_TRUNCATED", "the snapshot ends early");
        raw = std::move(**f);
      }
      auto b = decode<SnapshotBlockTxs>(raw);
      if (!b) return invalid("expected the transactions of block " + std::to_string(h));
      if (b->height != h) return invalid("block transactions out of order at " + std::to_string(h));
      const std::uint64_t begin = log_size_after(h - 1);
      const std::uint64_t end = log_size_after(h);
      if (b->txs.size() != end - begin)
        return invalid("block " + std::to_string(h) + " has the wrong number of transactions");
      std::vector<Hash> ids;
      ids.reserve(b->txs.size());
      WriteBatch batch;
      for (std::uint32_t i = 0; i < b->txs.size(); ++i) {
        const Hash id = crypto::sha256(b->txs[i]);
        if (!seen.insert(id).second) return invalid("transaction repeated: " + to_hex(id));
        EMLEDGER_TRY(check_leaf(begin + i, b->txs[i]));
        batch.put(hash_key(kKeyTx, id), encode(TxEntry{h, i, begin + i, b->txs[i]}));
        ids.push_back(id);
      }
      if (payload_digest(ids) != facts_[h - w_.first_header].payload_digest)
        return invalid("block " + std::to_string(h) + "'s transactions do not give its digest");
      if (h == s_) batch.put(height_key(kKeyBlockTxs, h), encode(BlockTxIds{ids}));
      info_.counts.window_txs += ids.size();
      EMLEDGER_TRY(target_.write(batch, /*sync=*/false));
    }
    if (pending) return invalid("unexpected frame after the state");
    auto end = in.expect<SnapshotEnd>("the end frame");
    if (!end) return end.status();
    const SnapshotEnd& c = info_.counts;
    if (end->headers != c.headers || end->leaves != c.leaves ||
        end->state_entries != c.state_entries || end->anchor_txs != c.anchor_txs ||
        end->window_txs != c.window_txs)
      return invalid("the end frame's counts differ from the snapshot");
    return Status::ok();
  }

  // One synced write that makes the store a ledger at height s.
  Status commit() {
    const BlockHeader& hd = manifest_.header;
    WriteBatch batch;
    ChainHead head;
    head.height = s_;
    head.header_hash = info_.header_hash;
    head.time_ms = hd.time_ms;
    head.log_size = hd.log_size;
    head.log_root = hd.log_root;
    head.state_root = hd.state_root;
    batch.put(height_key(kKeyHeader, s_), encode(hd));
    const FinalityProof& p = manifest_.finality;
    if (!p.by_descendant()) {
      batch.put(height_key(kKeyCert, s_), encode(p.certificate));
    } else {
      const Hash& d = p.certificate.header_hash;
      batch.put(height_key(kKeyFinalizedBy, s_), Bytes(d.begin(), d.end()));
      batch.put(hash_key(kKeyDescendantProof, d), encode(p));
    }
    // The base and the view of the block below it (the genesis, view 0, for
    // a snapshot of height 1): a validator anchoring here needs both.
    const std::uint64_t parent_view = s_ == 1 ? 0 : facts_[facts_.size() - 2].view;
    Bytes base;
    for (int i = 7; i >= 0; --i) base.push_back(static_cast<std::uint8_t>(s_ >> (8 * i)));
    for (int i = 7; i >= 0; --i) base.push_back(static_cast<std::uint8_t>(parent_view >> (8 * i)));
    batch.put(Bytes{kKeyBase}, base);
    // The changes, each under the epoch it ends: the store holds no header
    // or state root below S to rebuild them from.
    const std::vector<EpochChange>& changes = manifest_.succession.changes;
    for (std::size_t i = 0; i < changes.size(); ++i)
      batch.put(height_key(kKeyEpochChange, i), encode(changes[i]));
    batch.put(Bytes{kKeyGenesis}, encode(genesis_));
    batch.put(Bytes{kKeyFormat}, Bytes{kStoreFormat});
    batch.put(Bytes{kKeyHead}, encode(head));
    return target_.write(batch, /*sync=*/true);
  }

  const Genesis& genesis_;
  KvStore& target_;
  KvStore& scratch_;
  std::uint64_t window_min_;
  SnapshotManifest manifest_;
  std::vector<ValidatorSet> sets_;  // verify_succession of the manifest's succession
  const Bytes validators_key_ = validators_state_key();
  std::optional<Bytes> validators_value_;  // the state's "validators" entry
  std::uint64_t s_ = 0;
  Window w_;
  std::vector<HeaderFacts> facts_;  // heights first_header .. s
  SnapshotInfo info_;
};

}  // namespace

Result<SnapshotInfo> import_snapshot(const SnapshotSource& in, const Genesis& genesis,
                                     KvStore& target, KvStore& scratch, std::uint64_t window_min) {
  EMLEDGER_TRY(genesis.check());
  return Importer(genesis, target, scratch, window_min).run(in);
}

}  // namespace emledger::ledger
