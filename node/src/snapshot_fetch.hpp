// Snapshot fetch between validators (docs/node.md, "Joining from a
// snapshot"; docs/formats/peer-wire.md, "Snapshot fetch"): a validator whose
// data directory holds no ledger asks a peer for the bytes of a snapshot file
// (snapshots.hpp), one range at a time, and imports it before it starts.
// Carried over PeerTransport beside the consensus messages, told apart by the
// domain tag.
//
// The serving side (snapshot_server.hpp) writes a snapshot of its head to a
// file on a background thread when first asked and then serves byte ranges of
// that immutable file. The joining side (snapshot_join.hpp) verifies the whole
// file against its genesis before it uses any of it, so a peer can only
// withhold a snapshot or waste the joiner's time, never make it adopt a
// ledger the validators did not finalize.
#pragma once

#include <cstdint>
#include <string_view>

#include "emledger/crypto/bytes.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/types.hpp"
#include "peer_transport.hpp"

namespace emledger::node {

// Bytes of the snapshot file in one chunk.
inline constexpr std::size_t kSnapshotChunkBytesMax = 1u << 20;
static_assert(kSnapshotChunkBytesMax + 4096 <= kPeerMessageBytesMax);
// The largest snapshot a joiner downloads; a peer announcing more is passed
// over.
inline constexpr std::uint64_t kSnapshotBytesMax = std::uint64_t{64} << 30;
// The joiner sends at most one request per interval to its peer, so chunks
// arrive at most at 1 MiB / 20 ms = 50 MiB/s, below the rate at which the
// transport disconnects a peer (kPeerBytesPerSecondMax), with room for the
// peer's consensus traffic.
inline constexpr std::uint64_t kSnapshotChunkIntervalMs = 20;
static_assert(kSnapshotChunkBytesMax * (1000 / kSnapshotChunkIntervalMs) + (8u << 20) <=
              kPeerBytesPerSecondMax);
// The server answers one request per peer per interval and drops the others:
// an honest joiner, paced as above, is never dropped.
inline constexpr std::uint64_t kSnapshotServeIntervalMs = 10;
static_assert(kSnapshotServeIntervalMs < kSnapshotChunkIntervalMs);
// A request without an answer after this long is sent again; after
// kSnapshotRetriesPerPeer of those the joiner moves on to another peer.
inline constexpr std::uint64_t kSnapshotRequestTimeoutMs = 5'000;
inline constexpr int kSnapshotRetriesPerPeer = 3;
// A peer still writing its snapshot ("preparing") is asked again after the
// first delay, and passed over after the second.
inline constexpr std::uint64_t kSnapshotPreparingRetryMs = 250;
inline constexpr std::uint64_t kSnapshotPreparingWaitMaxMs = 120'000;
// The server reuses its newest snapshot file while it is at most this many
// blocks below the head; a request that starts a download (height 0,
// offset 0) past that starts a new one. It keeps the newest
// kSnapshotFilesKept files, so a joiner halfway through the previous one can
// finish it.
inline constexpr std::uint64_t kSnapshotReuseBlocksMax = 500;
inline constexpr std::size_t kSnapshotFilesKept = 2;

// What a SnapshotChunk says about the server's snapshot.
enum class SnapshotState : std::uint8_t {
  kReady = 1,        // the fields describe a file, `data` is the asked range
  kPreparing = 2,    // the file is being written: ask again later
  kUnavailable = 3,  // nothing to serve (height 0, or writing failed)
};

struct SnapshotRequest {
  static constexpr std::string_view kDomain = "emledger.peer.snapshot-request";
  static constexpr std::uint8_t kVersion = 1;
  // The height of the snapshot being downloaded; 0 to start one (the
  // server's newest).
  std::uint64_t height = 0;
  std::uint64_t offset = 0;  // first byte wanted
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.u64(offset);
  }
};

struct SnapshotChunk {
  static constexpr std::string_view kDomain = "emledger.peer.snapshot-chunk";
  static constexpr std::uint8_t kVersion = 1;
  std::uint8_t state = 0;  // a SnapshotState; the rest is zero unless kReady
  // The snapshot served: the asked height if the server still has that
  // file, its newest otherwise (the joiner then starts again).
  std::uint64_t height = 0;
  Hash header_hash{};
  std::uint64_t total_bytes = 0;
  std::uint64_t offset = 0;  // the request's
  // Bytes [offset, offset + size) of the file, at most kSnapshotChunkBytesMax
  // and at least one while offset < total_bytes (SnapshotServer sends the
  // maximum, fewer only at the end); empty when offset >= total_bytes.
  Bytes data;
  template <class V>
  void describe(V& v) {
    v.u8(state);
    v.u64(height);
    v.fixed(header_hash);
    v.u64(total_bytes);
    v.u64(offset);
    v.bytes(data, kSnapshotChunkBytesMax);
  }
};

}  // namespace emledger::node
