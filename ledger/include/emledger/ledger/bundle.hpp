// Offline proof bundles (design.md section 5; docs/formats/bundle.md):
// everything needed to verify one file against a trusted genesis with no
// network. The same verify_bundle() serves `emledger verify --node` (bundle
// fetched live) and `--bundle` (bundle read from a file).
#pragma once

#include <string>
#include <vector>

#include "emledger/ledger/finality.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::ledger {

// One record anchoring the file: its state value and proof, and the
// transaction that created this version (the issuer's e-seal) with its
// inclusion in the transaction log.
struct RecordEvidence {
  StateProof record_proof;  // key record_key(id), present
  Bytes anchor_tx;          // encode(Tx)
  InclusionProof anchor_inclusion;
  template <class V>
  void describe(V& v) {
    v.object(record_proof);
    v.bytes(anchor_tx, kTxBytesMax);
    v.object(anchor_inclusion);
  }
};

// Version 3 (docs/validator-set-changes.md section 4): the validator-set
// changes up to the header's epoch (`succession`) and the state proof of
// validators_state_key() at the header, which shows that the succession
// is complete. Version 2 (ADR 014): `finality` replaces version 1's
// `certificate`, so a bundle can be as of a block final through a
// descendant.
struct ProofBundle {
  static constexpr std::string_view kDomain = "emledger.bundle";
  static constexpr std::uint8_t kVersion = 3;
  Hash genesis_hash{};
  Hash content_hash{};
  BlockHeader header;
  FinalityProof finality;               // makes `header` final under the set in force at its height
  Succession succession;                // every change at heights up to the header's
  StateProof validators_proof;          // key validators_state_key(): present or absent
  StateProof index_proof;               // key hash_index_key(content_hash): present or absent
  std::vector<RecordEvidence> records;  // one per id in the index, same order
  template <class V>
  void describe(V& v) {
    v.fixed(genesis_hash);
    v.fixed(content_hash);
    v.object(header);
    v.object(finality);
    v.object(succession);
    v.object(validators_proof);
    v.object(index_proof);
    v.list(records, kBundleRecordsMax);
  }
};

// A bundle written before version 3 (no succession: the genesis set judges
// its header). Still read, as ProofBundle with an empty succession.
struct ProofBundleV2 {
  static constexpr std::string_view kDomain = "emledger.bundle";
  static constexpr std::uint8_t kVersion = 2;
  Hash genesis_hash{};
  Hash content_hash{};
  BlockHeader header;
  FinalityProof finality;
  StateProof index_proof;
  std::vector<RecordEvidence> records;
  template <class V>
  void describe(V& v) {
    v.fixed(genesis_hash);
    v.fixed(content_hash);
    v.object(header);
    v.object(finality);
    v.object(index_proof);
    v.list(records, kBundleRecordsMax);
  }
};

// A bundle written before version 2 (its header's own certificate only).
// Still read, so that bundles users keep offline keep verifying.
struct ProofBundleV1 {
  static constexpr std::string_view kDomain = "emledger.bundle";
  static constexpr std::uint8_t kVersion = 1;
  Hash genesis_hash{};
  Hash content_hash{};
  BlockHeader header;
  Certificate certificate;
  StateProof index_proof;
  std::vector<RecordEvidence> records;
  template <class V>
  void describe(V& v) {
    v.fixed(genesis_hash);
    v.fixed(content_hash);
    v.object(header);
    v.object(certificate);
    v.object(index_proof);
    v.list(records, kBundleRecordsMax);
  }
};

// Decodes a bundle of version 3, or of version 1 or 2 as the equivalent
// version 3 value (own-form finality for version 1; an empty succession and
// an empty `validators_proof` for both, which verify_bundle reads as "no
// change known": fine for chains whose set never changed). Errors:
// MALFORMED_ENCODING (or a check() code).
Result<ProofBundle> decode_proof_bundle(ByteView in);

enum class Verdict : std::uint8_t {
  kValid = 0,
  kNotAnchored = 1,
  kRevoked = 2,
  kSuperseded = 3,
  kExpired = 4,
  kNotYetValid = 5,
};
std::string_view verdict_name(Verdict v);

struct RecordVerdict {
  Record record;
  Verdict verdict = Verdict::kValid;
};

struct BundleVerdict {
  Verdict overall = Verdict::kNotAnchored;  // kValid when any record is valid
  std::vector<RecordVerdict> records;
  std::uint64_t height = 0;   // the header the answer is as of
  std::uint64_t time_ms = 0;  // its time, against which expiry is judged
};

// Verifies every link of the bundle: genesis hash, the succession from the
// trusted genesis (verify_succession), finality of the header (its own
// certificate or a link to a finalized descendant) under the set the
// succession gives its height, the validators state proof naming the last
// set of the succession (absent when it is empty), state proofs against the
// header's state root, the
// index naming exactly the bundled records, each anchoring transaction's
// inclusion under the header's log root and its issuer signature under the
// org key of the trusted genesis. `file_hash` is what the verifier computed.
// An error means the bundle cannot be trusted (tampered or inconsistent):
// BUNDLE_GENESIS_MISMATCH, BUNDLE_HASH_MISMATCH, SUCCESSION_INVALID, CERT_*,
// BUNDLE_PROOF_INVALID, BUNDLE_SEAL_INVALID. A verdict means the bundle is
// sound. A bundle of version 1 or 2 (no validators proof) is judged by the
// genesis set and not checked for completeness.
Result<BundleVerdict> verify_bundle(const Genesis& trusted, const ProofBundle& bundle,
                                    const Hash& file_hash);

}  // namespace emledger::ledger
