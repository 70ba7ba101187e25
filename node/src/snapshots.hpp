// Snapshot files of a node (docs/node.md, "Snapshots"; the stream itself is
// the kernel's: emledger/ledger/snapshot.hpp, docs/formats/snapshot.md).
//
// A snapshot file is the exact byte stream write_snapshot() gives, nothing
// around it: it verifies itself against the genesis, so it can be copied,
// served to a joining validator (snapshot_fetch.hpp) or restored by an
// operator without trusting where it came from.
//
// Restoring never touches DATA/db until the import has succeeded: it imports
// into DATA/db.import (with DATA/snapshot-sort as the kernel's scratch store),
// makes every file of it durable, and renames it to DATA/db. A crash at any
// point leaves either no DATA/db or a complete one; the leftovers of a crash
// (db.import, snapshot-sort) are deleted by the next restore.
#pragma once

#include <functional>
#include <string>

#include "emledger/crypto/result.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::node {

// Paths inside the data directory.
std::string db_path(const std::string& data_dir);             // DATA/db
std::string db_import_path(const std::string& data_dir);      // DATA/db.import
std::string snapshot_sort_path(const std::string& data_dir);  // DATA/snapshot-sort

// True when `db_dir` holds a LevelDB with at least one key: a ledger, which a
// restore must not replace. False when it does not exist or is an empty
// directory. Errors: STORAGE_ERROR (for example locked: a node runs on it).
Result<bool> store_holds_ledger(const std::string& db_dir);

// Writes a snapshot of `ledger` at its head to `path`: into `path`.tmp, which
// is fsynced and renamed to `path`, then the directory is fsynced; on any
// failure the temporary file is removed and `path` is untouched. `cancelled`
// (optional) is asked between frames; true stops the write (CANCELLED).
// Errors: write_snapshot's (NO_BLOCKS at height 0, STORAGE_*), IO_ERROR,
// CANCELLED.
Result<ledger::SnapshotInfo> write_snapshot_file(const ledger::Ledger& ledger,
                                                 const std::string& path,
                                                 const std::function<bool()>& cancelled = {});

// Verifies the snapshot file at `path` against `genesis` and makes it the
// ledger of `data_dir` (DATA/db), as described at the top of this file.
// Errors: LEDGER_EXISTS (DATA/db holds a ledger; nothing is changed),
// SNAPSHOT_FILE_MISSING, the import's (SNAPSHOT_INVALID, SNAPSHOT_TRUNCATED,
// CERT_*: the file does not verify; nothing is left behind), STORAGE_*,
// IO_ERROR.
Result<ledger::SnapshotInfo> restore_snapshot_file(const std::string& path,
                                                   const ledger::Genesis& genesis,
                                                   const std::string& data_dir);

// True for the errors that mean "this snapshot does not verify" (a corrupt
// file, a lying peer), as opposed to usage or I/O errors.
bool is_snapshot_verification_failure(const Status& st);

// `emledger-node snapshot create|restore ...`: argv[0] is "snapshot". Prints
// what it did or why it failed; returns the exit code (0 done, 1 the snapshot
// does not verify, 2 bad usage or input, 3 I/O or storage error).
int snapshot_command(int argc, char** argv);

}  // namespace emledger::node
