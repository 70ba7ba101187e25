#include "pending_blocks.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

#include "emledger/consensus/crc32c.hpp"
#include "emledger/crypto/hex.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSlotPrefix = "slot-";
constexpr std::size_t kSlotDigitsMax = 9;  // slot numbers below 10^9
constexpr std::size_t kCrcBytes = 4;
// Files of the layout before ADR 042: "<20 digits>-<64 hex>.blk", and the
// temporary name a put wrote first.
constexpr std::string_view kEarlierSuffix = ".blk";
constexpr std::string_view kEarlierTempSuffix = ".blk.tmp";
constexpr std::size_t kHeightDigits = 20;  // every u64

void log_line(const std::string& line) {
  std::fprintf(stderr, "emledger-node: pending blocks: %s\n", line.c_str());
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The encoded size of every PendingSlotHead (its fields are of fixed size).
std::size_t head_bytes() {
  static const std::size_t n = ledger::encode(PendingSlotHead{}).size();
  return n;
}

// The most a slot's record can take: its head, the largest block, the CRC.
std::size_t record_bytes_max() {
  return head_bytes() + PendingBlock::kPendingBlockBytesMax + kCrcBytes;
}

// "slot-<n>" -> n, without leading zeros.
std::optional<std::size_t> parse_slot_name(std::string_view name) {
  if (!name.starts_with(kSlotPrefix)) return std::nullopt;
  const std::string_view digits = name.substr(kSlotPrefix.size());
  if (digits.empty() || digits.size() > kSlotDigitsMax || (digits.size() > 1 && digits[0] == '0'))
    return std::nullopt;
  std::size_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// "<20 digits>-<64 hex>.blk" -> (height, digest).
std::optional<std::pair<std::uint64_t, Hash>> parse_earlier_name(std::string_view name) {
  if (!ends_with(name, kEarlierSuffix) ||
      name.size() != kHeightDigits + 1 + 64 + kEarlierSuffix.size() || name[kHeightDigits] != '-')
    return std::nullopt;
  std::uint64_t height = 0;
  for (std::size_t i = 0; i < kHeightDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(name[i] - '0');
    if (height > (UINT64_MAX - digit) / 10) return std::nullopt;
    height = height * 10 + digit;
  }
  auto digest = hash_from_hex(name.substr(kHeightDigits + 1, 64));
  if (!digest) return std::nullopt;
  return std::make_pair(height, *digest);
}

std::uint32_t read_be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | static_cast<std::uint32_t>(p[3]);
}

}  // namespace

std::string PendingBlocks::slot_path(std::size_t slot) const {
  return (fs::path(dir_) / (std::string(kSlotPrefix) + std::to_string(slot))).string();
}

std::optional<PendingBlocks::Record> PendingBlocks::parse_record(ByteView bytes) {
  const std::size_t head_size = head_bytes();
  if (bytes.size() < head_size + kCrcBytes) return std::nullopt;
  auto head = ledger::decode<PendingSlotHead>(bytes.first(head_size));
  if (!head || head->block_bytes > PendingBlock::kPendingBlockBytesMax) return std::nullopt;
  const std::size_t covered = head_size + head->block_bytes;
  if (bytes.size() - kCrcBytes < covered) return std::nullopt;
  if (read_be32(bytes.data() + covered) != consensus::crc32c(bytes.first(covered)))
    return std::nullopt;
  return Record{*head, bytes.subspan(head_size, head->block_bytes)};
}

Result<PendingBlocks> PendingBlocks::open(consensus::FsEnv& env, std::string dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot create " + dir + ": " + ec.message());
  PendingBlocks pb(env, std::move(dir));
  std::vector<std::size_t> slots;
  std::vector<std::string> earlier;
  for (const auto& e : fs::directory_iterator(pb.dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (ends_with(name, kEarlierTempSuffix)) {
      // An interrupted put of the earlier layout: never renamed, never voted on.
      if (Status st = env.remove(e.path().string()); !st.is_ok()) return st;
    } else if (auto slot = parse_slot_name(name)) {
      slots.push_back(*slot);
    } else if (parse_earlier_name(name)) {
      earlier.push_back(name);
    }
  }
  if (ec) return Status::error("IO_ERROR", "cannot list " + pb.dir_ + ": " + ec.message());
  for (std::size_t slot : slots) {
    if (slot >= pb.slot_file_.size()) {
      pb.slot_file_.resize(slot + 1, false);
      pb.slot_used_.resize(slot + 1, false);
    }
    pb.slot_file_[slot] = true;
    auto bytes = env.read_all(pb.slot_path(slot), record_bytes_max() + 1);
    // A slot file longer than any record holds something else: free.
    if (!bytes && bytes.status().code() == "FILE_TOO_LARGE") continue;
    if (!bytes) return bytes.status();
    auto record = parse_record(*bytes);
    if (!record) continue;  // empty, or a put a crash interrupted: never voted on
    const auto key = std::make_pair(record->head.height, record->head.digest);
    if (pb.stored_.count(key)) continue;  // the same block twice (never so in use)
    pb.stored_.emplace(key, slot);
    pb.slot_used_[slot] = true;
  }
  std::sort(earlier.begin(), earlier.end());
  for (const std::string& name : earlier) EMLEDGER_TRY(pb.migrate_earlier_file(name));
  if (!earlier.empty()) EMLEDGER_TRY(env.sync_dir(pb.dir_));
  return pb;
}

// A block file of the earlier layout: put into a slot (synced) if it is the
// block its name says, then removed either way.
Status PendingBlocks::migrate_earlier_file(const std::string& name) {
  const auto [height, digest] = *parse_earlier_name(name);
  const std::string path = (fs::path(dir_) / name).string();
  auto bytes = fs_->read_all(path, PendingBlock::kPendingBlockBytesMax + 1024);
  if (!bytes && bytes.status().code() != "FILE_TOO_LARGE") return bytes.status();
  bool whole = false;
  if (bytes) {
    if (auto pb = ledger::decode<PendingBlock>(*bytes)) {
      auto b = ledger::decode<ledger::Block>(pb->block);
      if (b && b->header.hash() == digest && b->header.height == height) {
        EMLEDGER_TRY(put(digest, height, pb->parent_view, pb->block));
        whole = true;
      }
    }
  }
  if (!whole) log_line("removing " + path + ": not the block its name says");
  return fs_->remove(path);
}

Status PendingBlocks::put(const Hash& digest, std::uint64_t height, std::uint64_t parent_view,
                          ByteView encoded) {
  EMLEDGER_ASSERT(encoded.size() <= PendingBlock::kPendingBlockBytesMax);
  const auto key = std::make_pair(height, digest);
  if (stored_.count(key)) return Status::ok();
  std::size_t slot = 0;
  while (slot < slot_used_.size() && slot_used_[slot]) ++slot;
  if (slot == slot_used_.size()) {
    slot_used_.push_back(false);
    slot_file_.push_back(false);
  }
  // The record is written as its head, the block's bytes in place (a block
  // of megabytes is not copied once more) and the CRC of both.
  const Bytes head = ledger::encode(
      PendingSlotHead{height, digest, parent_view, static_cast<std::uint32_t>(encoded.size())});
  std::uint32_t crc = consensus::crc32c(head);
  crc = consensus::crc32c_extend(crc, encoded);
  const std::uint8_t tail[kCrcBytes] = {
      static_cast<std::uint8_t>(crc >> 24), static_cast<std::uint8_t>(crc >> 16),
      static_cast<std::uint8_t>(crc >> 8), static_cast<std::uint8_t>(crc)};
  const std::string path = slot_path(slot);
  {
    auto file = fs_->open_overwrite(path);
    if (!file) return file.status();
    EMLEDGER_TRY((*file)->append(head));
    EMLEDGER_TRY((*file)->append(encoded));
    EMLEDGER_TRY((*file)->append(ByteView(tail, kCrcBytes)));
    EMLEDGER_TRY((*file)->sync());
  }
  if (!slot_file_[slot]) {
    EMLEDGER_TRY(fs_->sync_dir(dir_));
    slot_file_[slot] = true;
  }
  slot_used_[slot] = true;
  stored_.emplace(key, slot);
  return Status::ok();
}

Result<std::vector<PendingBlocks::Entry>> PendingBlocks::load_above(std::uint64_t height) {
  std::vector<Entry> out;
  std::vector<std::pair<std::uint64_t, Hash>> bad;
  EMLEDGER_ASSERT(height < UINT64_MAX);
  for (auto it = stored_.lower_bound({height + 1, Hash{}}); it != stored_.end(); ++it) {
    auto bytes = fs_->read_all(slot_path(it->second), record_bytes_max() + 1);
    if (!bytes) return bytes.status();
    std::optional<Entry> entry;
    if (auto record = parse_record(*bytes); record && record->head.height == it->first.first &&
                                            record->head.digest == it->first.second) {
      auto b = ledger::decode<ledger::Block>(record->block);
      if (b && b->header.hash() == it->first.second && b->header.height == it->first.first)
        entry = Entry{it->first.second, record->head.parent_view, std::move(*b)};
    }
    if (!entry) {
      bad.push_back(it->first);
      continue;
    }
    out.push_back(std::move(*entry));
  }
  for (const auto& key : bad) {
    const std::size_t slot = stored_.at(key);
    log_line("freeing " + slot_path(slot) + ": its record is not the block at height " +
             std::to_string(key.first) + " with header hash " + to_hex(key.second));
    slot_used_[slot] = false;
    stored_.erase(key);
  }
  return out;
}

void PendingBlocks::prune_through(std::uint64_t height) {
  for (auto it = stored_.begin(); it != stored_.end() && it->first.first <= height;) {
    slot_used_[it->second] = false;
    it = stored_.erase(it);
  }
}

}  // namespace emledger::node
