#include "emledger/consensus/messages.hpp"

#include <algorithm>

#include "emledger/consensus/verifier.hpp"

namespace emledger::consensus {

namespace {

Status malformed(std::string_view domain, const std::string& why) {
  return Status::error("MALFORMED_ENCODING", std::string(domain) + ": " + why);
}

// The domain tag at the start of a top-level encoding, or empty if the input
// is too short to hold one.
std::string_view leading_domain(ByteView in) {
  if (in.empty() || in.size() < 1u + in[0]) return {};
  return {reinterpret_cast<const char*>(in.data() + 1), in[0]};
}

template <class T>
Result<Message> decode_as(ByteView in) {
  auto v = ledger::decode<T>(in);
  if (!v) return v.status();
  return Message{std::move(*v)};
}

}  // namespace

Status Vote::check() const {
  if (kind == 0 || kind > kVoteKindMax) return malformed(kDomain, "vote kind out of range");
  if (view == 0) return malformed(kDomain, "view 0 is the anchor; nobody votes on it");
  if (view > kViewMax) return malformed(kDomain, "view above kViewMax");
  if (vote_kind() == VoteKind::kNullify) {
    if (height != 0 || !is_zero(digest)) return malformed(kDomain, "a nullify vote names no block");
  } else if (height == 0) {
    return malformed(kDomain, "a block vote needs height >= 1");
  }
  return Status::ok();
}

Vote notarize_vote(View view, Height height, const Hash& digest) {
  return Vote{static_cast<std::uint8_t>(VoteKind::kNotarize), view, height, digest};
}

Vote nullify_vote(View view) {
  return Vote{static_cast<std::uint8_t>(VoteKind::kNullify), view, 0, Hash{}};
}

Vote finalize_vote(View view, Height height, const Hash& digest) {
  return Vote{static_cast<std::uint8_t>(VoteKind::kFinalize), view, height, digest};
}

Bytes signing_bytes(std::string_view chain_id, Epoch epoch, const Vote& vote) {
  EMLEDGER_ASSERT(vote.check().is_ok());
  return ledger::vote_statement_bytes(chain_id, epoch, vote.vote_kind(), vote.view, vote.height,
                                      vote.digest);
}

Status Proposal::check() const {
  if (block.view == 0 || block.height == 0)
    return malformed(kDomain, "a proposal needs view >= 1 and height >= 1");
  if (block.view > kViewMax) return malformed(kDomain, "view above kViewMax");
  if (block.parent_view >= block.view)
    return malformed(kDomain, "the parent's view must be below the proposal's");
  return Status::ok();
}

SignedVote Proposal::leader_vote() const {
  return SignedVote{notarize_vote(block.view, block.height, block.digest), proposer, signature};
}

Status Certificate::check() const {
  Status st = vote().check();
  if (!st.is_ok()) return malformed(kDomain, st.message());
  if (signatures.empty()) return malformed(kDomain, "no signatures");
  for (std::size_t i = 1; i < signatures.size(); ++i)
    if (signatures[i].validator <= signatures[i - 1].validator)
      return malformed(kDomain, "signers not strictly increasing");
  return Status::ok();
}

ledger::Certificate Certificate::to_ledger() const {
  EMLEDGER_ASSERT(vote_kind() == VoteKind::kFinalize);
  return ledger::Certificate{height, view, digest, signatures};
}

Status Evidence::check() const {
  EMLEDGER_TRY(first.check());
  EMLEDGER_TRY(second.check());
  if (first.validator != second.validator || first.vote.kind != second.vote.kind ||
      first.vote.view != second.vote.view)
    return malformed(kDomain, "votes of different validators, kinds or views");
  if (first.vote == second.vote) return malformed(kDomain, "the same statement twice");
  if (!(ledger::encode(first) < ledger::encode(second)))
    return malformed(kDomain, "votes not in canonical order");
  return Status::ok();
}

Evidence make_evidence(const SignedVote& a, const SignedVote& b) {
  Evidence e = ledger::encode(a) < ledger::encode(b) ? Evidence{a, b} : Evidence{b, a};
  EMLEDGER_ASSERT(e.check().is_ok());
  return e;
}

Status verify_evidence(std::string_view chain_id, Epoch epoch,
                       const std::vector<PublicKey>& validators, const Verifier& verifier,
                       const Evidence& e) {
  Status st = e.check();
  if (!st.is_ok()) return Status::error("EVIDENCE_INVALID", st.message());
  if (e.first.validator >= validators.size())
    return Status::error("EVIDENCE_INVALID", "signer is not in the validator set");
  const PublicKey& key = validators[e.first.validator];
  for (const SignedVote* v : {&e.first, &e.second})
    if (!verifier.verify(key, signing_bytes(chain_id, epoch, v->vote), v->signature))
      return Status::error("EVIDENCE_BAD_SIGNATURE", "a vote's signature does not verify");
  return Status::ok();
}

Bytes encode_message(const Message& m) {
  return std::visit([](const auto& v) { return ledger::encode(v); }, m);
}

Result<Message> decode_message(ByteView in) {
  const std::string_view domain = leading_domain(in);
  if (domain == Proposal::kDomain) return decode_as<Proposal>(in);
  if (domain == SignedVote::kDomain) return decode_as<SignedVote>(in);
  if (domain == Certificate::kDomain) return decode_as<Certificate>(in);
  return Status::error("MALFORMED_ENCODING", "not a consensus message");
}

}  // namespace emledger::consensus
