// Vote WAL: docs/formats/wal.md.
#include "emledger/consensus/wal.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "emledger/consensus/crc32c.hpp"
#include "emledger/ledger/encoding.hpp"

namespace emledger::consensus {
namespace {

// The 12 bytes before each payload, described once for both directions.
struct RecordHeader {
  std::uint32_t length = 0;      // payload bytes, 1..kWalRecordBytesMax
  std::uint32_t length_crc = 0;  // CRC-32C of the 4 length bytes
  std::uint32_t crc = 0;         // CRC-32C of the 4 length bytes ‖ payload
  template <class V>
  void describe(V& v) {
    v.u32(length);
    v.u32(length_crc);
    v.u32(crc);
  }
};

Bytes file_header() {
  ledger::Encoder e;
  e.out().reserve(kWalFileHeaderBytes);  // also quiets a g++ 12 -Wstringop-overflow false positive
  e.tag(kWalDomain, kWalVersion);
  EMLEDGER_ASSERT(e.out().size() == kWalFileHeaderBytes);
  return std::move(e.out());
}

bool valid_record_size(std::size_t n) { return n >= 1 && n <= kWalRecordBytesMax; }

void append_record(Bytes& out, ByteView payload) {
  EMLEDGER_ASSERT(valid_record_size(payload.size()));
  const auto n = static_cast<std::uint32_t>(payload.size());
  const std::array<std::uint8_t, 4> length_be = {
      static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
      static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  RecordHeader h;
  h.length = n;
  h.length_crc = crc32c(length_be);
  h.crc = crc32c_extend(h.length_crc, payload);
  ledger::Encoder e;
  e.object(h);
  EMLEDGER_ASSERT(e.out().size() == kWalRecordHeaderBytes);
  out.insert(out.end(), e.out().begin(), e.out().end());
  out.insert(out.end(), payload.begin(), payload.end());
}

Status corrupt(const std::string& path, const std::string& why) {
  return Status::error("WAL_CORRUPT",
                       path + ": " + why + "; refusing to start (a synced vote may be lost)");
}

// What a scan of a whole WAL file found.
struct Scan {
  std::vector<Bytes> records;
  std::uint64_t intact_bytes = 0;  // header and intact records: what to keep
  bool header_torn = false;        // the file is a strict prefix of the header
};

// True when everything from a record's start to the end of the file is
// zeros, no longer than one record: a torn tail, not corruption. Blocks of a
// file whose new size reached the disk before its data did (XFS, ext4
// data=writeback) read back as zeros. No record starts with zeros: the
// length check of a zero length is not zero.
bool zero_tail(ByteView rest) {
  return rest.size() <= kWalRecordHeaderBytes + kWalRecordBytesMax &&
         std::all_of(rest.begin(), rest.end(), [](std::uint8_t b) { return b == 0; });
}

Result<Scan> scan_records(ByteView data, const std::string& path) {
  Scan scan;
  std::size_t pos = kWalFileHeaderBytes;
  while (pos < data.size()) {
    const ByteView rest = data.subspan(pos);
    const std::string where =
        "record " + std::to_string(scan.records.size()) + " at offset " + std::to_string(pos);
    if (rest.size() < kWalRecordHeaderBytes) break;  // torn: header cut short
    RecordHeader h;
    ledger::Decoder d(rest.first(kWalRecordHeaderBytes));
    d.object(h);
    EMLEDGER_ASSERT(d.ok() && d.at_end());
    if (h.length_crc != crc32c(rest.first(4))) {
      if (zero_tail(rest)) break;
      return corrupt(path, where + ": length check fails");
    }
    if (!valid_record_size(h.length))
      return corrupt(path, where + ": length " + std::to_string(h.length) + " out of range");
    const std::size_t end = pos + kWalRecordHeaderBytes + h.length;
    if (end > data.size()) break;  // torn: payload cut short
    const ByteView payload = rest.subspan(kWalRecordHeaderBytes, h.length);
    if (crc32c_extend(h.length_crc, payload) != h.crc) {
      if (end == data.size()) break;  // torn: the final record's bytes
      return corrupt(path, where + ": CRC mismatch before the tail");
    }
    scan.records.emplace_back(payload.begin(), payload.end());
    pos = end;
  }
  scan.intact_bytes = pos;
  return scan;
}

Result<Scan> scan_file(ByteView data, const std::string& path) {
  const Bytes header = file_header();
  if (data.size() < header.size()) {
    // A crash while the header was being created: no record was ever
    // appended (appends start after the header is synced).
    if (std::equal(data.begin(), data.end(), header.begin())) {
      Scan scan;
      scan.header_torn = true;
      return scan;
    }
    return corrupt(path, "not a vote WAL (bad magic)");
  }
  if (!std::equal(header.begin(), header.end() - 1, data.begin()))
    return corrupt(path, "not a vote WAL (bad magic)");
  const std::uint8_t version = data[header.size() - 1];
  // Its votes name no epoch: replaying them under any epoch would be a guess.
  if (version == kWalVersionWithoutEpochs)
    return corrupt(path, "WAL version " + std::to_string(version) +
                             " holds votes without their epoch; this node writes version " +
                             std::to_string(kWalVersion) + " (docs/formats/wal.md, Versioning)");
  if (version != kWalVersion)
    return corrupt(path, "unsupported WAL version " + std::to_string(version));
  return scan_records(data, path);
}

Result<std::unique_ptr<AppendFile>> create_file(FsEnv& env, const std::string& path) {
  auto file = env.create(path);
  if (!file) return file.status();
  EMLEDGER_TRY((*file)->append(file_header()));
  EMLEDGER_TRY((*file)->sync());
  EMLEDGER_TRY(env.sync_dir(parent_dir(path)));
  return std::move(*file);
}

}  // namespace

Bytes encode_wal_file(const std::vector<Bytes>& records) {
  Bytes out = file_header();
  for (const Bytes& r : records) append_record(out, r);
  return out;
}

VoteWal::VoteWal(FsEnv& env, std::string path, std::uint64_t capacity_bytes,
                 std::unique_ptr<AppendFile> file, std::uint64_t size_bytes,
                 std::uint64_t record_count)
    : env_(&env),
      path_(std::move(path)),
      capacity_bytes_(capacity_bytes),
      file_(std::move(file)),
      size_bytes_(size_bytes),
      record_count_(record_count) {
  EMLEDGER_ASSERT(file_ != nullptr);
  EMLEDGER_ASSERT(capacity_bytes_ >= kWalCapacityBytesMin && capacity_bytes_ <= kWalFileBytesMax);
  EMLEDGER_ASSERT(size_bytes_ >= kWalFileHeaderBytes && size_bytes_ <= kWalFileBytesMax);
}

Result<OpenedWal> VoteWal::open(FsEnv& env, std::string path, WalOptions options) {
  if (options.capacity_bytes < kWalCapacityBytesMin || options.capacity_bytes > kWalFileBytesMax)
    return Status::error("CONFIG_INVALID",
                         "WAL capacity " + std::to_string(options.capacity_bytes) +
                             " bytes is outside " + std::to_string(kWalCapacityBytesMin) + ".." +
                             std::to_string(kWalFileBytesMax));
  // A rewrite that crashed before its rename: the WAL at `path` is complete.
  const std::string leftover = path + std::string(kWalRewriteSuffix);
  auto leftover_exists = env.exists(leftover);
  if (!leftover_exists) return leftover_exists.status();
  if (*leftover_exists) EMLEDGER_TRY(env.remove(leftover));

  auto exists = env.exists(path);
  if (!exists) return exists.status();
  if (!*exists) {
    auto file = create_file(env, path);
    if (!file) return file.status();
    WalReplay replay;
    replay.created = true;
    return OpenedWal{VoteWal(env, std::move(path), options.capacity_bytes, std::move(*file),
                             kWalFileHeaderBytes, 0),
                     std::move(replay)};
  }

  auto data = env.read_all(path, kWalFileBytesMax);
  if (!data && data.status().code() == "FILE_TOO_LARGE")
    return corrupt(path, "larger than " + std::to_string(kWalFileBytesMax) + " bytes");
  if (!data) return data.status();
  auto scan = scan_file(*data, path);
  if (!scan) return scan.status();
  EMLEDGER_ASSERT(scan->intact_bytes <= data->size());

  WalReplay replay;
  replay.records = std::move(scan->records);
  replay.torn_bytes_cut = data->size() - scan->intact_bytes;
  replay.created = scan->header_torn;
  if (replay.torn_bytes_cut > 0) EMLEDGER_TRY(env.truncate(path, scan->intact_bytes));
  auto file = env.open_append(path);
  if (!file) return file.status();
  std::uint64_t size = scan->intact_bytes;
  if (scan->header_torn) {
    EMLEDGER_TRY((*file)->append(file_header()));
    size = kWalFileHeaderBytes;
  }
  // Both synced even when nothing was cut: a process that crashed (the
  // machine did not) may have left file bytes or the file's very name only in
  // the page cache, and replay just accepted them; new votes must not be
  // appended to a WAL that a power loss could still take away.
  EMLEDGER_TRY((*file)->sync());
  EMLEDGER_TRY(env.sync_dir(parent_dir(path)));
  const std::uint64_t count = replay.records.size();
  return OpenedWal{
      VoteWal(env, std::move(path), options.capacity_bytes, std::move(*file), size, count),
      std::move(replay)};
}

bool VoteWal::has_room_for(std::size_t payload_bytes) const {
  return size_bytes_ + kWalRecordHeaderBytes + payload_bytes <= capacity_bytes_;
}

std::size_t VoteWal::record_bytes_max() const {
  const std::uint64_t fits = capacity_bytes_ - kWalFileHeaderBytes - kWalRecordHeaderBytes;
  return static_cast<std::size_t>(std::min<std::uint64_t>(kWalRecordBytesMax, fits));
}

// A record that could not fit even in an empty WAL is invalid here, not
// WAL_FULL: no rewrite would make room for it.
Status VoteWal::refuse_record(std::size_t payload_bytes) const {
  if (payload_bytes >= 1 && payload_bytes <= record_bytes_max()) return Status::ok();
  return Status::error("WAL_RECORD_INVALID", "a record of " + path_ + " holds 1 to " +
                                                 std::to_string(record_bytes_max()) +
                                                 " bytes, not " + std::to_string(payload_bytes));
}

Status VoteWal::poison(Status cause) {
  EMLEDGER_ASSERT(!cause.is_ok());
  poisoned_ = cause;
  return cause;
}

Status VoteWal::refuse_if_poisoned() const {
  if (poisoned_.is_ok()) return Status::ok();
  return Status::error("WAL_POISONED", path_ + ": refused after an earlier I/O error (" +
                                           poisoned_.to_string() + "); restart and replay");
}

Status VoteWal::append(ByteView payload) {
  EMLEDGER_TRY(refuse_if_poisoned());
  EMLEDGER_TRY(refuse_record(payload.size()));
  if (!has_room_for(payload.size()))
    return Status::error("WAL_FULL", path_ + " would exceed " + std::to_string(capacity_bytes_) +
                                         " bytes: rewrite it first");
  Bytes record;
  record.reserve(kWalRecordHeaderBytes + payload.size());
  append_record(record, payload);
  if (Status st = file_->append(record); !st) return poison(std::move(st));
  if (Status st = file_->sync(); !st) return poison(std::move(st));
  size_bytes_ += record.size();
  ++record_count_;
  EMLEDGER_ASSERT(size_bytes_ <= capacity_bytes_);
  return Status::ok();
}

Status VoteWal::rewrite(const std::vector<Bytes>& records_to_keep) {
  EMLEDGER_TRY(refuse_if_poisoned());
  std::uint64_t size = kWalFileHeaderBytes;
  for (const Bytes& r : records_to_keep) {
    EMLEDGER_TRY(refuse_record(r.size()));
    size += kWalRecordHeaderBytes + r.size();
    if (size > capacity_bytes_)
      return Status::error(
          "WAL_FULL", "the records to keep exceed " + std::to_string(capacity_bytes_) + " bytes");
  }
  const Bytes image = encode_wal_file(records_to_keep);
  EMLEDGER_ASSERT(image.size() == size);

  // Until the directory sync after the rename, a crash leaves the old WAL at
  // `path_` (its name is the durable one); after it, the new one, whose
  // bytes were synced before the rename.
  const std::string tmp = path_ + std::string(kWalRewriteSuffix);
  auto tmp_exists = env_->exists(tmp);
  if (!tmp_exists) return poison(tmp_exists.status());
  if (*tmp_exists) {
    if (Status st = env_->remove(tmp); !st) return poison(std::move(st));
  }
  auto file = env_->create(tmp);
  if (!file) return poison(file.status());
  if (Status st = (*file)->append(image); !st) return poison(std::move(st));
  if (Status st = (*file)->sync(); !st) return poison(std::move(st));
  if (Status st = env_->rename(tmp, path_); !st) return poison(std::move(st));
  if (Status st = env_->sync_dir(parent_dir(path_)); !st) return poison(std::move(st));
  file_ = std::move(*file);  // the handle follows the renamed file
  EMLEDGER_ASSERT(size <= capacity_bytes_);
  size_bytes_ = size;
  record_count_ = records_to_keep.size();
  return Status::ok();
}

}  // namespace emledger::consensus
