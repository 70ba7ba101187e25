// Replica: one validator's consensus, with no I/O of its own beyond the
// vote WAL on an FsEnv. Every deployment shares it: the node wraps it with
// sockets, a clock and the ledger; the simulator (tests/sim) with a
// simulated network, time and SimFsEnv.
//
// It owns a Core (the rules), a KeyGuard (the key, and through it the vote
// WAL) and runs every action of the core that is local: a vote to persist
// goes through the key guard (checked against the WAL, appended and synced,
// signed) and comes back to the core signed; a vote to re-sign after a
// restart the same way. What needs the outside world it returns in a
// ReplicaOutput: messages to send, when to be called again, blocks to build,
// check or fetch, final blocks and evidence.
//
// What it sends is the core's alone: the core's rebroadcast carries every
// certificate and own vote a lagging validator could need, a leader's
// proposal the certificates that justify its parent, and a restarted core
// asks for all of its logged votes to be signed again (docs/consensus.md
// sections 4, 6 and 7). The replica adds nothing.
//
// Startup (open): the WAL is opened and replayed (a torn tail cut, any other
// damage refused with WAL_CORRUPT), the logged votes are replayed into the
// core; start() then enters the first view.
//
// Not thread-safe: one thread drives one Replica. Movable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emledger/consensus/core.hpp"
#include "emledger/consensus/fs_env.hpp"
#include "emledger/consensus/key_guard.hpp"
#include "emledger/consensus/verifier.hpp"

namespace emledger::consensus {

struct ReplicaConfig {
  Config core;           // core.anchor: the last block the ledger holds as final, durably
  std::string wal_path;  // the vote WAL, on the FsEnv given to open()
  // The finalization certificate that made the anchor final (Finalized::proof
  // as the ledger stored it: the anchor's own or a descendant's), if any.
  // Handed to the core as core.anchor_proof (unless that is set already),
  // which rebroadcasts it so that validators left behind can follow after a
  // restart.
  std::optional<Certificate> anchor_proof;
  // The vote WAL's file cap (KeyGuard::open): production keeps the default;
  // the simulator lowers it so that compaction runs.
  std::uint64_t wal_capacity_bytes = kWalFileBytesMax;
};

// What the caller must do after a call, all of it. Within each list the
// order is the core's.
struct ReplicaOutput {
  std::vector<Message> broadcasts;          // send to every other validator
  std::optional<std::uint64_t> wake_at_ms;  // call on_tick() then; replaces earlier ones
  std::vector<BuildBlock> builds;           // answer with on_block_built()
  std::vector<CheckBlock> checks;           // answer with on_block_checked()
  std::vector<FetchBlock> fetches;          // answer with on_block_fetched()
  std::vector<Finalized> finalized;         // give to the ledger, in this order
  std::vector<Evidence> evidence;           // equivocations seen (verified signatures)
};

struct ReplicaCounters {
  std::uint64_t votes_signed = 0;    // own votes signed and handed back to the core
  std::uint64_t guard_refusals = 0;  // the key guard refused what the core asked (a core bug)
};

class Replica {
 public:
  // Opens the WAL at config.wal_path on `env`, rebuilds the key guard and
  // replays the logged votes into a new core. Errors: CONFIG_INVALID (also
  // when `key` is not validator config.core.self's, for an anchor_proof
  // Config::check refuses, and for a wal_capacity_bytes KeyGuard::open
  // refuses), WAL_CORRUPT (refuse to start: an operator must look),
  // IO_ERROR. `env` and `verifier` must outlive the replica.
  static Result<Replica> open(FsEnv& env, ReplicaConfig config, crypto::KeyPair key,
                              const Verifier& verifier = ed25519_verifier());

  // Called with every signature the key guard hands out (audit, simulator).
  // Set it before start() to see them all.
  void set_sign_observer(SignObserver observer) { guard_.set_observer(std::move(observer)); }

  // Enters the first view (after a restart: the last logged one, timed out).
  // Call once, before anything else.
  ReplicaOutput start(std::uint64_t now_ms);
  ReplicaOutput on_message(std::uint64_t now_ms, const Message& message);
  ReplicaOutput on_tick(std::uint64_t now_ms);
  ReplicaOutput on_block_built(std::uint64_t now_ms, const BlockRef& block, Bytes payload);
  ReplicaOutput on_block_checked(std::uint64_t now_ms, const BlockRef& block, bool valid);
  ReplicaOutput on_block_fetched(std::uint64_t now_ms, const BlockRef& block);
  // The ledger committed `block` durably with a verified finality proof,
  // outside consensus (range sync): Core::on_synced, and ledger_durable().
  ReplicaOutput on_synced(std::uint64_t now_ms, const BlockRef& block);

  // The ledger now holds the blocks up to `view` as final durably: when the
  // WAL fills up, votes at or below it may be dropped from it (a restart
  // anchors at least there). Views never go down.
  void ledger_durable(View view);

  // OK while the replica runs. Otherwise why it stopped (the WAL's I/O error
  // or WAL_FULL): every later call returns an empty output, and the caller
  // must drop the replica and open a new one (the WAL's replay tells what
  // survived). Votes signed before the stop were durable.
  const Status& halted() const { return halted_; }

  const Core& core() const { return core_; }
  const KeyGuard& guard() const { return guard_; }
  const ReplicaCounters& counters() const { return counters_; }

 private:
  Replica(Core core, KeyGuard guard);
  ReplicaOutput run(std::uint64_t now_ms, std::vector<Action> actions);
  std::optional<SignedVote> sign(const Vote& vote);

  Core core_;
  KeyGuard guard_;
  View durable_view_;
  bool started_ = false;
  Status halted_;
  ReplicaCounters counters_;
};

}  // namespace emledger::consensus
