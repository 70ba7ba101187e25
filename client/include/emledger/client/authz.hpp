// The SDK side of the authorization layer (docs/api.md "Authorization
// layer"): holders and their keys, grants, recorded access, objections,
// archives, the holder's own view of its data, the off-chain material store,
// and the one-call flow a consuming agency uses to fetch a holder's file
// under a grant.
//
// Every read is verified before it is returned, as in sdk.hpp: state values
// through state proofs against a header whose certificate verified under the
// trusted genesis. Reads of holder-linked data are signed (request_signing.hpp).
// Blocking and thread safe, like Client. Errors are values: the node's code
// passes through (GRANT_REVOKED, GRANT_EXPIRED, FORBIDDEN, ...), verification
// failures are PROOF_INVALID / CERT_* / MATERIAL_HASH_MISMATCH, and
// NODE_UNREACHABLE when no answer came.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emledger/client/request_signing.hpp"
#include "emledger/client/sdk.hpp"
#include "emledger/ledger/ledger.hpp"

namespace emledger::client {

// Client-side codes of this layer.
inline constexpr std::string_view kHolderKeyMismatch = "HOLDER_KEY_MISMATCH";
inline constexpr std::string_view kMaterialHashMismatch = "MATERIAL_HASH_MISMATCH";
inline constexpr std::string_view kNoMatchingRecord = "NO_MATCHING_RECORD";

// A holder's signing identity: its holder_ref, the sequence number of its
// current key (HolderBinding::key_seq) and that key.
struct HolderSigner {
  Hash holder_ref{};
  std::uint32_t key_seq = 0;
  crypto::KeyPair key;
};

// ---- transaction builders (pure) ----

// A holder-signed transaction: empty signer_org, key_id = key_seq, chain id of
// `genesis`, expiry head_height + kTxExpiryBlocks. The payload must name the
// same holder_ref (the kernel checks).
ledger::Tx build_holder_tx(const ledger::Genesis& genesis, const HolderSigner& holder,
                           ledger::TxType type, Bytes payload, std::uint64_t head_height,
                           std::uint64_t nonce);

// Checks user-typed grant terms and puts them in the canonical form the
// kernel requires: record ids and type codes sorted and unique, field
// lengths and list sizes within limits.hpp. Errors: INVALID_PAYLOAD.
Result<ledger::GrantTerms> canonical_grant_terms(ledger::GrantTerms terms);
// Payloads, bounded before encoding (the encoder asserts on over-long
// fields). Errors: INVALID_PAYLOAD.
Result<Bytes> access_payload(const Hash& record_id, const Hash& grant_id,
                             const std::string& case_id);
Result<Bytes> objection_payload(const Hash& record_id, const Hash& holder_ref,
                                std::uint16_t reason);
Result<Bytes> resolve_payload(const Hash& objection_id, ledger::ObjectionOutcome outcome,
                              std::uint16_t reason);
Result<Bytes> archive_payload(const std::string& case_id, const Hash& package_hash,
                              std::vector<Hash> record_ids);

// ---- results ----

// A committed transaction and the id of what it created (grant, access,
// objection or archive id; the holder_ref for bindings and rotations).
struct Committed {
  Hash tx_id{};
  Hash created_id{};
  std::uint64_t height = 0;
  std::uint64_t log_index = 0;
};

// A holder's records, grants or accesses as of one certified header, each
// item proven against its state root and checked to be the holder's.
struct HolderView {
  CertifiedHeader at;
  std::vector<ledger::Record> records;   // list kRecords
  std::vector<ledger::Grant> grants;     // list kGrants
  std::vector<ledger::Access> accesses;  // list kAccesses
  // Where the next page starts (pass it as `after`); none on the last page.
  std::optional<ledger::ChainPos> next;
};

// A binding as of a certified header.
struct VerifiedBinding {
  ledger::HolderBinding binding;
  CertifiedHeader at;
};

struct VerifiedGrant {
  ledger::Grant grant;
  CertifiedHeader at;
};

// The outcome of fetch_shared_material: the file, and what vouches for it.
struct SharedMaterial {
  std::string bytes;      // the exact file; SHA-256 equals record.body.content_hash
  ledger::Record record;  // as the verified bundle shows it
  ledger::Grant grant;    // as verified before the access
  Hash access_id{};       // the committed access that released the file
  std::uint64_t access_height = 0;
};

struct UploadResult {
  Hash content_hash{};
  std::uint64_t size_bytes = 0;
  bool created = false;  // false: the node already held these bytes
};

class AuthzClient {
 public:
  AuthzClient(const std::string& base_url, ledger::Genesis trusted,
              const ClientOptions& options = {});
  // For tests: one transport shared by the plain and the signed calls.
  AuthzClient(std::shared_ptr<Transport> transport, ledger::Genesis trusted,
              const ClientOptions& options = {});

  const Client& client() const { return client_; }

  // GET /v1/holders/{ref}, proven against the header at its height.
  // Errors: HOLDER_NOT_BOUND, and the verification codes.
  Result<VerifiedBinding> holder_binding(const Hash& holder_ref) const;
  // The holder's signer for `key`: its current key_seq, after checking that
  // `key` is the bound key. Errors: HOLDER_KEY_MISMATCH, holder_binding's.
  Result<HolderSigner> holder_signer(const Hash& holder_ref, const crypto::KeyPair& key) const;

  // Signs (org key, or holder key), submits with wait=commit and returns what
  // was committed; a rejection is the node's error (e.g. GRANT_REVOKED).
  Result<Committed> submit_org(const Signer& signer, ledger::TxType type, Bytes payload) const;
  Result<Committed> submit_holder(const HolderSigner& holder, ledger::TxType type,
                                  Bytes payload) const;

  // Identity org: bind (rebind = false) or re-bind a holder key.
  Result<Committed> bind_holder(const Signer& identity, const Hash& holder_ref,
                                const crypto::PublicKey& holder_key, bool rebind) const;
  Result<Committed> rotate_holder_key(const HolderSigner& holder,
                                      const crypto::PublicKey& new_key) const;
  // terms.holder_ref is set to holder.holder_ref; created_id is the grant id.
  Result<Committed> create_grant(const HolderSigner& holder, ledger::GrantTerms terms) const;
  Result<Committed> revoke_grant(const HolderSigner& holder, const Hash& grant_id) const;
  // grant_id zero: a statutory access. created_id is the access id.
  Result<Committed> record_access(const Signer& consumer, const Hash& record_id,
                                  const Hash& grant_id, const std::string& case_id) const;
  Result<Committed> file_objection(const Signer& org, const Hash& record_id,
                                   std::uint16_t reason) const;
  Result<Committed> file_objection(const HolderSigner& holder, const Hash& record_id,
                                   std::uint16_t reason) const;
  Result<Committed> resolve_objection(const Signer& issuer, const Hash& objection_id,
                                      ledger::ObjectionOutcome outcome, std::uint16_t reason) const;
  Result<Committed> anchor_archive(const Signer& org, const std::string& case_id,
                                   const Hash& package_hash, std::vector<Hash> record_ids) const;

  // GET /v1/holders/{ref}/{records|grants|accesses}, signed by `reader` (the
  // holder's key, or an auditor's). Errors: FORBIDDEN, SIGNATURE_*, and
  // PROOF_INVALID when an item does not verify or is not the holder's.
  // One page of at most `limit` items, strictly after `after` when given.
  static constexpr std::size_t kHolderViewItemsMax = 1000;
  Result<HolderView> holder_view(const RequestKey& reader, const Hash& holder_ref,
                                 ledger::Ledger::HolderList list,
                                 std::size_t limit = kHolderViewItemsMax,
                                 std::optional<ledger::ChainPos> after = std::nullopt) const;
  // GET /v1/grants/{id}/records, signed by the grantee: one page of the
  // holder's records in the live grant's scope, each proven and checked to
  // be `holder_ref`'s (the grant's holder). Errors: FORBIDDEN, GRANT_REVOKED,
  // GRANT_EXPIRED, GRANT_NOT_YET_VALID, GRANT_EXHAUSTED, the verification codes.
  Result<HolderView> grant_records(const RequestKey& grantee, const Hash& grant_id,
                                   const Hash& holder_ref, std::size_t limit = kHolderViewItemsMax,
                                   std::optional<ledger::ChainPos> after = std::nullopt) const;

  // GET /v1/grants/{id}, signed by `reader`, proven. Errors: GRANT_NOT_FOUND,
  // FORBIDDEN, the verification codes.
  Result<VerifiedGrant> grant(const RequestKey& reader, const Hash& grant_id) const;

  // PUT /v1/materials/{sha256(file)} signed by the issuer. Errors: IO_ERROR,
  // NO_MATCHING_RECORD, CONTENT_HASH_MISMATCH, BODY_TOO_LARGE.
  static constexpr std::uint64_t kMaterialBytesMax = 64ull << 20;  // docs/api.md
  Result<UploadResult> upload_material(const Signer& issuer, const std::string& path) const;
  // GET /v1/materials/{hash}?access={id} signed by the accessing org; the
  // bytes as received, not yet checked (fetch_shared_material checks them).
  Result<std::string> fetch_material(const Signer& consumer, const Hash& content_hash,
                                     const Hash& access_id) const;

  // The consuming agency's one call. Reads the grant (signed by the consumer,
  // proven) and requires it to be the holder's, for this org and case, and
  // active. Candidates are the grant's record_ids, or, for a grant naming
  // type codes, the holder's records the node lists to the grantee under it
  // (grant_records, at most kGrantRecordPagesMax pages). The newest active
  // candidate of `type_code`
  // is verified through its proof bundle, the access is recorded
  // (wait=commit), the file fetched, and its SHA-256 compared with the
  // record's content hash. On any failure nothing is returned but the Status.
  //
  // `source`, when given, is the issuing agency's node that serves the file
  // (this client's node records the access); it may not have the access's
  // block yet, so ACCESS_NOT_FOUND is retried for up to kSourceWait_ms.
  static constexpr std::uint32_t kSourceWait_ms = 10000;
  static constexpr std::size_t kGrantRecordPagesMax = 100;
  static constexpr std::uint32_t kSourceRetry_ms = 250;
  Result<SharedMaterial> fetch_shared_material(const Signer& consumer, const Hash& holder_ref,
                                               const std::string& type_code, const Hash& grant_id,
                                               const std::string& case_id,
                                               const AuthzClient* source = nullptr) const;

  // Signs `call` with `key` (now, +120 s, fresh nonce) and sends it. Once,
  // when the node answers SIGNATURE_PREDATES_START (it restarted within the
  // last second), waits kRestartResign_ms and signs and sends it again.
  static constexpr std::uint32_t kRestartResign_ms = 1100;
  Result<HttpResponse> send_signed(HttpCall call, const RequestKey& key) const;
  // A state value at `height`, proven against that certified header (GET
  // /v1/proofs/state): nullopt when the proof shows it absent.
  Result<std::optional<Bytes>> state_at(ByteView key, std::uint64_t height) const;

 private:
  // GET `path`?limit&after: a page of proven items of `list`, each checked
  // to be `holder_ref`'s.
  Result<HolderView> proven_list(const std::string& path, const RequestKey& reader,
                                 const Hash& holder_ref, ledger::Ledger::HolderList list,
                                 std::size_t limit, std::optional<ledger::ChainPos> after) const;
  std::shared_ptr<Transport> transport_;
  Client client_;
};

// Checks that `proof` proves `key` under `root` and, when `encoded` is
// given, that the proven value is exactly those bytes (nullopt: proven
// absent). Errors: PROOF_INVALID naming `what`.
Status check_state_value(const Hash& root, ByteView key, const ledger::StateProof& proof,
                         const std::optional<Bytes>& encoded, const std::string& what);

}  // namespace emledger::client
