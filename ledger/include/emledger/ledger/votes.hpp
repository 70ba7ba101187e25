// The statements validators sign when they vote (docs/consensus.md section 3)
// and the equivocation evidence built from two of them: the SubmitEvidence
// transaction (type 14) and the evidence record it leaves in state. Layouts:
// docs/formats/encoding.md.
//
// These live in the kernel, not in node/consensus, because the kernel must
// verify evidence deterministically and depends on nothing above it. The
// consensus library signs exactly these bytes (consensus::signing_bytes
// delegates to vote_statement_bytes), so a vote it emits is evidence the
// kernel can check. The finalize statement is FinalizeVote (types.hpp).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::ledger {

enum class VoteKind : std::uint8_t { kNotarize = 1, kNullify = 2, kFinalize = 3 };
inline constexpr std::uint8_t kVoteKindMax = 3;

// The statement a notarize vote signs: "this block is a valid proposal of the
// view's leader" (same fields as FinalizeVote, another domain). Version 2
// added the epoch.
struct NotarizeStatement {
  static constexpr std::string_view kDomain = "emledger.vote.notarize";
  static constexpr std::uint8_t kVersion = 2;
  std::string chain_id;
  Epoch epoch = kGenesisEpoch;
  std::uint64_t height = 0;
  std::uint64_t view = 0;
  Hash header_hash{};
  template <class V>
  void describe(V& v) {
    v.str(chain_id, kChainIdBytesMax);
    v.u64(epoch);
    v.u64(height);
    v.u64(view);
    v.fixed(header_hash);
  }
};

// The statement a nullify vote signs: "skip this view" of this epoch.
// Version 2 added the epoch.
struct NullifyStatement {
  static constexpr std::string_view kDomain = "emledger.vote.nullify";
  static constexpr std::uint8_t kVersion = 2;
  std::string chain_id;
  Epoch epoch = kGenesisEpoch;
  std::uint64_t view = 0;
  template <class V>
  void describe(V& v) {
    v.str(chain_id, kChainIdBytesMax);
    v.u64(epoch);
    v.u64(view);
  }
};

// The exact bytes a validator signs for a vote of `kind` in `view` of `epoch`
// on chain `chain_id`: encode(NotarizeStatement), encode(NullifyStatement)
// (height and digest unused) or encode(FinalizeVote). Requires 1 <= kind <=
// kVoteKindMax and chain_id.size() <= kChainIdBytesMax.
Bytes vote_statement_bytes(std::string_view chain_id, Epoch epoch, VoteKind kind,
                           std::uint64_t view, std::uint64_t height, const Hash& digest);

// One signed vote as evidence carries it. A nullify vote names no block
// (height 0, zero digest); a notarize or finalize vote names one (height >= 1).
// The defaulted ordering is the order of the encodings (fixed-width fields,
// big-endian, in declaration order).
struct EvidenceVote {
  std::uint16_t validator = 0;  // index into the set of the evidence's epoch
  std::uint8_t kind = 0;        // VoteKind
  std::uint64_t view = 0;
  std::uint64_t height = 0;
  Hash digest{};  // the block's header hash
  Signature signature{};
  template <class V>
  void describe(V& v) {
    v.u16(validator);
    v.u8(kind);
    v.u64(view);
    v.u64(height);
    v.fixed(digest);
    v.fixed(signature);
  }
  // Kind in range, view >= 1, the nullify/block shape above. EVIDENCE_INVALID.
  Status check() const;
  // The statement as signed in `epoch` (SubmitEvidence::epoch).
  Bytes statement_bytes(std::string_view chain_id, Epoch epoch) const {
    return vote_statement_bytes(chain_id, epoch, static_cast<VoteKind>(kind), view, height, digest);
  }
  friend bool operator==(const EvidenceVote&, const EvidenceVote&) = default;
  friend auto operator<=>(const EvidenceVote&, const EvidenceVote&) = default;
};

// Transaction type 14 (any org may sign): two votes of one validator, of one
// kind, for one view of `epoch`, whose signed statements differ (a different
// block). `first` orders strictly below `second`, so one offence pair has
// exactly one payload. Two votes with one statement (even with different
// signature bytes) are never evidence; nor are two nullify votes of one view
// (one statement). Version 2 added the epoch; decode payloads with
// decode_submit_evidence, which reads version 1 as epoch 0.
struct SubmitEvidence {
  static constexpr std::string_view kDomain = "emledger.tx.submit-evidence";
  static constexpr std::uint8_t kVersion = 2;
  Epoch epoch = kGenesisEpoch;  // the epoch both votes were signed in
  EvidenceVote first;
  EvidenceVote second;
  template <class V>
  void describe(V& v) {
    v.u64(epoch);
    v.object(first);
    v.object(second);
  }
  // The shape above, without signatures. EVIDENCE_INVALID.
  Status check() const;
};

// A payload written before version 2: its votes are of epoch 0. Still read,
// so that chains holding it replay byte for byte.
struct SubmitEvidenceV1 {
  static constexpr std::string_view kDomain = SubmitEvidence::kDomain;
  static constexpr std::uint8_t kVersion = 1;
  EvidenceVote first;
  EvidenceVote second;
  template <class V>
  void describe(V& v) {
    v.object(first);
    v.object(second);
  }
};

// Decodes a version 2 payload, or a version 1 one as epoch 0. The errors of
// decode<SubmitEvidence> (a bad shape is EVIDENCE_INVALID).
Result<SubmitEvidence> decode_submit_evidence(ByteView in);

// Orders `a` and `b` into a payload of `epoch` (check() may still refuse it).
SubmitEvidence make_submit_evidence(Epoch epoch, const EvidenceVote& a, const EvidenceVote& b);

// What the kernel checks before it records evidence: the shape (check()),
// `set` is the set of e.epoch, the signer is a validator of it, and both
// signatures verify under its key over the statements of `chain_id` in
// e.epoch. Pure and deterministic. Errors: EVIDENCE_INVALID (also a set of
// another epoch), EVIDENCE_NOT_VALIDATOR, EVIDENCE_BAD_SIGNATURE.
Status verify_evidence(std::string_view chain_id, const ValidatorSet& set, const SubmitEvidence& e);
// The same against the genesis set: evidence of epoch 0 only.
Status verify_evidence(const Genesis& genesis, const SubmitEvidence& e);

// State value under evidence_state_key(epoch, validator, view, kind): the
// offence, recorded once, with the transaction that proved it. Version 2
// added the epoch; a record of epoch 0 is written as EvidenceRecordV1 (so
// that chains recorded before version 2 keep their state roots) and of a
// later epoch as version 2. Encode with encode_evidence_record and decode
// with decode_evidence_record.
struct EvidenceRecord {
  static constexpr std::string_view kDomain = "emledger.evidence";
  static constexpr std::uint8_t kVersion = 2;
  Epoch epoch = kGenesisEpoch;
  std::uint16_t validator = 0;  // index into the set of `epoch`
  std::uint8_t kind = 0;
  std::uint64_t view = 0;
  PublicKey validator_key{};  // the key that signed both votes
  EvidenceVote first;
  EvidenceVote second;
  std::string submitted_by;  // the org that signed the transaction
  Hash tx{};                 // the SubmitEvidence transaction
  std::uint64_t height = 0;
  std::uint32_t index = 0;  // tx's index in its block
  template <class V>
  void describe(V& v) {
    v.u64(epoch);
    body(v);
  }
  // Version 2 is for epochs >= 1 only (one record, one encoding).
  // MALFORMED_ENCODING.
  Status check() const;
  template <class V>
  void body(V& v) {
    v.u16(validator);
    v.u8(kind);
    v.u64(view);
    v.fixed(validator_key);
    v.object(first);
    v.object(second);
    v.str(submitted_by, kOrgIdBytesMax);
    v.fixed(tx);
    v.u64(height);
    v.u32(index);
  }
};

// The record of an epoch-0 offence: version 1, EvidenceRecord without the
// epoch.
struct EvidenceRecordV1 {
  static constexpr std::string_view kDomain = EvidenceRecord::kDomain;
  static constexpr std::uint8_t kVersion = 1;
  EvidenceRecord r;  // r.epoch is kGenesisEpoch
  template <class V>
  void describe(V& v) {
    r.body(v);
  }
};

// Version 1 bytes for epoch 0, version 2 for later epochs.
Bytes encode_evidence_record(const EvidenceRecord& r);
// Either version; version 1 as epoch 0. The errors of decode<>.
Result<EvidenceRecord> decode_evidence_record(ByteView in);

}  // namespace emledger::ledger
