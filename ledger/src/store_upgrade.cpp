// The in-place upgrades from formats 2 and 3 (store_upgrade.hpp). Format 2
// keyed each perfect log subtree 'l' + u8 level + u64 index (big-endian) ->
// its 32-byte hash, where the tiles keep those of levels 0, 4, 8, ..., 16 to
// a key; and its flat index held 's' + key -> value hash, with every value
// under 'v' + hash. Format 3 held 's' + key -> value hash, then the value.
#include "store_upgrade.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "keys.hpp"

namespace emledger::ledger::detail {
namespace {

constexpr std::uint8_t kPerNodeLogTag = 'l';
constexpr unsigned kTileHeight = kLogTileHeight;
// Entries written or erased per batch: bounded memory at any log size.
constexpr std::size_t kBatchEntries = 1 << 14;

Bytes per_node_key(unsigned level, std::uint64_t index) {
  Bytes k{kPerNodeLogTag, static_cast<std::uint8_t>(level)};
  for (int shift = 56; shift >= 0; shift -= 8)
    k.push_back(static_cast<std::uint8_t>(index >> shift));
  return k;
}

Status corrupt(const std::string& what) {
  return Status::error("STORAGE_CORRUPT", "upgrading the store from format 2: " + what);
}

// A format 3 flat index entry: the value's SHA-256, then the value, which
// must agree. Returns the value. Errors: STORAGE_CORRUPT.
Result<Bytes> parse_format_3_entry(ByteView entry, std::uint8_t from) {
  if (entry.size() < kHashSize || entry.size() - kHashSize > kStateValueBytesMax)
    return Status::error("STORAGE_CORRUPT", "upgrading the store from format " +
                                                std::to_string(from) + ": a flat index entry of " +
                                                std::to_string(entry.size()) + " bytes");
  Bytes value(entry.begin() + kHashSize, entry.end());
  const Hash h = crypto::sha256(value);
  if (!std::equal(h.begin(), h.end(), entry.begin()))
    return Status::error("STORAGE_CORRUPT", "upgrading the store from format " +
                                                std::to_string(from) +
                                                ": a flat index entry's value does not match "
                                                "its hash");
  return value;
}

// Writes `batch` (unsynced) and starts a new one once it holds
// kBatchEntries puts: bounded memory at any ledger size.
Status write_when_full(KvStore& store, WriteBatch& batch) {
  if (batch.size() < kBatchEntries) return Status::ok();
  Status st = store.write(batch, /*sync=*/false);
  batch = WriteBatch();
  return st;
}

// Node `index` of the level of tile level t >= 1 must be the root of tile
// (t - 1, index), already written: so every per-node entry the tiles keep is
// checked against the level below, not only those the log's root covers.
Status check_against_level_below(KvStore& store, unsigned tile_level, std::uint64_t index,
                                 ByteView node) {
  auto below = store.get(log_tile_key(static_cast<std::uint8_t>(tile_level - 1), index));
  if (!below) return below.status();
  if (!below->has_value()) return corrupt("a tile below a higher node is missing");
  auto hashes = log_tile_hashes(**below);
  if (!hashes) return corrupt(hashes.status().message());
  if (hashes->size() != kLogTileWidth) return corrupt("a tile below a higher node is not whole");
  const Hash root = log_perfect_root(*hashes);
  if (!std::equal(root.begin(), root.end(), node.begin(), node.end()))
    return corrupt("log node (level " + std::to_string(tile_level * kTileHeight) + ", index " +
                   std::to_string(index) + ") is not the root of the nodes below it");
  return Status::ok();
}

void tell(const UpgradeProgress& progress, const std::string& line) {
  if (progress) progress(line);
}

// Writes the tiles of one tile level from the per-node entries of its level.
Status write_tile_level(KvStore& store, unsigned tile_level, std::uint64_t nodes,
                        const UpgradeProgress& progress) {
  const unsigned level = tile_level * kTileHeight;
  const Bytes start = per_node_key(level, 0);
  const ByteView prefix(start.data(), 2);
  std::uint64_t next = 0;
  Bytes tile;
  WriteBatch batch;
  Status st;
  auto flush_tile = [&] {
    batch.put(log_tile_key(static_cast<std::uint8_t>(tile_level), (next - 1) / kLogTileWidth),
              tile);
    tile.clear();
  };
  Status scan = store.scan(prefix, start, [&](ByteView k, ByteView v) {
    if (next == nodes) return false;
    if (Bytes(k.begin(), k.end()) != per_node_key(level, next)) {
      st = corrupt("log node (level " + std::to_string(level) + ", index " + std::to_string(next) +
                   ") is missing");
      return false;
    }
    if (v.size() != kHashSize) {
      st = corrupt("log node (level " + std::to_string(level) + ", index " + std::to_string(next) +
                   ") is not 32 bytes");
      return false;
    }
    if (tile_level > 0) {  // the level below was written by the call before
      st = check_against_level_below(store, tile_level, next, v);
      if (!st.is_ok()) return false;
    }
    tile.insert(tile.end(), v.begin(), v.end());
    ++next;
    if (next % kLogTileWidth == 0) flush_tile();
    if (tile_level == 0 && next % kUpgradeProgressEvery == 0)
      tell(progress,
           "log: " + std::to_string(next) + " of " + std::to_string(nodes) + " leaves in tiles");
    st = write_when_full(store, batch);
    return st.is_ok();
  });
  EMLEDGER_TRY(scan);
  EMLEDGER_TRY(st);
  if (next != nodes)
    return corrupt("level " + std::to_string(level) + " holds " + std::to_string(next) +
                   " nodes, not the " + std::to_string(nodes) + " of the head's log size");
  if (!tile.empty()) flush_tile();
  return store.write(batch, /*sync=*/false);
}

// Writes each flat index entry that holds only its value's hash again with
// the value after it; an entry that holds its value already (from an attempt
// a crash cut short) is checked and left.
Status inline_flat_index_values(KvStore& store, const UpgradeProgress& progress) {
  const Bytes prefix{kKeyStateIndex};
  WriteBatch batch;
  Status st;
  std::uint64_t seen = 0;
  Status scan = store.scan(prefix, prefix, [&](ByteView k, ByteView v) {
    if (++seen % kUpgradeProgressEvery == 0)
      tell(progress, "flat index: " + std::to_string(seen) + " entries done");
    if (v.size() != kHashSize) {
      auto entry = parse_format_3_entry(v, 2);
      st = entry.status();
      return st.is_ok();
    }
    Hash h;
    std::copy(v.begin(), v.end(), h.begin());
    auto value = load_replaced_state_value(store, h);  // format 2 kept every value there
    if (!value) {
      st = value.status();
      return false;
    }
    Bytes entry(v.begin(), v.end());
    entry.insert(entry.end(), value->begin(), value->end());
    batch.put(k, entry);
    st = write_when_full(store, batch);
    return st.is_ok();
  });
  EMLEDGER_TRY(scan);
  EMLEDGER_TRY(st);
  EMLEDGER_TRY(store.write(batch, /*sync=*/false));
  tell(progress, "flat index: " + std::to_string(seen) + " entries hold their values");
  return Status::ok();
}

}  // namespace

Status upgrade_from_format_2(KvStore& store, std::uint64_t log_size, const Hash& log_root,
                             const UpgradeProgress& progress) {
  tell(progress,
       "upgrading the store from format 2 to format 3 in place (ADR 029, ADR 030), "
       "once: the log's " +
           std::to_string(log_size) +
           " leaves into tiles, then every flat index entry with its value");
  for (unsigned t = 0; t * kTileHeight < 64 && (log_size >> (t * kTileHeight)) != 0; ++t)
    EMLEDGER_TRY(write_tile_level(store, t, log_size >> (t * kTileHeight), progress));
  auto root = MerkleLog(store).root(log_size);
  if (!root) return corrupt(root.status().message());
  if (*root != log_root) return corrupt("the tiles do not give the head's log root");
  tell(progress, "log: " + std::to_string(log_size) + " leaves in tiles, root checked");
  EMLEDGER_TRY(inline_flat_index_values(store, progress));
  WriteBatch format;
  format.put(Bytes{kKeyFormat}, Bytes{3});
  EMLEDGER_TRY(store.write(format, /*sync=*/true));
  tell(progress, "format 3 written; erasing the per-node log entries");
  EMLEDGER_TRY(erase_per_node_log_entries(store));
  tell(progress, "upgrade to format 3 done");
  return Status::ok();
}

Status upgrade_from_format_3(KvStore& store, const UpgradeProgress& progress) {
  const Bytes prefix{kKeyStateIndex};
  Bytes from = prefix;
  auto mark = store.get(Bytes{kKeyUpgradeMark});
  if (!mark) return mark.status();
  if (mark->has_value()) {
    // Every entry up to the mark is rewritten already: go on after it.
    if ((*mark)->empty() || (**mark)[0] != kKeyStateIndex)
      return Status::error("STORAGE_CORRUPT",
                           "upgrading the store from format 3: a bad mark of progress");
    from = std::move(**mark);
    from.push_back(0);  // the next key after the mark
  }
  tell(progress, std::string(mark->has_value() ? "going on with" : "starting") +
                     " the upgrade of the store from format 3 to format 4 in place (ADR 032), "
                     "once: every flat index entry without its value's hash");
  WriteBatch batch;
  Bytes last;
  Status st;
  std::uint64_t rewritten = 0;
  // Each batch carries the mark of its last key, so that a crash between
  // batches leaves a store the next open goes on with.
  auto flush = [&]() -> Status {
    batch.put(Bytes{kKeyUpgradeMark}, last);
    Status s = store.write(batch, /*sync=*/false);
    batch = WriteBatch();
    return s;
  };
  Status scan = store.scan(prefix, from, [&](ByteView k, ByteView v) {
    auto value = parse_format_3_entry(v, 3);
    if (!value) {
      st = value.status();
      return false;
    }
    last.assign(k.begin(), k.end());
    batch.put(last, *value);
    if (++rewritten % kUpgradeProgressEvery == 0)
      tell(progress, "flat index: " + std::to_string(rewritten) + " entries done");
    if (batch.size() >= kBatchEntries) st = flush();
    return st.is_ok();
  });
  EMLEDGER_TRY(scan);
  EMLEDGER_TRY(st);
  // The last entries, the format and the end of the mark in one synced batch.
  batch.put(Bytes{kKeyFormat}, Bytes{kStoreFormat});
  batch.erase(Bytes{kKeyUpgradeMark});
  EMLEDGER_TRY(store.write(batch, /*sync=*/true));
  tell(progress, "flat index: " + std::to_string(rewritten) +
                     " entries rewritten; format 4 written, upgrade done");
  return Status::ok();
}

Status erase_per_node_log_entries(KvStore& store) {
  const Bytes prefix{kPerNodeLogTag};
  Bytes from = prefix;
  for (;;) {
    WriteBatch batch;
    Bytes last;
    std::size_t count = 0;
    Status scan = store.scan(prefix, from, [&](ByteView k, ByteView) {
      last.assign(k.begin(), k.end());
      batch.erase(last);
      return ++count < kBatchEntries;
    });
    EMLEDGER_TRY(scan);
    if (last.empty()) return Status::ok();
    EMLEDGER_TRY(store.write(batch, /*sync=*/false));
    from = last;
    from.push_back(0);  // the next key after `last`
  }
}

}  // namespace emledger::ledger::detail
