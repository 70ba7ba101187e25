// The light client's checks, with no network: everything the SDK receives
// passes through here before it is returned. Each function takes the trusted
// genesis (or something already verified against it) and the bytes a node
// sent, and either returns the verified value or says what failed.
//
// All functions are pure and thread safe; ChainVerifier is a value that one
// thread feeds block by block.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::client {

// The validator sets of every epoch a client knows, proven from the trusted
// genesis (docs/validator-set-changes.md section 4): the genesis set, then one
// set per change of the succession that proves it.
struct ValidatorSets {
  std::vector<ledger::ValidatorSet> sets;  // [e] judges epoch e; [0] the genesis set
  ledger::Succession succession;           // changes[i] proves sets[i + 1]
  // The set that judges the block at `height` (ledger::set_for_height).
  const ledger::ValidatorSet& for_height(std::uint64_t height) const {
    return ledger::set_for_height(sets, height);
  }
  // The newest set: the one in force above the last change.
  const ledger::ValidatorSet& current() const { return sets.back(); }
};

// The genesis set alone: a chain whose validators never changed.
ValidatorSets genesis_sets(const ledger::Genesis& trusted);

// Verifies `succession` from the trusted genesis (ledger::verify_succession):
// every change block final under the set before it, every next set proven by
// a state proof against that block's state root. Errors: SUCCESSION_INVALID,
// CERT_*.
Result<ValidatorSets> verify_sets(const ledger::Genesis& trusted, ledger::Succession succession);

// A block header whose finality proof verified against the trusted
// validator set.
struct CertifiedHeader {
  ledger::BlockHeader header;
  ledger::FinalityProof finality;  // its own certificate, or a finalized descendant's
  Hash hash{};                     // header.hash()
};

// Decodes a header and its finality proof (canonical encodings, as the API
// returns them in the "certificate" field: encode(Certificate) for the
// block's own certificate, encode(FinalityProof) for a link to a finalized
// descendant; ledger::encode_finality_proof) and checks chain id and
// finality, with quorum n - f of distinct validators. `expected_height`, when
// given, must match. Errors: NODE_BAD_RESPONSE (undecodable), HEADER_INVALID
// (other chain or height), CERT_MISMATCH, CERT_BAD_SIGNATURE, CERT_NO_QUORUM,
// CERT_LINK_BROKEN, CERT_LINK_TOO_LONG.
Result<CertifiedHeader> verify_header(const ledger::Genesis& trusted, ByteView encoded_header,
                                      ByteView encoded_certificate,
                                      std::optional<std::uint64_t> expected_height = {});
// The same, for a chain whose validators may have changed: finality is
// judged by sets.for_height(header height), the statement rebuilt for that
// set's epoch (ledger::verify_finality_in_set). `sets` must come from
// verify_sets() or genesis_sets() of `trusted`. The form above is this one
// with genesis_sets(trusted).
Result<CertifiedHeader> verify_header(const ledger::Genesis& trusted, const ValidatorSets& sets,
                                      ByteView encoded_header, ByteView encoded_certificate,
                                      std::optional<std::uint64_t> expected_height = {});

// Checks that `proof` is a proof for `key` under the header's state root.
// Errors: PROOF_INVALID.
Status verify_state(const CertifiedHeader& at, ByteView key, const ledger::StateProof& proof);

// The record `record_id` as of `at`, from a state proof of its state key:
// nullopt when the proof shows it absent. Errors: PROOF_INVALID (proof does not
// verify, names another key, or holds a value that is not that record).
Result<std::optional<ledger::Record>> verify_record(const CertifiedHeader& at,
                                                    const Hash& record_id,
                                                    const ledger::StateProof& proof);

// Checks that the transaction `encoded_tx` is in the log of `at`:
// proof.tree_size must equal the header's log size. Errors: PROOF_INVALID.
Status verify_tx_inclusion(const CertifiedHeader& at, ByteView encoded_tx,
                           const ledger::InclusionProof& proof);

// Bundle bytes (version 3, or version 1 or 2 read as version 3 with no
// succession) -> ProofBundle.
// Errors: BUNDLE_MALFORMED (with the decoder's reason).
Result<ledger::ProofBundle> decode_bundle(ByteView encoded);
// Reads and decodes a bundle file. Errors: IO_ERROR, BUNDLE_MALFORMED.
Result<ledger::ProofBundle> read_bundle_file(const std::string& path);
// Writes `encoded` to `path` (mode 0644, via a temporary file and rename, so a
// reader never sees half a bundle). Errors: IO_ERROR.
Status write_bundle_file(const std::string& path, ByteView encoded);

// The binding of `holder_ref` in the state after block `height`, proven
// against that block's `state_root`; nullopt when no key is bound. How
// ChainVerifier learns holder keys, which live in state, not in the genesis.
using HolderLookup = std::function<Result<std::optional<ledger::HolderBinding>>(
    const Hash& holder_ref, std::uint64_t height, const Hash& state_root)>;

// Walks a chain one block at a time, from height 1 or from a certified base
// (resume()), checking every link: finality proof (own certificate or link to
// a finalized descendant) under the validator set in force at that height,
// chain id, contiguous heights, parent hash (the genesis hash for block 1),
// time never before the parent's (or the genesis time), each transaction well
// formed and signed (an org's by its genesis key; a holder's by the key bound
// to it at that point: the parent's state, through `holders`, then the
// bindings, re-bindings and rotations before it in the same block), the
// payload digest, and the RFC 9162 log recomputed over every transaction
// against each header's log_size and log_root. O(log n) memory, plus the
// validator sets.
//
// Validator-set changes (docs/validator-set-changes.md): the walk starts with
// the genesis set. A block holding a ChangeValidators transaction is
// re-checked (ledger::verify_validator_change against the set in force, every
// new member's org a validator org of the trusted genesis, at most one per
// block) and ends its epoch: from the next height on, certificates are judged
// by the new set, for the next epoch. So a node that forges a change, or
// serves a block above a change certified by the old set, is caught. The
// node's succession, when given (expect_sets), is compared with every change
// the walk sees.
class ChainVerifier {
 public:
  explicit ChainVerifier(ledger::Genesis trusted, HolderLookup holders = {});

  // The node's succession, already verified from the trusted genesis
  // (verify_sets). The walk then requires it to name exactly the changes it
  // finds (a change at the same height with the same set; CHAIN_SUCCESSION_MISMATCH
  // otherwise), and resume() takes the sets in force at its base from it.
  // Only before resume() and the first add_block.
  void expect_sets(ValidatorSets claimed);

  // Starts the walk at `base` instead of genesis: a node restored from a
  // snapshot holds no block below it. The sets in force up to the height
  // above the base come from expect_sets() (the genesis set alone without
  // it); `finality` must make `base` final under the set of its height and
  // `log_subtrees` (MerkleLog::frontier) must fold to its log root. Only
  // before the first add_block. Codes: CHAIN_CERT_INVALID,
  // CHAIN_WRONG_CHAIN_ID, CHAIN_LOG_MISMATCH.
  Status resume(const ledger::BlockHeader& base, const ledger::FinalityProof& finality,
                std::vector<Hash> log_subtrees);

  // Checks `block` as the next one. On failure returns a CHAIN_* error whose
  // message starts with "height N:" and the verifier stays where it was.
  // Codes: CHAIN_WRONG_CHAIN_ID, CHAIN_HEIGHT_GAP, CHAIN_CERT_INVALID,
  // CHAIN_PARENT_MISMATCH, CHAIN_TIME_REGRESSION, CHAIN_TX_INVALID,
  // CHAIN_VALIDATORS_INVALID, CHAIN_SUCCESSION_MISMATCH,
  // CHAIN_PAYLOAD_MISMATCH, CHAIN_LOG_MISMATCH; or the holder lookup's error.
  Status add_block(const ledger::Block& block, const ledger::FinalityProof& finality);
  // The own form: add_block(block, FinalityProof::own(certificate)).
  Status add_block(const ledger::Block& block, const ledger::Certificate& certificate);

  // Checks a state proof of ledger::validators_state_key() at the tip (the
  // base after resume(), else the last block added; not at genesis) against
  // its state root, and that it names the set the walk holds in force above
  // the tip (absent: the genesis set). Catches a succession that hides a
  // change below a resumed base, or a change the walk did not see.
  // Codes: CHAIN_SUCCESSION_MISMATCH, PROOF_INVALID.
  Status check_validators_state(const ledger::StateProof& proof) const;
  // Once the walk reached the head: every set of expect_sets() was found by
  // the walk (or came with the base). Codes: CHAIN_SUCCESSION_MISMATCH.
  Status check_expected_sets_reached() const;

  std::uint64_t base_height() const { return base_height_; }
  std::uint64_t height() const { return height_; }
  const Hash& tip_hash() const { return tip_hash_; }
  std::uint64_t tip_time_ms() const { return tip_time_ms_; }
  const Hash& tip_state_root() const { return tip_state_root_; }
  std::uint64_t log_size() const { return log_.size(); }
  Hash log_root() const { return log_.root(); }
  // The first non-empty log the walk saw (for the consistency check against
  // the last one); size 0 while every block so far was empty.
  std::uint64_t first_log_size() const { return first_log_size_; }
  const Hash& first_log_root() const { return first_log_root_; }
  // The sets of every epoch up to the one in force above the tip, as the walk
  // established them ([0] the genesis set).
  const std::vector<ledger::ValidatorSet>& sets() const { return sets_; }
  // The changes the walk re-checked itself (not those taken with a base).
  std::size_t changes_seen() const { return changes_seen_; }

 private:
  Status fail(std::string_view code, std::uint64_t height, const std::string& what) const;
  // Checks the block's transactions; a ChangeValidators among them, once
  // re-checked against `in_force`, sets `next` to the set it starts.
  Status check_txs(const ledger::Block& block, const ledger::ValidatorSet& in_force,
                   std::vector<Hash>& ids, std::vector<Hash>& leaves,
                   std::optional<ledger::ValidatorSet>& next) const;
  Status check_change(std::uint64_t h, const std::string& where, const ledger::Tx& tx,
                      const ledger::ValidatorSet& in_force,
                      std::optional<ledger::ValidatorSet>& next) const;
  // Compares block `h`'s change (or its absence) with the expected sets.
  Status check_expected(std::uint64_t h, const std::optional<ledger::ValidatorSet>& next) const;

  ledger::Genesis trusted_;
  HolderLookup holders_;
  std::vector<ledger::ValidatorSet> sets_;  // established by the walk (and the base)
  std::optional<ValidatorSets> expected_;   // the node's, verified
  std::size_t changes_seen_ = 0;
  std::uint64_t base_height_ = 0;
  std::uint64_t height_ = 0;
  Hash tip_hash_{};
  Hash tip_state_root_{};
  std::uint64_t tip_time_ms_ = 0;
  ledger::LogFrontier log_;
  std::uint64_t first_log_size_ = 0;
  Hash first_log_root_{};
};

// Checks that the log of `second_size` leaves with root `second_root` extends
// the one of `first_size`/`first_root`; first_size <= second_size (equal sizes
// need equal roots and no proof). Errors: PROOF_INVALID.
Status verify_log_consistency(std::uint64_t first_size, const Hash& first_root,
                              std::uint64_t second_size, const Hash& second_root,
                              const ledger::ConsistencyProof& proof);

}  // namespace emledger::client
