// The deterministic kernel's front door: validation rules, block execution,
// atomic commit, and queries with proofs. No clock, no randomness, no
// unordered iteration, no floating point: the same blocks give the same bytes
// on every node. Storage layout: docs/formats/storage.md.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/committed_tx_filter.hpp"
#include "emledger/ledger/finality.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/recent_tx_ids.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/smt_page_cache.hpp"
#include "emledger/ledger/store.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"
#include "emledger/ledger/votes.hpp"

namespace emledger::ledger {

// State keys (the SMT is keyed by SHA-256 of these).
Bytes org_state_key(std::string_view org_id);          // "org/" + id  -> encode(Org)
Bytes record_state_key(const Hash& record_id);         // "rec/" + id  -> encode(Record)
Bytes hash_index_state_key(const Hash& content_hash);  // "hash/" + h  -> encode(RecordIdList)
Bytes holder_state_key(const Hash& holder_ref);        // "holder/" + ref -> encode(HolderBinding)
Bytes grant_state_key(const Hash& grant_id);           // "grant/" + id -> encode(Grant)
Bytes access_state_key(const Hash& access_id);         // "access/" + id -> encode(Access)
Bytes objection_state_key(const Hash& objection_id);   // "objection/" + id -> encode(Objection)
Bytes archive_state_key(const Hash& archive_id);       // "archive/" + id -> encode(Archive)
// Evidence of epoch 0: "evidence/" + u16 validator + u64 view + u8 kind
// (big-endian); of epoch e >= 1: "evidence@" + u64 e + the same. Value:
// encode_evidence_record (votes.hpp). Views may repeat across epochs and
// indexes name another set in each, hence the epoch in the key; epoch 0 keeps
// the key it had before epochs. '@' sorts after '/', so in key order all of
// epoch 0 comes first, then each later epoch in turn.
inline constexpr std::string_view kEvidencePrefix = "evidence/";
inline constexpr std::string_view kEvidenceEpochPrefix = "evidence@";
Bytes evidence_state_key(Epoch epoch, std::uint16_t validator, std::uint64_t view,
                         std::uint8_t kind);
// Epoch 0's key.
Bytes evidence_state_key(std::uint16_t validator, std::uint64_t view, std::uint8_t kind);

// Whether grant `g` lets `org` read `record` for `case_id` at `time_ms`: the
// rule every RecordAccess passes, shared with auditors who re-check it.
// Errors: GRANT_REVOKED, GRANT_WRONG_GRANTEE, GRANT_NOT_YET_VALID,
// GRANT_EXPIRED, GRANT_SCOPE_MISMATCH, GRANT_PURPOSE_MISMATCH, GRANT_EXHAUSTED.
Status grant_covers(const Grant& g, const Record& record, std::string_view org,
                    std::string_view case_id, std::uint64_t time_ms);

// The holder_ref a holder-signed transaction speaks for (from its payload).
// Errors: INVALID_PAYLOAD when the payload does not decode or the type is not
// one a holder signs.
Result<Hash> holder_ref_of(const Tx& tx);

// Decodes a transaction received from outside. Errors: TX_TOO_LARGE, TX_MALFORMED.
Result<Tx> parse_tx(ByteView bytes);

struct ChainHead {
  static constexpr std::string_view kDomain = "emledger.head";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t height = 0;  // 0: only genesis
  Hash header_hash{};        // genesis hash at height 0
  std::uint64_t time_ms = 0;
  std::uint64_t log_size = 0;
  Hash log_root{};
  Hash state_root{};
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.fixed(header_hash);
    v.u64(time_ms);
    v.u64(log_size);
    v.fixed(log_root);
    v.fixed(state_root);
  }
};

// Where a committed transaction sits, and its bytes ("x" + id).
struct TxEntry {
  static constexpr std::string_view kDomain = "emledger.tx-entry";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t height = 0;
  std::uint32_t index = 0;  // within its block
  std::uint64_t log_index = 0;
  Bytes tx;  // encode(Tx)
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.u32(index);
    v.u64(log_index);
    v.bytes(tx, kTxBytesMax);
  }
};

// Result of executing one candidate transaction.
struct TxOutcome {
  Hash id{};
  Status status;  // OK when included in the block
};

// What the caller of Ledger::prepare knows of a candidate already (ADR 022),
// so that prepare need not find it again. The caller vouches for each field
// it sets, as it does for signatures with `signatures_checked`: a false one
// can make this node's block differ from the other nodes'.
struct CandidateFacts {
  static constexpr std::uint64_t kUnknown = ~std::uint64_t{0};
  // encode(tx) exactly (a buffer that outlives the prepare call) and its
  // SHA-256, the transaction id. Empty: prepare encodes and hashes.
  ByteView encoding;
  Hash id{};
  // The committed state at this height held no transaction with this id
  // (the caller looked it up there). kUnknown: nobody looked.
  std::uint64_t absent_at = kUnknown;
  // log_leaf_hash(encoding), the transaction's leaf in the log, when the
  // caller has it (read only with an encoding). Empty: prepare hashes.
  std::optional<Hash> leaf;
};

// A block executed against the current head, with every write it makes,
// ready to be certified and committed.
struct PreparedBlock {
  Block block;
  std::vector<Hash> tx_ids;
  ChainHead new_head;
  WriteBatch writes;
  // Pruning (ADR 021), as of this block: the next stale list to process, the
  // lowest height whose state tree is whole, and the nodes this block's
  // update revived. A parent standing for several uncommitted blocks (their
  // writes merged) carries the newest one's first two and every block's
  // revived nodes.
  std::uint64_t prune_next = 0;
  std::uint64_t pruned_through = 0;
  std::vector<Hash> revived;
  // smt_path of each state key the block put (the state key filter's names
  // of keys with a value, ADR 026), as the update hashed them.
  std::vector<Hash> state_paths;
};

// The memory of one Ledger's state-page cache (SmtPageCache, ADR 044), in
// MiB. The default holds the pages of the live state tree of about 200,000
// records; a larger ledger reads the deeper pages of each updated path from
// LevelDB, so its block execution slows as it grows. Its size changes no byte
// any node stores or sends: only how often a page is read from LevelDB
// instead of memory.
inline constexpr std::uint64_t kStateCacheMibMin = 1;
inline constexpr std::uint64_t kStateCacheMibDefault = 112;
inline constexpr std::uint64_t kStateCacheMibMax = 16384;

// How many of the latest state trees a ledger keeps provable (ADR 021). 0
// keeps every tree since genesis (an archive: audits of old accesses and
// chain walks prove state at any height). W > 0 keeps the trees of the last
// W heights and erases the state-tree nodes that only older trees held;
// proofs below them answer PRUNED. Values, blocks, transactions, the log and
// every index stay whatever W is.
inline constexpr std::uint64_t kStateRetentionKeepAll = 0;
inline constexpr std::uint64_t kStateRetentionBlocksMin = 16;
inline constexpr std::uint64_t kStateRetentionBlocksMax = std::uint64_t{1} << 40;
// Stale lists one block erases at most: a ledger whose window shrank, or that
// starts pruning, catches up over several blocks rather than in one batch.
inline constexpr std::size_t kPruneListsPerBlockMax = 8;

// Threads a block's state-tree update may use at most (ADR 040).
inline constexpr unsigned kStateUpdateThreadsMax = 16;

struct LedgerOptions {
  std::uint64_t state_cache_mib = kStateCacheMibDefault;  // in [Min, Max]
  // Threads a block's state-tree update may use, the preparing thread's
  // included, in [1, kStateUpdateThreadsMax] (ADR 040). The state, the
  // writes and their order are the same whatever it is; a node gives it
  // its cores.
  unsigned state_update_threads = 1;
  // Whether the state-page cache asks for transparent huge pages (ADR 024).
  // A node does: the cache soon fills, and lookups then cost fewer page
  // walks. Tests and tools leave it off, so a small ledger's cache takes
  // memory 4 KiB at a time.
  bool state_cache_huge_pages = false;
  // kStateRetentionKeepAll, or in [kStateRetentionBlocksMin, Max].
  std::uint64_t state_retention_blocks = kStateRetentionKeepAll;
  // Whether open() starts the background scan that fills the committed-id
  // filter (ADR 023). A tool that opens a ledger to read it, not to run it,
  // need not pay for the scan; without it every id check reads the store.
  bool scan_committed_ids = true;
  // Told, a line at a time, how a long one-time step of open() goes: the
  // in-place upgrade of a format 2 store (ADR 029), which reads and rewrites
  // the whole log and flat index before open() returns. Not called when
  // there is nothing to upgrade. For an operator's eyes: nothing stored
  // depends on it.
  std::function<void(const std::string&)> progress;
};

class Ledger {
 public:
  // Opens the ledger in `store`. On an empty store, writes `genesis` and its
  // initial state (the orgs) durably. Otherwise checks that the stored
  // genesis is `genesis`. Never replays history: the head is one read.
  // Errors: GENESIS_MISMATCH, GENESIS_MALFORMED, STORAGE_ERROR, STORAGE_CORRUPT;
  // CONFIG_ERROR (before anything is written) for a cache size outside the
  // bounds or one the system cannot allocate.
  static Result<std::unique_ptr<Ledger>> open(std::unique_ptr<KvStore> store,
                                              const Genesis& genesis,
                                              const LedgerOptions& options = {});
  // Stops the scan that fills the committed-id filter, if it still runs.
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  const Genesis& genesis() const { return genesis_; }
  const Hash& genesis_hash() const { return genesis_hash_; }
  ChainHead head() const;  // thread safe
  // The lowest height whose block, header and finality proof the store
  // holds: 0 for a ledger that committed every block since genesis, S for
  // one restored from a snapshot of height S (snapshot.hpp). Below it the
  // queries for blocks, headers, certificates and past state answer nullopt.
  std::uint64_t base_height() const { return base_height_; }
  // The consensus view of the block below the base (whose header a restored
  // store does not hold): what a validator anchoring at the base needs. 0
  // when the base is 0 or 1 (the genesis is view 0).
  std::uint64_t base_parent_view() const { return base_parent_view_; }
  // The committed store at one instant, unchanged by later commits (what
  // write_snapshot reads through). Must not outlive the ledger.
  std::unique_ptr<KvView> read_view() const { return store_->view(); }

  // Checks that need no state: size, decoding, chain id, known signer key and
  // a valid signature. Thread safe: the node runs it in parallel on admission.
  // Errors: TX_MALFORMED, TX_TOO_LARGE, WRONG_CHAIN, UNKNOWN_ORG, UNKNOWN_KEY,
  // BAD_SIGNATURE.
  Status check_tx_stateless(const Tx& tx) const;
  // check_tx_stateless of each, in order, with the org signatures verified
  // together (crypto::verify_batch, ADR 039): the same statuses, several
  // times less CPU when the transactions share a few signing keys.
  std::vector<Status> check_txs_stateless(std::span<const Tx* const> txs) const;

  // Executes `candidates` in order on top of the head and builds the next
  // block from those that are valid; `outcomes` gets one entry per candidate.
  // When `signatures_checked` is true the caller vouches that every candidate
  // passed check_tx_stateless. Rejection codes of the stateful rules:
  // EXPIRED, EXPIRY_TOO_FAR, DUPLICATE_TX, NOT_ISSUER, RECORD_NOT_FOUND,
  // NOT_RECORD_ISSUER, ILLEGAL_TRANSITION, NOT_A_LICENSE, DUPLICATE_RECORD,
  // TOO_MANY_RECORDS, INVALID_PAYLOAD, and for SubmitEvidence EVIDENCE_INVALID,
  // EVIDENCE_NOT_VALIDATOR, EVIDENCE_BAD_SIGNATURE, EVIDENCE_DUPLICATE; for
  // ChangeValidators VALIDATORS_EPOCH_MISMATCH (also a second change in one
  // block), VALIDATORS_NO_QUORUM, VALIDATORS_INVALID. Only called by one thread
  // at a time.
  //
  // `parent`, when given, is a prepared block not yet committed: the new block
  // is built on top of it (its writes are read as if committed), so that the
  // node can execute block N+1 while block N syncs. The caller must commit
  // `parent` before the new block.
  //
  // `facts`, empty or one per candidate, spares work the caller has done
  // (CandidateFacts); with true facts the block is byte for byte the one
  // prepare builds without them. A stamp `absent_at` saves the store lookup
  // of the id when this Ledger committed every block above it lately
  // (RecentTxIds) and none of them, nor `parent`, holds the id.
  Result<PreparedBlock> prepare(const std::vector<Tx>& candidates, std::uint64_t time_ms,
                                std::uint64_t view, const PublicKey& proposer,
                                bool signatures_checked, std::vector<TxOutcome>& outcomes,
                                const PreparedBlock* parent = nullptr,
                                std::span<const CandidateFacts> facts = {}) const;

  // Re-executes a block made elsewhere: every transaction must be valid and
  // the header must equal the one execution produces. Errors: BLOCK_INVALID.
  Result<PreparedBlock> execute(const Block& block) const;

  // Verifies that `proof` makes the prepared block final under the set that
  // judges its height (verify_finality_in_set with validators_at(height): a
  // block holding a ChangeValidators is still judged by the set it ends; its
  // own certificate, or a link of headers to a finalized descendant) and
  // commits `prepared` with what finality_proof() needs later, in one synced
  // write batch. It must extend the current head. Only called by one thread
  // at a time. Errors: CERT_*, NOT_NEXT_BLOCK, STORAGE_ERROR,
  // STORAGE_CORRUPT.
  Status commit(const PreparedBlock& prepared, const FinalityProof& proof);
  // The own form: commit(prepared, FinalityProof::own(cert)).
  Status commit(const PreparedBlock& prepared, const Certificate& cert);

  // ---- validator sets (validator_set.hpp, docs/validator-set-changes.md) ----
  // The set in force for the height above the head: the genesis set until a
  // ChangeValidators transaction commits, then the newest one. Thread safe
  // and cheap (kept in memory, updated by commit).
  Result<ValidatorSet> validators() const;
  // The set in force for the height above `parent`, a prepared block not yet
  // committed (its writes read as committed); the head when null. A set whose
  // since_height is at most parent's height + 1 while the consensus epoch
  // running is older tells a validator that it builds a tail block.
  Result<ValidatorSet> validators_after(const PreparedBlock* parent) const;
  // The set that judges the block at `height` (at least 1): the newest whose
  // since_height is at most `height` (the current set for any height above
  // the head). Thread safe. Errors: STORAGE_*.
  Result<ValidatorSet> validators_at(std::uint64_t height) const;
  // Every change of set up to the epoch in force (empty before the first):
  // what a light client that trusts only the genesis needs to judge any
  // committed height. Changes below the base of a store restored from a
  // snapshot come from the snapshot's succession, kept at import. Thread
  // safe. Errors: STORAGE_*.
  Result<Succession> succession() const;

  // ---- queries; committed data only; thread safe ----
  Result<std::optional<BlockHeader>> header(std::uint64_t height) const;
  // The block's own finality certificate; nullopt when there is no block at
  // `height` or when it was committed final through a descendant (then
  // finality_proof() has the proof).
  Result<std::optional<Certificate>> certificate(std::uint64_t height) const;
  // A proof that the committed block at `height` is final, in the form it was
  // committed with (own certificate, or the link to the descendant and the
  // descendant's certificate); nullopt when there is no block at `height`.
  Result<std::optional<FinalityProof>> finality_proof(std::uint64_t height) const;
  Result<std::optional<Block>> block(std::uint64_t height) const;
  Result<std::optional<TxEntry>> tx_entry(const Hash& tx_id) const;
  // True when no committed transaction has this id, known without reading
  // the store (CommittedTxFilter, ADR 023): from the end of the scan that
  // open() starts in the background, about 99% of absent ids. False means
  // "ask tx_entry". Thread safe.
  bool tx_surely_uncommitted(const Hash& tx_id) const;
  // Whether that scan has ended, so the filter holds every committed id
  // (for tests and diagnostics). Thread safe.
  bool tx_filter_complete() const;
  // Whether the same scan has also added every state key with a value to the
  // state-key filter (ADR 026), which spares block execution the store read
  // of a key never written. For tests and diagnostics. Thread safe.
  bool state_key_filter_complete() const;
  // Records and state values as of the head.
  Result<std::optional<Record>> record(const Hash& record_id) const;
  Result<std::vector<Record>> records_by_hash(const Hash& content_hash) const;
  Result<std::optional<Bytes>> state_value(ByteView key) const;
  // The proof of `key` at the head, or at `height`. Errors: NOT_FOUND (no
  // block there), PRUNED (below the retention window: pruned_below()).
  Result<StateProof> state_proof(ByteView key, std::optional<std::uint64_t> height) const;
  // The lowest height whose state tree is whole: 0 while nothing was pruned
  // (LedgerOptions::state_retention_blocks). Thread safe.
  std::uint64_t pruned_below() const;
  Result<InclusionProof> inclusion_proof(std::uint64_t log_index, std::uint64_t size) const;
  // Leaf hash at `index` and root of the first `size` leaves of the log.
  // Errors: PROOF_OUT_OF_RANGE beyond the head's log size.
  Result<Hash> log_leaf(std::uint64_t index) const;
  Result<Hash> log_root(std::uint64_t size) const;
  Result<ConsistencyProof> consistency_proof(std::uint64_t first, std::uint64_t second) const;
  // The perfect subtree roots of the first `size` leaves (MerkleLog::frontier):
  // lets a verifier that trusts the log root at `size` walk on from there.
  // Errors: PROOF_OUT_OF_RANGE beyond the head's log size.
  Result<std::vector<Hash>> log_frontier(std::uint64_t size) const;
  // A listed id with the position of the transaction that created it; the
  // position of the last one listed is the cursor of the next page.
  struct Listed {
    ChainPos pos;
    Hash id{};
  };
  // A holder's data, oldest first, at most `limit`, strictly after `after`
  // when given: records anchored for the holder, grants it signed, accesses
  // to its records.
  enum class HolderList : std::uint8_t { kRecords = 'r', kGrants = 'g', kAccesses = 'a' };
  Result<std::vector<Listed>> holder_list(HolderList list, const Hash& holder_ref,
                                          std::size_t limit,
                                          std::optional<ChainPos> after = std::nullopt) const;
  // The accesses committed at heights [from_height, to_height], in chain
  // order, at most `limit`, strictly after `after` when given.
  Result<std::vector<Listed>> accesses(std::uint64_t from_height, std::uint64_t to_height,
                                       std::size_t limit,
                                       std::optional<ChainPos> after = std::nullopt) const;

  // Equivocation evidence recorded at the head (the EvidenceRecord values
  // under evidence_state_key): epoch 0's in (validator, view, kind) order,
  // then later epochs' in (epoch, validator, view, kind) order; only those
  // of validator index `validator` (in its epoch's set) when given, strictly
  // after the offence `after` when given, at most `limit`. Each record is
  // permanent once committed. Errors: STORAGE_CORRUPT, STORAGE_ERROR.
  struct Offence {
    std::uint16_t validator = 0;
    std::uint64_t view = 0;
    std::uint8_t kind = 0;
    Epoch epoch = kGenesisEpoch;
  };
  Result<std::vector<EvidenceRecord>> evidence(std::optional<std::uint16_t> validator,
                                               std::size_t limit,
                                               std::optional<Offence> after = std::nullopt) const;

  // A proof bundle for a file hash, as of the head. Errors: NO_BLOCKS before
  // the first block is committed.
  Result<ProofBundle> bundle_for_hash(const Hash& content_hash) const;

  // Raw storage, for tests that plant data below the kernel and for tools.
  KvStore& store() { return *store_; }
  // The state-tree page cache, for its figures (the node's health). Thread
  // safe: its accessors lock.
  const SmtPageCache& state_pages() const { return state_pages_; }

 private:
  // check_tx_stateless less the signature: the org key to verify it with, or
  // null when a holder signs (prepare() checks those).
  Status check_tx_signer(const Tx& tx, const PublicKey*& org_key) const;
  Ledger(std::unique_ptr<KvStore> store, Genesis genesis, const LedgerOptions& options);
  std::unique_ptr<KvStore> store_;
  Genesis genesis_;
  Hash genesis_hash_{};
  std::uint64_t base_height_ = 0;
  std::uint64_t base_parent_view_ = 0;
  // The "validators" state at `reader`'s head (the genesis set when absent).
  Result<ValidatorSet> load_validators(const KvReader& reader) const;
  // One EpochChange built from the blocks this store holds, or the one a
  // snapshot import stored for a change below the base.
  Result<EpochChange> epoch_change(Epoch ending) const;

  // State-tree pages read or written lately (SmtPageCache), sized by
  // LedgerOptions::state_cache_mib.
  SmtPageCache state_pages_;
  unsigned state_update_threads_;  // LedgerOptions::state_update_threads

  // Every committed id (ADR 023): filled by commit() and, for what was
  // committed before open, by a scan of the 'x' keys on its own thread, which
  // the destructor stops (tx_filter_stop_) and joins.
  // Sized at open for twice the transactions then committed.
  std::unique_ptr<CommittedTxFilter> tx_filter_;
  std::atomic<bool> tx_filter_stop_{false};
  std::thread tx_filter_scan_;
  void start_tx_filter_scan();
  // The same kind of filter over SHA-256 of every state key that has a value
  // (ADR 026; state keys are never erased): filled by commit() from the paths
  // the block's state update hashed (PreparedBlock::state_paths) and by the
  // same scan (the 's' keys, after the ids). Sized at open for twice the keys
  // then held (about two per transaction committed).
  std::unique_ptr<CommittedTxFilter> state_key_filter_;

  // The ids of the blocks this object committed lately, for prepare's
  // `absent_at` stamps (ADR 022). Empty at open: a stamp from before it
  // sends prepare to the store.
  RecentTxIds recent_ids_;
  // Whether the candidate's id is committed: false without a store lookup
  // when its stamp allows (see prepare), else the store's answer read
  // through `base` (the committed data and an uncommitted parent's writes).
  Result<bool> tx_committed(const KvReader& base, const PreparedBlock* parent, const Hash& id,
                            std::uint64_t absent_at) const;

  // Pruning (ADR 021). prepare() adds the stale list and revival markers of
  // its block and processes the lists that fell out of the window.
  std::uint64_t retention_ = kStateRetentionKeepAll;
  Status prune_step(std::uint64_t height, const StateUpdateTrace& trace,
                    const PreparedBlock* parent, Overlay& ov, PreparedBlock& out) const;
  // At open: the pruning mark and the revival markers.
  Status load_prune_state();
  // At open: stores the validators proof ("V") of change blocks committed
  // before the kernel kept it, while their trees are whole.
  Status backfill_validator_proofs();

  mutable std::mutex head_mu_;
  ChainHead head_;                    // guarded by head_mu_
  ValidatorSet validators_;           // guarded by head_mu_: the set at head_
  std::uint64_t prune_next_ = 0;      // guarded by head_mu_
  std::uint64_t pruned_through_ = 0;  // guarded by head_mu_
  // Revival markers of committed blocks still needed: node -> the latest
  // height that revived it, and the same pairs by height for dropping them.
  std::map<Hash, std::uint64_t> revived_;                   // guarded by head_mu_
  std::set<std::pair<std::uint64_t, Hash>> revived_order_;  // guarded by head_mu_
};

}  // namespace emledger::ledger
