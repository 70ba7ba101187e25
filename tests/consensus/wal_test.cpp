#include "emledger/consensus/wal.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "emledger/consensus/crc32c.hpp"
#include "emledger/crypto/hex.hpp"
#include "temp_dir.hpp"

using namespace emledger;
using namespace emledger::consensus;

namespace {

using test::TempDir;

constexpr const char* kPath = "/node/wal";

// Distinct payloads of distinct sizes, like votes of successive views.
Bytes vote(std::size_t i) {
  const std::string s = "vote view=" + std::to_string(i) + " " + std::string(i % 37, 'x');
  return Bytes(s.begin(), s.end());
}

std::vector<Bytes> votes(std::size_t begin, std::size_t end) {
  std::vector<Bytes> out;
  for (std::size_t i = begin; i < end; ++i) out.push_back(vote(i));
  return out;
}

OpenedWal open_ok(FsEnv& env, const std::string& path = kPath) {
  auto r = VoteWal::open(env, path);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r).value();
}

Status open_error(FsEnv& env, const std::string& path = kPath) {
  auto r = VoteWal::open(env, path);
  REQUIRE_MESSAGE(!r.is_ok(), "opened a WAL that should be refused");
  return r.status();
}

// Puts `bytes` at `path` as a synced file with a synced name.
void write_raw(SimFsEnv& env, const std::string& path, const Bytes& bytes) {
  if (*env.exists(path)) REQUIRE(env.remove(path).is_ok());
  auto f = env.create(path);
  REQUIRE(f.is_ok());
  REQUIRE((*f)->append(bytes).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE(env.sync_dir(parent_dir(path)).is_ok());
}

Bytes read_raw(FsEnv& env, const std::string& path = kPath) {
  auto r = env.read_all(path, kWalFileBytesMax);
  REQUIRE(r.is_ok());
  return *r;
}

// Offset where record `i` of encode_wal_file(records) starts.
std::size_t record_offset(const std::vector<Bytes>& records, std::size_t i) {
  std::size_t pos = kWalFileHeaderBytes;
  for (std::size_t k = 0; k < i; ++k) pos += kWalRecordHeaderBytes + records[k].size();
  return pos;
}

}  // namespace

TEST_CASE("wal: the file layout of docs/formats/wal.md") {
  // Header: u8 17 ‖ "emledger.vote-wal" ‖ version 2. Record "abc": length 3,
  // CRC-32C(00000003) = 5b37b833, CRC-32C(00000003 ‖ "abc") = 8f337f99.
  CHECK(to_hex(encode_wal_file({Bytes{'a', 'b', 'c'}})) ==
        "11656d6c65646765722e766f74652d77616c02"
        "00000003"
        "5b37b833"
        "8f337f99"
        "616263");
  CHECK(encode_wal_file({}).size() == kWalFileHeaderBytes);

  SimFsEnv env;
  auto opened = open_ok(env);
  REQUIRE(opened.wal.append(as_bytes("abc")).is_ok());
  CHECK(read_raw(env) == encode_wal_file({Bytes{'a', 'b', 'c'}}));
  CHECK(opened.wal.size_bytes() == read_raw(env).size());
}

TEST_CASE("wal: append and replay round trip on SimFsEnv") {
  SimFsEnv env;
  {
    auto opened = open_ok(env);
    CHECK(opened.replay.created);
    CHECK(opened.replay.records.empty());
    CHECK(opened.wal.record_count() == 0);
    for (const Bytes& v : votes(0, 20)) REQUIRE(opened.wal.append(v).is_ok());
    CHECK(opened.wal.record_count() == 20);
  }
  {
    auto opened = open_ok(env);
    CHECK_FALSE(opened.replay.created);
    CHECK(opened.replay.torn_bytes_cut == 0);
    CHECK(opened.replay.records == votes(0, 20));
    CHECK(opened.wal.record_count() == 20);
    for (const Bytes& v : votes(20, 25)) REQUIRE(opened.wal.append(v).is_ok());
  }
  auto opened = open_ok(env);
  CHECK(opened.replay.records == votes(0, 25));
}

TEST_CASE("wal: append and replay round trip on PosixFsEnv") {
  TempDir tmp;
  PosixFsEnv env;
  const std::string path = tmp.path() + "/wal";
  {
    auto opened = open_ok(env, path);
    CHECK(opened.replay.created);
    for (const Bytes& v : votes(0, 50)) REQUIRE(opened.wal.append(v).is_ok());
  }
  {
    auto opened = open_ok(env, path);
    CHECK(opened.replay.records == votes(0, 50));
    CHECK(read_raw(env, path) == encode_wal_file(votes(0, 50)));
    REQUIRE(opened.wal.rewrite(votes(40, 50)).is_ok());
    REQUIRE(opened.wal.append(vote(50)).is_ok());
  }
  auto opened = open_ok(env, path);
  CHECK(opened.replay.records == votes(40, 51));
  CHECK_FALSE(*env.exists(path + std::string(kWalRewriteSuffix)));

  // Real torn tails too: every prefix of the last record is cut.
  const Bytes full = encode_wal_file(votes(40, 51));
  const std::size_t last = record_offset(votes(40, 51), 10);
  for (std::size_t cut = last; cut < full.size(); ++cut) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(full.data()), static_cast<std::streamsize>(cut));
    auto reopened = open_ok(env, path);
    CHECK(reopened.replay.records == votes(40, 50));
    CHECK(reopened.replay.torn_bytes_cut == cut - last);
    CHECK(std::filesystem::file_size(path) == last);
  }
}

TEST_CASE("wal: open fails with IO_ERROR when the directory is missing") {
  TempDir tmp;
  PosixFsEnv env;
  const Status st = open_error(env, tmp.path() + "/missing/wal");
  CHECK(st.code() == "IO_ERROR");
  CHECK(st.message().find("/missing/wal") != std::string::npos);
}

TEST_CASE("wal: a crash loses nothing append returned OK for") {
  SimFsEnv env;
  {
    auto opened = open_ok(env);
    for (const Bytes& v : votes(0, 5)) REQUIRE(opened.wal.append(v).is_ok());
  }
  env.crash();  // drops every unsynced byte and every unsynced name
  auto opened = open_ok(env);
  CHECK_FALSE(opened.replay.created);  // open synced the directory
  CHECK(opened.replay.records == votes(0, 5));
}

TEST_CASE("wal: a crash with unsynced data keeps either the whole vote or none of it") {
  for (std::uint64_t seed = 0; seed < 64; ++seed) {
    SimFsEnv env;
    {
      auto opened = open_ok(env);
      for (const Bytes& v : votes(0, 3)) REQUIRE(opened.wal.append(v).is_ok());
      env.fail_next(SimFsEnv::Op::kSync);  // the vote is written, never synced
      CHECK(opened.wal.append(vote(3)).code() == "IO_ERROR");
      CHECK(env.unsynced_bytes(kPath) == kWalRecordHeaderBytes + vote(3).size());
    }
    env.crash(SimFsEnv::torn_by_seed(seed));
    auto opened = open_ok(env);
    const auto& records = opened.replay.records;
    if (records.size() == 4) {
      CHECK(records == votes(0, 4));
      CHECK(opened.replay.torn_bytes_cut == 0);
    } else {
      CHECK(records == votes(0, 3));
    }
    // Whatever replay returned is on disk: a second crash changes nothing.
    env.crash();
    CHECK(open_ok(env).replay.records == records);
  }
}

TEST_CASE("wal: a torn tail at every byte offset of the last record is cut, earlier records kept") {
  const Bytes last = vote(9);
  const std::size_t record_bytes = kWalRecordHeaderBytes + last.size();
  for (std::size_t keep = 0; keep <= record_bytes; ++keep) {
    CAPTURE(keep);
    SimFsEnv env;
    {
      auto opened = open_ok(env);
      for (const Bytes& v : votes(0, 9)) REQUIRE(opened.wal.append(v).is_ok());
      env.fail_next(SimFsEnv::Op::kSync);
      CHECK_FALSE(opened.wal.append(last).is_ok());
    }
    env.crash([&](const std::string&, std::size_t unsynced) {
      REQUIRE(unsynced == record_bytes);
      return keep;
    });
    {
      auto opened = open_ok(env);
      if (keep == record_bytes) {
        CHECK(opened.replay.records == votes(0, 10));
        CHECK(opened.replay.torn_bytes_cut == 0);
        continue;
      }
      CHECK(opened.replay.records == votes(0, 9));
      CHECK(opened.replay.torn_bytes_cut == keep);
      CHECK(read_raw(env) == encode_wal_file(votes(0, 9)));
      // The cut was synced, and new records go where the torn one was.
      REQUIRE(opened.wal.append(vote(100)).is_ok());
    }
    env.crash();
    std::vector<Bytes> expected = votes(0, 9);
    expected.push_back(vote(100));
    CHECK(open_ok(env).replay.records == expected);
  }
}

TEST_CASE("wal: the final record with a bad CRC is cut as a torn write") {
  const std::vector<Bytes> records = votes(0, 4);
  const std::size_t last = record_offset(records, 3);
  const Bytes image = encode_wal_file(records);
  // Every byte of the final record's CRC and payload.
  for (std::size_t at = last + 8; at < image.size(); ++at) {
    CAPTURE(at);
    SimFsEnv env;
    write_raw(env, kPath, image);
    REQUIRE(env.flip_byte(kPath, at, 0x20).is_ok());
    auto opened = open_ok(env);
    CHECK(opened.replay.records == votes(0, 3));
    CHECK(opened.replay.torn_bytes_cut == image.size() - last);
  }
}

TEST_CASE("wal: a flipped byte anywhere before the tail refuses to open") {
  const std::vector<Bytes> records = votes(0, 4);
  const Bytes image = encode_wal_file(records);
  // Every byte of the header and of the middle records, and the final
  // record's length fields (its length is authenticated on its own, so a
  // damaged one is not mistaken for a torn write).
  const std::size_t end = record_offset(records, 3) + 8;
  for (std::size_t at = 0; at < end; ++at) {
    CAPTURE(at);
    SimFsEnv env;
    write_raw(env, kPath, image);
    REQUIRE(env.flip_byte(kPath, at, 0x01).is_ok());
    const Status st = open_error(env);
    CHECK(st.code() == "WAL_CORRUPT");
    CHECK(st.message().find(kPath) != std::string::npos);
    CHECK(read_raw(env).size() == image.size());  // nothing was cut
  }
}

TEST_CASE("wal: WAL_CORRUPT names what is wrong and where") {
  const std::vector<Bytes> records = votes(0, 3);
  const Bytes image = encode_wal_file(records);
  auto refused = [&](const Bytes& bytes) {
    SimFsEnv env;
    write_raw(env, kPath, bytes);
    const Status st = open_error(env);
    CHECK(st.code() == "WAL_CORRUPT");
    return st.message();
  };
  Bytes bad = image;
  bad[kWalFileHeaderBytes - 1] = 3;
  CHECK(refused(bad).find("unsupported WAL version 3") != std::string::npos);
  // Version 1 held votes without their epoch: refused with that said.
  bad[kWalFileHeaderBytes - 1] = 1;
  CHECK(refused(bad).find("WAL version 1 holds votes without their epoch") != std::string::npos);
  bad = image;
  bad[3] ^= 0x40;
  CHECK(refused(bad).find("bad magic") != std::string::npos);
  CHECK(refused(Bytes{'h', 'i'}).find("bad magic") != std::string::npos);
  bad = image;
  bad[record_offset(records, 1) + kWalRecordHeaderBytes] ^= 0x01;
  CHECK(refused(bad).find("record 1 at offset " + std::to_string(record_offset(records, 1)) +
                          ": CRC mismatch") != std::string::npos);

  // A length with a matching length check but out of range: 0, or over the max.
  for (std::uint32_t length : {std::uint32_t{0}, std::uint32_t{kWalRecordBytesMax + 1}}) {
    bad = image;
    const std::size_t at = record_offset(records, 1);
    const std::uint8_t be[4] = {
        static_cast<std::uint8_t>(length >> 24), static_cast<std::uint8_t>(length >> 16),
        static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)};
    const std::uint32_t check = crc32c(ByteView(be, 4));
    for (int k = 0; k < 4; ++k) {
      bad[at + k] = be[k];
      bad[at + 4 + k] = static_cast<std::uint8_t>(check >> (24 - 8 * k));
    }
    CHECK(refused(bad).find("out of range") != std::string::npos);
  }
}

TEST_CASE("wal: a tail of zeros is a torn write; zeros past one record are corruption") {
  const Bytes image = encode_wal_file(votes(0, 3));
  for (std::size_t zeros : {std::size_t{1}, std::size_t{12}, std::size_t{4096},
                            kWalRecordHeaderBytes + kWalRecordBytesMax}) {
    CAPTURE(zeros);
    SimFsEnv env;
    Bytes bytes = image;
    bytes.resize(image.size() + zeros, 0);
    write_raw(env, kPath, bytes);
    auto opened = open_ok(env);
    CHECK(opened.replay.records == votes(0, 3));
    CHECK(opened.replay.torn_bytes_cut == zeros);
  }
  SimFsEnv env;
  Bytes bytes = image;
  bytes.resize(image.size() + kWalRecordHeaderBytes + kWalRecordBytesMax + 1, 0);
  write_raw(env, kPath, bytes);
  CHECK(open_error(env).code() == "WAL_CORRUPT");
}

TEST_CASE("wal: a file over the size bound is refused as corrupt") {
  SimFsEnv env;
  Bytes bytes = encode_wal_file({});
  bytes.resize(kWalFileBytesMax + 1, 0x55);
  write_raw(env, kPath, bytes);
  const Status st = open_error(env);
  CHECK(st.code() == "WAL_CORRUPT");
  CHECK(st.message().find("larger than") != std::string::npos);
}

TEST_CASE("wal: a torn header of a new WAL is recreated") {
  const Bytes header = encode_wal_file({});
  for (std::size_t n = 0; n < header.size(); ++n) {
    CAPTURE(n);
    SimFsEnv env;
    write_raw(env, kPath, Bytes(header.begin(), header.begin() + n));
    {
      auto opened = open_ok(env);
      CHECK(opened.replay.created);
      CHECK(opened.replay.records.empty());
      CHECK(opened.replay.torn_bytes_cut == n);
      REQUIRE(opened.wal.append(vote(1)).is_ok());
    }
    env.crash();
    CHECK(open_ok(env).replay.records == votes(1, 2));
  }
}

TEST_CASE("wal: the directory sync at create is what keeps a new WAL") {
  SimFsEnv env;
  env.fail_next(SimFsEnv::Op::kSyncDir);
  const Status st = open_error(env);
  CHECK(st.code() == "IO_ERROR");
  env.crash();
  CHECK_FALSE(*env.exists(kPath));  // the file was synced, its name was not

  const std::uint64_t syncs = env.syncs();
  {
    auto opened = open_ok(env);
    CHECK(opened.replay.created);
    CHECK(env.syncs() == syncs + 2);  // the file and its directory
  }
  env.crash();
  auto opened = open_ok(env);
  CHECK_FALSE(opened.replay.created);
}

TEST_CASE("wal: open syncs the directory of an existing WAL whose name is not durable yet") {
  // A process created the WAL and died before its directory sync; the
  // machine stayed up, so the next process finds the file.
  SimFsEnv env;
  env.fail_next(SimFsEnv::Op::kSyncDir);
  CHECK(open_error(env).code() == "IO_ERROR");
  {
    auto opened = open_ok(env);
    CHECK_FALSE(opened.replay.created);
    REQUIRE(opened.wal.append(vote(0)).is_ok());
  }
  env.crash();
  CHECK(open_ok(env).replay.records == votes(0, 1));
}

TEST_CASE("wal: an injected sync error poisons the WAL") {
  SimFsEnv env;
  auto opened = open_ok(env);
  REQUIRE(opened.wal.append(vote(0)).is_ok());
  env.fail_next(SimFsEnv::Op::kSync);
  const Status failed = opened.wal.append(vote(1));
  CHECK(failed.code() == "IO_ERROR");
  CHECK(opened.wal.poisoned().code() == "IO_ERROR");
  // The file system works again, but the WAL does not pretend it does.
  const Status refused = opened.wal.append(vote(2));
  CHECK(refused.code() == "WAL_POISONED");
  CHECK(refused.message().find("injected fault") != std::string::npos);
  CHECK(opened.wal.rewrite(votes(0, 1)).code() == "WAL_POISONED");
  CHECK(opened.wal.record_count() == 1);
  CHECK(env.unsynced_bytes(kPath) == kWalRecordHeaderBytes + vote(1).size());

  // A restart replays what survived and the new WAL appends again.
  env.crash();
  auto reopened = open_ok(env);
  CHECK(reopened.replay.records == votes(0, 1));
  CHECK(reopened.wal.append(vote(2)).is_ok());
}

TEST_CASE("wal: an injected append error poisons the WAL") {
  SimFsEnv env;
  auto opened = open_ok(env);
  env.fail_next(SimFsEnv::Op::kAppend);
  CHECK(opened.wal.append(vote(0)).code() == "IO_ERROR");
  CHECK(opened.wal.append(vote(0)).code() == "WAL_POISONED");
  CHECK(opened.wal.record_count() == 0);
}

TEST_CASE("wal: record size limits and WAL_FULL leave the WAL usable") {
  SimFsEnv env;
  auto opened = open_ok(env);
  CHECK(opened.wal.append(Bytes{}).code() == "WAL_RECORD_INVALID");
  CHECK(opened.wal.append(Bytes(kWalRecordBytesMax + 1, 7)).code() == "WAL_RECORD_INVALID");
  CHECK(opened.wal.poisoned().is_ok());
  CHECK(opened.wal.rewrite({Bytes{}}).code() == "WAL_RECORD_INVALID");

  const Bytes big(kWalRecordBytesMax, 0xAB);
  std::size_t appended = 0;
  while (opened.wal.has_room_for(big.size())) {
    REQUIRE(opened.wal.append(big).is_ok());
    ++appended;
  }
  CHECK(appended ==
        (kWalFileBytesMax - kWalFileHeaderBytes) / (kWalRecordHeaderBytes + kWalRecordBytesMax));
  const Status full = opened.wal.append(big);
  CHECK(full.code() == "WAL_FULL");
  CHECK(opened.wal.poisoned().is_ok());
  CHECK(opened.wal.size_bytes() <= kWalFileBytesMax);
  CHECK(read_raw(env).size() == opened.wal.size_bytes());

  // Too much to keep is refused before anything is written.
  CHECK(opened.wal.rewrite(std::vector<Bytes>(appended + 1, big)).code() == "WAL_FULL");
  CHECK_FALSE(*env.exists(std::string(kPath) + std::string(kWalRewriteSuffix)));
  // Compaction makes room.
  REQUIRE(opened.wal.rewrite({big}).is_ok());
  CHECK(opened.wal.record_count() == 1);
  REQUIRE(opened.wal.append(big).is_ok());
  env.crash();
  CHECK(open_ok(env).replay.records == std::vector<Bytes>(2, big));
}

TEST_CASE("wal: rewrite replaces the content and appends continue after it") {
  SimFsEnv env;
  {
    auto opened = open_ok(env);
    for (const Bytes& v : votes(0, 10)) REQUIRE(opened.wal.append(v).is_ok());
    REQUIRE(opened.wal.rewrite(votes(8, 10)).is_ok());
    CHECK(opened.wal.record_count() == 2);
    CHECK(opened.wal.size_bytes() == encode_wal_file(votes(8, 10)).size());
    REQUIRE(opened.wal.append(vote(10)).is_ok());
    REQUIRE(opened.wal.rewrite({}).is_ok());
    REQUIRE(opened.wal.append(vote(11)).is_ok());
  }
  env.crash();
  auto opened = open_ok(env);
  CHECK(opened.replay.records == votes(11, 12));
  CHECK_FALSE(*env.exists(std::string(kPath) + std::string(kWalRewriteSuffix)));
}

TEST_CASE("wal: a crash at every step of rewrite leaves either the old or the new WAL") {
  const std::vector<Bytes> old_records = votes(0, 6);
  const std::vector<Bytes> new_records = votes(4, 7);
  const std::string leftover = std::string(kPath) + std::string(kWalRewriteSuffix);
  // Each step of rewrite in order; a fault at a step stops rewrite just
  // before it, which is a crash there. kNone: rewrite completes.
  struct Step {
    bool fault;
    SimFsEnv::Op op;
  };
  const Step steps[] = {{true, SimFsEnv::Op::kRemove}, {true, SimFsEnv::Op::kCreate},
                        {true, SimFsEnv::Op::kAppend}, {true, SimFsEnv::Op::kSync},
                        {true, SimFsEnv::Op::kRename}, {true, SimFsEnv::Op::kSyncDir},
                        {false, SimFsEnv::Op::kSync}};
  for (const Step& step : steps) {
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
      CAPTURE(static_cast<int>(step.op));
      CAPTURE(step.fault);
      CAPTURE(seed);
      SimFsEnv env;
      {
        auto opened = open_ok(env);
        for (const Bytes& v : old_records) REQUIRE(opened.wal.append(v).is_ok());
        write_raw(env, leftover, Bytes{'j', 'u', 'n', 'k'});  // an earlier rewrite's remains
        if (step.fault) env.fail_next(step.op);
        const Status st = opened.wal.rewrite(new_records);
        CHECK(st.is_ok() == !step.fault);
      }
      // seed 0 keeps no unsynced byte, seed 1 keeps all, others tear.
      if (seed == 1)
        env.crash([](const std::string&, std::size_t n) { return n; });
      else
        env.crash(SimFsEnv::torn_by_seed(seed));
      auto opened = open_ok(env);
      CHECK(opened.replay.torn_bytes_cut == 0);
      CHECK(opened.replay.records == (step.fault ? old_records : new_records));
      CHECK_FALSE(*env.exists(leftover));
    }
  }
}

TEST_CASE("wal: open removes a leftover rewrite file") {
  SimFsEnv env;
  {
    auto opened = open_ok(env);
    REQUIRE(opened.wal.append(vote(0)).is_ok());
  }
  const std::string leftover = std::string(kPath) + std::string(kWalRewriteSuffix);
  write_raw(env, leftover, encode_wal_file(votes(5, 6)));
  auto opened = open_ok(env);
  CHECK(opened.replay.records == votes(0, 1));
  CHECK_FALSE(*env.exists(leftover));
}

TEST_CASE("wal: a capacity outside kWalCapacityBytesMin..kWalFileBytesMax is CONFIG_INVALID") {
  SimFsEnv env;
  for (std::uint64_t bad :
       {std::uint64_t{0}, kWalFileHeaderBytes, kWalCapacityBytesMin - 1, kWalFileBytesMax + 1}) {
    CAPTURE(bad);
    auto r = VoteWal::open(env, kPath, WalOptions{bad});
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "CONFIG_INVALID");
    CHECK_FALSE(*env.exists(kPath));  // refused before touching the disk
  }
  for (std::uint64_t good : {kWalCapacityBytesMin, kWalFileBytesMax}) {
    CAPTURE(good);
    auto r = VoteWal::open(env, kPath, WalOptions{good});
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    CHECK(r->wal.capacity_bytes() == good);
  }
  CHECK(open_ok(env).wal.capacity_bytes() == kWalFileBytesMax);  // the default
}

TEST_CASE("wal: a small capacity fills, rewrite frees room, a record it cannot hold is invalid") {
  constexpr std::size_t kRecord = 20;
  constexpr std::uint64_t kRecordsMax = 5;
  const WalOptions small{kWalFileHeaderBytes + kRecordsMax * (kWalRecordHeaderBytes + kRecord)};
  SimFsEnv env;
  auto r = VoteWal::open(env, kPath, small);
  REQUIRE(r.is_ok());
  VoteWal& wal = r->wal;
  CHECK(wal.record_bytes_max() ==
        small.capacity_bytes - kWalFileHeaderBytes - kWalRecordHeaderBytes);
  CHECK(wal.append(Bytes(wal.record_bytes_max() + 1, 1)).code() == "WAL_RECORD_INVALID");
  CHECK(wal.rewrite({Bytes(wal.record_bytes_max() + 1, 1)}).code() == "WAL_RECORD_INVALID");

  std::vector<Bytes> appended;
  for (std::uint8_t i = 0; wal.has_room_for(kRecord); ++i) {
    appended.push_back(Bytes(kRecord, i));
    REQUIRE(wal.append(appended.back()).is_ok());
  }
  CHECK(appended.size() == kRecordsMax);
  CHECK(wal.size_bytes() == small.capacity_bytes);
  CHECK(wal.append(Bytes(kRecord, 0xEE)).code() == "WAL_FULL");
  CHECK(wal.rewrite(std::vector<Bytes>(kRecordsMax + 1, Bytes(kRecord, 1))).code() == "WAL_FULL");
  CHECK(wal.poisoned().is_ok());

  const std::vector<Bytes> kept(appended.end() - 2, appended.end());
  REQUIRE(wal.rewrite(kept).is_ok());
  CHECK(wal.has_room_for(kRecord));
  REQUIRE(wal.append(Bytes(kRecord, 0xEE)).is_ok());
  env.crash();
  auto reopened = VoteWal::open(env, kPath, small);
  REQUIRE(reopened.is_ok());
  std::vector<Bytes> want = kept;
  want.push_back(Bytes(kRecord, 0xEE));
  CHECK(reopened->replay.records == want);
}

TEST_CASE("wal: a WAL over a lowered capacity opens, and appends wait for a rewrite") {
  SimFsEnv env;
  {
    auto opened = open_ok(env);
    for (const Bytes& v : votes(0, 10)) REQUIRE(opened.wal.append(v).is_ok());
  }
  const WalOptions small{encode_wal_file(votes(0, 5)).size()};
  auto r = VoteWal::open(env, kPath, small);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK(r->replay.records == votes(0, 10));  // nothing dropped
  CHECK(r->wal.size_bytes() > small.capacity_bytes);
  CHECK(r->wal.append(vote(10)).code() == "WAL_FULL");
  REQUIRE(r->wal.rewrite(votes(8, 10)).is_ok());
  REQUIRE(r->wal.append(vote(10)).is_ok());
  env.crash();
  auto back = VoteWal::open(env, kPath, small);
  REQUIRE(back.is_ok());
  CHECK(back->replay.records == votes(8, 11));
}
