// Consensus values and their canonical encodings (docs/consensus.md section
// 10, docs/formats/encoding.md): votes, signed votes, proposals,
// certificates, equivocation evidence, and the bytes each vote signs.
//
// Decoding refuses out-of-range kinds and values that break the invariants
// stated on each type (check()); it never verifies signatures: that needs the
// validator set and is the core's job (or verify_evidence()).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/votes.hpp"

namespace emledger::consensus {

class Verifier;

using View = std::uint64_t;
using Height = std::uint64_t;
using ValidatorIndex = std::uint16_t;
// The validator set's number (docs/validator-set-changes.md section 2); every
// signed statement names it.
using crypto::PublicKey;
using crypto::Signature;
using ledger::Epoch;
using ledger::kGenesisEpoch;

// The largest block a proposal may carry: a ledger Block with the most and
// largest transactions, plus room for its header.
inline constexpr std::size_t kBlockHeaderBytesMax = 4096;
inline constexpr std::size_t kProposalBytesMax =
    ledger::kBlockTxsMax * (ledger::kTxBytesMax + 4) + kBlockHeaderBytesMax;
static_assert(ledger::kValidatorsMax <= 65536, "validator indices are u16");
// The highest view any vote, proposal or certificate may name: far beyond any
// real chain (a view a millisecond for 146,000 years), and far enough below
// 2^64 that view + kViewsAheadMax + 1 never overflows.
inline constexpr View kViewMax = View{1} << 62;

// The vote kinds and the statements they sign are the kernel's
// (ledger/votes.hpp), so that the kernel can verify equivocation evidence.
using ledger::kVoteKindMax;
using ledger::VoteKind;

// What a validator votes for, before it is signed. This is what the WAL holds.
// A nullify vote has height 0 and a zero digest; notarize and finalize votes
// name a block (height >= 1, its header hash). Every vote has
// 1 <= view <= kViewMax.
struct Vote {
  static constexpr std::string_view kDomain = "emledger.consensus.vote";
  static constexpr std::uint8_t kVersion = 1;
  std::uint8_t kind = 0;  // VoteKind
  View view = 0;
  Height height = 0;
  Hash digest{};
  template <class V>
  void describe(V& v) {
    v.u8(kind);
    v.u64(view);
    v.u64(height);
    v.fixed(digest);
  }
  Status check() const;
  VoteKind vote_kind() const { return static_cast<VoteKind>(kind); }
  friend bool operator==(const Vote&, const Vote&) = default;
  friend auto operator<=>(const Vote&, const Vote&) = default;
};

Vote notarize_vote(View view, Height height, const Hash& digest);
Vote nullify_vote(View view);
Vote finalize_vote(View view, Height height, const Hash& digest);

// The statements a notarize and a nullify vote sign (ledger/votes.hpp; the
// finalize statement is ledger::FinalizeVote).
using ledger::NotarizeStatement;
using ledger::NullifyStatement;

// The exact bytes a validator signs for `vote` of `epoch` on chain
// `chain_id`. For a finalize vote this is encode(ledger::FinalizeVote{...}),
// so a quorum of finalize signatures is a ledger::Certificate of that epoch.
// Requires vote.check() ok.
Bytes signing_bytes(std::string_view chain_id, Epoch epoch, const Vote& vote);

// A vote with its signer's index in the validator set and signature.
struct SignedVote {
  static constexpr std::string_view kDomain = "emledger.consensus.signed-vote";
  static constexpr std::uint8_t kVersion = 1;
  Vote vote;
  ValidatorIndex validator = 0;
  Signature signature{};
  template <class V>
  void describe(V& v) {
    v.object(vote);
    v.u16(validator);
    v.fixed(signature);
  }
  Status check() const { return vote.check(); }
  friend bool operator==(const SignedVote&, const SignedVote&) = default;
};

// A block as the core sees it (docs/consensus.md section 2). `digest` is the
// ledger header hash; `parent_view` is the view in the parent's header.
struct BlockRef {
  View view = 0;
  Height height = 0;
  View parent_view = 0;
  Hash parent{};
  Hash digest{};
  template <class V>
  void describe(V& v) {
    v.u64(view);
    v.u64(height);
    v.u64(parent_view);
    v.fixed(parent);
    v.fixed(digest);
  }
  friend bool operator==(const BlockRef&, const BlockRef&) = default;
};

// A leader's proposal: the block reference, the block's bytes (opaque to the
// core; encode(ledger::Block) in the node) and the leader's notarize
// signature over (view, height, digest), which doubles as its notarize vote.
struct Proposal {
  static constexpr std::string_view kDomain = "emledger.consensus.proposal";
  static constexpr std::uint8_t kVersion = 1;
  BlockRef block;
  ValidatorIndex proposer = 0;
  Signature signature{};
  Bytes payload;
  template <class V>
  void describe(V& v) {
    v.object(block);
    v.u16(proposer);
    v.fixed(signature);
    v.bytes(payload, kProposalBytesMax);
  }
  Status check() const;  // view >= 1, height >= 1, parent_view < view
  SignedVote leader_vote() const;
};

// A quorum of signatures on one statement. For kFinalize it converts to the
// ledger's Certificate. Signers strictly increasing by index.
struct Certificate {
  static constexpr std::string_view kDomain = "emledger.consensus.cert";
  static constexpr std::uint8_t kVersion = 1;
  std::uint8_t kind = 0;  // VoteKind
  View view = 0;
  Height height = 0;
  Hash digest{};
  std::vector<ledger::CertSignature> signatures;
  template <class V>
  void describe(V& v) {
    v.u8(kind);
    v.u64(view);
    v.u64(height);
    v.fixed(digest);
    v.list(signatures, ledger::kValidatorsMax);
  }
  Status check() const;  // the Vote rules, and signers strictly increasing
  Vote vote() const { return Vote{kind, view, height, digest}; }
  VoteKind vote_kind() const { return static_cast<VoteKind>(kind); }
  // Requires kind == kFinalize.
  ledger::Certificate to_ledger() const;
};

// Two validly signed votes of one validator, of one kind, for one view, with
// different statements. `first` encodes below `second`, so one pair has one
// encoding.
struct Evidence {
  static constexpr std::string_view kDomain = "emledger.consensus.evidence";
  static constexpr std::uint8_t kVersion = 1;
  SignedVote first;
  SignedVote second;
  template <class V>
  void describe(V& v) {
    v.object(first);
    v.object(second);
  }
  Status check() const;  // the shape above; signatures are not checked here
  friend bool operator==(const Evidence&, const Evidence&) = default;
};

// Orders `a` and `b` into an Evidence (they must conflict as described).
Evidence make_evidence(const SignedVote& a, const SignedVote& b);

// Checks `e` against the validator set of `epoch`: its shape, the signer's
// index, and both signatures over statements of that epoch. Errors:
// EVIDENCE_INVALID, EVIDENCE_BAD_SIGNATURE.
Status verify_evidence(std::string_view chain_id, Epoch epoch,
                       const std::vector<PublicKey>& validators, const Verifier& verifier,
                       const Evidence& e);

// What travels between validators.
using Message = std::variant<Proposal, SignedVote, Certificate>;

Bytes encode_message(const Message& m);
// Decodes whichever of the three types the domain tag names. Errors:
// MALFORMED_ENCODING (also for an unknown tag) or the type's check() code.
Result<Message> decode_message(ByteView in);

}  // namespace emledger::consensus
