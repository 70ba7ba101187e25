// The state commitment (docs/formats/smt.md): a sparse Merkle tree whose
// leaves sit at the shallowest depth where they are alone, stored
// content-addressed so that every past root stays readable: in pages of four
// levels (ADR 027, smt_page.hpp).
#include "emledger/ledger/smt.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <exception>
#include <map>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/smt_page.hpp"
#include "emledger/ledger/smt_page_cache.hpp"

namespace emledger::ledger {
namespace {

constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kInternalPrefix = 0x01;
constexpr std::uint8_t kNodeKeyTag = 'n';
constexpr std::uint8_t kValueKeyTag = 'v';
constexpr std::uint8_t kStateIndexTag = 's';
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

// A node at a depth divisible by kSmtPageLevels roots a page (ADR 027): the
// store holds "n" + that node's hash -> its page (smt_page.hpp), and every
// other node only inside the page of its nearest such ancestor.
bool roots_page(std::size_t depth) { return depth % kSmtPageLevels == 0; }

// Reads nodes through the pages that hold them, for one operation. A page is
// checked whole when it is read from the store: decode_smt_page recomputes
// every hash it holds and requires its root's to be the one asked for, so a
// flipped byte on disk is reported, not followed. A page in the cache was
// checked when it was read or computed when it was written. The reader keeps
// the last page it used at each page level (a walk's path holds one page a
// level), so that the nodes of a page cost one cache lookup together;
// without a cache (a test's or a snapshot import's tree), every page the
// operation decoded. A page read from the store goes into the cache when
// `fill` says so: not for an update, which writes a new version of nearly
// every page it reads and puts that one in the cache instead.
class NodeReader {
 public:
  NodeReader(const KvReader& store, const SmtPageCache* cache, bool fill)
      : store_(store), cache_(cache), fill_(fill) {}

  // The node `h` (never zero) at `depth`, held by the page rooted at `page`
  // (`h` itself when its depth roots a page).
  Result<Node> load(const Hash& h, const Hash& page, std::size_t depth) {
    EMLEDGER_ASSERT(!is_zero(h));
    auto entries = page_entries(page, depth / kSmtPageLevels);
    if (!entries) return entries.status();
    for (const SmtPageEntry& e : **entries)
      if (e.hash == h) return decode_node(e.node);
    return corrupt("state node " + to_hex(h) + " is not in its page " + to_hex(page));
  }

  // A hint that the page rooted at `h` (zero: nothing) is read soon: the
  // cache's index line for it is asked for now, so that the miss overlaps
  // the work before that read.
  void prefetch_page(const Hash& h) const {
    if (cache_ && !is_zero(h)) cache_->prefetch(h);
  }

 private:
  struct Held {
    Hash root{};
    bool held = false;
    std::vector<SmtPageEntry> entries;
  };

  // The nodes of the page rooted at `page`, at page level `level`. With a
  // cache, the pointer holds until the next call at that level.
  Result<const std::vector<SmtPageEntry>*> page_entries(const Hash& page, std::size_t level) {
    EMLEDGER_ASSERT(!is_zero(page));
    if (!cache_) {
      if (auto it = kept_.find(page); it != kept_.end()) return &it->second;
      auto decoded = read_page(page);
      if (!decoded) return decoded.status();
      return &kept_.emplace(page, std::move(*decoded)).first->second;
    }
    Held& slot = levels_[level];
    if (slot.held && slot.root == page) return &slot.entries;
    slot.held = false;
    if (!cache_->find(page, slot.entries)) {
      auto decoded = read_page(page);
      if (!decoded) return decoded.status();
      if (fill_) cache_->insert(page, *decoded);
      slot.entries = std::move(*decoded);
    }
    slot.root = page;
    slot.held = true;
    return &slot.entries;
  }

  Result<std::vector<SmtPageEntry>> read_page(const Hash& page) const {
    auto got = store_.get(tagged_key(kNodeKeyTag, page));
    if (!got) return got.status();
    if (!got->has_value()) return corrupt("state page " + to_hex(page) + " is missing");
    return decode_smt_page(**got, page);
  }

  const KvReader& store_;
  const SmtPageCache* cache_;
  bool fill_;
  // Pages sit at depths 0, 4, ..., 256: 65 levels.
  std::array<Held, kPathBits / kSmtPageLevels + 1> levels_;
  std::map<Hash, std::vector<SmtPageEntry>> kept_;
};

// One pending leaf. `key` and `value` are null for a leaf already in the
// tree, moving down from `old_depth` (its value is stored); otherwise they
// point into the caller's puts.
struct Put {
  Hash path;
  Hash value_hash;
  const Bytes* key;
  const Bytes* value;
  std::size_t old_depth = 0;
};
using Puts = std::span<const Put>;

// First put in `puts` (sorted by path, all sharing `depth` leading bits) that
// goes right at `depth`.
std::size_t split_at(Puts puts, std::size_t depth) {
  auto it = std::partition_point(puts.begin(), puts.end(),
                                 [&](const Put& p) { return !path_bit(p.path, depth); });
  return static_cast<std::size_t>(it - puts.begin());
}

// What an update remembers of the keys it writes, for write_values.
struct Written {
  const Bytes* key;
  const Bytes* value;
};
struct Replaced {
  const Bytes* key;
  Hash value_hash;  // the value it had
};

// A page being built: its positions (smt_page.hpp), and, for the cache, the
// leaves and internal nodes it holds with their hashes, in no set order.
struct PageBuild {
  Bytes positions;
  std::vector<SmtHashedNode> nodes;
};

// The subtrees at kSplitDepth are updated apart, on several threads, when
// the update is large (StateTree's `threads`). Depth 4 roots the pages under
// the root's page: up to 16 subtrees, enough for a few threads to share.
constexpr std::size_t kSplitDepth = kSmtPageLevels;
// Fewer puts than this are updated on the calling thread alone: a thread
// costs more than what it would take over.
constexpr std::size_t kParallelPutsMin = 256;

// One subtree at kSplitDepth updated by itself: its old node and its puts,
// then everything its update produced, which the walk above it takes in, in
// the order a walk on one thread would have produced it.
struct SubtreeJob {
  Hash node;
  Puts puts;
  Result<Hash> hash = Hash{};
  PageBuild into;  // its positions in the page above: a reference
  WriteBatch out;  // its pages
  StateUpdateTrace trace;
  std::vector<Hash> revived_paths;
  std::vector<Written> written;
  std::vector<Replaced> replaced;
  std::exception_ptr thrown;
  bool done = false;  // run, or thrown out of
};

// Writes the new pages of one update to `out`; reads old ones from `store`.
// Each call appends its subtree's positions to `into`, the page being built
// above it, in pre-order: a node's tag before its children, which it knows
// beforehand (keys are never removed, so an internal node stays one). A node
// at a depth rooting a page builds its own page, writes it once its hash is
// known, and appends a reference to `into`. The positions of an unchanged
// subtree inside a page come from its nodes, read from the old page at the
// same place. With a cache, each page written goes into it with its nodes.
class Updater {
 public:
  Updater(const KvReader& store, const SmtPageCache* cache, WriteBatch& out,
          StateUpdateTrace* trace)
      : store_(store),
        cache_(cache),
        reader_(store, cache, /*fill=*/false),
        out_(out),
        trace_(trace) {}

  // The subtrees at kSplitDepth that apply would reach with puts, in path
  // order, as jobs to be updated apart: each branch of the walk from `node`
  // (at `depth`, in the page rooted at `page`) down to kSplitDepth through
  // internal nodes. A branch ending above it (an empty subtree or a leaf
  // where puts arrive) has none: apply builds it on its own.
  Status plan(const Hash& node, std::size_t depth, Puts puts, const Hash& page,
              std::vector<SubtreeJob>& jobs) {
    if (puts.empty()) return Status::ok();
    if (depth == kSplitDepth) {
      SubtreeJob& job = jobs.emplace_back();
      job.node = node;
      job.puts = puts;
      return Status::ok();
    }
    if (is_zero(node)) return Status::ok();
    const Hash& here = roots_page(depth) ? node : page;
    auto loaded = reader_.load(node, here, depth);
    if (!loaded) return loaded.status();
    if (loaded->kind == kKindLeaf) return Status::ok();
    const Node n = *loaded;
    const std::size_t mid = split_at(puts, depth);
    EMLEDGER_TRY(plan(n.a, depth + 1, puts.first(mid), here, jobs));
    return plan(n.b, depth + 1, puts.subspan(mid), here, jobs);
  }

  // Updates one planned subtree, as apply would at kSplitDepth, leaving what
  // it produced in `job` (its pages go to the updater's `out`, the job's).
  void run(SubtreeJob& job) {
    job.hash = apply(job.node, kSplitDepth, job.puts, job.node, job.into);
    job.revived_paths = std::move(revived_paths_);
    job.written = std::move(written_);
    job.replaced = std::move(replaced_);
  }

  // Jobs run beforehand (plan, run), which apply takes in when it reaches
  // them instead of updating those subtrees itself. `jobs` outlives the
  // updater's apply.
  void use_jobs(std::span<SubtreeJob> jobs) { jobs_ = jobs; }

  // The subtree at `depth` holding exactly `puts` (sorted, distinct paths).
  Result<Hash> build(std::size_t depth, Puts puts, PageBuild& into) {
    if (puts.empty()) {
      append_smt_page_empty(into.positions);
      return smt_empty_root();
    }
    PageBuild own;
    PageBuild& page = roots_page(depth) ? start(own) : into;
    if (puts.size() == 1) {
      const Put& p = puts.front();
      const Node leaf{kKindLeaf, p.path, p.value_hash};
      append_smt_page_leaf(page.positions, leaf.a, leaf.b);
      if (p.value == nullptr) return move_leaf(leaf, p.old_depth, depth, own, into);
      written_.push_back(Written{p.key, p.value});
      return place(leaf, depth, own, into, puts);
    }
    // Distinct paths part before depth 256.
    EMLEDGER_ASSERT(depth < kPathBits);
    append_smt_page_internal(page.positions);
    const std::size_t mid = split_at(puts, depth);
    auto left = build(depth + 1, puts.first(mid), page);
    if (!left) return left.status();
    auto right = build(depth + 1, puts.subspan(mid), page);
    if (!right) return right.status();
    return place(Node{kKindInternal, *left, *right}, depth, own, into, puts);
  }

  // The subtree at `depth` whose old root is `node`, with `puts` applied.
  // `page` roots the old page holding `node` when `depth` roots none.
  Result<Hash> apply(const Hash& node, std::size_t depth, Puts puts, const Hash& page,
                     PageBuild& into) {
    if (puts.empty()) {
      EMLEDGER_TRY(append_unchanged(node, depth, page, into));
      return node;
    }
    if (depth == kSplitDepth && next_job_ < jobs_.size() &&
        jobs_[next_job_].puts.data() == puts.data())
      return take(jobs_[next_job_++], into);
    if (is_zero(node)) return build(depth, puts, into);
    const Hash& here = roots_page(depth) ? node : page;
    auto loaded = reader_.load(node, here, depth);
    if (!loaded) return loaded.status();
    const Node n = *loaded;
    if (n.kind == kKindLeaf) return merge_leaf(node, n, depth, puts, into);
    if (depth >= kPathBits) return corrupt("state tree deeper than 256 levels");
    PageBuild own;
    PageBuild& positions = roots_page(depth) ? start(own) : into;
    append_smt_page_internal(positions.positions);
    const std::size_t mid = split_at(puts, depth);
    // A child rooting a page is read below if puts go its way (the right one
    // after the whole left subtree): its page is asked for now. A child in
    // this page is read from the page the reader holds.
    if (roots_page(depth + 1)) {
      if (mid > 0) reader_.prefetch_page(n.a);
      if (mid < puts.size()) reader_.prefetch_page(n.b);
    }
    auto left = apply(n.a, depth + 1, puts.first(mid), here, positions);
    if (!left) return left.status();
    auto right = apply(n.b, depth + 1, puts.subspan(mid), here, positions);
    if (!right) return right.status();
    if (*left == n.a && *right == n.b) {  // nothing changed below
      if (roots_page(depth)) {
        append_smt_page_ref(into.positions, node);
      } else {
        hold(into, node, n);
      }
      return node;
    }
    supersede(node, depth);
    return place(Node{kKindInternal, *left, *right}, depth, own, into, puts);
  }

  // After apply: each replaced value moves from the flat index to its own
  // entry (read before any flat index entry is written, as `store_` may be
  // `out_`), then each new or changed key's flat index entry is written.
  Status write_values() {
    for (const Replaced& r : replaced_) {
      auto got = store_.get(state_index_key(*r.key));
      if (!got) return got.status();
      if (!got->has_value()) return corrupt("the flat index lacks a key the state tree holds");
      auto entry = parse_state_index_entry(**got);
      if (!entry) return entry.status();
      if (crypto::sha256(*entry) != r.value_hash)
        return corrupt("the flat index disagrees with the state tree on a key's value");
      out_.put(tagged_key(kValueKeyTag, r.value_hash), *entry);
    }
    for (const Written& w : written_) out_.put(state_index_key(*w.key), *w.value);
    return Status::ok();
  }

 private:
  // A job's results where this walk would have produced them itself: same
  // pages, same lists, in the same order.
  Result<Hash> take(SubtreeJob& job, PageBuild& into) {
    EMLEDGER_ASSERT(job.done);
    if (job.thrown) std::rethrow_exception(job.thrown);
    EMLEDGER_ASSERT(job.puts.size() > 0);
    if (!job.hash) return job.hash;
    into.positions.insert(into.positions.end(), job.into.positions.begin(),
                          job.into.positions.end());
    into.nodes.insert(into.nodes.end(), job.into.nodes.begin(), job.into.nodes.end());
    EMLEDGER_ASSERT(job.out.erased().empty());
    out_.absorb(std::move(job.out));
    EMLEDGER_ASSERT(revived_paths_.empty() || job.revived_paths.empty() ||
                    revived_paths_.back() < job.revived_paths.front());
    revived_paths_.insert(revived_paths_.end(), job.revived_paths.begin(), job.revived_paths.end());
    written_.insert(written_.end(), job.written.begin(), job.written.end());
    replaced_.insert(replaced_.end(), job.replaced.begin(), job.replaced.end());
    if (trace_) {
      const StateUpdateTrace& t = job.trace;
      trace_->superseded.insert(trace_->superseded.end(), t.superseded.begin(), t.superseded.end());
      trace_->revived.insert(trace_->revived.end(), t.revived.begin(), t.revived.end());
    }
    return *job.hash;
  }

  PageBuild& start(PageBuild& page) const {
    page.positions.reserve(kSmtPageBytesMax);
    if (cache_) page.nodes.reserve(SmtPageCache::kPageNodesMax);
    return page;
  }

  // `node` (hash `h`) is one of the nodes of the page `page` builds.
  void hold(PageBuild& page, const Hash& h, const Node& node) const {
    if (cache_) page.nodes.push_back(SmtHashedNode{h, node.encode()});
  }

  // The positions of an unchanged subtree at `depth`, inside the old page
  // rooted at `page` when `depth` roots none.
  Status append_unchanged(const Hash& node, std::size_t depth, const Hash& page, PageBuild& into) {
    if (is_zero(node)) {
      append_smt_page_empty(into.positions);
      return Status::ok();
    }
    if (roots_page(depth)) {
      append_smt_page_ref(into.positions, node);
      return Status::ok();
    }
    auto loaded = reader_.load(node, page, depth);
    if (!loaded) return loaded.status();
    const Node n = *loaded;
    hold(into, node, n);
    if (n.kind == kKindLeaf) {
      append_smt_page_leaf(into.positions, n.a, n.b);
      return Status::ok();
    }
    if (depth >= kPathBits) return corrupt("state tree deeper than 256 levels");
    append_smt_page_internal(into.positions);
    EMLEDGER_TRY(append_unchanged(n.a, depth + 1, page, into));
    return append_unchanged(n.b, depth + 1, page, into);
  }

  // An old leaf where puts arrive: it joins them unless one of them replaces it.
  Result<Hash> merge_leaf(const Hash& node, const Node& leaf, std::size_t depth, Puts puts,
                          PageBuild& into) {
    if (common_prefix_bits(leaf.a, puts.front().path) < depth)
      return corrupt("state leaf " + to_hex(node) + " is off its path");
    auto pos = std::lower_bound(puts.begin(), puts.end(), leaf.a,
                                [](const Put& p, const Hash& path) { return p.path < path; });
    const bool replaced = pos != puts.end() && pos->path == leaf.a;
    if (replaced && pos->value_hash != leaf.b) {
      // Forgotten before build writes anything.
      supersede(node, depth);
      EMLEDGER_TRY(note_if_revived(leaf.a, pos->value_hash));
      replaced_.push_back(Replaced{pos->key, leaf.b});
      return build(depth, puts, into);
    }
    if (replaced && puts.size() == 1) {  // same value again
      if (roots_page(depth)) {
        append_smt_page_ref(into.positions, node);
      } else {
        append_smt_page_leaf(into.positions, leaf.a, leaf.b);
        hold(into, node, leaf);
      }
      return node;
    }
    // The leaf stays, below the keys that arrive (its own value again is no change).
    std::vector<Put> joined(puts.begin(), pos);
    joined.push_back(Put{leaf.a, leaf.b, nullptr, nullptr, depth});
    joined.insert(joined.end(), replaced ? pos + 1 : pos, puts.end());
    return build(depth, joined, into);
  }

  // A leaf of the old tree placed deeper, unchanged, its positions in `own`
  // if `to` roots a page. It roots a page at some depths and not at others:
  // it gets a page when it comes to such a depth (a page stored before,
  // which pruning may still hold, is revived), and its page is superseded
  // when it leaves one.
  Result<Hash> move_leaf(const Node& leaf, std::size_t from, std::size_t to, PageBuild& own,
                         PageBuild& into) {
    EMLEDGER_ASSERT(from < to);
    const Hash h = leaf.hash();
    if (roots_page(to)) {
      if (!roots_page(from)) {
        if (trace_) EMLEDGER_TRY(note_if_stored(h));
        out_.put(tagged_key(kNodeKeyTag, h), own.positions);
      }
      hold(own, h, leaf);
      if (cache_) cache_->insert(h, own.nodes);
      append_smt_page_ref(into.positions, h);
    } else {
      hold(into, h, leaf);
      if (trace_ && roots_page(from)) trace_->superseded.push_back(h);
    }
    return h;
  }

  // A new node at `depth`, whose positions are built: one of the nodes of
  // the page `into` builds, or at a depth rooting a page, the root of its
  // own (`own`), which is written, cached and referred to from `into`. The
  // next block's update reads most of the pages this one writes: the upper
  // levels always, so they go to the cache at once. A page of a block that
  // never commits is only a wasted record: its hash names its content.
  Result<Hash> place(const Node& node, std::size_t depth, PageBuild& own, PageBuild& into,
                     Puts puts) {
    const Hash h = node.hash();
    if (!roots_page(depth)) {
      hold(into, h, node);
      return h;
    }
    EMLEDGER_ASSERT(!own.positions.empty() && own.positions.size() <= kSmtPageBytesMax);
    if (trace_ && holds_revival_candidate(puts)) EMLEDGER_TRY(note_if_stored(h));
    out_.put(tagged_key(kNodeKeyTag, h), own.positions);
    hold(own, h, node);
    if (cache_) cache_->insert(h, own.nodes);
    append_smt_page_ref(into.positions, h);
    return h;
  }

  // Whether a key that may take back an earlier value is among `puts` (a
  // subtree's puts: a range of the sorted puts). Candidates are noted before
  // the subtree holding them is written, in path order.
  bool holds_revival_candidate(Puts puts) const {
    if (revived_paths_.empty() || puts.empty()) return false;
    auto it = std::lower_bound(revived_paths_.begin(), revived_paths_.end(), puts.front().path);
    return it != revived_paths_.end() && *it <= puts.back().path;
  }

  // A page this update writes that is stored already: an earlier tree's,
  // not yet pruned, back in the tree (StateUpdateTrace::revived).
  Status note_if_stored(const Hash& page) {
    auto got = store_.get(tagged_key(kNodeKeyTag, page));
    if (!got) return got.status();
    if (got->has_value()) trace_->revived.push_back(page);
    return Status::ok();
  }

  // `node` at `depth` is not in the tree this update builds. A node's hash
  // names its position (it commits to the full paths below it), so nothing
  // this update writes elsewhere can be the same node. Only a page's root
  // names something pruning can erase.
  void supersede(const Hash& node, std::size_t depth) {
    if (!roots_page(depth)) return;
    if (cache_) cache_->forget(node);
    if (trace_) trace_->superseded.push_back(node);
  }

  // A key takes a new value: if that value is stored already, the key may
  // be taking back a value it had before, and the pages written on its path
  // may be earlier pages (not yet pruned) again; each is looked up before it
  // is written. Only a changed leaf can bring an earlier node back: keys are
  // never removed, so a subtree equals an earlier state of itself only once
  // each of its keys has an earlier value again. Values are never erased, so
  // this finds every such key; a value another key holds costs a few lookups,
  // no harm.
  Status note_if_revived(const Hash& path, const Hash& value_hash) {
    if (!trace_) return Status::ok();
    auto got = store_.get(tagged_key(kValueKeyTag, value_hash));
    if (!got) return got.status();
    if (!got->has_value()) return Status::ok();
    // Leaves are met in path order.
    EMLEDGER_ASSERT(revived_paths_.empty() || revived_paths_.back() < path);
    revived_paths_.push_back(path);
    return Status::ok();
  }

  const KvReader& store_;
  const SmtPageCache* cache_;
  NodeReader reader_;
  WriteBatch& out_;
  StateUpdateTrace* trace_;
  std::span<SubtreeJob> jobs_;
  std::size_t next_job_ = 0;         // the next of jobs_ apply meets
  std::vector<Hash> revived_paths_;  // see note_if_revived
  std::vector<Written> written_;     // new leaves with a value from the puts
  std::vector<Replaced> replaced_;   // keys whose value changes
};

// Runs `jobs` on up to `threads` threads, the caller's among them. Each job
// reads the store as it was before the update (nothing writes it meanwhile:
// every job writes its own batch) and the thread-safe cache.
void run_jobs(const KvReader& store, const SmtPageCache* cache, unsigned threads,
              std::span<SubtreeJob> jobs, bool traced) {
  std::atomic<std::size_t> next{0};
  auto work = [&]() {
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < jobs.size();) {
      SubtreeJob& job = jobs[i];
      try {
        Updater u(store, cache, job.out, traced ? &job.trace : nullptr);
        u.run(job);
      } catch (...) {
        job.thrown = std::current_exception();
      }
      job.done = true;
    }
  };
  const std::size_t helpers = std::min<std::size_t>(threads, jobs.size()) - 1;
  std::vector<std::jthread> pool;
  pool.reserve(helpers);
  for (std::size_t t = 0; t < helpers; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no thread to be had: the threads there are take every job
    }
  }
  work();
}  // the helpers are joined here

// Where a walk from the root along `path` ends.
struct Walk {
  std::vector<Hash> siblings;    // from the root down
  std::optional<Node> terminal;  // nullopt: an empty subtree; else a leaf
};

Result<Walk> walk(const KvReader& store, const SmtPageCache* cache, const Hash& root,
                  const Hash& path) {
  NodeReader reader(store, cache, /*fill=*/true);
  Walk w;
  Hash node = root;
  Hash page = root;
  while (!is_zero(node)) {
    const std::size_t depth = w.siblings.size();
    if (roots_page(depth)) page = node;
    auto loaded = reader.load(node, page, depth);
    if (!loaded) return loaded.status();
    if (loaded->kind == kKindLeaf) {
      if (common_prefix_bits(loaded->a, path) < depth)
        return corrupt("state leaf " + to_hex(node) + " is off its path");
      w.terminal = *loaded;
      break;
    }
    if (depth >= kPathBits) return corrupt("state tree deeper than 256 levels");
    const bool right = path_bit(path, depth);
    w.siblings.push_back(right ? loaded->a : loaded->b);
    node = right ? loaded->b : loaded->a;
  }
  return w;
}

}  // namespace

Bytes state_index_key(ByteView state_key) {
  Bytes k;
  k.reserve(1 + state_key.size());
  k.push_back(kStateIndexTag);
  k.insert(k.end(), state_key.begin(), state_key.end());
  return k;
}

Result<Bytes> parse_state_index_entry(ByteView entry) {
  if (entry.size() > kStateValueBytesMax)
    return corrupt("a flat index entry of " + std::to_string(entry.size()) + " bytes");
  return Bytes(entry.begin(), entry.end());
}

Result<Bytes> load_replaced_state_value(const KvReader& store, const Hash& value_hash) {
  auto got = store.get(tagged_key(kValueKeyTag, value_hash));
  if (!got) return got.status();
  if (!got->has_value()) return corrupt("state value " + to_hex(value_hash) + " is missing");
  Bytes value = std::move(**got);
  if (value.size() > kStateValueBytesMax || crypto::sha256(value) != value_hash)
    return corrupt("state value " + to_hex(value_hash) + " does not match its hash");
  return value;
}

Result<std::optional<Bytes>> load_head_state_value(const KvReader& store, ByteView state_key) {
  auto got = store.get(state_index_key(state_key));
  if (!got) return got.status();
  if (!got->has_value()) return std::optional<Bytes>();
  auto entry = parse_state_index_entry(**got);
  if (!entry) return entry.status();
  return std::optional<Bytes>(std::move(*entry));
}

Result<Bytes> load_state_value(const KvReader& store, ByteView state_key, const Hash& value_hash) {
  auto got = store.get(state_index_key(state_key));
  if (!got) return got.status();
  // The head's value when its hash is the one asked for; otherwise the key
  // has taken another since, and the value is under its hash.
  if (got->has_value()) {
    auto entry = parse_state_index_entry(**got);
    if (!entry) return entry.status();
    if (crypto::sha256(*entry) == value_hash) return std::move(*entry);
  }
  return load_replaced_state_value(store, value_hash);
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
                               Overlay& out, StateUpdateTrace* trace,
                               std::vector<Hash>* put_paths) const {
  std::vector<Put> sorted;
  sorted.reserve(puts.size());
  for (const auto& [key, value] : puts) {
    // Keys and values come from validated transactions; an oversized one is a
    // bug upstream and could never be proven (StateProof bounds them).
    EMLEDGER_ASSERT(key.size() <= kStateKeyBytesMax);
    EMLEDGER_ASSERT(value.size() <= kStateValueBytesMax);
    sorted.push_back(Put{smt_path(key), crypto::sha256(value), &key, &value, 0});
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
  if (put_paths)
    for (const Put& p : last) put_paths->push_back(p.path);
  Updater updater(store_, cache_, out.batch(), trace);
  std::vector<SubtreeJob> jobs;
  if (threads_ > 1 && last.size() >= kParallelPutsMin) {
    EMLEDGER_TRY(updater.plan(root, 0, last, root, jobs));
    // A single job is no gain: the walk updates that subtree itself.
    if (jobs.size() > 1) {
      run_jobs(store_, cache_, threads_, jobs, trace != nullptr);
      updater.use_jobs(jobs);
    }
  }
  PageBuild above;  // where the new root's reference goes: nowhere
  auto new_root = updater.apply(root, 0, last, root, above);
  if (!new_root) return new_root;
  EMLEDGER_TRY(updater.write_values());
  return new_root;
}

Result<std::optional<Bytes>> StateTree::get(const Hash& root, ByteView state_key) const {
  const Hash path = smt_path(state_key);
  auto w = walk(store_, cache_, root, path);
  if (!w) return w.status();
  if (!w->terminal || w->terminal->a != path) return std::optional<Bytes>();
  auto value = load_state_value(store_, state_key, w->terminal->b);
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
      auto value = load_state_value(store_, state_key, w->terminal->b);
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
