// Storage behind an interface (docs/formats/storage.md). The kernel reads
// through KvReader and writes through WriteBatch; LevelDbStore is the real
// implementation. Keys are compared as unsigned bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::ledger {

// Read access. get() returns nullopt for a missing key; an I/O or corruption
// error is fatal to the caller's operation and reported as STORAGE_ERROR.
class KvReader {
 public:
  virtual ~KvReader() = default;
  virtual Result<std::optional<Bytes>> get(ByteView key) const = 0;
};

// A set of puts, applied atomically by KvStore::write. The last put of a key
// wins. Lookups are O(1) and allocation-free: block execution reads through
// tens of thousands of pending entries. Iteration is in first-put order, which
// is deterministic; LevelDB does not depend on the order of distinct keys.
// Not thread safe; a const WriteBatch may be read from several threads.
//
// Keys and values are copied into chunks the batch owns, which never move:
// a block's tens of thousands of puts cost a few chunk allocations, not two
// heap blocks each (and as many frees when the block is done).
class WriteBatch {
 public:
  // One put: views of the batch's own copies, valid for as long as the batch
  // lives (moves included) and until the key is put again.
  struct Entry {
    ByteView key;
    ByteView value;
  };

  WriteBatch() = default;
  WriteBatch(const WriteBatch& other) { copy_from(other); }
  WriteBatch& operator=(const WriteBatch& other) {
    if (this != &other) {
      WriteBatch copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  WriteBatch(WriteBatch&& other) noexcept { take(other); }
  WriteBatch& operator=(WriteBatch&& other) noexcept {
    if (this != &other) take(other);
    return *this;
  }

  void put(ByteView key, ByteView value) { put_entry(key, value, true); }
  // Puts each of `other`'s entries here, in its order, as put() would, and
  // adds its erases. Its bytes are not copied: this batch takes over the
  // chunks holding them. `other` is left empty, able to take puts again.
  void absorb(WriteBatch&& other) {
    reserve(entries_.size() + other.entries_.size());
    for (const Entry& e : other.entries_) put_entry(e.key, e.value, false);
    for (auto& chunk : other.chunks_) chunks_.push_back(std::move(chunk));
    for (Bytes& key : other.erased_) erased_.push_back(std::move(key));
    other.clear_taken();
  }
  // Deletes `key` when the batch is written. Every erase of a write is
  // applied before every put of that write (KvStore::write_all), so a key
  // both erased and put keeps the put: pruning (ADR 021) erases state nodes
  // no retained tree reaches, and a node the same block writes again must
  // stay. find() does not see erases: nothing reads a key it erases.
  void erase(ByteView key) { erased_.emplace_back(key.begin(), key.end()); }
  const std::vector<Bytes>& erased() const { return erased_; }
  // The pending value of `key`, if any: a view valid until `key` is put again.
  std::optional<ByteView> find(ByteView key) const {
    if (slots_.empty()) return std::nullopt;
    const Slot& slot = slots_[probe(key, hash(key))];
    if (slot.entry == 0) return std::nullopt;
    return entries_[slot.entry - 1].value;
  }
  const std::vector<Entry>& entries() const { return entries_; }
  // Sizes the batch for about `entries` puts, sparing regrowth of a big batch.
  void reserve(std::size_t entries) {
    entries_.reserve(entries);
    if (2 * entries > slots_.size()) rehash(slots_for(entries));
  }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty() && erased_.empty(); }

 private:
  // An open-addressing index over entries_ (linear probing, at most half
  // full): a miss, the common case while a block executes, usually costs one
  // cache line. `entry` is the entry's index + 1, 0 for a free slot; `tag`
  // holds hash bits the slot position does not, so most mismatches are
  // settled without touching the key.
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t entry = 0;
  };
  static constexpr std::size_t kEntriesMax = std::size_t{1} << 30;
  static constexpr std::size_t kSlotsMin = 16;

  // Keys are short: a tag byte and a hash, height or state key. A multiply
  // and shift per 8-byte word, then a final mix (splitmix64's).
  static std::uint64_t hash(ByteView key) {
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ key.size();
    std::size_t i = 0;
    for (; i + 8 <= key.size(); i += 8) h = (h ^ word(key.data() + i, 8)) * 0xff51afd7ed558ccdULL;
    h = (h ^ word(key.data() + i, key.size() - i)) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
  }
  static std::uint64_t word(const std::uint8_t* p, std::size_t n) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    return w;
  }
  static std::uint32_t tag(std::uint64_t h) { return static_cast<std::uint32_t>(h >> 32); }
  static std::size_t slots_for(std::size_t entries) {
    std::size_t n = kSlotsMin;
    while (n < 2 * entries) n *= 2;
    return n;
  }
  // The index of the slot holding `key`, or of the free slot where it would
  // go. Terminates: slots_ is never more than half full.
  std::size_t probe(ByteView key, std::uint64_t h) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.entry == 0) return i;
      if (slot.tag != tag(h)) continue;
      const ByteView k = entries_[slot.entry - 1].key;
      if (k.size() == key.size() && std::equal(k.begin(), k.end(), key.begin())) return i;
    }
  }
  void rehash(std::size_t slot_count) {
    EMLEDGER_ASSERT(slot_count >= kSlotsMin && (slot_count & (slot_count - 1)) == 0);
    slots_.assign(slot_count, Slot{});
    const std::size_t mask = slot_count - 1;
    for (std::size_t e = 0; e < entries_.size(); ++e) {
      const std::uint64_t h = hash(entries_[e].key);
      std::size_t i = static_cast<std::size_t>(h) & mask;
      while (slots_[i].entry != 0) i = (i + 1) & mask;
      slots_[i] = Slot{tag(h), static_cast<std::uint32_t>(e + 1)};
    }
  }

  // Chunks grow from the first size to the last by doubling: a batch of a
  // single write stays small, a block's takes a few dozen allocations.
  static constexpr std::size_t kChunkBytesFirst = 4 << 10;
  static constexpr std::size_t kChunkBytesMax = 1 << 20;

  // put(), with `key` and `value` copied in when `copy`, else views of
  // chunks this batch owns.
  void put_entry(ByteView key, ByteView value, bool copy) {
    if (slots_.empty()) rehash(kSlotsMin);
    const std::uint64_t h = hash(key);
    Slot& slot = slots_[probe(key, h)];
    if (slot.entry != 0) {
      // The old value's bytes stay unused in their chunk until the batch
      // goes: a key put again within one batch is rare (a block's head).
      entries_[slot.entry - 1].value = copy ? copy_in(value) : value;
      return;
    }
    EMLEDGER_ASSERT(entries_.size() < kEntriesMax);
    entries_.push_back(copy ? Entry{copy_in(key), copy_in(value)} : Entry{key, value});
    slot = Slot{tag(h), static_cast<std::uint32_t>(entries_.size())};
    if (2 * entries_.size() > slots_.size()) rehash(2 * slots_.size());
  }

  // A copy of `bytes` in the current chunk (a new one when it has no room).
  ByteView copy_in(ByteView bytes) {
    if (bytes.empty()) return {};
    if (bytes.size() > chunk_left_) {
      chunk_bytes_ =
          chunk_bytes_ == 0 ? kChunkBytesFirst : std::min(2 * chunk_bytes_, kChunkBytesMax);
      const std::size_t size = std::max(chunk_bytes_, bytes.size());
      chunks_.emplace_back(new std::uint8_t[size]);
      chunk_next_ = chunks_.back().get();
      chunk_left_ = size;
    }
    std::uint8_t* at = chunk_next_;
    std::memcpy(at, bytes.data(), bytes.size());
    chunk_next_ += bytes.size();
    chunk_left_ -= bytes.size();
    return ByteView(at, bytes.size());
  }
  void copy_from(const WriteBatch& other) {
    reserve(other.entries_.size());
    for (const Entry& e : other.entries_) put(e.key, e.value);
    erased_ = other.erased_;
  }
  // Moves `other`'s contents here; the views stay valid (chunks do not move)
  // and `other` is left empty, able to take puts again.
  void take(WriteBatch& other) noexcept {
    entries_ = std::move(other.entries_);
    slots_ = std::move(other.slots_);
    erased_ = std::move(other.erased_);
    chunks_ = std::move(other.chunks_);
    chunk_next_ = other.chunk_next_;
    chunk_left_ = other.chunk_left_;
    chunk_bytes_ = other.chunk_bytes_;
    other.clear_taken();
  }
  // Empties a batch whose contents another took: able to take puts again.
  void clear_taken() noexcept {
    entries_.clear();
    slots_.clear();
    erased_.clear();
    chunks_.clear();
    chunk_next_ = nullptr;
    chunk_left_ = 0;
    chunk_bytes_ = 0;
  }

  std::vector<Entry> entries_;
  std::vector<Slot> slots_;  // empty, or a power of two >= 2 * entries_.size()
  std::vector<Bytes> erased_;
  std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
  std::uint8_t* chunk_next_ = nullptr;  // the free bytes of the chunk copy_in fills
  std::size_t chunk_left_ = 0;
  std::size_t chunk_bytes_ = 0;  // the size the last chunk was given
};

// Reads with ordered scans.
class KvView : public KvReader {
 public:
  // Visits keys with `prefix` in order, starting at `start` (>= prefix), until
  // `visit` returns false. Thread safe; sees a consistent snapshot.
  virtual Status scan(ByteView prefix, ByteView start,
                      const std::function<bool(ByteView key, ByteView value)>& visit) const = 0;
};

class KvStore : public KvView {
 public:
  // Applies `batches` together, atomically, as one batch: first every erase
  // of every batch, then the puts (a later batch's put of a key wins).
  // sync = true returns only after the data is durable (fsync). Thread safe.
  virtual Status write_all(std::span<const WriteBatch* const> batches, bool sync) = 0;
  Status write(const WriteBatch& batch, bool sync) {
    const WriteBatch* one[] = {&batch};
    return write_all(one, sync);
  }
  // Compacts the whole store now (LevelDB CompactRange over every key): the
  // table files' entries meet the erases and overwrites above them and are
  // dropped, which is where the store's background work converges. Writes
  // still in the memtable are flushed first, and may wait in a table for the
  // next compaction. Blocks until done; for tools and benchmarks. Thread safe.
  virtual Status compact() = 0;
  // The store as it is now, unchanged by later writes, for as long as the
  // view lives (it must not outlive the store). What a reader uses to see
  // many keys at one instant while blocks keep committing.
  virtual std::unique_ptr<KvView> view() const = 0;
};

// Opens (creating if missing) a LevelDB database in `dir`. It keeps up to
// half of the process's soft limit on open files (RLIMIT_NOFILE) open as
// table files, at most kLevelDbOpenFilesMax.
// Errors: STORAGE_ERROR with LevelDB's message (e.g. locked by another process).
Result<std::unique_ptr<KvStore>> open_leveldb(const std::string& dir);

// The most table files open_leveldb keeps open (8 MiB each: 62 GiB of tables).
inline constexpr std::uint64_t kLevelDbOpenFilesMax = 8000;
// The soft limit on open files that raise_open_files_limit asks for: as many
// table files as open_leveldb keeps, and as many again for sockets and logs.
inline constexpr std::uint64_t kOpenFilesWanted = 2 * kLevelDbOpenFilesMax;

// The soft limit on open files before and after raise_open_files_limit.
struct OpenFilesLimit {
  std::uint64_t before = 0;
  std::uint64_t now = 0;
  std::uint64_t hard = 0;
};
// Raises this process's soft limit on open files toward its hard limit, to
// at most kOpenFilesWanted (never lowers it). Distributions start processes
// at a soft limit of 1024, which leaves LevelDB 512 table files: a ledger of
// ten million records holds thousands, and a lookup in a table not open
// first rereads its index and filter blocks (ADR 028). The setting is the
// process's: the node and the tools call it once at start, before opening a
// store; open_leveldb never changes it. Errors: none; a limit that cannot be
// raised is reported as it stands.
OpenFilesLimit raise_open_files_limit();

// Raises the calling thread's nice value by 10 (to at most 19): for work a
// node does in the background, such as LevelDB's compactions and the scans
// at start, which then takes the CPU that block building, voting and
// answering clients leave (ADR 019, ADR 033). On Linux the nice value is the
// thread's. Lowering one's own priority needs no privilege; where it fails
// (a seccomp filter, say) the thread runs as before: priority is a
// preference, not a condition of correctness.
void lower_thread_priority();

// The bytes a store opened by open_leveldb holds in its block cache now: the
// blocks its reads decompressed (or read past LevelDB's memory map of a
// table), a view's scans excepted (ADR 033); nullopt for another store. For
// tests and tools.
std::optional<std::uint64_t> block_cache_bytes(const KvStore& store);

// Where a store opened by open_leveldb stands in its background work (ADR
// 034). LevelDB's own triggers for compaction: 4 tables in level 0, or a
// level L >= 1 holding more than 10 MiB * 10^(L-1). While one is met, its
// background thread has work queued; once none is, it is idle until the next
// writes. A load faster than that thread (it runs at a lower priority, ADR
// 019) leaves it work that it does afterwards, and the store's bytes fall as
// it does (entries erased or overwritten are dropped only when a compaction
// meets them). Then the sweeper's: key ranges that erases reached and that
// it has not yet compacted down to the last level, which it does once the
// store is quiet.
struct CompactionState {
  std::uint64_t level0_files = 0;
  // Over the levels from 1, their bytes above their limits, from LevelDB's
  // statistics (whole MiB).
  std::uint64_t over_limit_bytes = 0;
  bool sweep_pending = false;
  bool due() const { return level0_files >= 4 || over_limit_bytes > 0 || sweep_pending; }
};
// nullopt for another store.
std::optional<CompactionState> compaction_state(const KvStore& store);
// LevelDB's part of it, read from the text of its "leveldb.stats" property.
CompactionState compaction_state_of_stats(std::string_view stats);

// What the sweeper of a store opened by open_leveldb has done since it was
// opened. For tests and tools.
struct SweepStats {
  std::uint64_t slices = 0;  // slices compacted
  std::uint64_t bytes = 0;   // their bytes before, by LevelDB's estimate
};
std::optional<SweepStats> sweep_stats(const KvStore& store);

// Reads through pending writes to a base reader: what block execution uses, so
// that a block sees its own earlier writes before they are committed.
class Overlay : public KvReader {
 public:
  explicit Overlay(const KvReader& base) : base_(base) {}
  Result<std::optional<Bytes>> get(ByteView key) const override {
    if (auto pending = batch_.find(key))
      return std::optional<Bytes>(Bytes(pending->begin(), pending->end()));
    return base_.get(key);
  }
  void put(ByteView key, ByteView value) { batch_.put(key, value); }
  WriteBatch& batch() { return batch_; }
  const WriteBatch& batch() const { return batch_; }

 private:
  const KvReader& base_;
  WriteBatch batch_;
};

}  // namespace emledger::ledger
