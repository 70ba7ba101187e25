// KvStore on LevelDB. One write batch per call; sync = true maps to
// WriteOptions::sync (fsync of the log before returning).
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "emledger/ledger/store.hpp"

namespace emledger::ledger {
namespace {

constexpr std::size_t kBlockCacheBytes = 128 << 20;
constexpr auto kMaxOpenFilesCap = static_cast<long long>(kLevelDbOpenFilesMax);

// Table files LevelDB keeps open: half the process's descriptor limit
// (ulimit -n; the rest is for sockets and logs), at most kMaxOpenFilesCap.
// It reads no state, so it cannot reach any.
int max_open_files() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return static_cast<int>(kMaxOpenFilesCap);
  const auto half = static_cast<long long>(lim.rlim_cur / 2);
  return static_cast<int>(std::clamp<long long>(half, 64, kMaxOpenFilesCap));
}

// LevelDB's background work (memtable flushes and compactions) runs at this
// nice value, above the process's own: it yields the CPU to block building,
// voting and answering clients, and takes what they leave (ADR 019). It
// cannot fall behind for long: with 8 level-0 tables LevelDB slows writes
// and with 12 stops them, which leaves it the CPU.
constexpr int kBackgroundNiceIncrement = 10;

// A table file being written is synced each time this much more has been
// appended to it (ADR 019). LevelDB syncs a table once, when it is complete:
// a flush or compaction writes 50 to 100 MiB into the page cache first, and
// on ext4 (data=ordered) a block's commit, a small fsync of the log, then
// waits behind that whole write-back, for up to a second. Synced in steps, a
// table never has more than this pending, and neither does the commit.
constexpr std::size_t kTableSyncStepBytes = 1 << 20;

// A table file that syncs itself every kTableSyncStepBytes. Syncing earlier
// than LevelDB asks changes nothing it relies on: it still syncs at the end.
class SteppedSyncFile final : public leveldb::WritableFile {
 public:
  explicit SteppedSyncFile(leveldb::WritableFile* inner) : inner_(inner) {}
  leveldb::Status Append(const leveldb::Slice& data) override {
    leveldb::Status s = inner_->Append(data);
    if (!s.ok()) return s;
    unsynced_ += data.size();
    if (unsynced_ < kTableSyncStepBytes) return s;
    unsynced_ = 0;
    return inner_->Sync();
  }
  leveldb::Status Close() override { return inner_->Close(); }
  leveldb::Status Flush() override { return inner_->Flush(); }
  leveldb::Status Sync() override {
    unsynced_ = 0;
    return inner_->Sync();
  }

 private:
  const std::unique_ptr<leveldb::WritableFile> inner_;
  std::size_t unsynced_ = 0;
};

// The default Env, changed for background work in two ways (ADR 019):
// - every job it schedules runs on a thread whose nice value is raised once,
//   on the first job it runs. On Linux the nice value is a per-thread
//   attribute (setpriority(2), "BUGS"); gettid names the thread. Lowering
//   one's own priority needs no privilege; when it fails (a seccomp filter,
//   say) the job runs as before, for priority is a preference;
// - table files (".ldb") sync in steps (SteppedSyncFile). The write-ahead log
//   and the manifest are left as they are: LevelDB syncs them itself.
class BackgroundEnv final : public leveldb::EnvWrapper {
 public:
  BackgroundEnv() : leveldb::EnvWrapper(leveldb::Env::Default()) {}

  void Schedule(void (*function)(void*), void* arg) override {
    target()->Schedule(&run, new Job{function, arg});
  }

  leveldb::Status NewWritableFile(const std::string& name,
                                  leveldb::WritableFile** result) override {
    leveldb::Status s = target()->NewWritableFile(name, result);
    if (s.ok() && name.ends_with(".ldb")) *result = new SteppedSyncFile(*result);
    return s;
  }

 private:
  struct Job {
    void (*function)(void*);
    void* arg;
  };
  static void run(void* p) {
    const std::unique_ptr<Job> job(static_cast<Job*>(p));
    thread_local bool lowered = false;
    if (!lowered) {
      lowered = true;
      lower_thread_priority();
    }
    job->function(job->arg);
  }
};

// One for the process, as Env::Default() is: LevelDB keeps one background
// thread for every database open in it. Never destroyed (DBs may outlive
// static destruction order).
leveldb::Env* background_env() {
  static auto* env = new BackgroundEnv();
  return env;
}

leveldb::Slice slice(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
ByteView view(const leveldb::Slice& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
// LevelDB's default (bytewise) key order: unsigned bytes, then length.
bool key_less(ByteView a, ByteView b) {
  const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c < 0 || (c == 0 && a.size() < b.size());
}

// The first 8 bytes of `key` (zeros past its end) as a big-endian integer:
// a < b between two prefixes means key_less between their keys, and equal
// prefixes leave the order to key_less.
std::uint64_t key_prefix(ByteView key) {
  std::uint64_t v = 0;
  const std::size_t n = std::min<std::size_t>(key.size(), 8);
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | (i < n ? key[i] : 0);
  return v;
}

Result<std::optional<Bytes>> get_at(leveldb::DB* db, const leveldb::Snapshot* snap, ByteView key) {
  std::string value;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.snapshot = snap;
  leveldb::Status s = db->Get(ro, slice(key), &value);
  if (s.IsNotFound()) return std::optional<Bytes>();
  if (!s.ok()) return Status::error("STORAGE_ERROR", s.ToString());
  return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

// fill_cache = false: the blocks read are not kept in the block cache (a
// scan of much of the store would push out what point reads keep there).
Status scan_at(leveldb::DB* db, const leveldb::Snapshot* snap, ByteView prefix, ByteView start,
               const std::function<bool(ByteView, ByteView)>& visit, bool fill_cache) {
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.snapshot = snap;
  ro.fill_cache = fill_cache;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(slice(start.empty() ? prefix : start)); it->Valid(); it->Next()) {
    ByteView k = view(it->key());
    if (k.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), k.begin())) break;
    if (!visit(k, view(it->value()))) break;
  }
  if (!it->status().ok()) return Status::error("STORAGE_ERROR", it->status().ToString());
  return Status::ok();
}

// Reads pinned to one LevelDB snapshot, released when the view goes. A view
// is taken to read much of the store (the committed-id scan at start, a
// snapshot's export): its scans leave the block cache to point reads.
class LevelDbView final : public KvView {
 public:
  explicit LevelDbView(leveldb::DB* db) : db_(db), snap_(db->GetSnapshot()) {}
  ~LevelDbView() override { db_->ReleaseSnapshot(snap_); }
  LevelDbView(const LevelDbView&) = delete;
  LevelDbView& operator=(const LevelDbView&) = delete;
  Result<std::optional<Bytes>> get(ByteView key) const override { return get_at(db_, snap_, key); }
  Status scan(ByteView prefix, ByteView start,
              const std::function<bool(ByteView, ByteView)>& visit) const override {
    return scan_at(db_, snap_, prefix, start, visit, false);
  }

 private:
  leveldb::DB* db_;
  const leveldb::Snapshot* snap_;
};

class LevelDbStore final : public KvStore {
 public:
  LevelDbStore(leveldb::DB* db, const leveldb::FilterPolicy* filter, leveldb::Cache* cache)
      : db_(db), filter_(filter), cache_(cache) {}
  ~LevelDbStore() override {
    delete db_;
    delete filter_;
    delete cache_;
  }

  Result<std::optional<Bytes>> get(ByteView key) const override {
    return get_at(db_, nullptr, key);
  }

  Status write_all(std::span<const WriteBatch* const> batches, bool sync) override {
    // LevelDB inserts each put into its memtable skip list with a search from
    // the top. Most of our keys are hashes, so in batch order every search is
    // a fresh walk of cache misses; in key order consecutive searches share
    // most of their path. The stable sort keeps a later batch's put of a key
    // after an earlier one, so it still wins. Each put carries its key's first
    // 8 bytes as a big-endian integer: hash keys differ there, so nearly every
    // comparison of the sort is one integer compare, not a memcmp call.
    //
    // The sort's vectors and LevelDB's batch are kept between calls and
    // cleared, not freed: a block's batch of megabytes, built afresh, grew
    // by doubling, and each growth took new pages from the kernel (their
    // faults and copies were about 3% of a node's CPU under ingest).
    std::lock_guard<std::mutex> lock(write_mu_);
    std::vector<Put>& puts = puts_;
    std::vector<ByteView>& erased = erased_;
    leveldb::WriteBatch& wb = batch_;
    puts.clear();
    erased.clear();
    wb.Clear();
    std::size_t total = 0;
    for (const WriteBatch* batch : batches) total += batch->size();
    puts.reserve(total);
    for (const WriteBatch* batch : batches)
      for (const auto& [k, v] : batch->entries()) puts.push_back(Put{key_prefix(k), k, v});
    std::stable_sort(puts.begin(), puts.end(), [](const Put& a, const Put& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return key_less(a.key, b.key);
    });
    for (const WriteBatch* batch : batches)
      for (const Bytes& k : batch->erased()) erased.push_back(k);
    std::sort(erased.begin(), erased.end(), key_less);
    // Erases first: a key a batch both erases and puts keeps the put.
    for (ByteView k : erased) wb.Delete(slice(k));
    for (const Put& p : puts) wb.Put(slice(p.key), slice(p.value));
    leveldb::WriteOptions wo;
    wo.sync = sync;
    leveldb::Status s = db_->Write(wo, &wb);
    // The views point into the callers' batches; drop them. A batch far
    // larger than a block's is not kept.
    puts.clear();
    erased.clear();
    if (wb.ApproximateSize() > kKeptBatchBytesMax) {
      wb = leveldb::WriteBatch();
      puts.shrink_to_fit();
      erased.shrink_to_fit();
    }
    if (!s.ok()) return Status::error("STORAGE_ERROR", s.ToString());
    return Status::ok();
  }

  Status scan(ByteView prefix, ByteView start,
              const std::function<bool(ByteView, ByteView)>& visit) const override {
    return scan_at(db_, nullptr, prefix, start, visit, true);
  }

  Status compact() override {
    db_->CompactRange(nullptr, nullptr);
    return Status::ok();
  }

  std::unique_ptr<KvView> view() const override;

  std::uint64_t block_cache_bytes() const { return cache_->TotalCharge(); }

 private:
  struct Put {
    std::uint64_t prefix;
    ByteView key;
    ByteView value;
  };
  // What write_all keeps between calls, under write_mu_ (LevelDB orders
  // writers itself; the node has one).
  static constexpr std::size_t kKeptBatchBytesMax = std::size_t{64} << 20;
  std::mutex write_mu_;
  std::vector<Put> puts_;
  std::vector<ByteView> erased_;
  leveldb::WriteBatch batch_;
  leveldb::DB* db_;
  const leveldb::FilterPolicy* filter_;
  leveldb::Cache* cache_;
};

std::unique_ptr<KvView> LevelDbStore::view() const { return std::make_unique<LevelDbView>(db_); }

}  // namespace

void lower_thread_priority() {
  const auto self = static_cast<id_t>(::gettid());
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, self);
  if (now == -1 && errno != 0) return;
  ::setpriority(PRIO_PROCESS, self, std::min(now + kBackgroundNiceIncrement, 19));
}

std::optional<std::uint64_t> block_cache_bytes(const KvStore& store) {
  const auto* leveldb_store = dynamic_cast<const LevelDbStore*>(&store);
  if (!leveldb_store) return std::nullopt;
  return leveldb_store->block_cache_bytes();
}

OpenFilesLimit raise_open_files_limit() {
  OpenFilesLimit out;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return out;
  const auto as_count = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max()
                              : static_cast<std::uint64_t>(v);
  };
  out.before = out.now = as_count(lim.rlim_cur);
  out.hard = as_count(lim.rlim_max);
  const std::uint64_t target = std::min(out.hard, kOpenFilesWanted);
  if (out.before >= target) return out;
  lim.rlim_cur = static_cast<rlim_t>(target);
  if (::setrlimit(RLIMIT_NOFILE, &lim) == 0) out.now = target;
  return out;
}

Result<std::unique_ptr<KvStore>> open_leveldb(const std::string& dir) {
  leveldb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Most reads are point lookups of hash-addressed keys: a bloom filter saves
  // a disk read per miss; larger write buffers suit one big batch per block.
  const leveldb::FilterPolicy* filter = leveldb::NewBloomFilterPolicy(10);
  options.filter_policy = filter;
  options.write_buffer_size = 64 << 20;
  options.max_file_size = 8 << 20;
  // A chain of ten million records holds thousands of 8 MiB tables; past
  // LevelDB's default of 1000 open files, lookups reopen tables.
  options.max_open_files = max_open_files();
  // Snappy, block by block (ADR 031): record values and transactions carry
  // text and zeroed optional hashes, and shrink by about two fifths. A block
  // of hashes (tree pages, log tiles) saves less than the eighth LevelDB asks
  // of it, and is kept as it is, so reading it costs no decompression.
  options.compression = leveldb::kSnappyCompression;
  leveldb::Cache* cache = leveldb::NewLRUCache(kBlockCacheBytes);
  options.block_cache = cache;
  options.env = background_env();
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &db);
  if (!s.ok()) {
    delete filter;
    delete cache;
    return Status::error("STORAGE_ERROR", "cannot open " + dir + ": " + s.ToString());
  }
  return std::unique_ptr<KvStore>(new LevelDbStore(db, filter, cache));
}

}  // namespace emledger::ledger
