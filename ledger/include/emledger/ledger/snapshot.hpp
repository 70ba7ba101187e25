// State snapshots (design.md section 8; docs/formats/snapshot.md; ADR 017):
// the ledger at one final height, in a stream that a new node verifies
// against its genesis alone and imports without replaying history.
//
// A snapshot is a sequence of frames (u32 big-endian length, then one
// canonical encoding). In order:
//   1. SnapshotManifest: the genesis hash, the header of height S and its
//      finality proof.
//   2. SnapshotHeaders: the headers of the replay window, heights
//      max(1, S - W) .. S - 1, where the window W is kTxLifetimeBlocksMax
//      (tests write smaller windows to reach its edge; an importer refuses
//      any window below the one it requires).
//   3. SnapshotLeaves: every leaf hash of the transaction log, in order.
//   4. SnapshotState: every state key and value, in strictly increasing key
//      order; each frame is followed by a SnapshotTxs frame with the
//      transactions that anchor the records and grants it holds (those
//      committed at height S - W or below; later ones come in 5).
//   5. SnapshotBlockTxs: the transactions of every block of the window,
//      heights max(1, S - W + 1) .. S (when S > W, the header of S - W
//      in 2 gives the log size where the window starts).
//   6. SnapshotEnd: the counts of what came before.
//
// Everything is checked against the header of height S, whose finality is
// checked under the validator set in force at S, which the manifest's
// succession proves from the genesis set (and which must be the set the
// snapshot's state names): the headers form a parent chain ending
// at S; the leaves give S's log root; the state gives S's state root; each
// window block's transactions give its header's payload digest and sit at
// the log positions its header's log sizes say; each anchor transaction is
// the leaf at its position and the one its record or grant names. So a
// snapshot served by a lying peer is refused, and the window gives the
// importer every committed transaction that could still be replayed
// (expiry at most kTxLifetimeBlocksMax above the height that includes it).
//
// What a restored store does not hold: headers, blocks, certificates and
// state roots below S (Ledger::base_height() says where its history starts)
// and transactions outside the window other than anchors. Everything else
// (state, state proofs at S and later, every log inclusion and consistency
// proof, proof bundles of every record, holder and access listings) is as on
// a node that executed every block.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/finality.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/store.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::ledger {

// The largest frame: one window block's transactions with room to spare.
inline constexpr std::size_t kSnapshotFrameBytesMax = 40u << 20;
static_assert(kBlockTxsMax * (kTxBytesMax + 4) + (1u << 20) <= kSnapshotFrameBytesMax);
// Items per frame of the repeated sections (the writer's chunking; a reader
// accepts up to these).
inline constexpr std::size_t kSnapshotHeadersPerFrame = 1024;
inline constexpr std::size_t kSnapshotLeavesPerFrame = 16384;
inline constexpr std::size_t kSnapshotStatePerFrame = 1024;
inline constexpr std::size_t kSnapshotAnchorsPerFrame = 2 * kSnapshotStatePerFrame;

// Version 2 added `succession` (docs/validator-set-changes.md); a version 1
// manifest is refused (SNAPSHOT_INVALID).
struct SnapshotManifest {
  static constexpr std::string_view kDomain = "emledger.snapshot.manifest";
  static constexpr std::uint8_t kVersion = 2;
  Hash genesis_hash{};
  // W: how many blocks below S the snapshot carries whole (>= 1).
  std::uint64_t window = kTxLifetimeBlocksMax;
  BlockHeader header;      // height S >= 1
  FinalityProof finality;  // makes `header` final under the set in force at S
  // Every validator-set change at heights up to S: what judges `header`,
  // and what the restored store keeps for changes below its base.
  Succession succession;
  template <class V>
  void describe(V& v) {
    v.fixed(genesis_hash);
    v.u64(window);
    v.object(header);
    v.object(finality);
    v.object(succession);
  }
};

struct SnapshotHeaders {
  static constexpr std::string_view kDomain = "emledger.snapshot.headers";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<BlockHeader> headers;  // consecutive heights, ascending
  template <class V>
  void describe(V& v) {
    v.list(headers, kSnapshotHeadersPerFrame);
  }
};

struct SnapshotLeaves {
  static constexpr std::string_view kDomain = "emledger.snapshot.leaves";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<Hash> leaves;
  template <class V>
  void describe(V& v) {
    v.hash_list(leaves, kSnapshotLeavesPerFrame);
  }
};

struct SnapshotStateEntry {
  static constexpr std::string_view kDomain = "emledger.snapshot.state-entry";
  static constexpr std::uint8_t kVersion = 1;
  Bytes key;
  Bytes value;
  template <class V>
  void describe(V& v) {
    v.bytes(key, kStateKeyBytesMax);
    v.bytes(value, kStateValueBytesMax);
  }
};

struct SnapshotState {
  static constexpr std::string_view kDomain = "emledger.snapshot.state";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<SnapshotStateEntry> entries;
  template <class V>
  void describe(V& v) {
    v.list(entries, kSnapshotStatePerFrame);
  }
};

// Anchor transactions, each with its position (TxEntry: height, index in
// block, log index, bytes).
struct SnapshotTxs {
  static constexpr std::string_view kDomain = "emledger.snapshot.txs";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<TxEntry> txs;
  template <class V>
  void describe(V& v) {
    v.list(txs, kSnapshotAnchorsPerFrame);
  }
};

struct SnapshotBlockTxs {
  static constexpr std::string_view kDomain = "emledger.snapshot.block-txs";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t height = 0;
  std::vector<Bytes> txs;  // encode(Tx) each, in block order
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.bytes_list(txs, kBlockTxsMax, kTxBytesMax);
  }
};

struct SnapshotEnd {
  static constexpr std::string_view kDomain = "emledger.snapshot.end";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t headers = 0;
  std::uint64_t leaves = 0;
  std::uint64_t state_entries = 0;
  std::uint64_t anchor_txs = 0;
  std::uint64_t window_txs = 0;
  template <class V>
  void describe(V& v) {
    v.u64(headers);
    v.u64(leaves);
    v.u64(state_entries);
    v.u64(anchor_txs);
    v.u64(window_txs);
  }
};

// What a snapshot holds (the writer's and the importer's summary).
struct SnapshotInfo {
  std::uint64_t height = 0;  // S
  Hash header_hash{};
  std::uint64_t window = 0;
  std::uint64_t window_first = 0;  // lowest height whose header the snapshot carries
  SnapshotEnd counts;
  std::uint64_t bytes = 0;  // frames included
};

// Receives the snapshot's bytes in order; an error stops the writer.
using SnapshotSink = std::function<Status(ByteView)>;

// Supplies the snapshot's bytes: fills `out` completely and returns its
// size, or returns fewer bytes only at the end of the stream.
using SnapshotSource = std::function<Result<std::size_t>(std::span<std::uint8_t> out)>;

// Writes a snapshot of `ledger` at its head, read through one consistent
// view of the store (commits may continue meanwhile), with a replay window
// of `window` blocks. Errors: NO_BLOCKS at height 0 (nothing to snapshot),
// SNAPSHOT_UNAVAILABLE for a restored ledger whose history does not yet
// cover a window, STORAGE_*, or the sink's error.
Result<SnapshotInfo> write_snapshot(const Ledger& ledger, const SnapshotSink& sink,
                                    std::uint64_t window = kTxLifetimeBlocksMax);

// Verifies the snapshot read from `in` against `genesis` and writes what a
// ledger at its height holds into `target`, which must be empty. `scratch`
// is an empty store the import uses to sort the state by tree path; the
// caller discards it afterwards. Writes to `target` are unsynced except the
// last one, which stores the genesis and the head: until it lands, `target`
// holds no ledger (Ledger::open would take it for a fresh store only if it
// were empty, so the caller must import into a new directory and move it
// into place after success). Errors: SNAPSHOT_INVALID (naming the first
// check that failed; also a window below `window_min`, which would let a
// replayed transaction through; also a broken or incomplete succession),
// SNAPSHOT_TRUNCATED, CERT_* from the finality checks, STORAGE_*, or the
// source's error. The succession's changes are stored in `target` (local
// keys, docs/formats/storage.md), so Ledger::succession() answers for
// changes below the base.
Result<SnapshotInfo> import_snapshot(const SnapshotSource& in, const Genesis& genesis,
                                     KvStore& target, KvStore& scratch,
                                     std::uint64_t window_min = kTxLifetimeBlocksMax);

}  // namespace emledger::ledger
