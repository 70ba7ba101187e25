#include "pending_blocks.hpp"

#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

#include "emledger/crypto/hex.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSuffix = ".blk";
constexpr std::string_view kTempSuffix = ".blk.tmp";
constexpr std::size_t kHeightDigits = 20;  // every u64

void log_line(const std::string& line) {
  std::fprintf(stderr, "emledger-node: pending blocks: %s\n", line.c_str());
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "<20 digits>-<64 hex>.blk" -> (height, digest).
std::optional<std::pair<std::uint64_t, Hash>> parse_name(std::string_view name) {
  if (!ends_with(name, kSuffix) || name.size() != kHeightDigits + 1 + 64 + kSuffix.size() ||
      name[kHeightDigits] != '-')
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

}  // namespace

std::string PendingBlocks::path_of(std::uint64_t height, const Hash& digest) const {
  std::string h = std::to_string(height);
  h.insert(0, kHeightDigits - h.size(), '0');
  return (fs::path(dir_) / (h + "-" + to_hex(digest) + std::string(kSuffix))).string();
}

Result<PendingBlocks> PendingBlocks::open(consensus::FsEnv& env, std::string dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot create " + dir + ": " + ec.message());
  PendingBlocks pb(env, std::move(dir));
  for (const auto& e : fs::directory_iterator(pb.dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (ends_with(name, kTempSuffix)) {
      // An interrupted put: never renamed, so never voted on.
      if (Status st = env.remove(e.path().string()); !st.is_ok()) return st;
      continue;
    }
    if (auto parsed = parse_name(name)) pb.names_.insert(*parsed);
  }
  if (ec) return Status::error("IO_ERROR", "cannot list " + pb.dir_ + ": " + ec.message());
  return pb;
}

Status PendingBlocks::put(const Hash& digest, std::uint64_t height, std::uint64_t parent_view,
                          ByteView encoded) {
  EMLEDGER_ASSERT(encoded.size() <= PendingBlock::kPendingBlockBytesMax);
  if (names_.count({height, digest})) return Status::ok();
  const std::string path = path_of(height, digest);
  const std::string temp = path + ".tmp";
  if (auto there = fs_->exists(temp); there && *there) EMLEDGER_TRY(fs_->remove(temp));
  // encode(PendingBlock{parent_view, encoded}), written as its head and then
  // the block's bytes in place, so that a block of megabytes is not copied
  // once more. The head is the encoding's up to the block's bytes: the tag,
  // parent_view, and the length that Encoder::bytes puts before them.
  ledger::Encoder head;
  head.tag(PendingBlock::kDomain, PendingBlock::kVersion);
  head.u64(parent_view);
  head.u32(static_cast<std::uint32_t>(encoded.size()));
  auto file = fs_->create(temp);
  if (!file) return file.status();
  EMLEDGER_TRY((*file)->append(head.out()));
  EMLEDGER_TRY((*file)->append(encoded));
  EMLEDGER_TRY((*file)->sync());
  file->reset();
  EMLEDGER_TRY(fs_->rename(temp, path));
  EMLEDGER_TRY(fs_->sync_dir(dir_));
  names_.insert({height, digest});
  return Status::ok();
}

Result<std::vector<PendingBlocks::Entry>> PendingBlocks::load_above(std::uint64_t height) {
  std::vector<Entry> out;
  std::vector<std::pair<std::uint64_t, Hash>> bad;
  EMLEDGER_ASSERT(height < UINT64_MAX);
  for (auto it = names_.lower_bound({height + 1, Hash{}}); it != names_.end(); ++it) {
    const std::string path = path_of(it->first, it->second);
    auto bytes = fs_->read_all(path, PendingBlock::kPendingBlockBytesMax + 1024);
    if (!bytes) return bytes.status();
    auto pb = ledger::decode<PendingBlock>(*bytes);
    std::optional<ledger::Block> block;
    if (pb) {
      auto b = ledger::decode<ledger::Block>(pb->block);
      if (b && b->header.hash() == it->second && b->header.height == it->first) block = *b;
    }
    if (!block) {
      bad.push_back(*it);
      continue;
    }
    out.push_back(Entry{it->second, pb->parent_view, std::move(*block)});
  }
  for (const auto& b : bad) {
    log_line("removing " + path_of(b.first, b.second) + ": not the block its name says");
    (void)fs_->remove(path_of(b.first, b.second));
    names_.erase(b);
  }
  return out;
}

// The removals are not synced on purpose: a name that comes back after a
// crash is a committed block, pruned again after the next commit.
void PendingBlocks::prune_through(std::uint64_t height) {
  for (auto it = names_.begin(); it != names_.end() && it->first <= height;) {
    if (Status st = fs_->remove(path_of(it->first, it->second)); !st.is_ok()) {
      log_line("cannot remove a committed block's file: " + st.to_string());
      return;
    }
    it = names_.erase(it);
  }
}

}  // namespace emledger::node
