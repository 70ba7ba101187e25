// The LevelDB store's own behaviour beside the kernel's use of it: its
// background work (memtable flushes, compactions) runs at a lower CPU priority
// than the threads that build blocks and answer clients (ADR 019), and the
// open-files limit its table files share is raised at start (ADR 028), and
// its tables are read through populated maps of the whole file (ADR 036).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "emledger/ledger/store.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

// The nice value of every thread of this process, from
// /proc/self/task/<tid>/stat (field 19; the command name, field 2, is in
// parentheses and may hold spaces, so fields are counted after its ')').
std::multiset<int> thread_nice_values() {
  std::multiset<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    // Fields 3..18 (state .. priority), then 19: nice.
    for (int i = 3; i <= 18; ++i) fields >> field;
    int nice = 0;
    if (fields >> nice) out.insert(nice);
  }
  return out;
}

// The bytes of the files in `dir` whose names end with `extension` (".ldb":
// LevelDB's tables; ".log": its write-ahead log).
std::uintmax_t file_bytes(const std::filesystem::path& dir, const std::string& extension) {
  std::uintmax_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == extension) n += e.file_size();
  return n;
}

// This process's maps of LevelDB table files under `dir`, from
// /proc/self/smaps: the file's path (with " (deleted)" if it was unlinked),
// the map's size and how much of it is resident, in KiB.
struct TableMap {
  std::string path;
  std::uint64_t size_kib = 0;
  std::uint64_t rss_kib = 0;
};
std::vector<TableMap> table_maps(const std::string& dir) {
  std::vector<TableMap> out;
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool ours = false;
  while (std::getline(in, line)) {
    // A map's header: "start-end perms offset dev inode   path".
    const auto dash = line.find('-');
    const auto space = line.find(' ');
    if (dash != std::string::npos && space != std::string::npos && dash < space &&
        line.find(':') > space) {
      const auto at = line.find(dir);
      ours = at != std::string::npos && line.find(".ldb", at) != std::string::npos;
      if (ours) out.push_back({line.substr(at), 0, 0});
      continue;
    }
    if (!ours) continue;
    std::istringstream fields(line);
    std::string name;
    std::uint64_t kib = 0;
    fields >> name >> kib;
    if (name == "Size:") out.back().size_kib = kib;
    if (name == "Rss:") out.back().rss_kib = kib;
  }
  return out;
}

}  // namespace

TEST_CASE("leveldb store: a table is read through a map of the whole file, populated at open") {
  // Mapped and populated, a table's pages belong to the node until the table
  // is deleted: a kernel that pages out cold unmapped file pages cannot take
  // them while the node idles. LevelDB's own Env maps a table but leaves each
  // page to its first fault, so one point read would make a few pages
  // resident; and it reads tables past its 1000th with pread, mapping none.
  testing::TempDir dir;
  constexpr int kKeys = 3000;
  auto value = [](int i) {  // 1 KiB Snappy cannot shrink
    std::mt19937_64 gen(static_cast<std::uint64_t>(i));
    std::string v(1024, '\0');
    for (auto& c : v) c = static_cast<char>(gen());
    return v;
  };
  {
    auto opened = open_leveldb(dir.str());
    REQUIRE(opened.is_ok());
    WriteBatch put;
    for (int i = 0; i < kKeys; ++i)
      put.put(as_bytes("k/" + std::to_string(1000000 + i)), as_bytes(value(i)));
    REQUIRE((*opened)->write(put, true).is_ok());
    REQUIRE((*opened)->compact().is_ok());
  }
  REQUIRE(table_maps(dir.str()).empty());  // closed: nothing mapped
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  auto got = store.get(as_bytes("k/1001234"));
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  CHECK(std::string((*got)->begin(), (*got)->end()) == value(1234));

  const auto maps = table_maps(dir.str());
  REQUIRE(!maps.empty());
  std::uint64_t size = 0;
  std::uint64_t rss = 0;
  for (const auto& m : maps) {
    size += m.size_kib;
    rss += m.rss_kib;
  }
  CHECK(size >= std::uint64_t{kKeys});  // the whole table: 3,000 values of 1 KiB
  CHECK(rss == size);                   // every page of it, after one read

  // A compaction that replaces the table unmaps the one it deleted: a map
  // left behind would hold its pages and its disk space.
  WriteBatch more;
  for (int i = 0; i < kKeys; ++i)
    more.put(as_bytes("k/" + std::to_string(1000000 + i)), as_bytes(value(kKeys + i)));
  REQUIRE(store.write(more, true).is_ok());
  REQUIRE(store.compact().is_ok());
  got = store.get(as_bytes("k/1001234"));
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  CHECK(std::string((*got)->begin(), (*got)->end()) == value(kKeys + 1234));
  const auto after = table_maps(dir.str());
  REQUIRE(!after.empty());
  for (const auto& m : after) {
    INFO(m.path);
    CHECK(m.path.find("(deleted)") == std::string::npos);
    CHECK(m.rss_kib == m.size_kib);
  }
}

TEST_CASE("leveldb store: background flushes run at a lower priority and lose nothing") {
  testing::TempDir dir;
  const int own = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  REQUIRE(own < 19);  // else there is no lower priority to see
  auto opened = open_leveldb(dir.str() + "/db");
  REQUIRE(opened.is_ok());
  std::unique_ptr<KvStore> store = std::move(*opened);

  // More than the 64 MiB write buffer, so the memtable is flushed by the
  // background thread: 80 values of 1 MiB, each a different byte.
  constexpr int kValues = 80;
  const Bytes big(1 << 20, 0);
  for (int i = 0; i < kValues; ++i) {
    WriteBatch b;
    Bytes value = big;
    value[0] = static_cast<std::uint8_t>(i);
    b.put(as_bytes("big/" + std::to_string(i)), value);
    REQUIRE(store->write(b, false).is_ok());
  }

  const int expected = std::min(own + 10, 19);
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    seen = thread_nice_values().count(expected) > 0;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_MESSAGE(seen, "no thread at nice " << expected << " after a memtable flush");
  // This thread, which wrote, kept its own priority.
  CHECK(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())) == own);

  // Every value reads back, flushed or not, and after a reopen.
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < kValues; ++i) {
      auto got = store->get(as_bytes("big/" + std::to_string(i)));
      REQUIRE(got.is_ok());
      REQUIRE(got->has_value());
      CHECK((*got)->size() == big.size());
      CHECK((**got)[0] == static_cast<std::uint8_t>(i));
    }
    store.reset();
    auto again = open_leveldb(dir.str() + "/db");
    REQUIRE(again.is_ok());
    store = std::move(*again);
  }
}

TEST_CASE("leveldb store: lower_thread_priority lowers the calling thread alone") {
  const int own = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  REQUIRE(own < 19);  // else there is no lower priority to see
  int before = -100;
  int after = -100;
  std::thread worker([&] {
    const auto self = static_cast<id_t>(::gettid());
    before = ::getpriority(PRIO_PROCESS, self);
    lower_thread_priority();
    after = ::getpriority(PRIO_PROCESS, self);
  });
  worker.join();
  CHECK(before == own);
  CHECK(after == std::min(own + 10, 19));
  CHECK(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())) == own);
}

TEST_CASE("leveldb store: a view's scan leaves the block cache to point reads") {
  // A view reads much of the store at once (the scan at start, a snapshot's
  // export): were its blocks cached, they would push out the ones point
  // reads keep there. A scan of the store itself is cached as before.
  testing::TempDir dir;
  constexpr int kKeys = 20000;
  {
    auto opened = open_leveldb(dir.str());
    REQUIRE(opened.is_ok());
    // Values Snappy shrinks: LevelDB caches a block it decompressed, and
    // reads a block stored as it is from its memory map, uncached.
    WriteBatch put;
    for (int i = 0; i < kKeys; ++i) {
      std::string v = "record " + std::to_string(i) + ": ";
      while (v.size() < 200) v += "issued by the district office; ";
      v.resize(200);
      put.put(as_bytes("k/" + std::to_string(1000000 + i)), as_bytes(v));
    }
    REQUIRE((*opened)->write(put, true).is_ok());
    REQUIRE((*opened)->compact().is_ok());  // into table files
  }
  auto opened = open_leveldb(dir.str());  // an empty block cache
  REQUIRE(opened.is_ok());
  const KvStore& store = **opened;
  const auto cached = [&] {
    auto bytes = block_cache_bytes(store);
    REQUIRE(bytes.has_value());
    return *bytes;
  };
  const std::uint64_t empty = cached();
  auto count = [](const KvView& v) {
    int n = 0;
    REQUIRE(v.scan(as_bytes("k/"), as_bytes("k/"), [&](ByteView, ByteView) {
               ++n;
               return true;
             }).is_ok());
    return n;
  };
  CHECK(count(*store.view()) == kKeys);
  CHECK(cached() == empty);
  CHECK(count(store) == kKeys);
  CHECK(cached() >= empty + std::uint64_t{kKeys} * 200);  // every block it read
}

TEST_CASE("leveldb store: compact() drops erased entries from the table files and reads the same") {
  // As pruning erases nodes: the data is in table files already when the
  // erases come (a fresh memtable flushed by compact() is not merged again).
  testing::TempDir dir;
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  constexpr int kKeys = 2000;
  constexpr std::size_t kValueBytes = 4096;
  auto key = [](int i) {
    Bytes k{'t'};
    for (int s = 24; s >= 0; s -= 8) k.push_back(static_cast<std::uint8_t>(i >> s));
    return k;
  };
  auto table_bytes = [&]() { return file_bytes(dir.path(), ".ldb"); };
  // Random bytes, which Snappy cannot shrink (ADR 031), so that table bytes
  // count entries; the first byte names the key.
  std::mt19937 rng(20261130);
  WriteBatch put;
  for (int i = 0; i < kKeys; ++i) {
    Bytes v(kValueBytes);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    v[0] = static_cast<std::uint8_t>(i);
    put.put(key(i), v);
  }
  REQUIRE(store.write(put, true).is_ok());
  CHECK(table_bytes() == 0);  // all of it in the memtable and its log
  REQUIRE(store.compact().is_ok());
  const std::uintmax_t all = kKeys * kValueBytes;
  CHECK(table_bytes() >= all);
  WriteBatch erase;
  for (int i = 0; i < kKeys; i += 2) erase.erase(key(i));
  REQUIRE(store.write(erase, true).is_ok());
  CHECK(table_bytes() >= all);  // erased, still on disk
  REQUIRE(store.compact().is_ok());
  CHECK(table_bytes() >= all / 2);
  CHECK(table_bytes() < all / 2 + all / 20);  // the erased half and its tombstones are gone
  int seen = 0;
  REQUIRE(store
              .scan(Bytes{'t'}, Bytes{'t'},
                    [&](ByteView k, ByteView v) {
                      const int i = (k[1] << 24) | (k[2] << 16) | (k[3] << 8) | k[4];
                      CHECK(i % 2 == 1);
                      CHECK(v.size() == kValueBytes);
                      CHECK(v[0] == static_cast<std::uint8_t>(i));
                      ++seen;
                      return true;
                    })
              .is_ok());
  CHECK(seen == kKeys / 2);
}

TEST_CASE("leveldb store: tables hold record-like values compressed and hashes as they are") {
  // ADR 031: values with repeated text and zeroed fields take less than half
  // their bytes in the table files; 32-byte random values (hashes, as tree
  // pages and log tiles are) take at least their own bytes. Both read back
  // byte for byte.
  std::mt19937 rng(20261130);
  constexpr int kValues = 4000;
  auto record_like = [&](int i) {
    // A record's shape: a random id and content hash, text shared with its
    // neighbours, a numbered locator and two zeroed optional hashes.
    Bytes v;
    for (int b = 0; b < 64; ++b) v.push_back(static_cast<std::uint8_t>(rng()));
    const std::string text =
        "org.district.civil-affairs|license.marriage|application/pdf|"
        "https://files.civil-affairs.example/materials/" +
        std::to_string(1000000 + i);
    v.insert(v.end(), text.begin(), text.end());
    v.insert(v.end(), 64, 0);
    return v;
  };
  auto hash_like = [&](int) {
    Bytes v(32);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
  };
  // Writes kValues values made by `make` into a new store, compacts it, reads
  // them back and returns {raw value bytes, table file bytes}.
  auto store_bytes = [&](auto make) {
    testing::TempDir dir;
    auto opened = open_leveldb(dir.str());
    REQUIRE(opened.is_ok());
    KvStore& store = **opened;
    std::vector<Bytes> written;
    std::uintmax_t raw = 0;
    WriteBatch batch;
    for (int i = 0; i < kValues; ++i) {
      Bytes k{'s'};
      for (int s = 24; s >= 0; s -= 8) k.push_back(static_cast<std::uint8_t>(i >> s));
      Bytes v = make(i);
      raw += v.size();
      batch.put(k, v);
      written.push_back(std::move(v));
    }
    REQUIRE(store.write(batch, true).is_ok());
    REQUIRE(store.compact().is_ok());
    std::size_t seen = 0;
    REQUIRE(store
                .scan(Bytes{}, Bytes{},
                      [&](ByteView k, ByteView v) {
                        REQUIRE(k.size() == 5);
                        const std::size_t i =
                            (std::size_t{k[1]} << 24) | (k[2] << 16) | (k[3] << 8) | k[4];
                        REQUIRE(i < written.size());
                        CHECK(written[i] == Bytes(v.begin(), v.end()));
                        ++seen;
                        return true;
                      })
                .is_ok());
    CHECK(seen == written.size());
    return std::pair{raw, file_bytes(dir.path(), ".ldb")};
  };
  const auto [record_raw, record_tables] = store_bytes(record_like);
  CHECK(record_tables < record_raw / 2);
  const auto [hash_raw, hash_tables] = store_bytes(hash_like);
  CHECK(hash_tables >= hash_raw);
}

TEST_CASE("leveldb store: each write_all writes its own batches and nothing of the one before") {
  // write_all keeps its LevelDB batch between calls. Were it not cleared, each
  // write would carry every earlier one again: the store would read the same
  // (the replays come before the new entries), but its log would grow with
  // the square of the writes. 200 writes of one 100-byte value each.
  testing::TempDir dir;
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  constexpr int kWrites = 200;
  constexpr std::size_t kValueBytes = 100;
  for (int i = 0; i < kWrites; ++i) {
    WriteBatch batch;
    batch.put(Bytes{'w', static_cast<std::uint8_t>(i)}, Bytes(kValueBytes, 7));
    REQUIRE(store.write(batch, false).is_ok());
  }
  const std::uintmax_t log_bytes = file_bytes(dir.path(), ".log");
  CHECK(log_bytes >= kWrites * kValueBytes);
  CHECK(log_bytes < 2 * kWrites * kValueBytes);
}

TEST_CASE(
    "leveldb store: write_all keeps each key's last put, whatever the keys' lengths and prefixes") {
  // write_all reorders the puts of its batches by key (and by their first 8
  // bytes first): keys of 1 to 12 bytes over three byte values share long
  // prefixes, are prefixes of each other and recur across and within batches.
  testing::TempDir dir;
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  std::mt19937 rng(20261129);
  // The model holds keys and values as strings of the same bytes.
  auto random_key = [&] {
    static constexpr char kBytes[] = {'\x00', '\x01', '\xff'};
    std::string k(1 + rng() % 12, '\0');
    for (char& b : k) b = kBytes[rng() % 3];
    return k;
  };
  auto bytes = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  std::map<std::string, std::string> model;
  for (int write = 0; write < 3; ++write) {
    std::vector<WriteBatch> batches(5);
    std::vector<std::string> erased;
    for (int i = 0; i < 40 && !model.empty(); ++i) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      batches[rng() % batches.size()].erase(bytes(it->first));
      erased.push_back(it->first);
    }
    for (const std::string& k : erased) model.erase(k);  // erases go before every put
    for (std::size_t b = 0; b < batches.size(); ++b)
      for (int i = 0; i < 300; ++i) {
        const std::string k = random_key();
        const std::string v{static_cast<char>(write), static_cast<char>(b),
                            static_cast<char>(i >> 8), static_cast<char>(i)};
        batches[b].put(bytes(k), bytes(v));
        model[k] = v;
      }
    std::vector<const WriteBatch*> all;
    for (const auto& b : batches) all.push_back(&b);
    REQUIRE(store.write_all(all, true).is_ok());
    std::map<std::string, std::string> stored;
    REQUIRE(store
                .scan(Bytes{}, Bytes{},
                      [&](ByteView k, ByteView v) {
                        stored.emplace(std::string(k.begin(), k.end()),
                                       std::string(v.begin(), v.end()));
                        return true;
                      })
                .is_ok());
    CHECK(stored.size() == model.size());
    CHECK(stored == model);
  }
}

namespace {

// The process's RLIMIT_NOFILE as it was, put back however the test ends.
class SavedOpenFilesLimit {
 public:
  SavedOpenFilesLimit() { REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0); }
  ~SavedOpenFilesLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  SavedOpenFilesLimit(const SavedOpenFilesLimit&) = delete;
  SavedOpenFilesLimit& operator=(const SavedOpenFilesLimit&) = delete;
  const rlimit& saved() const { return saved_; }

 private:
  rlimit saved_{};
};

std::uint64_t soft_open_files_limit() {
  rlimit lim{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  return lim.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max()
                                       : static_cast<std::uint64_t>(lim.rlim_cur);
}

}  // namespace

TEST_CASE("leveldb store: raise_open_files_limit lifts the soft limit toward the hard one") {
  const SavedOpenFilesLimit saved;
  const rlimit orig = saved.saved();
  const std::uint64_t hard = orig.rlim_max == RLIM_INFINITY
                                 ? std::numeric_limits<std::uint64_t>::max()
                                 : static_cast<std::uint64_t>(orig.rlim_max);
  // A process started at a low soft limit, as distributions start services.
  constexpr std::uint64_t kLow = 256;
  REQUIRE(hard > kLow);
  rlimit low = orig;
  low.rlim_cur = kLow;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  const OpenFilesLimit l = raise_open_files_limit();
  CHECK(l.before == kLow);
  CHECK(l.hard == hard);
  CHECK(l.now == std::min(hard, kOpenFilesWanted));
  CHECK(soft_open_files_limit() == l.now);
  // Called again: nothing more to raise.
  const OpenFilesLimit again = raise_open_files_limit();
  CHECK(again.before == l.now);
  CHECK(again.now == l.now);
}

TEST_CASE(
    "leveldb store: raise_open_files_limit never lowers a soft limit above what it asks for") {
  const SavedOpenFilesLimit saved;
  rlimit at_hard = saved.saved();
  at_hard.rlim_cur = at_hard.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &at_hard) == 0);
  const std::uint64_t before = soft_open_files_limit();
  const OpenFilesLimit l = raise_open_files_limit();
  CHECK(l.before == before);
  CHECK(l.now == before);
  CHECK(soft_open_files_limit() == before);
}

TEST_CASE("leveldb store: compaction_state reads LevelDB's levels against its triggers") {
  // ADR 034. The statistics as LevelDB 1.23 printed them for two stores of
  // the scale benchmark: 1M records as the load left them (levels 1 to 3
  // over their limits of 10, 100 and 1,000 MiB), and 10M once its compaction
  // was idle (each level under its limit).
  const std::string headings =
      "                               Compactions\n"
      "Level  Files Size(MB) Time(sec) Read(MB) Write(MB)\n"
      "--------------------------------------------------\n";
  const std::string loaded = headings +
                             "  0        1        1         0        0         1\n"
                             "  1       56      437         0        0         0\n"
                             "  2       34      275         0        0         0\n"
                             "  3      153     1236         0        0         0\n";
  const CompactionState l = compaction_state_of_stats(loaded);
  CHECK(l.level0_files == 1);
  CHECK(l.over_limit_bytes == std::uint64_t{427 + 175 + 236} << 20);
  CHECK(l.due());
  const std::string idle = headings +
                           "  2       12       84         0        0         0\n"
                           "  3      140      994        17     2524      2215\n"
                           "  4     1192     9462         0        0         0\n";
  const CompactionState i = compaction_state_of_stats(idle);
  CHECK(i.level0_files == 0);
  CHECK(i.over_limit_bytes == 0);
  CHECK_FALSE(i.due());
  // Level 0 counts tables, not bytes: four of them are due.
  const std::string four_tables =
      "Level  Files Size(MB) Time(sec) Read(MB) Write(MB)\n"
      "  0        4       12         0        0         0\n";
  CHECK(compaction_state_of_stats(four_tables).level0_files == 4);
  CHECK(compaction_state_of_stats(four_tables).due());
  CHECK_FALSE(
      compaction_state_of_stats("  0        3       12         0        0         0\n").due());
  CHECK_FALSE(compaction_state_of_stats("").due());

  // A live store: written and compacted in full, nothing is left to do; and
  // the property is what the parse reads.
  testing::TempDir dir;
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  WriteBatch batch;
  for (int i = 0; i < 1000; ++i)
    batch.put(Bytes{'n', static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)},
              Bytes(1000, static_cast<std::uint8_t>(i)));
  REQUIRE(store.write(batch, true).is_ok());
  REQUIRE(store.compact().is_ok());
  const auto state = compaction_state(store);
  REQUIRE(state.has_value());
  CHECK(state->level0_files == 0);
  CHECK_FALSE(state->due());
}

TEST_CASE(
    "leveldb store: the sweeper drops erased entries once the store is quiet, across a restart") {
  // ADR 034. Entries in the tables, then erased: LevelDB has no level over its
  // limit, so its own compactions leave them on disk. The sweeper compacts
  // the range once its erases, at 1 KiB each, come to an eighth of its bytes
  // and no write has come for a while.
  testing::TempDir dir;
  constexpr int kKeys = 2000;
  constexpr std::size_t kValueBytes = 2048;
  auto key = [](int i) {
    return Bytes{'n', static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 7};
  };
  auto table_bytes = [&]() { return file_bytes(dir.path(), ".ldb"); };
  const std::filesystem::path hint = dir.path() / "SWEEP";
  const std::uintmax_t all = kKeys * kValueBytes;
  std::mt19937 rng(20261130);
  auto erase = [&](KvStore& store, int from, int to, int step) {
    WriteBatch batch;
    for (int i = from; i < to; i += step) batch.erase(key(i));
    REQUIRE(store.write(batch, true).is_ok());
  };
  // Waits until the store has swept `slices` slices in all and reports its
  // background work done, and returns whether it did within a minute.
  auto swept = [](const KvStore& store, std::uint64_t slices) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (sweep_stats(store)->slices >= slices && !compaction_state(store)->due()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  auto hint_text = [&]() {
    std::ifstream in(hint);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  {
    auto opened = open_leveldb(dir.str());
    REQUIRE(opened.is_ok());
    KvStore& store = **opened;
    WriteBatch put;
    for (int i = 0; i < kKeys; ++i) {
      Bytes v(kValueBytes);
      for (auto& b : v) b = static_cast<std::uint8_t>(rng());  // incompressible (ADR 031)
      put.put(key(i), v);
    }
    REQUIRE(store.write(put, true).is_ok());
    REQUIRE(store.compact().is_ok());
    REQUIRE(table_bytes() >= all);
    CHECK_FALSE(compaction_state(store)->due());
    CHECK(sweep_stats(store)->slices == 0);  // nothing was erased

    erase(store, 0, kKeys, 2);  // 1,000 erases: 8 MB at 1 KiB each, 8 times, over 4 MB
    CHECK(swept(store, 1));
    CHECK(table_bytes() < all / 2 + all / 20);  // the erased half and its erases are gone
    CHECK_FALSE(std::filesystem::exists(hint));

    // 10 erases of the 2 MB left: not worth a sweep. Counted and written
    // down, and nothing swept once the store has been quiet.
    erase(store, 1, 41, 4);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    CHECK(sweep_stats(store)->slices == 1);
    CHECK_FALSE(compaction_state(store)->due());
    CHECK(hint_text() == "6e:10 \n");

    // 490 more, 500 in all: due. Closed at once, before the store has been
    // quiet: the count is written down.
    erase(store, 41, kKeys, 4);
  }
  CHECK(hint_text() == "6e:500 \n");
  CHECK(table_bytes() >= all / 2);
  {
    auto opened = open_leveldb(dir.str());
    REQUIRE(opened.is_ok());
    KvStore& store = **opened;
    CHECK(compaction_state(store)->due());  // from the file, at the open
    CHECK(swept(store, 1));
    CHECK(table_bytes() < all / 4 + all / 20);  // a quarter is left
    CHECK_FALSE(std::filesystem::exists(hint));
    int seen = 0;
    REQUIRE(store
                .scan(Bytes{'n'}, Bytes{'n'},
                      [&](ByteView k, ByteView v) {
                        const int i = (k[1] << 8) | k[2];
                        CHECK(i % 4 == 3);
                        CHECK(v.size() == kValueBytes);
                        ++seen;
                        return true;
                      })
                .is_ok());
    CHECK(seen == kKeys / 4);
  }
}

TEST_CASE(
    "leveldb store: a SWEEP file is read word by word, and words that do not parse are skipped") {
  // ADR 034: the file is a hint anyone with the data directory could have
  // damaged. The store opens whatever it holds; a word that parses counts.
  testing::TempDir dir;
  {
    auto opened = open_leveldb(dir.str());
    REQUIRE(opened.is_ok());
    std::mt19937 rng(20261130);
    WriteBatch put;
    for (int i = 0; i < 1000; ++i) {
      Bytes v(2048);
      for (auto& b : v) b = static_cast<std::uint8_t>(rng());  // incompressible (ADR 031)
      v[0] = static_cast<std::uint8_t>(i);
      put.put(Bytes{'n', static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}, v);
    }
    REQUIRE((*opened)->write(put, true).is_ok());
    REQUIRE((*opened)->compact().is_ok());
  }
  {
    std::ofstream out(dir.path() / "SWEEP", std::ios::trunc);
    out << "zz:5 6e 6e:x1 6e: 6e:-4 6e:99999999999999999999999 :: \xff\xfe 6e:400 \n";
  }
  auto opened = open_leveldb(dir.str());
  REQUIRE(opened.is_ok());
  KvStore& store = **opened;
  // The last word, 400 erases of a 2 MB range, is due (256 would be); a
  // reader that stopped at the first bad word would count nothing.
  CHECK(compaction_state(store)->due());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && compaction_state(store)->due())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(sweep_stats(store)->slices >= 1);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "SWEEP"));
  auto got = store.get(Bytes{'n', 3, 231});
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  CHECK((**got)[0] == static_cast<std::uint8_t>(999));
}
