// Validator-set changes (docs/validator-set-changes.md; formats in
// docs/formats/encoding.md and docs/formats/succession.md).
//
// Epoch 0 is the genesis set. A ChangeValidators transaction (type 15),
// approved by a quorum of the set in force, ends epoch e with the block h that
// holds it; Σe+1 judges heights h + 1 and above. Its state effect:
//   validators_state_key()             -> encode(ValidatorSet) of epoch e + 1
//   validators_history_state_key(e+1)  -> the same (kept for every epoch > 0)
// Absent "validators" means the genesis set.
//
// A light client that trusts only the genesis learns the set of any later
// epoch from a Succession: for each change, the change block's header, its
// finality proof under the old set, and a state proof of "validators" against
// that header's state root. Everything here is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/finality.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::ledger {

// The validators of one epoch and the first height they judge.
struct ValidatorSet {
  static constexpr std::string_view kDomain = "emledger.validator-set";
  static constexpr std::uint8_t kVersion = 1;
  Epoch epoch = kGenesisEpoch;
  std::uint64_t since_height = 1;  // the genesis set judges heights 1 and up
  std::vector<Validator> validators;  // index i is validator i of the epoch
  template <class V>
  void describe(V& v) {
    v.u64(epoch);
    v.u64(since_height);
    v.list(validators, kValidatorsMax);
  }
  // Byzantine bounds of design.md section 6: f = floor((n-1)/3), q = n - f.
  std::size_t fault_tolerance() const {
    return validators.empty() ? 0 : (validators.size() - 1) / 3;
  }
  std::size_t quorum() const { return validators.size() - fault_tolerance(); }
  std::optional<std::uint16_t> index_of(const PublicKey& key) const;
};

// Epoch 0: the genesis validators, from height 1.
ValidatorSet genesis_validator_set(const Genesis& genesis);

// The ordered members of a proposed set, hashed for the approvals.
struct ValidatorList {
  static constexpr std::string_view kDomain = "emledger.validator-list";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<Validator> validators;
  template <class V>
  void describe(V& v) {
    v.list(validators, kValidatorsMax);
  }
};
// SHA-256(encode(ValidatorList{validators})).
Hash validator_list_hash(const std::vector<Validator>& validators);

// What each approving validator of epoch `epoch` signs with its validator key.
struct ValidatorSetChange {
  static constexpr std::string_view kDomain = "emledger.validator-set-change";
  static constexpr std::uint8_t kVersion = 1;
  std::string chain_id;
  Epoch epoch = kGenesisEpoch;  // the epoch that ends
  Hash new_set_hash{};          // validator_list_hash of the next set
  template <class V>
  void describe(V& v) {
    v.str(chain_id, kChainIdBytesMax);
    v.u64(epoch);
    v.fixed(new_set_hash);
  }
};

struct ValidatorApproval {
  std::uint16_t validator = 0;  // index in the set of the epoch that ends
  Signature signature{};
  template <class V>
  void describe(V& v) {
    v.u16(validator);
    v.fixed(signature);
  }
};

// Payload of TxType::kChangeValidators. Any org may submit it.
struct ChangeValidators {
  static constexpr std::string_view kDomain = "emledger.tx.change-validators";
  static constexpr std::uint8_t kVersion = 1;
  Epoch epoch = kGenesisEpoch;        // the epoch in force, which this ends
  std::vector<Validator> validators;  // the next set, in index order
  std::vector<ValidatorApproval> approvals;  // strictly increasing index
  template <class V>
  void describe(V& v) {
    v.u64(epoch);
    v.list(validators, kValidatorsMax);
    v.list(approvals, kValidatorsMax);
  }
};

// encode(ValidatorSetChange{chain_id, epoch, validator_list_hash(next)}).
Bytes validator_change_message(std::string_view chain_id, Epoch epoch,
                               const std::vector<Validator>& next);

// Adds validator `index` of `current` (whose key is `key`) to the approvals
// of `change`, keeping them in index order; an index already present is left
// as it is.
void approve_validator_change(std::string_view chain_id, const ValidatorSet& current,
                              std::uint16_t index, const crypto::KeyPair& key,
                              ChangeValidators& change);

// The checks a change needs besides the orgs in state: `change.epoch` is
// `current.epoch` (VALIDATORS_EPOCH_MISMATCH); `current` is not empty
// (VALIDATORS_INVALID: quorum 0 would accept anything); the next set has 1 to
// kValidatorsMax members with distinct keys, non-empty org ids and
// addresses (VALIDATORS_INVALID); the approvals name distinct validators of
// `current` in increasing order, each signature verifies over
// validator_change_message (VALIDATORS_INVALID), and there are at least
// current.quorum() of them (VALIDATORS_NO_QUORUM).
Status verify_validator_change(std::string_view chain_id, const ValidatorSet& current,
                               const ChangeValidators& change);

// Certificates and finality judged by one set: the statement is rebuilt for
// set.epoch. Same rules and errors as verify_certificate_in_epoch and
// verify_finality (types.hpp, finality.hpp); an empty set certifies nothing
// (CERT_NO_QUORUM).
Status verify_certificate_in_set(std::string_view chain_id, const ValidatorSet& set,
                                 const BlockHeader& header, const Certificate& cert);
void sign_certificate_in_set(std::string_view chain_id, const ValidatorSet& set,
                             const BlockHeader& header, std::uint16_t index,
                             const crypto::KeyPair& key, Certificate& cert);
Status verify_finality_in_set(std::string_view chain_id, const ValidatorSet& set,
                              const BlockHeader& header, const FinalityProof& proof);

// "validators" -> encode(ValidatorSet) of the newest epoch.
Bytes validators_state_key();
// "validators/" + u64 epoch (big-endian) -> encode(ValidatorSet) of that epoch.
Bytes validators_history_state_key(Epoch epoch);

// One change of set, as a light client checks it.
struct EpochChange {
  static constexpr std::string_view kDomain = "emledger.epoch-change";
  static constexpr std::uint8_t kVersion = 1;
  BlockHeader header;      // the change block: the last block of the old epoch
  FinalityProof finality;  // makes `header` final under the old epoch's set
  StateProof next_set;     // validators_state_key() at header.state_root
  template <class V>
  void describe(V& v) {
    v.object(header);
    v.object(finality);
    v.object(next_set);
  }
};

// Every change from the genesis up to some epoch, oldest first.
struct Succession {
  static constexpr std::string_view kDomain = "emledger.succession";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<EpochChange> changes;  // changes[i] ends epoch i
  template <class V>
  void describe(V& v) {
    v.list(changes, kEpochChangesMax);
  }
};

// Verifies `s` from the genesis and returns the set of every epoch it
// reaches, [0] the genesis set, [i + 1] the set changes[i] proves: the
// change header's height is at least the previous set's since_height, its
// finality verifies under the previous set, the state proof is present for
// validators_state_key() and verifies against its state root, and the value
// is a ValidatorSet of the next epoch with since_height = header height + 1.
// Errors: SUCCESSION_INVALID, CERT_*.
Result<std::vector<ValidatorSet>> verify_succession(const Genesis& genesis, const Succession& s);

// The set that judges `height` among `sets` (as verify_succession returns
// them: by epoch, since_height increasing): the last one whose since_height
// is at most `height`. `sets` must not be empty.
const ValidatorSet& set_for_height(const std::vector<ValidatorSet>& sets, std::uint64_t height);

}  // namespace emledger::ledger
