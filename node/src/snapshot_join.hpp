// The joining side of snapshot fetch (snapshot_fetch.hpp; docs/node.md,
// "Joining from a snapshot"): before its Validator exists, a validator with
// no ledger starts a PeerTransport of its own, downloads a snapshot file from
// one peer at a time to DATA/snapshot-download, restores it into DATA/db
// (snapshots.hpp) and stops the transport again. The Validator then starts on
// the restored ledger, and range sync brings it to the network's head.
//
// Running before the validator keeps the two apart: nothing of consensus
// needs to know about a ledger that does not exist yet, and the joiner needs
// nothing of consensus. The cost is one reconnect of the peers when the
// validator's own transport takes over the port.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "config.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "snapshot_fetch.hpp"

namespace emledger::node {

struct JoinOptions {
  std::string data_dir;
  // Empty: this validator's genesis address. Required for a key that is not
  // a genesis validator (a change of set added it): its address in the set
  // in force, where the peers dial it.
  std::string peer_listen;
  unsigned peer_threads = 2;
  std::uint64_t timeout_ms = 600'000;  // the whole join, all peers
  std::uint64_t snapshot_bytes_max = kSnapshotBytesMax;
  // Asked between steps; true ends the join (CANCELLED), e.g. on SIGTERM.
  std::function<bool()> stop_requested;
};

// Fetches a snapshot from the peers and restores it into DATA/db, which must
// hold no ledger. Peers are tried in turn (the next one after a peer that
// does not answer, has nothing to serve, or stays "preparing" too long); a
// download whose import does not verify is deleted, and that peer is tried
// again only after every other one. Errors: JOIN_TIMEOUT (no snapshot
// restored within timeout_ms), CANCELLED, the transport's (PEER_CONFIG_INVALID,
// LISTEN_FAILED), restore_snapshot_file's errors other than a verification
// failure (LEDGER_EXISTS, IO_ERROR, STORAGE_*).
Result<ledger::SnapshotInfo> join_from_snapshot(const Identity& identity,
                                                const JoinOptions& options);

}  // namespace emledger::node
