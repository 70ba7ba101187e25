// The consensus vote write-ahead log (format and recovery rules:
// docs/formats/wal.md). The node appends every vote of its own here, and the
// append is durable, before the vote is signed and sent; after a restart the
// replayed votes stop it from voting twice in a view. Votes are opaque bytes
// to the WAL.
//
// Recovery: a torn tail (the last record cut short by a crash, or the final
// record's CRC wrong) is cut off and reported; any other damage is WAL_CORRUPT
// and the node must refuse to start, because silently dropping a synced vote
// could make it equivocate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "emledger/consensus/fs_env.hpp"
#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::consensus {

// File header: the canonical-encoding domain tag (u8 length ‖ ASCII) and a
// version byte. Version 2: the key guard's records name their epoch
// (LoggedVote); a version 1 file (bare votes) is refused at open.
inline constexpr std::string_view kWalDomain = "emledger.vote-wal";
inline constexpr std::uint8_t kWalVersion = 2;
inline constexpr std::uint8_t kWalVersionWithoutEpochs = 1;
static_assert(kWalVersionWithoutEpochs < kWalVersion);
inline constexpr std::size_t kWalFileHeaderBytes = 1 + kWalDomain.size() + 1;
// Record: u32 length ‖ u32 CRC-32C(length) ‖ u32 CRC-32C(length ‖ payload) ‖ payload.
inline constexpr std::size_t kWalRecordHeaderBytes = 12;
inline constexpr std::size_t kWalRecordBytesMax = 64 * 1024;  // payload
// The largest WAL file there is: the default and the maximum of
// WalOptions::capacity_bytes, and what open() reads before calling a file
// corrupt.
inline constexpr std::uint64_t kWalFileBytesMax = 16 * 1024 * 1024;
// The smallest capacity open() accepts: the header and one record of one
// byte. A caller whose records are larger needs more (KeyGuard: one vote).
inline constexpr std::uint64_t kWalCapacityBytesMin =
    kWalFileHeaderBytes + kWalRecordHeaderBytes + 1;
// rewrite() builds the new file under this suffix, then renames it over.
inline constexpr std::string_view kWalRewriteSuffix = ".rewrite";

static_assert(kWalRecordHeaderBytes == 3 * sizeof(std::uint32_t), "length, length_crc, crc");
static_assert(kWalRecordBytesMax < (std::uint64_t{1} << 32), "length is a u32");
static_assert(kWalFileBytesMax >=
                  kWalFileHeaderBytes + 64 * (kWalRecordHeaderBytes + kWalRecordBytesMax),
              "room for at least 64 records of the largest size");
static_assert(kWalCapacityBytesMin <= kWalFileBytesMax);

struct WalOptions {
  // Appends that would grow the file past this many bytes fail with
  // WAL_FULL: the caller must rewrite() the WAL with only the records it
  // still needs. kWalCapacityBytesMin to kWalFileBytesMax. Production keeps
  // the default; the simulator makes it small so that rewrites run (and are
  // crashed into) in every run.
  std::uint64_t capacity_bytes = kWalFileBytesMax;
};

// What open() found.
struct WalReplay {
  std::vector<Bytes> records;        // every intact record, in append order
  std::uint64_t torn_bytes_cut = 0;  // size of the torn tail cut off (0: none)
  bool created = false;              // no WAL (or only a torn header): a new one was made
};

struct OpenedWal;

// Not thread-safe: one owner appends. Movable, not copyable.
class VoteWal {
 public:
  // Opens the WAL at `path`, creating it if absent, and replays it. A torn
  // tail is cut off. The file and its directory are synced before this
  // returns, so what replay returned survives a crash. Removes a leftover `path +
  // kWalRewriteSuffix` of an interrupted rewrite (the WAL at `path` is complete then). Errors:
  // CONFIG_INVALID (options.capacity_bytes out of range; nothing touched), WAL_CORRUPT (bad
  // magic, any version but kWalVersion, among them kWalVersionWithoutEpochs, bad length or CRC
  // before the tail, file over kWalFileBytesMax): refuse to start; IO_ERROR. A file over
  // options.capacity_bytes (a WAL written with a larger capacity) opens: appends get WAL_FULL until
  // a rewrite. `env` must outlive the WAL.
  static Result<OpenedWal> open(FsEnv& env, std::string path, WalOptions options = {});

  // Appends one record and syncs it: OK means the record survives a crash.
  // Errors that leave the file untouched: WAL_RECORD_INVALID (empty or over
  // record_bytes_max()), WAL_FULL (rewrite first). An I/O error is returned
  // as is and poisons the WAL: every later call returns WAL_POISONED, since
  // after a failed write or fsync the file's durable content is unknown; the
  // node must stop and reopen (replay tells what survived).
  Status append(ByteView payload);

  // Replaces the WAL's content with `records_to_keep`: writes them to a new
  // file, syncs it, renames it over the WAL and syncs the directory. A crash
  // at any point leaves either the old or the new WAL, complete. Errors
  // before anything is written: WAL_RECORD_INVALID, WAL_FULL (the records do
  // not fit). An I/O error poisons the WAL as append's does.
  Status rewrite(const std::vector<Bytes>& records_to_keep);

  // True if append() of `payload_bytes` would not hit WAL_FULL.
  bool has_room_for(std::size_t payload_bytes) const;
  // The largest record append() and rewrite() take: kWalRecordBytesMax, or
  // less when one record that large would not fit in capacity_bytes() after
  // the header. Replay reads records up to kWalRecordBytesMax whatever the
  // capacity.
  std::size_t record_bytes_max() const;
  std::uint64_t capacity_bytes() const { return capacity_bytes_; }
  std::uint64_t size_bytes() const { return size_bytes_; }
  std::uint64_t record_count() const { return record_count_; }
  // OK while the WAL accepts appends; otherwise the error that poisoned it.
  const Status& poisoned() const { return poisoned_; }
  const std::string& path() const { return path_; }

 private:
  VoteWal(FsEnv& env, std::string path, std::uint64_t capacity_bytes,
          std::unique_ptr<AppendFile> file, std::uint64_t size_bytes, std::uint64_t record_count);
  Status poison(Status cause);
  Status refuse_if_poisoned() const;
  Status refuse_record(std::size_t payload_bytes) const;

  FsEnv* env_;
  std::string path_;
  std::uint64_t capacity_bytes_;
  std::unique_ptr<AppendFile> file_;
  std::uint64_t size_bytes_;
  std::uint64_t record_count_;
  Status poisoned_;
};

struct OpenedWal {
  VoteWal wal;
  WalReplay replay;
};

// The file image of a WAL holding `records` (header and framed records), as
// open() expects it. Asserts every record is 1..kWalRecordBytesMax bytes.
Bytes encode_wal_file(const std::vector<Bytes>& records);

}  // namespace emledger::consensus
