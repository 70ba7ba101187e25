#include "emledger/client/authz.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/json.hpp"
#include "json_util.hpp"

namespace emledger::client {

using ledger::Json;
using ledger::TxType;

namespace {

Status invalid(const std::string& what) { return Status::error("INVALID_PAYLOAD", what); }
Status proof_invalid(const std::string& what) {
  return Status::error(std::string(kProofInvalid), what);
}
Status bad_response(const std::string& what) {
  return Status::error(std::string(kNodeBadResponse), what);
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Forwards to a shared transport, so that Client (which owns its transport)
// and the signed calls of AuthzClient use the same one.
class SharedTransport final : public Transport {
 public:
  explicit SharedTransport(std::shared_ptr<Transport> t) : t_(std::move(t)) {}
  Result<HttpResponse> get(const std::string& target) override { return t_->get(target); }
  Result<HttpResponse> post(const std::string& target, const std::string& body,
                            bool long_wait) override {
    return t_->post(target, body, long_wait);
  }
  Result<HttpResponse> send(const HttpCall& call) override { return t_->send(call); }
  std::string authority() const override { return t_->authority(); }

 private:
  std::shared_ptr<Transport> t_;
};

Result<ledger::StateProof> decode_proof(const Bytes& raw) {
  auto proof = ledger::decode<ledger::StateProof>(raw);
  if (!proof) return bad_response("undecodable state proof: " + proof.status().message());
  return proof;
}

}  // namespace

Status check_state_value(const Hash& root, ByteView key, const ledger::StateProof& proof,
                         const std::optional<Bytes>& encoded, const std::string& what) {
  if (proof.key.size() != key.size() || !std::equal(key.begin(), key.end(), proof.key.begin()))
    return proof_invalid(what + ": the state proof is for another key");
  if (!ledger::verify_state_proof(proof, root))
    return proof_invalid(what + ": the state proof does not match the state root");
  if (proof.present != encoded.has_value())
    return proof_invalid(what + (proof.present ? ": proven present, sent as absent"
                                               : ": proven absent, sent as present"));
  if (encoded && proof.value != *encoded)
    return proof_invalid(what + ": the value sent is not the value proven");
  return Status::ok();
}

// ---- builders ----

ledger::Tx build_holder_tx(const ledger::Genesis& genesis, const HolderSigner& holder, TxType type,
                           Bytes payload, std::uint64_t head_height, std::uint64_t nonce) {
  EMLEDGER_ASSERT(ledger::holder_may_sign(static_cast<std::uint8_t>(type)));
  ledger::TxBody body;
  body.chain_id = genesis.chain_id;
  body.signer_org.clear();  // a holder signs: no org
  body.key_id = holder.key_seq;
  body.expires_at_height = head_height + kTxExpiryBlocks;
  body.nonce = nonce;
  body.type = static_cast<std::uint8_t>(type);
  body.payload = std::move(payload);
  EMLEDGER_ASSERT(body.payload.size() <= ledger::kPayloadBytesMax);
  return ledger::sign_tx(std::move(body), holder.key);
}

Result<ledger::GrantTerms> canonical_grant_terms(ledger::GrantTerms terms) {
  sort_unique(terms.record_ids);
  sort_unique(terms.type_codes);
  if (terms.record_ids.size() > ledger::kGrantRecordsMax)
    return invalid("a grant names at most " + std::to_string(ledger::kGrantRecordsMax) +
                   " records");
  if (terms.type_codes.size() > ledger::kGrantTypeCodesMax)
    return invalid("a grant names at most " + std::to_string(ledger::kGrantTypeCodesMax) +
                   " type codes");
  for (const auto& t : terms.type_codes)
    if (t.size() > ledger::kTypeCodeBytesMax) return invalid("type code '" + t + "' is too long");
  if (terms.grantee.size() > ledger::kOrgIdBytesMax) return invalid("grantee id is too long");
  if (terms.service_code.size() > ledger::kServiceCodeBytesMax)
    return invalid("service code is too long");
  if (terms.case_id.size() > ledger::kCaseIdBytesMax) return invalid("case id is too long");
  EMLEDGER_TRY(terms.check());
  return terms;
}

Result<Bytes> access_payload(const Hash& record_id, const Hash& grant_id,
                             const std::string& case_id) {
  if (case_id.empty() || case_id.size() > ledger::kCaseIdBytesMax)
    return invalid("an access names a case id of 1 to " + std::to_string(ledger::kCaseIdBytesMax) +
                   " bytes");
  return ledger::encode(ledger::RecordAccess{record_id, grant_id, case_id});
}

Result<Bytes> objection_payload(const Hash& record_id, const Hash& holder_ref,
                                std::uint16_t reason) {
  ledger::FileObjection p{record_id, holder_ref, reason};
  EMLEDGER_TRY(p.check());
  return ledger::encode(p);
}

Result<Bytes> resolve_payload(const Hash& objection_id, ledger::ObjectionOutcome outcome,
                              std::uint16_t reason) {
  ledger::ResolveObjection p{objection_id, static_cast<std::uint8_t>(outcome), reason};
  EMLEDGER_TRY(p.check());
  return ledger::encode(p);
}

Result<Bytes> archive_payload(const std::string& case_id, const Hash& package_hash,
                              std::vector<Hash> record_ids) {
  sort_unique(record_ids);
  if (case_id.size() > ledger::kCaseIdBytesMax) return invalid("case id is too long");
  if (record_ids.size() > ledger::kArchiveRecordsMax)
    return invalid("an archive names at most " + std::to_string(ledger::kArchiveRecordsMax) +
                   " records");
  ledger::AnchorArchive p{case_id, package_hash, std::move(record_ids)};
  EMLEDGER_TRY(p.check());
  return ledger::encode(p);
}

// ---- AuthzClient: plumbing ----

AuthzClient::AuthzClient(const std::string& base_url, ledger::Genesis trusted,
                         const ClientOptions& options)
    : AuthzClient(std::shared_ptr<Transport>(make_http_transport(base_url, options.transport)),
                  std::move(trusted), options) {}

AuthzClient::AuthzClient(std::shared_ptr<Transport> transport, ledger::Genesis trusted,
                         const ClientOptions& options)
    : transport_(std::move(transport)),
      client_(std::make_unique<SharedTransport>(transport_), std::move(trusted), options) {}

Result<HttpResponse> AuthzClient::send_signed(HttpCall call, const RequestKey& key) const {
  const HttpCall unsigned_call = call;
  EMLEDGER_TRY(sign_call(call, transport_->authority(), key, sign_options(key, unix_now_s())));
  auto res = transport_->send(call);
  // A node that has just restarted refuses signatures made in or before its
  // start second (its nonce cache is new). Signing again a second later is
  // safe: the new signature has a fresh nonce.
  if (!res || res->status != 401 || node_error(*res).code() != "SIGNATURE_PREDATES_START")
    return res;
  std::this_thread::sleep_for(std::chrono::milliseconds(kRestartResign_ms));
  call = unsigned_call;
  EMLEDGER_TRY(sign_call(call, transport_->authority(), key, sign_options(key, unix_now_s())));
  return transport_->send(call);
}

Result<std::optional<Bytes>> AuthzClient::state_at(ByteView key, std::uint64_t height) const {
  auto at = client_.header(height);
  if (!at) return at.status();
  auto res =
      transport_->get("/v1/proofs/state?key=" + to_hex(key) + "&height=" + std::to_string(height));
  if (!res) return res.status();
  if (res->status != 200) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "state proof");
  Bytes raw = f.hex("proof");
  EMLEDGER_TRY(f.status());
  auto proof = decode_proof(raw);
  if (!proof) return proof.status();
  std::optional<Bytes> value;
  if (proof->present) value = proof->value;
  EMLEDGER_TRY(check_state_value(at->header.state_root, key, *proof, value,
                                 "state at height " + std::to_string(height)));
  return value;
}

namespace {

// One state value answered as {"encoded","proof","height"}: the proof is
// checked under the certified header at that height before the value is used.
struct ProvenValue {
  Bytes encoded;
  CertifiedHeader at;
};

Result<ProvenValue> proven_value(const Client& client, const Result<HttpResponse>& res,
                                 const char* what, const Bytes& state_key,
                                 const std::string& label) {
  if (!res) return res.status();
  if (res->status != 200) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, what);
  Bytes encoded = f.hex("encoded");
  Bytes raw_proof = f.hex("proof");
  const std::uint64_t height = f.u64("height");
  EMLEDGER_TRY(f.status());
  auto at = client.header(height);
  if (!at) return at.status();
  auto proof = decode_proof(raw_proof);
  if (!proof) return proof.status();
  EMLEDGER_TRY(check_state_value(at->header.state_root, state_key, *proof, encoded, label));
  return ProvenValue{std::move(encoded), std::move(at).value()};
}

}  // namespace

Result<VerifiedBinding> AuthzClient::holder_binding(const Hash& holder_ref) const {
  auto v = proven_value(client_, transport_->get("/v1/holders/" + to_hex(holder_ref)), "holder",
                        ledger::holder_state_key(holder_ref), "holder binding");
  if (!v) return v.status();
  auto b = ledger::decode<ledger::HolderBinding>(v->encoded);
  if (!b || b->holder_ref != holder_ref)
    return proof_invalid("the proven value is not this holder's binding");
  return VerifiedBinding{std::move(b).value(), std::move(v->at)};
}

Result<HolderSigner> AuthzClient::holder_signer(const Hash& holder_ref,
                                                const crypto::KeyPair& key) const {
  auto b = holder_binding(holder_ref);
  if (!b) return b.status();
  if (b->binding.public_key != key.public_key())
    return Status::error(std::string(kHolderKeyMismatch),
                         "the key is not the one bound to holder " + to_hex(holder_ref) +
                             " (bound key sequence " + std::to_string(b->binding.key_seq) + ")");
  return HolderSigner{holder_ref, b->binding.key_seq, key};
}

// ---- transactions ----

namespace {

Result<Committed> committed_from(const ledger::Tx& tx, const Result<SubmitResult>& r) {
  if (!r) return r.status();
  if (r->status == "rejected") return r->error;
  if (r->status != "committed") return bad_response("wait=commit answered '" + r->status + "'");
  return Committed{tx.id(), Hash{}, r->height, r->log_index};
}

Result<Committed> with_id(Result<Committed> c, Hash (*id_for)(const Hash&)) {
  if (c) c->created_id = id_for(c->tx_id);
  return c;
}

}  // namespace

Result<Committed> AuthzClient::submit_org(const Signer& signer, TxType type, Bytes payload) const {
  auto tx = client_.make_tx(signer, type, std::move(payload));
  if (!tx) return tx.status();
  return committed_from(*tx, client_.submit(*tx, /*wait_commit=*/true));
}

Result<Committed> AuthzClient::submit_holder(const HolderSigner& holder, TxType type,
                                             Bytes payload) const {
  auto h = client_.health();
  if (!h) return h.status();
  if (h->genesis_hash != client_.trusted_genesis_hash())
    return Status::error(std::string(kGenesisMismatch), "node runs another genesis");
  const ledger::Tx tx = build_holder_tx(client_.trusted_genesis(), holder, type, std::move(payload),
                                        h->height, random_nonce());
  return committed_from(tx, client_.submit(tx, /*wait_commit=*/true));
}

Result<Committed> AuthzClient::bind_holder(const Signer& identity, const Hash& holder_ref,
                                           const crypto::PublicKey& holder_key, bool rebind) const {
  auto c = submit_org(identity, rebind ? TxType::kRebindHolder : TxType::kBindHolder,
                      ledger::encode(ledger::BindHolder{holder_ref, holder_key}));
  if (c) c->created_id = holder_ref;
  return c;
}

Result<Committed> AuthzClient::rotate_holder_key(const HolderSigner& holder,
                                                 const crypto::PublicKey& new_key) const {
  auto c = submit_holder(holder, TxType::kRotateHolderKey,
                         ledger::encode(ledger::RotateHolderKey{holder.holder_ref, new_key}));
  if (c) c->created_id = holder.holder_ref;
  return c;
}

Result<Committed> AuthzClient::create_grant(const HolderSigner& holder,
                                            ledger::GrantTerms terms) const {
  terms.holder_ref = holder.holder_ref;
  auto t = canonical_grant_terms(std::move(terms));
  if (!t) return t.status();
  return with_id(submit_holder(holder, TxType::kCreateGrant,
                               ledger::encode(ledger::CreateGrant{std::move(t).value()})),
                 &ledger::grant_id_for);
}

Result<Committed> AuthzClient::revoke_grant(const HolderSigner& holder,
                                            const Hash& grant_id) const {
  auto c = submit_holder(holder, TxType::kRevokeGrant,
                         ledger::encode(ledger::RevokeGrant{holder.holder_ref, grant_id}));
  if (c) c->created_id = grant_id;
  return c;
}

Result<Committed> AuthzClient::record_access(const Signer& consumer, const Hash& record_id,
                                             const Hash& grant_id,
                                             const std::string& case_id) const {
  auto p = access_payload(record_id, grant_id, case_id);
  if (!p) return p.status();
  return with_id(submit_org(consumer, TxType::kRecordAccess, std::move(p).value()),
                 &ledger::access_id_for);
}

Result<Committed> AuthzClient::file_objection(const Signer& org, const Hash& record_id,
                                              std::uint16_t reason) const {
  auto p = objection_payload(record_id, Hash{}, reason);
  if (!p) return p.status();
  return with_id(submit_org(org, TxType::kFileObjection, std::move(p).value()),
                 &ledger::objection_id_for);
}

Result<Committed> AuthzClient::file_objection(const HolderSigner& holder, const Hash& record_id,
                                              std::uint16_t reason) const {
  auto p = objection_payload(record_id, holder.holder_ref, reason);
  if (!p) return p.status();
  return with_id(submit_holder(holder, TxType::kFileObjection, std::move(p).value()),
                 &ledger::objection_id_for);
}

Result<Committed> AuthzClient::resolve_objection(const Signer& issuer, const Hash& objection_id,
                                                 ledger::ObjectionOutcome outcome,
                                                 std::uint16_t reason) const {
  auto p = resolve_payload(objection_id, outcome, reason);
  if (!p) return p.status();
  auto c = submit_org(issuer, TxType::kResolveObjection, std::move(p).value());
  if (c) c->created_id = objection_id;
  return c;
}

Result<Committed> AuthzClient::anchor_archive(const Signer& org, const std::string& case_id,
                                              const Hash& package_hash,
                                              std::vector<Hash> record_ids) const {
  auto p = archive_payload(case_id, package_hash, std::move(record_ids));
  if (!p) return p.status();
  return with_id(submit_org(org, TxType::kAnchorArchive, std::move(p).value()),
                 &ledger::archive_id_for);
}

// ---- signed reads ----

namespace {

const char* list_name(ledger::Ledger::HolderList list) {
  switch (list) {
    case ledger::Ledger::HolderList::kRecords:
      return "records";
    case ledger::Ledger::HolderList::kGrants:
      return "grants";
    case ledger::Ledger::HolderList::kAccesses:
      return "accesses";
  }
  return "records";
}

// Decodes one proven item of a holder list and checks it is `holder_ref`'s
// and has the id it was listed under.
Status add_view_item(HolderView& view, ledger::Ledger::HolderList list, const Hash& holder_ref,
                     const Hash& id, const Bytes& encoded) {
  using L = ledger::Ledger::HolderList;
  const std::string what = std::string(list_name(list)) + " item " + to_hex(id);
  if (list == L::kRecords) {
    auto r = ledger::decode<ledger::Record>(encoded);
    if (!r || r->id != id || r->body.holder_ref != holder_ref)
      return proof_invalid(what + " is not a record of this holder");
    view.records.push_back(std::move(r).value());
  } else if (list == L::kGrants) {
    auto g = ledger::decode<ledger::Grant>(encoded);
    if (!g || g->id != id || g->terms.holder_ref != holder_ref)
      return proof_invalid(what + " is not a grant of this holder");
    view.grants.push_back(std::move(g).value());
  } else {
    auto a = ledger::decode<ledger::Access>(encoded);
    if (!a || a->id != id || a->holder_ref != holder_ref)
      return proof_invalid(what + " is not an access to this holder's records");
    view.accesses.push_back(std::move(a).value());
  }
  return Status::ok();
}

Bytes item_state_key(ledger::Ledger::HolderList list, const Hash& id) {
  using L = ledger::Ledger::HolderList;
  if (list == L::kRecords) return ledger::record_state_key(id);
  if (list == L::kGrants) return ledger::grant_state_key(id);
  return ledger::access_state_key(id);
}

}  // namespace

Result<HolderView> AuthzClient::holder_view(const RequestKey& reader, const Hash& holder_ref,
                                            ledger::Ledger::HolderList list, std::size_t limit,
                                            std::optional<ledger::ChainPos> after) const {
  return proven_list("/v1/holders/" + to_hex(holder_ref) + "/" + std::string(list_name(list)),
                     reader, holder_ref, list, limit, after);
}

Result<HolderView> AuthzClient::grant_records(const RequestKey& grantee, const Hash& grant_id,
                                              const Hash& holder_ref, std::size_t limit,
                                              std::optional<ledger::ChainPos> after) const {
  return proven_list("/v1/grants/" + to_hex(grant_id) + "/records", grantee, holder_ref,
                     ledger::Ledger::HolderList::kRecords, limit, after);
}

Result<HolderView> AuthzClient::proven_list(const std::string& path, const RequestKey& reader,
                                            const Hash& holder_ref, ledger::Ledger::HolderList list,
                                            std::size_t limit,
                                            std::optional<ledger::ChainPos> after) const {
  limit = std::clamp<std::size_t>(limit, 1, kHolderViewItemsMax);
  HttpCall call;
  call.target = path + "?limit=" + std::to_string(limit);
  if (after) call.target += "&after=" + ledger::cursor_string(*after);
  auto res = send_signed(std::move(call), reader);
  if (!res) return res.status();
  if (res->status != 200) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "holder view");
  Bytes header = f.hex("header");
  Bytes cert = f.hex("certificate");
  EMLEDGER_TRY(f.status());
  auto at = client_.certify_header(header, cert);
  if (!at) return at.status();
  if (!j->contains("items") || !(*j)["items"].is_array() || (*j)["items"].size() > limit)
    return bad_response("holder view without a bounded items list");
  HolderView view{std::move(at).value(), {}, {}, {}, std::nullopt};
  for (const auto& item : (*j)["items"]) {
    Fields fi(item, "holder view item");
    const Hash id = fi.hash("id");
    Bytes encoded = fi.hex("encoded");
    Bytes raw_proof = fi.hex("proof");
    EMLEDGER_TRY(fi.status());
    auto proof = decode_proof(raw_proof);
    if (!proof) return proof.status();
    EMLEDGER_TRY(check_state_value(view.at.header.state_root, item_state_key(list, id), *proof,
                                   encoded, std::string(list_name(list)) + " item " + to_hex(id)));
    EMLEDGER_TRY(add_view_item(view, list, holder_ref, id, encoded));
  }
  if (j->contains("next") && !(*j)["next"].is_null()) {
    const Json& next = (*j)["next"];
    view.next = next.is_string() ? ledger::parse_cursor(next.get<std::string>()) : std::nullopt;
    if (!view.next || (after && *view.next <= *after))
      return bad_response("holder view with a cursor that does not move forward");
  }
  return view;
}

Result<VerifiedGrant> AuthzClient::grant(const RequestKey& reader, const Hash& grant_id) const {
  HttpCall call;
  call.target = "/v1/grants/" + to_hex(grant_id);
  auto v = proven_value(client_, send_signed(std::move(call), reader), "grant",
                        ledger::grant_state_key(grant_id), "grant " + to_hex(grant_id));
  if (!v) return v.status();
  auto g = ledger::decode<ledger::Grant>(v->encoded);
  if (!g || g->id != grant_id) return proof_invalid("the proven value is not that grant");
  return VerifiedGrant{std::move(g).value(), std::move(v->at)};
}

// ---- material store ----

namespace {

// The whole file, bounded. Errors: IO_ERROR, BODY_TOO_LARGE.
Result<std::string> read_file_bounded(const std::string& path, std::uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("IO_ERROR", "cannot read " + path);
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  if (size > max_bytes)
    return Status::error("BODY_TOO_LARGE",
                         path + " is larger than " + std::to_string(max_bytes) + " bytes");
  in.seekg(0);
  std::string bytes(size, '\0');
  if (size > 0 && !in.read(bytes.data(), static_cast<std::streamsize>(size)))
    return Status::error("IO_ERROR", "cannot read " + path);
  return bytes;
}

}  // namespace

Result<UploadResult> AuthzClient::upload_material(const Signer& issuer,
                                                  const std::string& path) const {
  auto bytes = read_file_bounded(path, kMaterialBytesMax);
  if (!bytes) return bytes.status();
  const Hash h = crypto::sha256(as_bytes(*bytes));
  HttpCall call;
  call.method = "PUT";
  call.target = "/v1/materials/" + to_hex(h);
  call.content_type = "application/octet-stream";
  call.body = std::move(bytes).value();
  call.long_wait = true;  // up to 64 MiB
  const std::uint64_t size = call.body.size();
  auto res = send_signed(std::move(call), org_request_key(issuer));
  if (!res) return res.status();
  if (res->status != 200 && res->status != 201) return node_error(*res);
  return UploadResult{h, size, res->status == 201};
}

Result<std::string> AuthzClient::fetch_material(const Signer& consumer, const Hash& content_hash,
                                                const Hash& access_id) const {
  HttpCall call;
  call.target = "/v1/materials/" + to_hex(content_hash) + "?access=" + to_hex(access_id);
  call.long_wait = true;
  auto res = send_signed(std::move(call), org_request_key(consumer));
  if (!res) return res.status();
  if (res->status != 200) return node_error(*res);
  return std::move(res->body);
}

// ---- the consuming agency's one call ----

namespace {

// What the consumer may rely on before spending a use of the grant.
Status check_grant_for(const ledger::Grant& g, const Hash& holder_ref, const std::string& org,
                       const std::string& case_id) {
  if (g.terms.holder_ref != holder_ref)
    return Status::error("GRANT_SCOPE_MISMATCH", "the grant is another holder's");
  if (g.terms.grantee != org)
    return Status::error("GRANT_WRONG_GRANTEE", "the grant names " + g.terms.grantee);
  if (g.status != static_cast<std::uint8_t>(ledger::GrantStatus::kActive))
    return Status::error("GRANT_REVOKED", "the holder revoked the grant");
  if (g.terms.case_id != case_id)
    return Status::error("GRANT_PURPOSE_MISMATCH", "the grant is for case " + g.terms.case_id);
  if (g.uses >= g.terms.max_uses)
    return Status::error("GRANT_EXHAUSTED", "the grant's uses are spent");
  return Status::ok();
}

}  // namespace

Result<SharedMaterial> AuthzClient::fetch_shared_material(
    const Signer& consumer, const Hash& holder_ref, const std::string& type_code,
    const Hash& grant_id, const std::string& case_id, const AuthzClient* source) const {
  const RequestKey reader = org_request_key(consumer);
  auto g = grant(reader, grant_id);
  if (!g) return g.status();
  EMLEDGER_TRY(check_grant_for(g->grant, holder_ref, consumer.org_id, case_id));

  // Candidates: the records the grant names, each proven as of the head.
  std::vector<ledger::Record> candidates;
  if (!g->grant.terms.record_ids.empty()) {
    for (const Hash& id : g->grant.terms.record_ids) {
      auto r = client_.record(id);
      if (!r) return r.status();
      if (r->has_value()) candidates.push_back((*r)->record);
    }
  } else {
    std::optional<ledger::ChainPos> after;
    for (std::size_t page = 0; page < kGrantRecordPagesMax; ++page) {
      auto view = grant_records(reader, grant_id, holder_ref, kHolderViewItemsMax, after);
      if (!view) return view.status();
      for (auto& r : view->records) candidates.push_back(std::move(r));
      if (!view->next) break;
      after = view->next;
    }
  }
  const ledger::Record* chosen = nullptr;
  for (const auto& r : candidates) {
    if (r.body.holder_ref != holder_ref || r.body.type_code != type_code) continue;
    if (r.status != static_cast<std::uint8_t>(ledger::RecordStatus::kActive)) continue;
    if (!chosen || r.anchor_height > chosen->anchor_height) chosen = &r;
  }
  if (!chosen)
    return Status::error(
        std::string(kNoMatchingRecord),
        "the grant covers no active record of type " + type_code + " of this holder");
  const ledger::Record record = *chosen;

  // The record must verify as the file's anchor before a use is spent.
  auto bundle = client_.fetch_bundle(record.body.content_hash);
  if (!bundle) return bundle.status();
  auto in_bundle =
      std::find_if(bundle->verdict.records.begin(), bundle->verdict.records.end(),
                   [&](const ledger::RecordVerdict& v) { return v.record.id == record.id; });
  if (in_bundle == bundle->verdict.records.end())
    return proof_invalid("the proof bundle of the file does not hold record " + to_hex(record.id));
  if (in_bundle->verdict != ledger::Verdict::kValid)
    return Status::error("RECORD_NOT_VALID",
                         "record " + to_hex(record.id) + " verifies as " +
                             std::string(ledger::verdict_name(in_bundle->verdict)));

  auto access = record_access(consumer, record.id, grant_id, case_id);
  if (!access) return access.status();

  const AuthzClient& from = source ? *source : *this;
  auto bytes = from.fetch_material(consumer, record.body.content_hash, access->created_id);
  // Another node learns of the access when it has the block: wait for it.
  for (std::uint32_t waited_ms = 0;
       source && !bytes && bytes.status().code() == "ACCESS_NOT_FOUND" &&
       waited_ms < kSourceWait_ms;
       waited_ms += kSourceRetry_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kSourceRetry_ms));
    bytes = from.fetch_material(consumer, record.body.content_hash, access->created_id);
  }
  if (!bytes) return bytes.status();
  if (crypto::sha256(as_bytes(*bytes)) != record.body.content_hash)
    return Status::error(std::string(kMaterialHashMismatch),
                         "the source node sent bytes whose SHA-256 is not the record's content "
                         "hash; nothing released");
  return SharedMaterial{std::move(bytes).value(), in_bundle->record, g->grant, access->created_id,
                        access->height};
}

}  // namespace emledger::client
