// The in-place upgrade of a store's transaction log from one entry per node
// (store format 2) to tiles (format 3, ADR 029, docs/formats/merkle_log.md).
#pragma once

#include <cstdint>

#include "emledger/crypto/result.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::ledger::detail {

// Writes the tiles of a format 2 store's log of `log_size` leaves from its
// per-node entries ('l'), checks that they give `log_root`, then writes the
// format entry (3) in a synced batch and erases the per-node entries. The
// tiles and the check come before the format entry, so a crash before it
// leaves a format 2 store that the next open upgrades again; a crash after it
// leaves per-node entries that erase_per_node_log_entries removes. Errors:
// STORAGE_CORRUPT (a node missing or not 32 bytes, or a root that is not
// `log_root`, and then the format entry stays 2), STORAGE_ERROR.
Status upgrade_log_to_tiles(KvStore& store, std::uint64_t log_size, const Hash& log_root);

// Erases every per-node log entry ('l') the store still holds: none unless an
// upgrade stopped between its format entry and the end of its erases. One
// seek when there are none. Errors: STORAGE_ERROR.
Status erase_per_node_log_entries(KvStore& store);

}  // namespace emledger::ledger::detail
