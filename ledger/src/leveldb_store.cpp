// KvStore on LevelDB. One write batch per call; sync = true maps to
// WriteOptions::sync (fsync of the log before returning).
#include <fcntl.h>
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
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

// A table file read through a map of the whole file, made when LevelDB opens
// the table and held until it drops it (ADR 036). The map is populated at
// once (MAP_POPULATE): every page is read, if not cached already, and mapped
// into the process. LevelDB's own Env maps at most 1000 tables and reads the
// rest with pread(2), and a fault in a map brings in more pages than it maps
// (readahead); those pages sit in the page cache mapped by no process, and a
// kernel that pages out cold unmapped file pages (DAMON's pageout, on the
// machine of our benchmarks) takes them while the node is idle, so the next
// proof reads the disk again. Mapped, a table's pages are the node's until
// the table is deleted, and only real memory pressure reclaims them (they
// are clean: the kernel drops and later re-reads them). Opening a table
// costs one read of the whole file, as a first fault does under an 8 MiB
// readahead; a table a compaction has just written is still cached. The
// file descriptor is closed once the map is made: a table costs none.
// Reads return a view of the map; they copy nothing and take no lock.
// Thread safe: the map is never written.
class MappedTable final : public leveldb::RandomAccessFile {
 public:
  MappedTable(std::string name, const char* base, std::size_t length)
      : name_(std::move(name)), base_(base), length_(length) {}
  ~MappedTable() override { ::munmap(const_cast<char*>(base_), length_); }
  MappedTable(const MappedTable&) = delete;
  MappedTable& operator=(const MappedTable&) = delete;

  leveldb::Status Read(std::uint64_t offset, std::size_t n, leveldb::Slice* result,
                       char* /*scratch*/) const override {
    if (offset > length_ || n > length_ - offset) {
      *result = leveldb::Slice();
      return leveldb::Status::IOError(name_, "read past the end of the table");
    }
    *result = leveldb::Slice(base_ + offset, n);
    return leveldb::Status::OK();
  }

 private:
  const std::string name_;
  const char* const base_;
  const std::size_t length_;
};

bool is_table_file(const std::string& name) {
  return name.ends_with(".ldb") || name.ends_with(".sst");
}

// The default Env, changed for background work in two ways (ADR 019), and
// for reading tables in a third (ADR 036):
// - every job it schedules runs on a thread whose nice value is raised once,
//   on the first job it runs. On Linux the nice value is a per-thread
//   attribute (setpriority(2), "BUGS"); gettid names the thread. Lowering
//   one's own priority needs no privilege; when it fails (a seccomp filter,
//   say) the job runs as before, for priority is a preference;
// - table files (".ldb") sync in steps (SteppedSyncFile). The write-ahead log
//   and the manifest are left as they are: LevelDB syncs them itself;
// - table files are read through populated maps (MappedTable).
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

  // Table files are mapped whole (MappedTable); anything else, and a table
  // that cannot be mapped (empty, or no address space left), is read as the
  // default Env reads it.
  leveldb::Status NewRandomAccessFile(const std::string& name,
                                      leveldb::RandomAccessFile** result) override {
    if (!is_table_file(name)) return target()->NewRandomAccessFile(name, result);
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      *result = nullptr;
      return err == ENOENT ? leveldb::Status::NotFound(name, std::strerror(err))
                           : leveldb::Status::IOError(name, std::strerror(err));
    }
    struct stat st {};
    void* base = MAP_FAILED;
    if (::fstat(fd, &st) == 0 && st.st_size > 0)
      base = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ,
                    MAP_SHARED | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (base == MAP_FAILED) return target()->NewRandomAccessFile(name, result);
    *result =
        new MappedTable(name, static_cast<const char*>(base), static_cast<std::size_t>(st.st_size));
    return leveldb::Status::OK();
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

// Sweeps of erased entries (ADR 034). LevelDB picks what to compact by the
// bytes each level holds, and stops once no level is over its limit. An
// erase is a key alone, and what it erases, a tree page of about a kilobyte,
// has usually reached a level below it, often the last: a level of erases
// stands for several times its bytes of dead entries further down, which stay
// on disk for as long as LevelDB's own compactions do not carry the erases
// down. At 10M records the tree's pages took 452 bytes a record once LevelDB
// was idle, against 350 compacted in full. The sweeper finishes that work
// while the store is quiet: a key range (the keys of one first byte) is
// compacted down to the last level, where an erase and what it erased both
// go, once the erases since its last sweep, at kSweepBytesPerErase each, come
// to a kSweepRewriteMax-th of its bytes (a sweep rewrites at most that many
// times what it frees; at 10M records the tree's pages are swept once about
// 430,000 have been erased). It is compacted in slices of about
// kSweepSliceBytes (split by the second byte), each once no write has come
// for kSweepQuiet and LevelDB has no compaction due. Ranges under
// kSweepMinBytes are left to LevelDB. The erases counted are kept in
// kSweepFile beside the tables, so a restart does not forget them (a hint:
// lost, a sweep comes later, no data is lost). The sweeper runs on its own
// thread at the background's priority; the destructor waits for a slice in
// progress.
constexpr std::uint64_t kSweepSliceBytes = 64 << 20;
constexpr std::uint64_t kSweepMinBytes = 1 << 20;
constexpr std::uint64_t kSweepBytesPerErase = 1024;
constexpr std::uint64_t kSweepRewriteMax = 8;
constexpr unsigned kSweepSlicesMax = 64;  // a power of two dividing 256
constexpr auto kSweepQuiet = std::chrono::seconds(2);
constexpr const char* kSweepFile = "SWEEP";

// Erases counted per first byte of their keys.
using EraseCounts = std::array<std::uint64_t, 256>;

class Sweeper {
 public:
  Sweeper(leveldb::DB* db, const std::string& dir)
      : db_(db), path_(dir + "/" + kSweepFile), counts_(read_counts(path_)), saved_(counts_) {
    // Ranges the file makes due are pending from the open on.
    for (unsigned b = 0; b < 256; ++b)
      if (counts_[b] > 0 && is_due(b, counts_[b])) due_.set(b);
    if (std::any_of(counts_.begin(), counts_.end(), [](std::uint64_t c) { return c > 0; }))
      thread_ = std::thread([this] { run(); });
  }
  ~Sweeper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // A write committed, erasing erased[b] keys whose first byte is b.
  void wrote(const EraseCounts& erased) {
    bool any = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++writes_;
      for (unsigned b = 0; b < 256; ++b) {
        if (erased[b] == 0) continue;
        counts_[b] += erased[b];
        any = true;
      }
      if (!any) return;
      evaluate_ = true;
      // Started by the first erase: a store that never erases has no sweeper
      // thread.
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    cv_.notify_all();
  }

  bool pending() const {
    std::lock_guard<std::mutex> lock(mu_);
    return due_.any() || in_turn_;
  }

  SweepStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  // The keys of first byte `first` whose second byte is in slice `part` of
  // `parts`: [begin, end), end empty for the end of the key space.
  struct Range {
    std::string begin;
    std::string end;
  };
  static Range slice_range(unsigned first, unsigned part, unsigned parts) {
    const unsigned width = 256 / parts;
    Range r;
    r.begin.push_back(static_cast<char>(first));
    if (parts > 1) r.begin.push_back(static_cast<char>(part * width));
    if (part + 1 < parts) {
      r.end = {static_cast<char>(first), static_cast<char>((part + 1) * width)};
    } else if (first < 255) {
      r.end.push_back(static_cast<char>(first + 1));
    }
    return r;
  }
  std::uint64_t approximate_bytes(const Range& r) const {
    const std::string limit = r.end.empty() ? std::string(64, '\xff') : r.end;
    const leveldb::Range range(r.begin, limit);
    std::uint64_t size = 0;
    db_->GetApproximateSizes(&range, 1, &size);
    return size;
  }
  // Whether `erases` since its last sweep make range `first` worth one.
  bool is_due(unsigned first, std::uint64_t erases) const {
    const std::uint64_t bytes = approximate_bytes(slice_range(first, 0, 1));
    // erases * kSweepBytesPerErase * kSweepRewriteMax >= bytes, without the
    // product (a count read from kSweepFile may be anything).
    constexpr std::uint64_t kPerErase = kSweepBytesPerErase * kSweepRewriteMax;
    return bytes >= kSweepMinBytes && erases >= (bytes + kPerErase - 1) / kPerErase;
  }

  // kSweepFile: for each first byte with erases counted, two hex digits, a
  // colon and the count in decimal, separated by spaces. Words that do not
  // parse are skipped; a file that cannot be read counts nothing.
  static EraseCounts read_counts(const std::string& path) {
    EraseCounts out{};
    std::ifstream in(path);
    std::string word;
    while (in >> word) {
      if (word.size() < 4 || word.size() > 23 || word[2] != ':' ||
          !std::isxdigit(static_cast<unsigned char>(word[0])) ||
          !std::isxdigit(static_cast<unsigned char>(word[1])) ||
          !std::all_of(word.begin() + 3, word.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      const auto first = std::stoul(word.substr(0, 2), nullptr, 16);
      const auto count = std::strtoull(word.c_str() + 3, nullptr, 10);
      out[first] = count;
    }
    return out;
  }
  // Writes the counts (with the range in its turn's, until the turn ends) if
  // they changed, through a rename so that a crash leaves the old file or the
  // new one; removes the file once every count is zero. Called with the lock
  // held.
  void save_counts(std::unique_lock<std::mutex>& lock) {
    EraseCounts counts = counts_;
    if (in_turn_) counts[turn_first_] += turn_erases_;
    if (counts == saved_) return;
    lock.unlock();
    std::error_code ec;
    if (std::all_of(counts.begin(), counts.end(), [](std::uint64_t c) { return c == 0; })) {
      std::filesystem::remove(path_, ec);
    } else {
      const std::string tmp = path_ + ".tmp";
      {
        std::ofstream out(tmp, std::ios::trunc);
        static constexpr char kHex[] = "0123456789abcdef";
        for (unsigned b = 0; b < 256; ++b)
          if (counts[b] > 0) out << kHex[b >> 4] << kHex[b & 15] << ':' << counts[b] << ' ';
        out << '\n';
      }
      std::filesystem::rename(tmp, path_, ec);
    }
    lock.lock();
    saved_ = counts;
  }
  // Marks the ranges whose counts make them due. Called with the lock held.
  void evaluate(std::unique_lock<std::mutex>& lock) {
    const EraseCounts counts = counts_;
    const std::bitset<256> due = due_;
    std::bitset<256> now;
    lock.unlock();
    for (unsigned b = 0; b < 256; ++b)
      if (counts[b] > 0 && !due.test(b) && is_due(b, counts[b])) now.set(b);
    lock.lock();
    due_ |= now;
  }
  // Waits until no write has come for kSweepQuiet and LevelDB has no
  // compaction due. False: the sweeper is stopping.
  bool wait_quiet(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      save_counts(lock);
      const std::uint64_t seen = writes_;
      if (cv_.wait_for(lock, kSweepQuiet, [&] { return stop_; })) return false;
      if (writes_ != seen) continue;
      lock.unlock();
      std::string stats;
      const bool due =
          db_->GetProperty("leveldb.stats", &stats) && compaction_state_of_stats(stats).due();
      lock.lock();
      if (stop_) return false;
      if (!due && writes_ == seen) return true;
    }
  }

  void run() {
    lower_thread_priority();
    std::unique_lock<std::mutex> lock(mu_);
    sweep(lock);
    save_counts(lock);  // what a stop left to do
  }
  void sweep(std::unique_lock<std::mutex>& lock) {
    unsigned next_first = 0;
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || evaluate_ || due_.any(); });
      if (stop_) return;
      if (evaluate_) {
        evaluate_ = false;
        evaluate(lock);
        save_counts(lock);
        continue;
      }
      if (!wait_quiet(lock)) return;
      // The next due first byte, in key order from where the last turn
      // ended, so that every due range gets its turn.
      unsigned first = next_first;
      while (!due_.test(first)) first = (first + 1) % 256;
      next_first = (first + 1) % 256;
      due_.reset(first);
      in_turn_ = true;
      turn_first_ = first;
      turn_erases_ = counts_[first];
      counts_[first] = 0;
      lock.unlock();
      const std::uint64_t whole = approximate_bytes(slice_range(first, 0, 1));
      lock.lock();
      unsigned parts = 1;
      while (parts < kSweepSlicesMax && whole / parts > kSweepSliceBytes) parts *= 2;
      for (unsigned part = 0; part < parts; ++part) {
        if (part > 0 && !wait_quiet(lock)) return;
        const Range r = slice_range(first, part, parts);
        lock.unlock();
        const std::uint64_t bytes = approximate_bytes(r);
        const leveldb::Slice begin(r.begin);
        const leveldb::Slice end(r.end);
        db_->CompactRange(&begin, r.end.empty() ? nullptr : &end);
        lock.lock();
        ++stats_.slices;
        stats_.bytes += bytes;
      }
      in_turn_ = false;
      turn_erases_ = 0;
      save_counts(lock);
    }
  }

  leveldb::DB* const db_;
  const std::string path_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t writes_ = 0;       // writes since the open
  EraseCounts counts_;             // erases since each range's last turn began
  EraseCounts saved_;              // what kSweepFile holds
  bool evaluate_ = false;          // counts changed since the last evaluate()
  std::bitset<256> due_;           // ranges whose counts make them worth a sweep
  bool in_turn_ = false;           // a range is being swept
  unsigned turn_first_ = 0;        // its first byte
  std::uint64_t turn_erases_ = 0;  // its count when the turn began
  SweepStats stats_;
  std::thread thread_;  // under mu_; started once there is something to sweep
};

class LevelDbStore final : public KvStore {
 public:
  LevelDbStore(leveldb::DB* db, const leveldb::FilterPolicy* filter, leveldb::Cache* cache,
               const std::string& dir)
      : db_(db), filter_(filter), cache_(cache), sweeper_(std::make_unique<Sweeper>(db, dir)) {}
  ~LevelDbStore() override {
    sweeper_.reset();  // before the database it compacts
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
    if (s.ok()) {
      EraseCounts erased_by_first{};
      for (ByteView k : erased)
        if (!k.empty()) ++erased_by_first[k[0]];
      sweeper_->wrote(erased_by_first);
    }
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

  CompactionState compaction_state() const {
    std::string stats;
    CompactionState out;
    if (db_->GetProperty("leveldb.stats", &stats)) out = compaction_state_of_stats(stats);
    out.sweep_pending = sweeper_->pending();
    return out;
  }
  SweepStats sweep_stats() const { return sweeper_->stats(); }

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
  std::unique_ptr<Sweeper> sweeper_;
};

std::unique_ptr<KvView> LevelDbStore::view() const { return std::make_unique<LevelDbView>(db_); }

// The store as open_leveldb made it, or nullptr for another store: what the
// functions for tests and tools below read.
const LevelDbStore* as_leveldb(const KvStore& store) {
  return dynamic_cast<const LevelDbStore*>(&store);
}

}  // namespace

void lower_thread_priority() {
  const auto self = static_cast<id_t>(::gettid());
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, self);
  if (now == -1 && errno != 0) return;
  ::setpriority(PRIO_PROCESS, self, std::min(now + kBackgroundNiceIncrement, 19));
}

std::optional<std::uint64_t> block_cache_bytes(const KvStore& store) {
  const LevelDbStore* leveldb_store = as_leveldb(store);
  if (!leveldb_store) return std::nullopt;
  return leveldb_store->block_cache_bytes();
}

// LevelDB 1.23's "leveldb.stats" is a table of rows "level files size(MB)
// time(sec) read(MB) write(MB)" (sizes printed "%8.0f") under three lines of
// headings, one row per level holding files; its limits are its own
// constants (version_set.cc: MaxBytesForLevel, kL0_CompactionTrigger).
CompactionState compaction_state_of_stats(std::string_view stats) {
  CompactionState out;
  std::istringstream rows{std::string(stats)};
  std::string row;
  while (std::getline(rows, row)) {
    std::istringstream fields(row);
    int level = -1;
    std::uint64_t files = 0;
    std::uint64_t mib = 0;
    if (!(fields >> level >> files >> mib) || level < 0 || level > 6) continue;
    if (level == 0) {
      out.level0_files = files;
      continue;
    }
    std::uint64_t limit_mib = 10;
    for (int l = 1; l < level; ++l) limit_mib *= 10;
    if (mib > limit_mib) out.over_limit_bytes += (mib - limit_mib) << 20;
  }
  return out;
}

std::optional<SweepStats> sweep_stats(const KvStore& store) {
  const LevelDbStore* leveldb_store = as_leveldb(store);
  if (!leveldb_store) return std::nullopt;
  return leveldb_store->sweep_stats();
}

std::optional<CompactionState> compaction_state(const KvStore& store) {
  const LevelDbStore* leveldb_store = as_leveldb(store);
  if (!leveldb_store) return std::nullopt;
  return leveldb_store->compaction_state();
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
  return std::unique_ptr<KvStore>(new LevelDbStore(db, filter, cache, dir));
}

}  // namespace emledger::ledger
