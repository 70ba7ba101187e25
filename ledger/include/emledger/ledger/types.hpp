// Ledger value types: genesis, orgs, records, transactions, blocks,
// certificates. Wire and disk layouts: docs/formats/encoding.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"

namespace emledger::ledger {

using crypto::PublicKey;
using crypto::Signature;

// Org roles, a bit set.
enum Role : std::uint32_t {
  kRoleValidator = 1u << 0,
  kRoleIssuer = 1u << 1,
  kRoleConsumer = 1u << 2,
  kRoleIdentity = 1u << 3,
  kRoleAuditor = 1u << 4,
  kRoleAdmin = 1u << 5,
};
inline constexpr std::uint32_t kRolesAll = (1u << 6) - 1;
std::optional<std::uint32_t> role_from_name(std::string_view name);
std::vector<std::string> role_names(std::uint32_t roles);

struct OrgKey {
  std::uint32_t key_id = 0;
  PublicKey public_key{};
  template <class V>
  void describe(V& v) {
    v.u32(key_id);
    v.fixed(public_key);
  }
};

struct Org {
  static constexpr std::string_view kDomain = "emledger.org";
  static constexpr std::uint8_t kVersion = 1;
  std::string id;  // e.g. "sh.jiading.admin-center"
  std::string region;
  std::uint32_t roles = 0;
  std::vector<OrgKey> keys;
  template <class V>
  void describe(V& v) {
    v.str(id, kOrgIdBytesMax);
    v.str(region, kRegionBytesMax);
    v.u32(roles);
    v.list(keys, kOrgKeysMax);
  }
  Status check() const;
  const OrgKey* find_key(std::uint32_t key_id) const;
};

struct Validator {
  std::string org_id;
  PublicKey public_key{};
  std::string address;  // host:port of its peer endpoint (informational for n = 1)
  template <class V>
  void describe(V& v) {
    v.str(org_id, kOrgIdBytesMax);
    v.fixed(public_key);
    v.str(address, kAddressBytesMax);
  }
};

// A record type that the law lets orgs with `roles` read without the holder's
// grant (for example a public business license). Such accesses are still
// recorded, marked as statutory.
struct StatutePolicy {
  std::string type_code;
  std::uint32_t roles = 0;  // any of these roles may read under the statute
  template <class V>
  void describe(V& v) {
    v.str(type_code, kTypeCodeBytesMax);
    v.u32(roles);
  }
};

// The trusted root of a network. Its hash (SHA-256 of encode(genesis)) is the
// parent hash of block 1 and what clients pin.
struct Genesis {
  static constexpr std::string_view kDomain = "emledger.genesis";
  static constexpr std::uint8_t kVersion = 1;
  std::string chain_id;
  std::uint64_t time_ms = 0;
  std::vector<Org> orgs;  // sorted by id, unique
  std::vector<Validator> validators;
  std::vector<StatutePolicy> statutes;  // sorted by type code, unique
  template <class V>
  void describe(V& v) {
    v.str(chain_id, kChainIdBytesMax);
    v.u64(time_ms);
    v.list(orgs, kOrgsMax);
    v.list(validators, kValidatorsMax);
    v.list(statutes, kStatutePoliciesMax);
  }
  Status check() const;
  Hash hash() const;
  const Org* find_org(std::string_view id) const;
  const StatutePolicy* find_statute(std::string_view type_code) const;
  // Byzantine bounds of design.md section 6: f = floor((n-1)/3), q = n - f.
  // An empty set (refused by check()) tolerates nothing and needs everything.
  std::size_t fault_tolerance() const {
    return validators.empty() ? 0 : (validators.size() - 1) / 3;
  }
  std::size_t quorum() const { return validators.size() - fault_tolerance(); }
};

enum class RecordKind : std::uint8_t { kMaterial = 1, kLicense = 2 };
enum class RecordStatus : std::uint8_t { kActive = 1, kRevoked = 2, kSuperseded = 3 };

// What the issuer states about a file: the index, never the file.
struct RecordBody {
  std::uint8_t kind = 0;  // RecordKind
  std::string type_code;  // catalog type code
  Hash holder_ref{};      // pseudonymous holder reference
  Hash content_hash{};    // SHA-256 of the exact file bytes
  std::uint64_t size_bytes = 0;
  std::string media_type;
  std::string locator;  // where the source agency keeps the file
  std::uint64_t issued_at_ms = 0;
  std::uint64_t valid_from_ms = 0;
  std::uint64_t valid_until_ms = 0;  // 0: no end
  template <class V>
  void describe(V& v) {
    v.u8(kind);
    v.str(type_code, kTypeCodeBytesMax);
    v.fixed(holder_ref);
    v.fixed(content_hash);
    v.u64(size_bytes);
    v.str(media_type, kMediaTypeBytesMax);
    v.str(locator, kLocatorBytesMax);
    v.u64(issued_at_ms);
    v.u64(valid_from_ms);
    v.u64(valid_until_ms);
  }
  Status check() const;
};

// A record as held in state ("rec/" + id).
// A transaction's place in the chain: its block's height and its index in
// that block. Values record the positions of their changes, so that from the
// value at the end of a block an auditor can tell whether a change came
// before or after another transaction of the same block.
struct ChainPos {
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  auto operator<=>(const ChainPos&) const = default;
};

struct Record {
  static constexpr std::string_view kDomain = "emledger.record";
  static constexpr std::uint8_t kVersion = 2;
  Hash id{};
  std::string issuer;
  RecordBody body;
  std::uint32_t version = 1;  // 1 for a registration, +1 per change
  Hash supersedes{};          // zero when none
  Hash superseded_by{};       // zero when none
  std::uint8_t status = static_cast<std::uint8_t>(RecordStatus::kActive);
  std::uint16_t revoke_reason = 0;
  Hash anchor_tx{};  // the transaction that created this version (its e-seal)
  std::uint64_t anchor_height = 0;
  std::uint32_t anchor_index = 0;  // anchor_tx's index in its block
  std::uint64_t updated_height = 0;
  std::uint32_t objections_open = 0;  // > 0: verifiers see the record is contested
  // Where the record stopped being active (superseded or revoked); zero
  // while it is active.
  std::uint64_t ended_height = 0;
  std::uint32_t ended_index = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(id);
    v.str(issuer, kOrgIdBytesMax);
    v.object(body);
    v.u32(version);
    v.fixed(supersedes);
    v.fixed(superseded_by);
    v.u8(status);
    v.u16(revoke_reason);
    v.fixed(anchor_tx);
    v.u64(anchor_height);
    v.u32(anchor_index);
    v.u64(updated_height);
    v.u32(objections_open);
    v.u64(ended_height);
    v.u32(ended_index);
  }
  Status check() const;
};

// State value under "hash/" + content hash: the records anchoring that file.
struct RecordIdList {
  static constexpr std::string_view kDomain = "emledger.record-ids";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<Hash> ids;  // in order of registration
  template <class V>
  void describe(V& v) {
    v.hash_list(ids, kRecordsPerHashMax);
  }
};

// ---- transactions ----

enum class TxType : std::uint8_t {
  kRegisterRecord = 1,
  kChangeLicense = 2,
  kRenewLicense = 3,
  kRevokeRecord = 4,
  kBindHolder = 5,         // identity org: bind a holder key to a holder_ref
  kRebindHolder = 6,       // identity org: replace a lost holder key
  kRotateHolderKey = 7,    // holder: replace its key, signed by the current key
  kCreateGrant = 8,        // holder
  kRevokeGrant = 9,        // holder
  kRecordAccess = 10,      // consumer org
  kFileObjection = 11,     // holder or org
  kResolveObjection = 12,  // issuer of the record
  kAnchorArchive = 13,     // org closing a case
  kSubmitEvidence = 14,    // any org: a validator's two conflicting votes (votes.hpp)
  kChangeValidators =
      15,  // any org: the next validator set, approved by a quorum (validator_set.hpp)
};
inline constexpr std::uint8_t kTxTypeMax = 15;

// Who may sign a type. A holder-signed transaction has an empty signer_org
// and key_id = the holder key's sequence number; the holder_ref is in the
// payload. FileObjection may be signed either way.
bool holder_may_sign(std::uint8_t type);
bool org_may_sign(std::uint8_t type);

struct RegisterRecord {
  static constexpr std::string_view kDomain = "emledger.tx.register";
  static constexpr std::uint8_t kVersion = 1;
  RecordBody body;
  template <class V>
  void describe(V& v) {
    v.object(body);
  }
  Status check() const { return body.check(); }
};

// A new version of a license that supersedes `previous`.
struct ChangeLicense {
  static constexpr std::string_view kDomain = "emledger.tx.change";
  static constexpr std::uint8_t kVersion = 1;
  Hash previous{};
  RecordBody body;
  template <class V>
  void describe(V& v) {
    v.fixed(previous);
    v.object(body);
  }
  Status check() const { return body.check(); }
};

struct RenewLicense {
  static constexpr std::string_view kDomain = "emledger.tx.renew";
  static constexpr std::uint8_t kVersion = 1;
  Hash record{};
  std::uint64_t valid_until_ms = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(record);
    v.u64(valid_until_ms);
  }
};

struct RevokeRecord {
  static constexpr std::string_view kDomain = "emledger.tx.revoke";
  static constexpr std::uint8_t kVersion = 1;
  Hash record{};
  std::uint16_t reason = 0;  // nonzero reason code
  template <class V>
  void describe(V& v) {
    v.fixed(record);
    v.u16(reason);
  }
  Status check() const;
};

// Binds (or, for kRebindHolder, re-binds) a holder key to a holder_ref.
struct BindHolder {
  static constexpr std::string_view kDomain = "emledger.tx.bind-holder";
  static constexpr std::uint8_t kVersion = 1;
  Hash holder_ref{};
  PublicKey public_key{};
  template <class V>
  void describe(V& v) {
    v.fixed(holder_ref);
    v.fixed(public_key);
  }
};

struct RotateHolderKey {
  static constexpr std::string_view kDomain = "emledger.tx.rotate-holder-key";
  static constexpr std::uint8_t kVersion = 1;
  Hash holder_ref{};
  PublicKey new_public_key{};
  template <class V>
  void describe(V& v) {
    v.fixed(holder_ref);
    v.fixed(new_public_key);
  }
};

// What a holder allows: who may read which records, why, when, how often.
struct GrantTerms {
  Hash holder_ref{};
  std::string grantee;                  // org id
  std::vector<Hash> record_ids;         // scope: these records...
  std::vector<std::string> type_codes;  // ...or any record of these types
  std::string service_code;             // purpose: the service item
  std::string case_id;                  // purpose: the case it is read for
  std::uint64_t not_before_ms = 0;
  std::uint64_t not_after_ms = 0;
  std::uint32_t max_uses = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(holder_ref);
    v.str(grantee, kOrgIdBytesMax);
    v.hash_list(record_ids, kGrantRecordsMax);
    v.str_list(type_codes, kGrantTypeCodesMax, kTypeCodeBytesMax);
    v.str(service_code, kServiceCodeBytesMax);
    v.str(case_id, kCaseIdBytesMax);
    v.u64(not_before_ms);
    v.u64(not_after_ms);
    v.u32(max_uses);
  }
  Status check() const;
};

struct CreateGrant {
  static constexpr std::string_view kDomain = "emledger.tx.create-grant";
  static constexpr std::uint8_t kVersion = 1;
  GrantTerms terms;
  template <class V>
  void describe(V& v) {
    v.object(terms);
  }
  Status check() const { return terms.check(); }
};

struct RevokeGrant {
  static constexpr std::string_view kDomain = "emledger.tx.revoke-grant";
  static constexpr std::uint8_t kVersion = 1;
  Hash holder_ref{};
  Hash grant_id{};
  template <class V>
  void describe(V& v) {
    v.fixed(holder_ref);
    v.fixed(grant_id);
  }
};

// A consumer org reads a record: under a grant, or (grant_id zero) under a
// statute policy of the genesis.
struct RecordAccess {
  static constexpr std::string_view kDomain = "emledger.tx.record-access";
  static constexpr std::uint8_t kVersion = 1;
  Hash record_id{};
  Hash grant_id{};
  std::string case_id;
  template <class V>
  void describe(V& v) {
    v.fixed(record_id);
    v.fixed(grant_id);
    v.str(case_id, kCaseIdBytesMax);
  }
};

// Contests a record. Signed by the holder (holder_ref set, signer_org empty)
// or by an org (holder_ref zero).
struct FileObjection {
  static constexpr std::string_view kDomain = "emledger.tx.file-objection";
  static constexpr std::uint8_t kVersion = 1;
  Hash record_id{};
  Hash holder_ref{};
  std::uint16_t reason = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(record_id);
    v.fixed(holder_ref);
    v.u16(reason);
  }
  Status check() const;
};

enum class ObjectionOutcome : std::uint8_t { kUpheld = 1, kRejected = 2 };

// The issuer's answer. Upheld: the record is revoked with `reason`.
// Rejected: the record stands; `reason` says why.
struct ResolveObjection {
  static constexpr std::string_view kDomain = "emledger.tx.resolve-objection";
  static constexpr std::uint8_t kVersion = 1;
  Hash objection_id{};
  std::uint8_t outcome = 0;
  std::uint16_t reason = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(objection_id);
    v.u8(outcome);
    v.u16(reason);
  }
  Status check() const;
};

// "Archived on completion": the hash of a closed case's archive package and
// the records it used.
struct AnchorArchive {
  static constexpr std::string_view kDomain = "emledger.tx.anchor-archive";
  static constexpr std::uint8_t kVersion = 1;
  std::string case_id;
  Hash package_hash{};
  std::vector<Hash> record_ids;
  template <class V>
  void describe(V& v) {
    v.str(case_id, kCaseIdBytesMax);
    v.fixed(package_hash);
    v.hash_list(record_ids, kArchiveRecordsMax);
  }
  Status check() const;
};

// ---- state values of the authorization layer ----

struct HolderBinding {  // "holder/" + holder_ref
  static constexpr std::string_view kDomain = "emledger.holder";
  static constexpr std::uint8_t kVersion = 1;
  Hash holder_ref{};
  PublicKey public_key{};
  std::uint32_t key_seq = 1;  // 1 at binding, +1 per rotation or re-binding
  std::string bound_by;       // the identity org of the latest (re)binding
  std::uint64_t updated_height = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(holder_ref);
    v.fixed(public_key);
    v.u32(key_seq);
    v.str(bound_by, kOrgIdBytesMax);
    v.u64(updated_height);
  }
};

enum class GrantStatus : std::uint8_t { kActive = 1, kRevoked = 2 };

struct Grant {  // "grant/" + id
  static constexpr std::string_view kDomain = "emledger.grant";
  static constexpr std::uint8_t kVersion = 2;
  Hash id{};
  GrantTerms terms;
  std::uint32_t uses = 0;
  std::uint8_t status = static_cast<std::uint8_t>(GrantStatus::kActive);
  Hash created_by_tx{};
  std::uint64_t created_height = 0;
  std::uint32_t created_index = 0;  // created_by_tx's index in its block
  std::uint64_t updated_height = 0;
  // Where the holder revoked it; zero while active.
  std::uint64_t revoked_height = 0;
  std::uint32_t revoked_index = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(id);
    v.object(terms);
    v.u32(uses);
    v.u8(status);
    v.fixed(created_by_tx);
    v.u64(created_height);
    v.u32(created_index);
    v.u64(updated_height);
    v.u64(revoked_height);
    v.u32(revoked_index);
  }
  Status check() const;
};

struct Access {  // "access/" + id
  static constexpr std::string_view kDomain = "emledger.access";
  static constexpr std::uint8_t kVersion = 2;
  Hash id{};
  std::string org;
  Hash record_id{};
  Hash holder_ref{};
  Hash grant_id{};  // zero: statutory
  std::string case_id;
  bool statutory = false;
  std::uint64_t height = 0;
  std::uint32_t tx_index = 0;  // the access transaction's index in its block
  std::uint64_t time_ms = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(id);
    v.str(org, kOrgIdBytesMax);
    v.fixed(record_id);
    v.fixed(holder_ref);
    v.fixed(grant_id);
    v.str(case_id, kCaseIdBytesMax);
    v.boolean(statutory);
    v.u64(height);
    v.u32(tx_index);
    v.u64(time_ms);
  }
};

enum class ObjectionStatus : std::uint8_t { kOpen = 1, kUpheld = 2, kRejected = 3 };

struct Objection {  // "objection/" + id
  static constexpr std::string_view kDomain = "emledger.objection";
  static constexpr std::uint8_t kVersion = 1;
  Hash id{};
  Hash record_id{};
  std::string filed_by_org;  // empty when the holder filed it
  Hash holder_ref{};         // the holder who filed it, else zero
  std::uint16_t reason = 0;
  std::uint8_t status = static_cast<std::uint8_t>(ObjectionStatus::kOpen);
  std::uint16_t resolution_reason = 0;
  std::uint64_t filed_height = 0;
  std::uint64_t resolved_height = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(id);
    v.fixed(record_id);
    v.str(filed_by_org, kOrgIdBytesMax);
    v.fixed(holder_ref);
    v.u16(reason);
    v.u8(status);
    v.u16(resolution_reason);
    v.u64(filed_height);
    v.u64(resolved_height);
  }
};

struct Archive {  // "archive/" + id
  static constexpr std::string_view kDomain = "emledger.archive";
  static constexpr std::uint8_t kVersion = 1;
  Hash id{};
  std::string org;
  std::string case_id;
  Hash package_hash{};
  std::vector<Hash> record_ids;
  std::uint64_t height = 0;
  template <class V>
  void describe(V& v) {
    v.fixed(id);
    v.str(org, kOrgIdBytesMax);
    v.str(case_id, kCaseIdBytesMax);
    v.fixed(package_hash);
    v.hash_list(record_ids, kArchiveRecordsMax);
    v.u64(height);
  }
};

// Ids of what a transaction creates: SHA-256(domain tag || tx id).
Hash grant_id_for(const Hash& tx_id);
Hash access_id_for(const Hash& tx_id);
Hash objection_id_for(const Hash& tx_id);
Hash archive_id_for(const Hash& tx_id);

// The signed part of a transaction.
struct TxBody {
  std::string chain_id;
  std::string signer_org;  // empty when the holder signs (holder_may_sign)
  std::uint32_t key_id = 0;
  std::uint64_t expires_at_height = 0;  // invalid in any block above this height
  std::uint64_t nonce = 0;              // makes otherwise identical transactions distinct
  std::uint8_t type = 0;                // TxType
  Bytes payload;                        // encode() of the payload type named by `type`
  template <class V>
  void describe(V& v) {
    v.str(chain_id, kChainIdBytesMax);
    v.str(signer_org, kOrgIdBytesMax);
    v.u32(key_id);
    v.u64(expires_at_height);
    v.u64(nonce);
    v.u8(type);
    v.bytes(payload, kPayloadBytesMax);
  }
};

struct SignedBodyView {  // the bytes an org key signs
  static constexpr std::string_view kDomain = "emledger.tx.sign";
  static constexpr std::uint8_t kVersion = 1;
  TxBody body;
  template <class V>
  void describe(V& v) {
    v.object(body);
  }
};

struct Tx {
  static constexpr std::string_view kDomain = "emledger.tx";
  static constexpr std::uint8_t kVersion = 1;
  TxBody body;
  Signature signature{};
  template <class V>
  void describe(V& v) {
    v.object(body);
    v.fixed(signature);
  }
  Status check() const;
  Bytes signing_bytes() const;  // encode(SignedBodyView{body})
  Hash id() const;              // SHA-256(encode(*this))
};

// Signs `body` with `key` and returns the transaction.
Tx sign_tx(TxBody body, const crypto::KeyPair& key);

// Typed payload construction and access.
template <class P>
TxBody make_body(TxType type, const P& payload) {
  TxBody b;
  b.type = static_cast<std::uint8_t>(type);
  b.payload = encode(payload);
  return b;
}

// Record ids are derived, never chosen: SHA-256("emledger.record-id" || tx id).
Hash record_id_for(const Hash& tx_id);

// ---- blocks ----

struct BlockHeader {
  static constexpr std::string_view kDomain = "emledger.header";
  static constexpr std::uint8_t kVersion = 1;
  std::string chain_id;
  std::uint64_t height = 0;
  std::uint64_t view = 0;
  std::uint64_t time_ms = 0;
  Hash parent{};  // header hash of height-1; genesis hash for height 1
  std::uint64_t log_size = 0;
  Hash log_root{};
  Hash state_root{};
  PublicKey proposer{};
  Hash payload_digest{};  // payload_digest() of the block's transactions
  template <class V>
  void describe(V& v) {
    v.str(chain_id, kChainIdBytesMax);
    v.u64(height);
    v.u64(view);
    v.u64(time_ms);
    v.fixed(parent);
    v.u64(log_size);
    v.fixed(log_root);
    v.fixed(state_root);
    v.fixed(proposer);
    v.fixed(payload_digest);
  }
  Hash hash() const;
};

struct Block {
  static constexpr std::string_view kDomain = "emledger.block";
  static constexpr std::uint8_t kVersion = 1;
  BlockHeader header;
  std::vector<Bytes> txs;  // encode(Tx) each, in log order
  template <class V>
  void describe(V& v) {
    v.object(header);
    v.bytes_list(txs, kBlockTxsMax, kTxBytesMax);
  }
};

// SHA-256("emledger.payload" || u32 count || tx id...) of a block's transactions.
Hash payload_digest(const std::vector<Hash>& tx_ids);

// The number of a validator set (docs/validator-set-changes.md section 2):
// epoch 0 is the genesis set. Every vote statement names its epoch, so a
// signature of one epoch never counts in another.
using Epoch = std::uint64_t;
inline constexpr Epoch kGenesisEpoch = 0;

// What a validator signs to finalize: (chain id, epoch, height, view, header
// hash). Version 2 added the epoch.
struct FinalizeVote {
  static constexpr std::string_view kDomain = "emledger.vote.finalize";
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

struct CertSignature {
  std::uint16_t validator = 0;  // index into the validator set
  Signature signature{};
  template <class V>
  void describe(V& v) {
    v.u16(validator);
    v.fixed(signature);
  }
};

// A quorum of finalize votes for one header.
struct Certificate {
  static constexpr std::string_view kDomain = "emledger.cert";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t height = 0;
  std::uint64_t view = 0;
  Hash header_hash{};
  std::vector<CertSignature> signatures;  // strictly increasing validator index
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.u64(view);
    v.fixed(header_hash);
    v.list(signatures, kValidatorsMax);
  }
};

// Checks that `cert` finalizes `header` under `genesis`' validator set in
// `epoch`: matching height, view and hash, distinct known validators in
// increasing order, every signature valid over encode(FinalizeVote) of that
// epoch, and at least quorum() of them.
// Errors: CERT_MISMATCH, CERT_BAD_SIGNATURE, CERT_NO_QUORUM.
Status verify_certificate_in_epoch(const Genesis& genesis, Epoch epoch, const BlockHeader& header,
                                   const Certificate& cert);

// The genesis forms, for chains whose validators never changed:
// verify_certificate_in_epoch in kGenesisEpoch. After a change of set, the
// set that judges a height comes from the ledger (Ledger::validators_at) or a
// verified succession (validator_set.hpp); use verify_certificate_in_set.
Status verify_certificate(const Genesis& genesis, const BlockHeader& header,
                          const Certificate& cert);

// Adds `key`'s finalize signature (genesis validator `index`) to `cert`, signed
// for kGenesisEpoch (sign_certificate_in_set for later epochs).
void sign_certificate(const Genesis& genesis, const BlockHeader& header, std::uint16_t index,
                      const crypto::KeyPair& key, Certificate& cert);

}  // namespace emledger::ledger
