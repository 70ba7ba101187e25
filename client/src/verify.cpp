#include "emledger/client/verify.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "emledger/client/errors.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/ledger.hpp"

namespace emledger::client {
namespace {

// Bundles are small (a few proofs of <= 256 hashes); anything far larger is
// not a bundle, and we refuse to read it into memory.
constexpr std::size_t kBundleFileBytesMax = 16u << 20;

Status proof_invalid(const std::string& what) {
  return Status::error(std::string(kProofInvalid), what);
}

bool same_bytes(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

ValidatorSets genesis_sets(const ledger::Genesis& trusted) {
  return ValidatorSets{{ledger::genesis_validator_set(trusted)}, {}};
}

Result<ValidatorSets> verify_sets(const ledger::Genesis& trusted, ledger::Succession succession) {
  auto sets = ledger::verify_succession(trusted, succession);
  if (!sets) return sets.status();
  return ValidatorSets{std::move(sets).value(), std::move(succession)};
}

Result<CertifiedHeader> verify_header(const ledger::Genesis& trusted, ByteView encoded_header,
                                      ByteView encoded_certificate,
                                      std::optional<std::uint64_t> expected_height) {
  return verify_header(trusted, genesis_sets(trusted), encoded_header, encoded_certificate,
                       expected_height);
}

Result<CertifiedHeader> verify_header(const ledger::Genesis& trusted, const ValidatorSets& sets,
                                      ByteView encoded_header, ByteView encoded_certificate,
                                      std::optional<std::uint64_t> expected_height) {
  EMLEDGER_ASSERT(!sets.sets.empty());
  auto header = ledger::decode<ledger::BlockHeader>(encoded_header);
  if (!header)
    return Status::error(std::string(kNodeBadResponse),
                         "undecodable header: " + header.status().message());
  auto proof = ledger::decode_finality_proof(encoded_certificate);
  if (!proof)
    return Status::error(std::string(kNodeBadResponse),
                         "undecodable finality proof: " + proof.status().message());
  if (header->chain_id != trusted.chain_id)
    return Status::error(
        std::string(kHeaderInvalid),
        "header of chain '" + header->chain_id + "', trusted chain is '" + trusted.chain_id + "'");
  if (expected_height && header->height != *expected_height)
    return Status::error(std::string(kHeaderInvalid),
                         "asked for height " + std::to_string(*expected_height) + ", got " +
                             std::to_string(header->height));
  if (header->height == 0) return Status::error(std::string(kHeaderInvalid), "header at height 0");
  EMLEDGER_TRY(ledger::verify_finality_in_set(trusted.chain_id, sets.for_height(header->height),
                                              *header, *proof));
  CertifiedHeader out{std::move(header).value(), std::move(proof).value(), {}};
  out.hash = out.header.hash();
  return out;
}

Status verify_state(const CertifiedHeader& at, ByteView key, const ledger::StateProof& proof) {
  if (!same_bytes(proof.key, key)) return proof_invalid("state proof is for another key");
  if (!ledger::verify_state_proof(proof, at.header.state_root))
    return proof_invalid("state proof does not match the state root of height " +
                         std::to_string(at.header.height));
  return Status::ok();
}

Result<std::optional<ledger::Record>> verify_record(const CertifiedHeader& at,
                                                    const Hash& record_id,
                                                    const ledger::StateProof& proof) {
  EMLEDGER_TRY(verify_state(at, ledger::record_state_key(record_id), proof));
  if (!proof.present) return std::optional<ledger::Record>();
  auto record = ledger::decode<ledger::Record>(proof.value);
  if (!record)
    return proof_invalid("certified state value is not a record: " + record.status().message());
  if (record->id != record_id) return proof_invalid("certified record has another id");
  return std::optional<ledger::Record>(std::move(record).value());
}

Status verify_tx_inclusion(const CertifiedHeader& at, ByteView encoded_tx,
                           const ledger::InclusionProof& proof) {
  if (proof.tree_size != at.header.log_size)
    return proof_invalid("inclusion proof for log size " + std::to_string(proof.tree_size) +
                         ", header has " + std::to_string(at.header.log_size));
  if (!ledger::verify_inclusion(ledger::log_leaf_hash(encoded_tx), proof, at.header.log_root))
    return proof_invalid("inclusion proof does not match the log root of height " +
                         std::to_string(at.header.height));
  return Status::ok();
}

Result<ledger::ProofBundle> decode_bundle(ByteView encoded) {
  auto bundle = ledger::decode_proof_bundle(encoded);
  if (!bundle)
    return Status::error(std::string(kBundleMalformed),
                         "not a proof bundle: " + bundle.status().message());
  return bundle;
}

Result<ledger::ProofBundle> read_bundle_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("IO_ERROR", "cannot open bundle file " + path);
  Bytes data;
  char buf[1 << 14];
  while (in) {
    in.read(buf, sizeof buf);
    data.insert(data.end(), buf, buf + in.gcount());
    if (data.size() > kBundleFileBytesMax)
      return Status::error(std::string(kBundleMalformed),
                           path + " is larger than any proof bundle (" +
                               std::to_string(kBundleFileBytesMax) + " bytes)");
  }
  if (in.bad()) return Status::error("IO_ERROR", "cannot read bundle file " + path);
  return decode_bundle(data);
}

Status write_bundle_file(const std::string& path, ByteView encoded) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::error("IO_ERROR", "cannot create " + tmp);
    out.write(reinterpret_cast<const char*>(encoded.data()),
              static_cast<std::streamsize>(encoded.size()));
    out.flush();
    if (!out) return Status::error("IO_ERROR", "cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0644);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::error("IO_ERROR", "cannot rename " + tmp + " to " + path);
  }
  return Status::ok();
}

Status verify_log_consistency(std::uint64_t first_size, const Hash& first_root,
                              std::uint64_t second_size, const Hash& second_root,
                              const ledger::ConsistencyProof& proof) {
  EMLEDGER_ASSERT(first_size <= second_size);
  if (first_size == second_size) {
    if (first_root != second_root)
      return proof_invalid("two roots for log size " + std::to_string(first_size));
    return Status::ok();
  }
  if (proof.first != first_size || proof.second != second_size)
    return proof_invalid("consistency proof for sizes " + std::to_string(proof.first) + " -> " +
                         std::to_string(proof.second) + ", asked " + std::to_string(first_size) +
                         " -> " + std::to_string(second_size));
  if (!ledger::verify_consistency(proof, first_root, second_root))
    return proof_invalid("log of size " + std::to_string(second_size) +
                         " is not an extension of the log of size " + std::to_string(first_size));
  return Status::ok();
}

// ---- ChainVerifier ----

ChainVerifier::ChainVerifier(ledger::Genesis trusted, HolderLookup holders)
    : trusted_(std::move(trusted)),
      holders_(std::move(holders)),
      sets_{ledger::genesis_validator_set(trusted_)},
      tip_hash_(trusted_.hash()),
      tip_time_ms_(trusted_.time_ms) {}

void ChainVerifier::expect_sets(ValidatorSets claimed) {
  EMLEDGER_ASSERT(height_ == 0 && sets_.size() == 1);
  // verify_sets() of our genesis: the caller's promise, checked where cheap.
  EMLEDGER_ASSERT(!claimed.sets.empty() &&
                  ledger::encode(claimed.sets.front()) == ledger::encode(sets_.front()));
  expected_ = std::move(claimed);
}

Status ChainVerifier::resume(const ledger::BlockHeader& base, const ledger::FinalityProof& finality,
                             std::vector<Hash> log_subtrees) {
  EMLEDGER_ASSERT(height_ == 0);
  const std::uint64_t h = base.height;
  if (base.chain_id != trusted_.chain_id)
    return fail("CHAIN_WRONG_CHAIN_ID", h, "header names chain '" + base.chain_id + "'");
  // The changes below the base cannot be re-checked from their blocks: the
  // node's verified succession stands for them, every set in force up to
  // the height above the base (check_validators_state() then holds the
  // base's own state to it).
  std::vector<ledger::ValidatorSet> sets{sets_.front()};
  if (expected_)
    for (std::size_t e = 1; e < expected_->sets.size(); ++e)
      if (expected_->sets[e].since_height <= h + 1) sets.push_back(expected_->sets[e]);
  if (Status st = ledger::verify_finality_in_set(trusted_.chain_id, ledger::set_for_height(sets, h),
                                                 base, finality);
      !st)
    return fail("CHAIN_CERT_INVALID", h, st.to_string());
  auto log = ledger::LogFrontier::resume(base.log_size, std::move(log_subtrees));
  if (!log) return fail("CHAIN_LOG_MISMATCH", h, log.status().message());
  if (log->root() != base.log_root)
    return fail("CHAIN_LOG_MISMATCH", h, "the log subtrees do not fold to the header's log root");
  log_ = std::move(*log);
  sets_ = std::move(sets);
  base_height_ = h;
  height_ = h;
  tip_hash_ = base.hash();
  tip_state_root_ = base.state_root;
  tip_time_ms_ = base.time_ms;
  if (log_.size() > 0) {
    first_log_size_ = log_.size();
    first_log_root_ = base.log_root;
  }
  return Status::ok();
}

Status ChainVerifier::fail(std::string_view code, std::uint64_t height,
                           const std::string& what) const {
  return Status::error(std::string(code), "height " + std::to_string(height) + ": " + what);
}

Status ChainVerifier::check_change(std::uint64_t h, const std::string& where, const ledger::Tx& tx,
                                   const ledger::ValidatorSet& in_force,
                                   std::optional<ledger::ValidatorSet>& next) const {
  if (next) return fail("CHAIN_VALIDATORS_INVALID", h, where + "is a second change of validators");
  auto change = ledger::decode<ledger::ChangeValidators>(tx.body.payload);
  if (!change)
    return fail("CHAIN_VALIDATORS_INVALID", h,
                where + "has a malformed change of validators: " + change.status().message());
  if (Status st = ledger::verify_validator_change(trusted_.chain_id, in_force, *change); !st)
    return fail("CHAIN_VALIDATORS_INVALID", h, where + st.to_string());
  // Orgs never change after the genesis (today), so the genesis says which
  // orgs may run validators.
  for (const ledger::Validator& v : change->validators) {
    const ledger::Org* org = trusted_.find_org(v.org_id);
    if (!org || (org->roles & ledger::kRoleValidator) == 0)
      return fail("CHAIN_VALIDATORS_INVALID", h,
                  where + "names " + v.org_id + ", which is not a validator org of the genesis");
  }
  next = ledger::ValidatorSet{in_force.epoch + 1, h + 1, std::move(change->validators)};
  return Status::ok();
}

Status ChainVerifier::check_txs(const ledger::Block& block, const ledger::ValidatorSet& in_force,
                                std::vector<Hash>& ids, std::vector<Hash>& leaves,
                                std::optional<ledger::ValidatorSet>& next) const {
  const std::uint64_t h = block.header.height;
  // Holder bindings as the block's transactions see them: the parent's
  // state, then the block's own bindings, re-bindings and rotations in order.
  std::map<Hash, std::optional<ledger::HolderBinding>> bindings;
  const auto binding = [&](const Hash& ref) -> Result<std::optional<ledger::HolderBinding>*> {
    auto it = bindings.find(ref);
    if (it == bindings.end()) {
      if (!holders_)
        return fail("CHAIN_TX_INVALID", h,
                    "holder-signed transaction and no way to read holder keys");
      auto b = holders_(ref, height_, tip_state_root_);
      if (!b) return b.status();
      it = bindings.emplace(ref, std::move(*b)).first;
    }
    return &it->second;
  };
  for (std::size_t i = 0; i < block.txs.size(); ++i) {
    const Bytes& raw = block.txs[i];
    auto tx = ledger::decode<ledger::Tx>(raw);
    const std::string where = "transaction " + std::to_string(i) + " ";
    if (!tx) return fail("CHAIN_TX_INVALID", h, where + "malformed: " + tx.status().message());
    if (tx->body.chain_id != trusted_.chain_id)
      return fail("CHAIN_TX_INVALID", h, where + "names chain '" + tx->body.chain_id + "'");
    if (tx->body.expires_at_height < h)
      return fail("CHAIN_TX_INVALID", h,
                  where + "expired at height " + std::to_string(tx->body.expires_at_height));
    const auto type = static_cast<ledger::TxType>(tx->body.type);
    if (tx->body.signer_org.empty()) {
      auto ref = ledger::holder_ref_of(*tx);
      if (!ref) return fail("CHAIN_TX_INVALID", h, where + "names no holder");
      auto b = binding(*ref);
      if (!b) return b.status();
      const std::optional<ledger::HolderBinding>& cur = **b;
      if (!cur || cur->key_seq != tx->body.key_id)
        return fail("CHAIN_TX_INVALID", h,
                    where + "signed by holder key " + std::to_string(tx->body.key_id) +
                        ", which is not the one bound to holder " + to_hex(*ref));
      if (!crypto::verify(cur->public_key, tx->signing_bytes(), tx->signature))
        return fail("CHAIN_TX_INVALID", h, where + "has a bad holder signature");
      if (type == ledger::TxType::kRotateHolderKey) {
        auto p = ledger::decode<ledger::RotateHolderKey>(tx->body.payload);
        if (!p) return fail("CHAIN_TX_INVALID", h, where + "has a malformed rotation");
        ledger::HolderBinding rotated = *cur;
        rotated.public_key = p->new_public_key;
        rotated.key_seq += 1;
        **b = rotated;
      }
    } else {
      const ledger::Org* org = trusted_.find_org(tx->body.signer_org);
      const ledger::OrgKey* key = org ? org->find_key(tx->body.key_id) : nullptr;
      if (!key)
        return fail("CHAIN_TX_INVALID", h,
                    where + "signed by unknown key " + tx->body.signer_org + "/" +
                        std::to_string(tx->body.key_id));
      if (!crypto::verify(key->public_key, tx->signing_bytes(), tx->signature))
        return fail("CHAIN_TX_INVALID", h, where + "has a bad signature");
      if (type == ledger::TxType::kBindHolder || type == ledger::TxType::kRebindHolder) {
        auto p = ledger::decode<ledger::BindHolder>(tx->body.payload);
        if (!p) return fail("CHAIN_TX_INVALID", h, where + "has a malformed binding");
        auto b = binding(p->holder_ref);
        if (!b) return b.status();
        std::optional<ledger::HolderBinding>& cur = **b;
        if ((type == ledger::TxType::kBindHolder) == cur.has_value())
          return fail(
              "CHAIN_TX_INVALID", h,
              where + (cur ? "binds a holder already bound" : "re-binds an unbound holder"));
        ledger::HolderBinding bound;
        bound.holder_ref = p->holder_ref;
        bound.public_key = p->public_key;
        bound.key_seq = cur ? cur->key_seq + 1 : 1;
        cur = bound;
      }
      if (type == ledger::TxType::kChangeValidators)
        EMLEDGER_TRY(check_change(h, where, *tx, in_force, next));
    }
    ids.push_back(tx->id());
    leaves.push_back(ledger::log_leaf_hash(raw));
  }
  return Status::ok();
}

Status ChainVerifier::check_expected(std::uint64_t h,
                                     const std::optional<ledger::ValidatorSet>& next) const {
  if (!expected_) return Status::ok();
  const std::vector<ledger::ValidatorSet>& claimed = expected_->sets;
  const std::size_t epoch = sets_.size();  // the epoch a change at h starts
  const bool claims_change = epoch < claimed.size() && claimed[epoch].since_height == h + 1;
  if (!next) {
    if (claims_change)
      return fail("CHAIN_SUCCESSION_MISMATCH", h,
                  "the node's succession has a change of validators in this block, which holds "
                  "none");
    return Status::ok();
  }
  if (!claims_change)
    return fail("CHAIN_SUCCESSION_MISMATCH", h,
                "the block changes the validators to epoch " + std::to_string(next->epoch) +
                    ", which the node's succession does not name at this height");
  if (ledger::encode(claimed[epoch]) != ledger::encode(*next))
    return fail("CHAIN_SUCCESSION_MISMATCH", h,
                "the set of epoch " + std::to_string(next->epoch) +
                    " in the node's succession is not the one the block's change names");
  return Status::ok();
}

Status ChainVerifier::add_block(const ledger::Block& block, const ledger::Certificate& cert) {
  return add_block(block, ledger::FinalityProof::own(cert));
}

Status ChainVerifier::add_block(const ledger::Block& block, const ledger::FinalityProof& finality) {
  const ledger::BlockHeader& hdr = block.header;
  const std::uint64_t want = height_ + 1;
  if (hdr.chain_id != trusted_.chain_id)
    return fail("CHAIN_WRONG_CHAIN_ID", want, "header names chain '" + hdr.chain_id + "'");
  if (hdr.height != want)
    return fail("CHAIN_HEIGHT_GAP", want, "got the block of height " + std::to_string(hdr.height));
  // Sets are appended as the walk passes their change blocks, so the newest
  // is always the one in force here.
  const ledger::ValidatorSet& in_force = sets_.back();
  EMLEDGER_ASSERT(in_force.since_height <= want);
  if (Status st = ledger::verify_finality_in_set(trusted_.chain_id, in_force, hdr, finality); !st)
    return fail("CHAIN_CERT_INVALID", want,
                st.to_string() + " (validators of epoch " + std::to_string(in_force.epoch) + ")");
  if (hdr.parent != tip_hash_)
    return fail("CHAIN_PARENT_MISMATCH", want,
                "parent hash " + to_hex(hdr.parent) + " is not the hash of " +
                    (height_ == 0 ? std::string("genesis") : "height " + std::to_string(height_)) +
                    " (" + to_hex(tip_hash_) + ")");
  if (hdr.time_ms < tip_time_ms_)  // the kernel starts the clock at the genesis time
    return fail("CHAIN_TIME_REGRESSION", want,
                "time " + std::to_string(hdr.time_ms) + " ms is before the " +
                    (height_ == 0 ? std::string("genesis") : "parent's") + " time " +
                    std::to_string(tip_time_ms_) + " ms");
  std::vector<Hash> ids, leaves;
  std::optional<ledger::ValidatorSet> next;
  EMLEDGER_TRY(check_txs(block, in_force, ids, leaves, next));
  if (ledger::payload_digest(ids) != hdr.payload_digest)
    return fail("CHAIN_PAYLOAD_MISMATCH", want,
                "payload digest does not match the block's transactions");
  ledger::LogFrontier grown = log_;
  for (const Hash& leaf : leaves) grown.append(leaf);
  if (grown.size() != hdr.log_size)
    return fail("CHAIN_LOG_MISMATCH", want,
                "header log size " + std::to_string(hdr.log_size) + ", recomputed " +
                    std::to_string(grown.size()));
  const Hash root = grown.root();
  if (root != hdr.log_root)
    return fail("CHAIN_LOG_MISMATCH", want,
                "header log root " + to_hex(hdr.log_root) + ", recomputed " + to_hex(root));
  EMLEDGER_TRY(check_expected(want, next));
  // Every check passed: advance.
  log_ = std::move(grown);
  height_ = want;
  tip_hash_ = hdr.hash();
  tip_state_root_ = hdr.state_root;
  tip_time_ms_ = hdr.time_ms;
  if (first_log_size_ == 0 && log_.size() > 0) {
    first_log_size_ = log_.size();
    first_log_root_ = root;
  }
  if (next) {
    sets_.push_back(std::move(*next));
    ++changes_seen_;
  }
  return Status::ok();
}

Status ChainVerifier::check_validators_state(const ledger::StateProof& proof) const {
  EMLEDGER_ASSERT(height_ > 0);
  if (proof.key != ledger::validators_state_key())
    return Status::error(std::string(kProofInvalid),
                         "the state proof of the validators names another key");
  if (!ledger::verify_state_proof(proof, tip_state_root_))
    return Status::error(std::string(kProofInvalid),
                         "the state proof of the validators does not match the state root of "
                         "height " +
                             std::to_string(height_));
  const ledger::ValidatorSet& walked = sets_.back();
  if (!proof.present) {
    if (walked.epoch == ledger::kGenesisEpoch) return Status::ok();
    return fail("CHAIN_SUCCESSION_MISMATCH", height_,
                "the state names no change of validators, the walk is in epoch " +
                    std::to_string(walked.epoch));
  }
  auto proven = ledger::decode<ledger::ValidatorSet>(proof.value);
  if (!proven)
    return fail("CHAIN_SUCCESSION_MISMATCH", height_,
                "the proven validators value is not a validator set: " + proven.status().message());
  if (ledger::encode(*proven) != ledger::encode(walked))
    return fail("CHAIN_SUCCESSION_MISMATCH", height_,
                "the state names the validators of epoch " + std::to_string(proven->epoch) +
                    " from height " + std::to_string(proven->since_height) +
                    ", the walk holds epoch " + std::to_string(walked.epoch) + " from height " +
                    std::to_string(walked.since_height));
  return Status::ok();
}

Status ChainVerifier::check_expected_sets_reached() const {
  if (!expected_ || expected_->sets.size() <= sets_.size()) return Status::ok();
  const ledger::ValidatorSet& missed = expected_->sets[sets_.size()];
  return fail("CHAIN_SUCCESSION_MISMATCH", height_,
              "the node's succession names a change to epoch " + std::to_string(missed.epoch) +
                  " at height " + std::to_string(missed.since_height - 1) +
                  ", which the walk did not find");
}

}  // namespace emledger::client
