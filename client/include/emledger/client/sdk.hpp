// The emledger client SDK: talks to one node over the HTTP API (docs/api.md)
// and verifies every proof it receives against a trusted genesis before it
// returns data (design.md sections 5 and 7). A node can refuse to answer, but
// it cannot make this client return a record, header or verdict that the
// validators did not certify: those of the trusted genesis, or of a later
// epoch proven from it (validator_sets(), docs/validator-set-changes.md).
//
// Blocking. Thread safe: a Client's only mutable state is its cache of
// verified validator sets (behind a mutex), and its transport opens a
// connection per call. Errors are values (errors.hpp):
// NODE_UNREACHABLE when no answer came, the node's own code (e.g. TX_NOT_FOUND,
// EXPIRED) when it refused, NODE_BAD_RESPONSE when its answer is not the API's
// form, and a verification code (CERT_*, PROOF_INVALID, BUNDLE_*, CHAIN_*,
// GENESIS_MISMATCH) when what it sent does not verify.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emledger/client/errors.hpp"
#include "emledger/client/signer.hpp"
#include "emledger/client/transport.hpp"
#include "emledger/client/verify.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/tx_batch.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::client {

// GET /v1/health, as the node states it (not verified: use latest_header()).
struct Health {
  std::string status;
  std::string chain_id;
  Hash genesis_hash{};
  std::uint64_t height = 0;
  std::uint64_t log_size = 0;
  // The lowest height whose block the node holds: 0, or the height of the
  // snapshot it was restored from.
  std::uint64_t base_height = 0;
};

// One transaction's fate after a submit. status: "committed", "pending" or
// "rejected" (then `error` holds the node's code and message).
struct SubmitResult {
  Hash id{};
  std::string status;
  std::uint64_t height = 0;  // committed only
  std::uint64_t log_index = 0;
  Status error;
};

// GET /v1/transactions/{id}. status: "committed", "pending" or "rejected".
struct TxStatus {
  Hash id{};
  std::string status;
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  std::uint64_t log_index = 0;
  std::optional<ledger::Tx> tx;  // committed only; its id() was checked to equal `id`
  Status error;                  // rejected only
};

// A record as of a certified header, proven by a state proof.
struct VerifiedRecord {
  ledger::Record record;
  CertifiedHeader at;
};

// A proof bundle that passed verify_bundle() for its content hash.
struct VerifiedBundle {
  ledger::ProofBundle bundle;
  Bytes encoded;  // exactly as received; what `emledger proof` writes
  ledger::BundleVerdict verdict;
};

// The outcome of a chain walk. Failures of verification are values here
// (valid == false), so that a caller can tell them from a node that could
// not be reached (an error Result).
struct ChainReport {
  bool valid = false;
  Status failure;                   // CHAIN_* / CERT_* / PROOF_INVALID / CHECKPOINT_* when !valid
  std::uint64_t failed_height = 0;  // 0 when the failure is not tied to one block
  std::uint64_t base_height = 0;    // the walk started above it (0: from genesis)
  std::uint64_t height = 0;         // last height verified
  Hash head_hash{};
  std::uint64_t head_time_ms = 0;
  std::uint64_t log_size = 0;
  Hash log_root{};
  std::uint64_t tx_count = 0;
  std::uint64_t epoch = 0;           // of the validators in force above the head
  std::size_t changes_seen = 0;      // changes of validators re-checked in the walked blocks
  bool consistency_checked = false;  // a consistency proof first -> last log size verified
  std::optional<ledger::Checkpoint> checkpoint;  // the verified signed checkpoint
};

// Called after each verified block: (height, head height).
using ChainProgress = std::function<void(std::uint64_t, std::uint64_t)>;

struct ClientOptions {
  TransportOptions transport;
  std::uint64_t chain_page_headers = 200;  // headers fetched per request in verify_chain
};
inline constexpr std::uint64_t kHeadersPageMax = 1000;  // docs/api.md limit of GET /v1/headers

class Client {
 public:
  // `trusted` is the genesis this client pins (from the operator, never from
  // the node). Connects lazily: constructing never fails.
  Client(const std::string& base_url, ledger::Genesis trusted, const ClientOptions& options = {});
  // For tests and custom transports.
  Client(std::unique_ptr<Transport> transport, ledger::Genesis trusted,
         const ClientOptions& options = {});

  // Asks the node at `base_url` for its genesis and believes it (trust on
  // first use). Enough to build and sign transactions, whose fate the node
  // decides anyway; never use it as the trust root of a verification.
  static Result<ledger::Genesis> fetch_untrusted_genesis(const std::string& base_url,
                                                         const ClientOptions& options = {});

  const ledger::Genesis& trusted_genesis() const { return trusted_; }

  // The validator sets of every epoch, proven from the trusted genesis
  // (docs/validator-set-changes.md section 4): GET /v1/validators, its
  // "succession" verified (verify_sets) and the set the node reports as
  // current ("encoded" and the plain fields, never believed on their own)
  // required to be the last one the succession proves. Fetched once, then
  // kept and used to judge every header, proof and checkpoint this client
  // verifies; fetched again with `refresh`, or when a header or checkpoint
  // fails under the kept sets (the set may have changed since). A refreshed
  // succession must extend the kept one. A node without the endpoint (404
  // NOT_FOUND, an older node) is taken to have the genesis set alone: that
  // can only make verification fail, never pass. Errors: SUCCESSION_INVALID,
  // CERT_*, NODE_BAD_RESPONSE and the transport's.
  Result<ValidatorSets> validator_sets(bool refresh = false) const;
  const Hash& trusted_genesis_hash() const { return trusted_hash_; }

  Result<Health> health() const;
  // The node's genesis; GENESIS_MISMATCH unless its hash is the trusted one.
  Result<ledger::Genesis> genesis() const;

  // POST /v1/transactions. With wait_commit the answer comes once the block
  // is durably committed; a rejection is the node's error (e.g. EXPIRED).
  Result<SubmitResult> submit(const ledger::Tx& tx, bool wait_commit) const;
  // POST /v1/transactions/batch: one result per tx, in order; rejections are
  // per-entry values, not errors. At most kBatchTxsMax. Sent in the binary
  // form (docs/formats/tx-batch.md), or as JSON through a transport whose
  // send() carries only JSON or to a node that reads only JSON.
  static constexpr std::size_t kBatchTxsMax = ledger::kTxBatchTxsMax;
  Result<std::vector<SubmitResult>> submit_batch(const std::vector<ledger::Tx>& txs,
                                                 bool wait_commit) const;
  Result<TxStatus> tx_status(const Hash& tx_id) const;
  // Checks that a committed transaction is in the log of the latest certified
  // header (inclusion proof). Errors as latest_header(), plus PROOF_INVALID.
  Result<CertifiedHeader> verify_tx_committed(const ledger::Tx& tx) const;

  // verify_header() of a header and finality proof the node sent in any
  // answer, judged by the validator set in force at its height
  // (validator_sets(), refreshed once when the kept sets reject it).
  // Errors: verify_header's, and validator_sets()'.
  Result<CertifiedHeader> certify_header(ByteView encoded_header, ByteView encoded_certificate,
                                         std::optional<std::uint64_t> expected_height = {}) const;

  // The latest header, certificate verified. NOT_FOUND before the first block.
  Result<CertifiedHeader> latest_header() const;
  Result<CertifiedHeader> header(std::uint64_t height) const;
  // Headers [from, to], each verified; at most kHeadersPageMax.
  Result<std::vector<CertifiedHeader>> headers(std::uint64_t from, std::uint64_t to) const;

  // The record as of the latest certified header, from a verified state
  // proof; nullopt when the proof shows no such record.
  Result<std::optional<VerifiedRecord>> record(const Hash& record_id) const;
  // Every record anchoring `content_hash` (through a verified bundle).
  Result<std::vector<ledger::RecordVerdict>> records_by_hash(const Hash& content_hash) const;
  // GET /v1/bundles, decoded and verified. A bundle (version 3) carries the
  // succession up to its header, which verify_bundle() checks from the
  // trusted genesis, so it stands alone offline. A bundle that fails
  // verification is an error with verify_bundle()'s code (BUNDLE_*, CERT_*,
  // SUCCESSION_INVALID).
  Result<VerifiedBundle> fetch_bundle(const Hash& content_hash) const;
  // sha256_file(path), then fetch_bundle. Errors: IO_ERROR, and fetch_bundle's.
  Result<ledger::BundleVerdict> verify_file(const std::string& path) const;
  // The signed checkpoint note, verified: a quorum of the validators in force
  // at its log size (ledger::sets_for_log_size over validator_sets()).
  Result<ledger::Checkpoint> checkpoint() const;

  // Fetches and verifies the whole chain, genesis to head (ChainVerifier),
  // checks the last header equals the certified head, a consistency proof from
  // the first to the last log size and the signed checkpoint.
  Result<ChainReport> verify_chain(const ChainProgress& progress = {}) const;

  // A transaction signed by `signer`: chain id from the trusted genesis,
  // expires_at_height = the node's height + kTxExpiryBlocks, random nonce.
  Result<ledger::Tx> make_tx(const Signer& signer, ledger::TxType type, Bytes payload) const;

 private:
  Result<HttpResponse> get_ok(const std::string& target) const;
  // GET /v1/validators, verified; not cached.
  Result<std::shared_ptr<const ValidatorSets>> fetch_validator_sets() const;
  // The kept sets (fetched on first use); `fresh` tells whether they were
  // fetched by this call.
  Result<std::shared_ptr<const ValidatorSets>> kept_sets(bool refresh, bool* fresh = nullptr) const;
  // Runs `check` under the kept sets and, when it fails with `retry_prefix`
  // (CERT_, CHECKPOINT_) under sets that were not just fetched, once more
  // under refreshed sets if they hold a newer epoch.
  template <class T, class Check>
  Result<T> with_sets(std::string_view retry_prefix, const Check& check) const;
  Result<CertifiedHeader> header_at(const std::string& target,
                                    std::optional<std::uint64_t> height) const;
  Result<ledger::StateProof> state_proof(ByteView key, std::uint64_t height) const;
  Result<ledger::ConsistencyProof> consistency_proof(std::uint64_t first,
                                                     std::uint64_t second) const;
  Result<std::vector<Hash>> log_frontier(std::uint64_t size) const;
  // The binding of a holder after block `height`, proven against its state
  // root (ChainVerifier's HolderLookup).
  Result<std::optional<ledger::HolderBinding>> holder_binding(const Hash& holder_ref,
                                                              std::uint64_t height,
                                                              const Hash& state_root) const;
  // A state proof of the validators at the walk's tip, checked by the walk.
  Status check_validators_at_tip(const ChainVerifier& walk) const;
  Status check_consistency(std::uint64_t a_size, const Hash& a_root, std::uint64_t b_size,
                           const Hash& b_root) const;
  // Verifies blocks [from, to]. A verification failure lands in `report`
  // (failure set); an error means the walk could not continue.
  Status walk_page(ChainVerifier& walk, std::uint64_t from, std::uint64_t to, std::uint64_t head,
                   const ChainProgress& progress, ChainReport& report) const;

  std::unique_ptr<Transport> transport_;
  ledger::Genesis trusted_;
  Hash trusted_hash_{};
  ClientOptions options_;
  struct SetsCache;
  std::shared_ptr<SetsCache> sets_cache_;  // a pointer: Client stays movable
};

}  // namespace emledger::client
