// Validator-set changes: docs/validator-set-changes.md.
#include "emledger/ledger/validator_set.hpp"

#include <algorithm>
#include <set>

#include "emledger/crypto/sha256.hpp"
#include "keys.hpp"

namespace emledger::ledger {
namespace {

Status invalid(const std::string& why) { return Status::error("VALIDATORS_INVALID", why); }

Status bad_succession(std::size_t i, const std::string& why) {
  return Status::error("SUCCESSION_INVALID", "change " + std::to_string(i) + ": " + why);
}

}  // namespace

std::optional<std::uint16_t> ValidatorSet::index_of(const PublicKey& key) const {
  for (std::size_t i = 0; i < validators.size(); ++i)
    if (validators[i].public_key == key) return static_cast<std::uint16_t>(i);
  return std::nullopt;
}

ValidatorSet genesis_validator_set(const Genesis& genesis) {
  return ValidatorSet{kGenesisEpoch, 1, genesis.validators};
}

Hash validator_list_hash(const std::vector<Validator>& validators) {
  return crypto::sha256(encode(ValidatorList{validators}));
}

Bytes validator_change_message(std::string_view chain_id, Epoch epoch,
                               const std::vector<Validator>& next) {
  return encode(ValidatorSetChange{std::string(chain_id), epoch, validator_list_hash(next)});
}

void approve_validator_change(std::string_view chain_id, const ValidatorSet& current,
                              std::uint16_t index, const crypto::KeyPair& key,
                              ChangeValidators& change) {
  EMLEDGER_ASSERT(index < current.validators.size());
  EMLEDGER_ASSERT(current.validators[index].public_key == key.public_key());
  auto it =
      std::lower_bound(change.approvals.begin(), change.approvals.end(), index,
                       [](const ValidatorApproval& a, std::uint16_t v) { return a.validator < v; });
  if (it != change.approvals.end() && it->validator == index) return;
  Bytes msg = validator_change_message(chain_id, change.epoch, change.validators);
  change.approvals.insert(it, ValidatorApproval{index, key.sign(msg)});
}

Status verify_validator_change(std::string_view chain_id, const ValidatorSet& current,
                               const ChangeValidators& change) {
  if (change.epoch != current.epoch)
    return Status::error("VALIDATORS_EPOCH_MISMATCH",
                         "the change ends epoch " + std::to_string(change.epoch) + " but epoch " +
                             std::to_string(current.epoch) + " is in force");
  // An empty set has quorum 0: it could approve anything (never in state,
  // but this check does not rely on that).
  if (current.validators.empty()) return invalid("the set in force is empty");
  if (change.validators.empty() || change.validators.size() > kValidatorsMax)
    return invalid("the next set must have 1 to " + std::to_string(kValidatorsMax) + " validators");
  std::set<PublicKey> keys;
  for (const Validator& v : change.validators) {
    if (v.org_id.empty()) return invalid("a validator names no org");
    if (v.address.empty()) return invalid("validator of " + v.org_id + " has no peer address");
    if (!keys.insert(v.public_key).second) return invalid("duplicate validator key");
  }
  const Bytes msg = validator_change_message(chain_id, change.epoch, change.validators);
  int last = -1;
  for (const ValidatorApproval& a : change.approvals) {
    if (static_cast<int>(a.validator) <= last || a.validator >= current.validators.size())
      return invalid("approvers unknown or not in increasing order");
    last = a.validator;
    if (!crypto::verify(current.validators[a.validator].public_key, msg, a.signature))
      return invalid("bad approval signature of validator " + std::to_string(a.validator));
  }
  if (change.approvals.size() < current.quorum())
    return Status::error("VALIDATORS_NO_QUORUM",
                         "the change has " + std::to_string(change.approvals.size()) + " of " +
                             std::to_string(current.quorum()) + " approvals of epoch " +
                             std::to_string(current.epoch));
  return Status::ok();
}

Status verify_certificate_in_set(std::string_view chain_id, const ValidatorSet& set,
                                 const BlockHeader& header, const Certificate& cert) {
  const Hash hh = header.hash();
  if (cert.height != header.height || cert.view != header.view || cert.header_hash != hh ||
      header.chain_id != chain_id)
    return Status::error("CERT_MISMATCH", "certificate does not match header at height " +
                                              std::to_string(header.height));
  const Bytes msg =
      encode(FinalizeVote{std::string(chain_id), set.epoch, header.height, header.view, hh});
  int last = -1;
  for (const auto& s : cert.signatures) {
    if (static_cast<int>(s.validator) <= last || s.validator >= set.validators.size())
      return Status::error("CERT_MISMATCH", "certificate signers unknown or not in order");
    last = s.validator;
    if (!crypto::verify(set.validators[s.validator].public_key, msg, s.signature))
      return Status::error("CERT_BAD_SIGNATURE",
                           "bad finalize signature of validator " + std::to_string(s.validator));
  }
  if (cert.signatures.size() < set.quorum() || set.validators.empty())
    return Status::error("CERT_NO_QUORUM", "certificate has " +
                                               std::to_string(cert.signatures.size()) + " of " +
                                               std::to_string(set.quorum()) + " signatures");
  return Status::ok();
}

void sign_certificate_in_set(std::string_view chain_id, const ValidatorSet& set,
                             const BlockHeader& header, std::uint16_t index,
                             const crypto::KeyPair& key, Certificate& cert) {
  EMLEDGER_ASSERT(index < set.validators.size());
  EMLEDGER_ASSERT(set.validators[index].public_key == key.public_key());
  cert.height = header.height;
  cert.view = header.view;
  cert.header_hash = header.hash();
  auto it =
      std::lower_bound(cert.signatures.begin(), cert.signatures.end(), index,
                       [](const CertSignature& s, std::uint16_t v) { return s.validator < v; });
  if (it != cert.signatures.end() && it->validator == index) return;
  const Bytes msg = encode(
      FinalizeVote{std::string(chain_id), set.epoch, header.height, header.view, cert.header_hash});
  cert.signatures.insert(it, CertSignature{index, key.sign(msg)});
}

Status verify_finality_in_set(std::string_view chain_id, const ValidatorSet& set,
                              const BlockHeader& header, const FinalityProof& proof) {
  // In the descendant form too the statement is of the set judging `header`:
  // the links are blocks that same set finalized (tail blocks above a change
  // block belong to the epoch that ends, docs/validator-set-changes.md).
  if (!proof.by_descendant())
    return verify_certificate_in_set(chain_id, set, header, proof.certificate);
  const auto broken = [&](const std::string& why) {
    return Status::error("CERT_LINK_BROKEN",
                         "finality proof of height " + std::to_string(header.height) + ": " + why);
  };
  if (proof.links.size() > kFinalityLinksMax)
    return Status::error("CERT_LINK_TOO_LONG",
                         "finality proof of " + std::to_string(proof.links.size()) +
                             " links; at most " + std::to_string(kFinalityLinksMax));
  if (header.chain_id != chain_id)
    return broken("the header names chain '" + header.chain_id + "'");
  const BlockHeader* prev = &header;
  Hash prev_hash = header.hash();
  for (const BlockHeader& link : proof.links) {
    if (link.chain_id != chain_id) return broken("a link names chain '" + link.chain_id + "'");
    if (prev->height == UINT64_MAX || link.height != prev->height + 1)
      return broken("link of height " + std::to_string(link.height) + " follows height " +
                    std::to_string(prev->height));
    if (link.parent != prev_hash)
      return broken("the link of height " + std::to_string(link.height) + " does not name height " +
                    std::to_string(prev->height) + " as its parent");
    prev = &link;
    prev_hash = link.hash();
  }
  return verify_certificate_in_set(chain_id, set, *prev, proof.certificate);
}

Bytes validators_state_key() { return detail::prefixed("validators", {}); }

Bytes validators_history_state_key(Epoch epoch) {
  Bytes k = detail::prefixed("validators/", {});
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(epoch >> (8 * i)));
  return k;
}

Result<std::vector<ValidatorSet>> verify_succession(const Genesis& genesis, const Succession& s) {
  std::vector<ValidatorSet> sets{genesis_validator_set(genesis)};
  const Bytes key = validators_state_key();
  for (std::size_t i = 0; i < s.changes.size(); ++i) {
    const EpochChange& c = s.changes[i];
    const ValidatorSet& prev = sets.back();
    if (c.header.height < prev.since_height)
      return bad_succession(i, "change block at height " + std::to_string(c.header.height) +
                                   " is below epoch " + std::to_string(prev.epoch) + "'s first");
    EMLEDGER_TRY(verify_finality_in_set(genesis.chain_id, prev, c.header, c.finality));
    if (c.next_set.key != key || !c.next_set.present)
      return bad_succession(i, "the state proof is not of the validators key");
    if (!verify_state_proof(c.next_set, c.header.state_root))
      return bad_succession(i, "the state proof does not verify against the change block");
    auto next = decode<ValidatorSet>(c.next_set.value);
    if (!next) return bad_succession(i, "validators value: " + next.status().message());
    if (next->epoch != prev.epoch + 1 || next->since_height != c.header.height + 1)
      return bad_succession(i, "the proven set is not the next epoch from the next height");
    if (next->validators.empty()) return bad_succession(i, "the proven set is empty");
    sets.push_back(std::move(*next));
  }
  return sets;
}

const ValidatorSet& set_for_height(const std::vector<ValidatorSet>& sets, std::uint64_t height) {
  EMLEDGER_ASSERT(!sets.empty());
  for (std::size_t i = sets.size(); i-- > 1;)
    if (sets[i].since_height <= height) return sets[i];
  return sets.front();
}

}  // namespace emledger::ledger
