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

#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::client {

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

// Bundle bytes (version 2, or version 1 read as version 2) -> ProofBundle.
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
// a finalized descendant) under the trusted validator set, chain id,
// contiguous heights, parent hash (the genesis hash for block 1), time never
// before the parent's (or the genesis time), each transaction well formed and
// signed (an org's by its genesis key; a holder's by the key bound to it at
// that point: the parent's state, through `holders`, then the bindings,
// re-bindings and rotations before it in the same block), the payload digest,
// and the RFC 9162 log recomputed over every transaction against each
// header's log_size and log_root. O(log n) memory.
class ChainVerifier {
 public:
  explicit ChainVerifier(ledger::Genesis trusted, HolderLookup holders = {});

  // Starts the walk at `base` instead of genesis: a node restored from a
  // snapshot holds no block below it. `finality` must make `base` final
  // under the trusted validator set and `log_subtrees` (MerkleLog::frontier)
  // must fold to its log root. Only before the first add_block. Codes:
  // CHAIN_CERT_INVALID, CHAIN_WRONG_CHAIN_ID, CHAIN_LOG_MISMATCH.
  Status resume(const ledger::BlockHeader& base, const ledger::FinalityProof& finality,
                std::vector<Hash> log_subtrees);

  // Checks `block` as the next one. On failure returns a CHAIN_* error whose
  // message starts with "height N:" and the verifier stays where it was.
  // Codes: CHAIN_WRONG_CHAIN_ID, CHAIN_HEIGHT_GAP, CHAIN_CERT_INVALID,
  // CHAIN_PARENT_MISMATCH, CHAIN_TIME_REGRESSION, CHAIN_TX_INVALID,
  // CHAIN_PAYLOAD_MISMATCH, CHAIN_LOG_MISMATCH; or the holder lookup's error.
  Status add_block(const ledger::Block& block, const ledger::FinalityProof& finality);
  // The own form: add_block(block, FinalityProof::own(certificate)).
  Status add_block(const ledger::Block& block, const ledger::Certificate& certificate);

  std::uint64_t base_height() const { return base_height_; }
  std::uint64_t height() const { return height_; }
  const Hash& tip_hash() const { return tip_hash_; }
  std::uint64_t tip_time_ms() const { return tip_time_ms_; }
  std::uint64_t log_size() const { return log_.size(); }
  Hash log_root() const { return log_.root(); }
  // The first non-empty log the walk saw (for the consistency check against
  // the last one); size 0 while every block so far was empty.
  std::uint64_t first_log_size() const { return first_log_size_; }
  const Hash& first_log_root() const { return first_log_root_; }

 private:
  Status fail(std::string_view code, std::uint64_t height, const std::string& what) const;
  Status check_txs(const ledger::Block& block, std::vector<Hash>& ids,
                   std::vector<Hash>& leaves) const;

  ledger::Genesis trusted_;
  HolderLookup holders_;
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
