// The in-place upgrades of a store from format 2 to format 3 (ADR 029,
// docs/formats/storage.md): the transaction log from one entry per node to
// tiles (docs/formats/merkle_log.md), and the flat index of the head state
// from value hashes to hashes followed by the values; and from format 3 to
// format 4 (ADR 032): the flat index to the values alone.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "emledger/crypto/result.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::ledger::detail {

// Writes the tiles of a format 2 store's log of `log_size` leaves from its
// per-node entries ('l') and checks that they give `log_root`; writes each
// flat index entry ('s' + key -> value hash) again with its value (from
// 'v' + hash) after the hash; then writes the format entry (3) in a synced
// batch and erases the per-node log entries. Everything before the format
// entry can be done again: a crash before it leaves a format 2 store (some
// flat index entries possibly rewritten, which the next attempt recognizes)
// that the next open upgrades again; a crash after it leaves per-node
// entries that erase_per_node_log_entries removes. The 'v' entries of the
// head's values stay: they cost space, not correctness. Errors:
// STORAGE_CORRUPT (a log node missing or not 32 bytes, a root that is not
// `log_root`, a value missing or not matching its hash; the format entry
// then stays 2), STORAGE_ERROR. `progress`, when set, is told what the
// upgrade does: a line as it starts, as each step ends, and after every
// kUpgradeProgressEvery log leaves or flat index entries.
using UpgradeProgress = std::function<void(const std::string&)>;
constexpr std::uint64_t kUpgradeProgressEvery = 1 << 20;
Status upgrade_from_format_2(KvStore& store, std::uint64_t log_size, const Hash& log_root,
                             const UpgradeProgress& progress);

// Writes each flat index entry ('s' + key -> value hash, then the value)
// again as the value alone, after checking the hash, in unsynced batches of
// kBatchEntries; each batch also writes the mark 'U' -> the last key it
// rewrote. The last batch writes the format entry (4) and erases the mark,
// synced. A crash leaves a format 3 store whose entries up to the mark are
// rewritten: the next open goes on after the mark. Errors: STORAGE_CORRUPT
// (an entry whose value does not match its hash, or shorter than a hash; the
// format entry then stays 3), STORAGE_ERROR. `progress` as above.
Status upgrade_from_format_3(KvStore& store, const UpgradeProgress& progress);

// Erases every per-node log entry ('l') the store still holds: none unless an
// upgrade stopped between its format entry and the end of its erases. One
// seek when there are none. Errors: STORAGE_ERROR.
Status erase_per_node_log_entries(KvStore& store);

}  // namespace emledger::ledger::detail
