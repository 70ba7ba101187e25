// One validator of a multi-node network (docs/node.md, docs/consensus.md):
// the adapter that drives a consensus::Replica with the real world.
//
//   - time: a monotonic millisecond clock for the replica's timers, the wall
//     clock (Clock) only for block times;
//   - storage: the vote WAL at DATA/consensus/votes.wal on PosixFsEnv;
//   - network: PeerTransport, consensus messages in their canonical encoding
//     (consensus::encode_message) plus the block fetch request and response
//     of block_fetch.hpp and the checkpoint signatures of checkpoint_book.hpp;
//     snapshot requests (snapshot_fetch.hpp) are handed to the SnapshotServer
//     and its answers sent back;
//   - application: the ledger and the mempool. BuildBlock takes transactions
//     from the mempool and prepares a block on the parent; CheckBlock
//     re-executes a proposal on its parent; Finalized commits blocks in
//     order, then completes the waiters of their transactions; FetchBlock
//     asks peers for a block by height and header hash.
//   - evidence: each equivocation the replica reports becomes a SubmitEvidence
//     transaction signed by this validator's org (its key id for the validator
//     key) and naming the epoch the replica runs in, put in the mempool once
//     per offence;
//   - checkpoints: whenever its committed log has a (size, root) it has not
//     signed, it signs the checkpoint note text of it and sends the signature
//     to every peer; the CheckpointBook collects everybody's, and GET
//     /v1/checkpoint serves the newest note a quorum signed
//     (docs/adr/015-checkpoint-cosignatures.md).
//   - epochs (docs/validator-set-changes.md): the replica runs for the set in
//     force, Ledger::validators(). On a chain that holds the block h changing
//     the set, it builds and accepts only empty ("tail") blocks, which serve
//     to make h final and are never committed. Once the ledger commits h it
//     drops the replica, the peer transport and what they asked for, and
//     starts them again for the next set (an in-process restart: the vote WAL
//     continues, keyed by epoch and view). A validator left out of the next
//     set stops there, for good: no replica, no transport, its mempool closed
//     (NOT_A_VALIDATOR); the node keeps serving reads at its height.
//
// Uncommitted parents: a block can be built or checked on the committed head,
// or on a block that is notarized but not yet committed, with every block
// between it and the head executed here (the normal pipelined case is one
// level: the next leader proposes as soon as it sees a notarization, before
// the finalization arrives). Deeper chains happen when views are notarized
// after their validators nullified them: such a view is never finalized on
// its own, only through a finalized descendant, which must be built on it.
//
// Threads: one thread owns the Replica, the known blocks and every ledger
// prepare and commit; PeerTransport's I/O threads only queue what they
// receive. The HTTP threads meet it only through the mempool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "block_fetch.hpp"
#include "checkpoint_book.hpp"
#include "clock.hpp"
#include "emledger/consensus/fs_env.hpp"
#include "emledger/consensus/replica.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/ledger.hpp"
#include "mempool.hpp"
#include "peer_transport.hpp"
#include "pending_blocks.hpp"
#include "snapshot_server.hpp"
#include "tx_gossip.hpp"

namespace emledger::node {

// Messages queued from the peers and not yet handled; more are dropped
// (consensus retransmits, a fetch is retried).
inline constexpr std::size_t kValidatorInboxMax = 16'384;
// Blocks held in memory that are not committed (built, checked, fetched).
// Catch-up holds every block between the local head and the newest
// finalization, so this also bounds how far behind a node can catch up by
// fetching blocks; beyond it, fetched blocks are refused and catch-up stalls.
inline constexpr std::size_t kKnownBlocksMax = 4'096;
// Builds and checks waiting for their parent to become executable.
inline constexpr std::size_t kDeferredMax = 64;
// A fetch with no answer is asked again after this long.
inline constexpr std::uint64_t kFetchRetryMs = 500;
// A proposal whose block time is further ahead of our wall clock is invalid.
inline constexpr std::uint64_t kBlockTimeAheadMaxMs = 30'000;
// How long a block final through a descendant waits for its own
// certificate from a peer before it is committed with the descendant's proof.
inline constexpr std::uint64_t kOwnCertWaitMs = 500;
// Range sync (validator_sync.cpp): it starts once the newest finalization
// the core verified is more than this many blocks above the head (below it,
// the core's block-by-block fetch is as quick); an unanswered request goes to
// the next peer after the timeout; a peer is served one request per interval.
inline constexpr std::uint64_t kSyncLagMin = 8;
inline constexpr std::uint64_t kSyncRequestTimeoutMs = 2'000;
inline constexpr std::uint64_t kSyncServeIntervalMs = 10;
// How often the loop looks at the mempool while a build waits for work.
inline constexpr std::uint64_t kBuildPollMs = 5;
// Equivocation offences (epoch, validator, view, vote kind) this validator has
// submitted as SubmitEvidence transactions; the oldest is forgotten beyond it
// (the ledger records an offence once, so a second submission is refused).
inline constexpr std::size_t kEvidenceSubmittedMax = 4'096;
// A newer quorate checkpoint is written to DATA/consensus/checkpoint.note at
// most this often (and when the validator stops): two fsyncs per committed
// block would cost more than a restart serving a note a second older.
inline constexpr std::uint64_t kCheckpointPersistIntervalMs = 1000;
// With nothing committed for this long, range sync asks a peer for blocks
// above the head even though the core saw no newer finalization: a node that
// missed a change of set cannot verify the votes of the new epoch, so only
// the committed blocks, each checked under its own height's set, bring it on.
inline constexpr std::uint64_t kSyncProbeIdleMs = 4'000;

struct ValidatorConfig {
  std::string data_dir;     // the WAL goes in DATA/consensus/votes.wal
  std::string peer_listen;  // "host:port"; empty: this validator's genesis address
  std::uint64_t view_timeout_ms = 2000;
  std::uint64_t view_timeout_max_ms = 60000;
  std::uint64_t rebroadcast_ms = 1000;
  // A leader with an empty mempool waits this long for a transaction before
  // it proposes an empty block. Empty blocks keep views ending in
  // notarizations, so timeouts do not back off while the network is idle.
  std::uint64_t empty_block_delay_ms = 250;
  unsigned peer_threads = 2;
  // Blocks asked for in one range-sync request (1..kSyncBlocksPerRequestMax).
  std::uint32_t sync_blocks_per_request = kSyncBlocksPerRequestMax;
  // Answers the peers' snapshot requests (snapshot_server.hpp); null: they
  // are ignored. Not owned; must outlive the validator.
  SnapshotServer* snapshots = nullptr;
};

struct ValidatorStats {
  std::uint64_t blocks_committed = 0;
  std::uint64_t blocks_built = 0;
  std::uint64_t blocks_checked_valid = 0;
  std::uint64_t blocks_checked_invalid = 0;
  std::uint64_t blocks_fetched = 0;
  std::uint64_t blocks_synced = 0;     // committed by range sync (also in blocks_committed)
  std::uint64_t messages_dropped = 0;  // inbox full or undecodable
  std::uint64_t evidence = 0;
  std::uint64_t gossip_received = 0;          // transactions peers forwarded, added to the mempool
  std::uint64_t gossip_dropped = 0;           // admitted here, not forwarded (queue full)
  std::uint64_t evidence_submitted = 0;       // SubmitEvidence transactions put in the mempool
  std::uint64_t checkpoints_signed = 0;       // own checkpoint signatures made
  std::uint64_t checkpoint_conflicts = 0;     // peer signatures of another root than ours
  std::uint64_t checkpoint_sigs_refused = 0;  // unknown signer or bad signature
  std::uint64_t tail_blocks_built = 0;        // empty blocks above a change of set
  std::uint64_t tail_blocks_refused = 0;      // non-empty proposals there, voted against
  std::uint64_t epoch_switches = 0;           // replicas restarted for a new set
};

// One line on stderr: "emledger-node: validator: " + line. Shared by
// validator*.cpp.
void validator_log(const std::string& line);
// The first 16 hex digits of `h`, for log lines.
std::string short_hex(const Hash& h);

class Validator {
 public:
  // Opens the vote WAL and the replica (anchored at the ledger's head, for
  // the set in force, Ledger::validators(), in which `key` must be),
  // starts the peer transport and the validator thread. `ledger`, `mempool`
  // must outlive it. Errors: NOT_A_VALIDATOR (the key is not in the set in
  // force), the replica's (CONFIG_INVALID, WAL_CORRUPT, IO_ERROR), the
  // transport's (PEER_CONFIG_INVALID, LISTEN_FAILED), STORAGE_* reading the
  // head or the set.
  static Result<std::unique_ptr<Validator>> start(ledger::Ledger& ledger, Mempool& mempool,
                                                  const crypto::KeyPair& key,
                                                  ValidatorConfig config,
                                                  Clock wall_clock = system_clock_ms);
  ~Validator();  // stop()s

  // Stops the thread and the transport. Transactions of this validator's
  // proposals that were not committed are completed with SHUTTING_DOWN (they
  // may still be committed by the network; their waiters cannot know).
  // Idempotent; not from a callback.
  void stop();

  std::uint16_t peer_port() const;
  ValidatorStats stats() const;
  // The epoch of the set this validator votes in (or voted in last), and its
  // index there; nullopt once it is not in the set in force. Thread safe.
  ledger::Epoch epoch() const;
  std::optional<std::uint16_t> index() const;
  // The checkpoint cosignatures collected; its note() is thread safe.
  const CheckpointBook& checkpoints() const { return *checkpoints_; }

 private:
  struct Inbound {
    std::size_t peer = 0;
    Bytes bytes;
  };
  // A block this validator built, checked or fetched, not yet committed.
  struct Known {
    ledger::Block block;
    consensus::View parent_view = 0;
    std::optional<ledger::PreparedBlock> prepared;    // executed on its parent
    std::optional<ledger::FinalityProof> peer_proof;  // how a peer committed it
  };
  // Transactions of a block this validator proposed, waiting for its fate.
  struct Proposed {
    consensus::Height height = 0;
    std::vector<Candidate> candidates;  // taken from the mempool, included
    std::vector<TxResult> results;      // their log positions once committed
  };

  Validator(ledger::Ledger& ledger, Mempool& mempool, const crypto::KeyPair& key,
            ledger::ValidatorSet set, std::uint16_t index, ValidatorConfig config,
            Clock wall_clock);
  Status open_replica();
  Status start_transport();
  // Epochs (validator_epoch.cpp).
  // True when blocks built on `base` (Validator::base_for) lie above a change
  // of set that the running epoch has not reached yet: tail blocks, empty.
  bool builds_tail(const ledger::PreparedBlock* base) const;
  // After a commit: the running epoch ended when the ledger's set moved on.
  void note_epoch_end();
  // Replaces the replica, transport and checkpoint signers for the set in
  // force (or retires this validator when it is not in it).
  void switch_epoch();
  void retire(const std::string& why);
  Status open_pending_blocks();
  void execute_known(const Hash& digest);
  Status open_checkpoints();

  void run();
  std::uint64_t now_ms() const;
  void handle(consensus::ReplicaOutput out);
  void handle_one(consensus::ReplicaOutput& out);
  void on_peer(Inbound in);
  void on_consensus(const consensus::Message& m);

  // Application.
  // True when the request is answered or dropped.
  bool try_build(consensus::BuildBlock b);
  // nullopt: cannot tell yet (parent not executable); retried later.
  std::optional<bool> try_check(const consensus::CheckBlock& c);
  // The prepared block to build on for parent `digest`: nullptr with true for
  // the committed head, the parent's prepared block when its own parent is the
  // head, the writes of the whole uncommitted chain down to the head for a
  // deeper parent (stacked_); false when some block of that chain is unknown
  // or not executed here.
  bool base_for(const Hash& digest, const ledger::PreparedBlock*& base);
  std::optional<consensus::View> view_of_parent(const Hash& digest) const;
  void retry_deferred();
  void pump_finals();
  bool commit_final(const consensus::Finalized& f);
  Result<ledger::FinalityProof> proof_for(const consensus::Finalized& f, const Known& k) const;
  void settle_proposals(consensus::Height committed_height, const Hash& committed_digest);
  void remember(const Hash& digest, Known k);

  // Block fetch.
  void start_fetch(const consensus::FetchBlock& f);
  void retry_fetches();
  void serve_block_request(std::size_t peer, const BlockRequest& req);
  void on_block_response(const BlockResponse& resp);

  // Mempool gossip (validator_gossip.cpp).
  struct GossipLink;
  void start_gossip();
  void stop_gossip();
  void queue_gossip(Bytes tx);
  void flush_gossip(std::deque<Bytes> txs);
  void on_gossip(const TxGossip& msg);
  void complete_committed(const ledger::PreparedBlock& p);

  // Range sync (validator_sync.cpp).
  void note_final_height(consensus::Height height);
  bool sync_wanted() const;
  void sync_step();
  void serve_range_request(std::size_t peer, const RangeRequest& req);
  void on_range_response(std::size_t peer, const RangeResponse& resp);
  Status commit_synced(const Bytes& block, const Bytes& proof);
  void after_sync(std::uint64_t before);
  // Equivocation evidence.
  void submit_evidence(const consensus::Evidence& e);
  std::optional<std::uint32_t> own_org_key_id() const;

  // Checkpoint cosignatures.
  void checkpoint_turn();
  // How long the loop may sleep before checkpoint_turn() has work.
  std::uint64_t checkpoint_wait_ms(std::uint64_t now) const;
  std::optional<CheckpointSignature> sign_checkpoint(std::uint64_t size, const Hash& root);
  void on_checkpoint_signature(std::size_t peer, const CheckpointSignature& s);
  void note_conflict(const CheckpointSignature& s);

  void send_all(const Bytes& bytes);
  // n = 1: no peers, no transport, and no empty blocks (nobody waits on them).
  bool alone() const { return set_.validators.size() == 1; }

  ledger::Ledger& ledger_;
  Mempool& mempool_;
  crypto::KeyPair key_;
  // The set of the running epoch and our index in it (validator thread;
  // copied into epoch_shown_ and index_shown_ under mu_ for other threads).
  ledger::ValidatorSet set_;
  std::uint16_t index_;
  bool retired_ = false;      // not in the set in force: no replica, no transport
  bool epoch_ended_ = false;  // the ledger committed past the running epoch
  ValidatorConfig config_;
  Clock wall_clock_;
  consensus::PosixFsEnv fs_;
  std::optional<consensus::Replica> replica_;
  std::optional<PendingBlocks> pending_blocks_;  // blocks voted for, not committed
  std::unique_ptr<CheckpointBook> checkpoints_;
  std::unique_ptr<PeerTransport> transport_;
  std::thread thread_;

  mutable std::mutex mu_;  // guards inbox_, gossip_out_, stopping_, stats_
  std::condition_variable cv_;
  std::deque<Inbound> inbox_;
  std::deque<Bytes> gossip_out_;  // admitted here, to forward
  std::shared_ptr<GossipLink> gossip_link_;
  bool stopping_ = false;
  ValidatorStats stats_;
  ledger::Epoch epoch_shown_ = ledger::kGenesisEpoch;
  std::optional<std::uint16_t> index_shown_;
  std::uint16_t port_shown_ = 0;  // the transport's, 0 without one

  // Validator thread only.
  std::uint64_t mono_origin_ms_ = 0;
  std::optional<std::uint64_t> wake_at_ms_;
  std::deque<consensus::ReplicaOutput> outputs_;  // queued by handle()
  bool handling_ = false;
  std::map<Hash, Known> known_;
  std::map<Hash, Proposed> proposed_;
  std::optional<std::pair<consensus::BuildBlock, std::uint64_t>> build_;  // and when asked
  std::deque<consensus::CheckBlock> deferred_checks_;
  // base_for's execution base for a parent more than one block above the
  // head: the chain's writes merged, for that tip on that head.
  struct Stacked {
    Hash tip{};
    Hash head{};
    ledger::PreparedBlock prepared;
  };
  std::optional<Stacked> stacked_;
  std::map<Hash, std::pair<consensus::FetchBlock, std::uint64_t>> fetches_;  // last asked
  std::deque<consensus::Finalized> finals_;  // reported final, not yet committed
  bool pumping_ = false;
  std::optional<std::pair<Hash, std::uint64_t>> cert_wait_;  // own certificate asked for, when
  // Range sync: the newest finalized height the core has seen, the request
  // outstanding, the peer to ask next, when each peer was last served.
  struct SyncAsk {
    std::size_t peer = 0;
    std::uint64_t from = 0;
    std::uint32_t count = 0;
    std::uint64_t at_ms = 0;
  };
  consensus::Height sync_target_ = 0;
  bool sync_more_ = false;  // the last answer was full: ask again at once
  std::optional<SyncAsk> sync_ask_;
  std::size_t sync_next_peer_ = 0;
  std::map<std::size_t, std::uint64_t> sync_served_ms_;
  bool failed_ = false;  // a commit failed: consensus stops here, the node must restart
  std::uint64_t last_commit_ms_ = 0;  // for kSyncProbeIdleMs
  // Offences submitted (epoch, validator, view, kind), and their order for
  // eviction.
  using SubmittedOffence = std::tuple<ledger::Epoch, std::uint16_t, std::uint64_t, std::uint8_t>;
  std::set<SubmittedOffence> evidence_submitted_;
  std::deque<SubmittedOffence> evidence_order_;
  // Our newest own checkpoint signature (of our head's log), and when it was
  // last sent; when each peer was last answered; when the note was persisted.
  std::optional<CheckpointSignature> own_checkpoint_;
  std::uint64_t own_checkpoint_sent_ms_ = 0;
  std::vector<std::uint64_t> checkpoint_replied_ms_;  // by peer index
  std::uint64_t checkpoint_persisted_ms_ = 0;
  std::vector<bool> conflict_logged_;  // by signer: the first conflict of each is logged
};

}  // namespace emledger::node
