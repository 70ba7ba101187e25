// The serving side of snapshot fetch (snapshot_fetch.hpp; docs/node.md,
// "Joining from a snapshot"): snapshot files of this validator's ledger in
// DATA/snapshots, written on a background thread when a joiner first asks,
// and served in byte ranges.
//
// Kept out of Validator: the validator only hands it the requests it
// receives and sends back the answers; the files, the writer thread and the
// pacing live here.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "emledger/crypto/result.hpp"
#include "emledger/ledger/ledger.hpp"
#include "snapshot_fetch.hpp"

namespace emledger::node {

struct SnapshotServerOptions {
  std::string dir;  // DATA/snapshots: emptied at open
  // A new snapshot is written when a download starts and the newest file is
  // more than this many blocks below the head.
  std::uint64_t reuse_blocks_max = kSnapshotReuseBlocksMax;
  std::uint64_t serve_interval_ms = kSnapshotServeIntervalMs;
  // After a failed write (for example SNAPSHOT_UNAVAILABLE: a ledger itself
  // restored from a snapshot has too little history to write one), no new
  // one is tried for this long, and requests get "unavailable".
  std::uint64_t retry_after_failure_ms = 60'000;
};

struct SnapshotServerStats {
  std::uint64_t files_written = 0;
  std::uint64_t write_failures = 0;
  std::uint64_t chunks_served = 0;
  std::uint64_t requests_dropped = 0;  // faster than the serve interval
};

class SnapshotServer {
 public:
  // Creates (or empties) the directory. `ledger` must outlive the server.
  // Errors: IO_ERROR.
  static Result<std::unique_ptr<SnapshotServer>> open(const ledger::Ledger& ledger,
                                                      SnapshotServerOptions options);
  ~SnapshotServer();  // stop()s

  // The answer to `req` from `peer` (a validator index) at `now_ms`
  // (monotonic), or nullopt when the request is dropped: the peer asked again
  // within the serve interval. May start the background write (at most one
  // at a time). Reads the chunk from the file (up to kSnapshotChunkBytesMax).
  // Thread safe.
  std::optional<SnapshotChunk> serve(std::size_t peer, const SnapshotRequest& req,
                                     std::uint64_t now_ms);

  // Cancels a write in progress and joins its thread. Idempotent.
  void stop();

  SnapshotServerStats stats() const;

 private:
  // One finished snapshot file, open for reading. Shared so that a file
  // dropped from files_ stays readable by a serve() that holds it.
  struct File {
    std::uint64_t height = 0;
    Hash header_hash{};
    std::uint64_t total_bytes = 0;
    std::string path;
    int fd = -1;
    ~File();
  };

  SnapshotServer(const ledger::Ledger& ledger, SnapshotServerOptions options);
  // With mu_ held: whether a write should start for this request.
  std::uint64_t last_change_height() const;
  bool write_wanted(const SnapshotRequest& req, std::uint64_t now_ms) const;
  void start_write(std::uint64_t now_ms);    // mu_ held
  void write_one(std::uint64_t started_ms);  // the writer thread
  static std::optional<SnapshotChunk> read_chunk(const File& f, std::uint64_t offset);

  const ledger::Ledger& ledger_;
  const SnapshotServerOptions options_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;                    // guards everything below
  std::deque<std::shared_ptr<File>> files_;  // oldest first, at most kSnapshotFilesKept
  bool writing_ = false;
  std::optional<std::uint64_t> failed_ms_;  // when the last write failed
  std::thread writer_;
  std::map<std::size_t, std::uint64_t> served_ms_;  // by peer
  SnapshotServerStats stats_;
};

}  // namespace emledger::node
