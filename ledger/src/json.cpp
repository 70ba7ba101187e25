// The API's JSON form of ledger types. Never hashed or signed.
#include "emledger/ledger/json.hpp"

#include <fstream>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::ledger {
namespace {

std::string hex(const Hash& h) { return to_hex(h); }
std::string hex(ByteView b) { return to_hex(b); }

Status bad(const std::string& what) { return Status::error("GENESIS_MALFORMED", what); }

}  // namespace

std::string cursor_string(ChainPos pos) {
  return std::to_string(pos.height) + "." + std::to_string(pos.index);
}

std::optional<ChainPos> parse_cursor(std::string_view s) {
  auto number = [](std::string_view d, std::uint64_t max) -> std::optional<std::uint64_t> {
    if (d.empty() || d.size() > 20 || (d.size() > 1 && d[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return std::nullopt;
      const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
      if (v > (max - digit) / 10) return std::nullopt;
      v = v * 10 + digit;
    }
    return v;
  };
  const auto dot = s.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto h = number(s.substr(0, dot), UINT64_MAX);
  auto i = number(s.substr(dot + 1), UINT32_MAX);
  if (!h || !i) return std::nullopt;
  return ChainPos{*h, static_cast<std::uint32_t>(*i)};
}

std::string_view record_kind_name(std::uint8_t kind) {
  switch (static_cast<RecordKind>(kind)) {
    case RecordKind::kMaterial:
      return "material";
    case RecordKind::kLicense:
      return "license";
  }
  return "unknown";
}

std::string_view record_status_name(std::uint8_t status) {
  switch (static_cast<RecordStatus>(status)) {
    case RecordStatus::kActive:
      return "active";
    case RecordStatus::kRevoked:
      return "revoked";
    case RecordStatus::kSuperseded:
      return "superseded";
  }
  return "unknown";
}

std::string_view tx_type_name(std::uint8_t type) {
  switch (static_cast<TxType>(type)) {
    case TxType::kRegisterRecord:
      return "register_record";
    case TxType::kChangeLicense:
      return "change_license";
    case TxType::kRenewLicense:
      return "renew_license";
    case TxType::kRevokeRecord:
      return "revoke_record";
    case TxType::kBindHolder:
      return "bind_holder";
    case TxType::kRebindHolder:
      return "rebind_holder";
    case TxType::kRotateHolderKey:
      return "rotate_holder_key";
    case TxType::kCreateGrant:
      return "create_grant";
    case TxType::kRevokeGrant:
      return "revoke_grant";
    case TxType::kRecordAccess:
      return "record_access";
    case TxType::kFileObjection:
      return "file_objection";
    case TxType::kResolveObjection:
      return "resolve_objection";
    case TxType::kAnchorArchive:
      return "anchor_archive";
    case TxType::kSubmitEvidence:
      return "submit_evidence";
    case TxType::kChangeValidators:
      return "change_validators";
  }
  return "unknown";
}

Json to_json(const Org& o) {
  Json keys = Json::array();
  for (const auto& k : o.keys)
    keys.push_back({{"key_id", k.key_id}, {"public_key", hex(ByteView(k.public_key))}});
  return {{"id", o.id}, {"region", o.region}, {"roles", role_names(o.roles)}, {"keys", keys}};
}

Json to_json(const Genesis& g) {
  Json orgs = Json::array();
  for (const auto& o : g.orgs) orgs.push_back(to_json(o));
  Json vals = Json::array();
  for (const auto& v : g.validators)
    vals.push_back({{"org_id", v.org_id},
                    {"public_key", hex(ByteView(v.public_key))},
                    {"address", v.address}});
  Json statutes = Json::array();
  for (const auto& p : g.statutes)
    statutes.push_back({{"type_code", p.type_code}, {"roles", role_names(p.roles)}});
  return {{"chain_id", g.chain_id},
          {"time_ms", g.time_ms},
          {"orgs", orgs},
          {"validators", vals},
          {"statutes", statutes}};
}

Result<Genesis> genesis_from_json(const Json& j) {
  try {
    Genesis g;
    if (!j.is_object()) return bad("genesis must be an object");
    g.chain_id = j.at("chain_id").get<std::string>();
    g.time_ms = j.at("time_ms").get<std::uint64_t>();
    for (const auto& jo : j.at("orgs")) {
      Org o;
      o.id = jo.at("id").get<std::string>();
      o.region = jo.at("region").get<std::string>();
      for (const auto& r : jo.at("roles")) {
        auto role = role_from_name(r.get<std::string>());
        if (!role) return bad("unknown role '" + r.get<std::string>() + "' of org " + o.id);
        o.roles |= *role;
      }
      for (const auto& jk : jo.at("keys")) {
        OrgKey k;
        k.key_id = jk.at("key_id").get<std::uint32_t>();
        auto pk = hash_from_hex(jk.at("public_key").get<std::string>());
        if (!pk) return bad("bad public key of org " + o.id);
        k.public_key = *pk;
        o.keys.push_back(k);
      }
      if (o.id.size() > kOrgIdBytesMax || o.region.size() > kRegionBytesMax ||
          o.keys.size() > kOrgKeysMax)
        return bad("org " + o.id + " exceeds a field maximum");
      g.orgs.push_back(std::move(o));
    }
    for (const auto& jv : j.at("validators")) {
      Validator v;
      v.org_id = jv.at("org_id").get<std::string>();
      auto pk = hash_from_hex(jv.at("public_key").get<std::string>());
      if (!pk) return bad("bad public key of validator " + v.org_id);
      v.public_key = *pk;
      v.address = jv.at("address").get<std::string>();
      if (v.address.size() > kAddressBytesMax) return bad("validator address too long");
      g.validators.push_back(std::move(v));
    }
    if (j.contains("statutes")) {
      for (const auto& jp : j.at("statutes")) {
        StatutePolicy p;
        p.type_code = jp.at("type_code").get<std::string>();
        for (const auto& r : jp.at("roles")) {
          auto role = role_from_name(r.get<std::string>());
          if (!role) return bad("unknown role in statute for " + p.type_code);
          p.roles |= *role;
        }
        if (p.type_code.size() > kTypeCodeBytesMax) return bad("statute type code too long");
        g.statutes.push_back(std::move(p));
      }
    }
    if (g.statutes.size() > kStatutePoliciesMax) return bad("too many statute policies");
    if (g.chain_id.size() > kChainIdBytesMax || g.orgs.size() > kOrgsMax ||
        g.validators.size() > kValidatorsMax)
      return bad("genesis exceeds a field maximum");
    EMLEDGER_TRY(g.check());
    return g;
  } catch (const Json::exception& e) {
    return bad(std::string("genesis JSON: ") + e.what());
  }
}

Result<Genesis> load_genesis_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error("IO_ERROR", "cannot open genesis file " + path);
  Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(path + " is not valid JSON");
  return genesis_from_json(j);
}

Json to_json(const RecordBody& b) {
  return {{"kind", record_kind_name(b.kind)},
          {"type_code", b.type_code},
          {"holder_ref", hex(b.holder_ref)},
          {"content_hash", hex(b.content_hash)},
          {"size_bytes", b.size_bytes},
          {"media_type", b.media_type},
          {"locator", b.locator},
          {"issued_at_ms", b.issued_at_ms},
          {"valid_from_ms", b.valid_from_ms},
          {"valid_until_ms", b.valid_until_ms}};
}

Json to_json(const Record& r) {
  Json j = to_json(r.body);
  j["id"] = hex(r.id);
  j["issuer"] = r.issuer;
  j["version"] = r.version;
  j["supersedes"] = is_zero(r.supersedes) ? Json(nullptr) : Json(hex(r.supersedes));
  j["superseded_by"] = is_zero(r.superseded_by) ? Json(nullptr) : Json(hex(r.superseded_by));
  j["status"] = record_status_name(r.status);
  j["revoke_reason"] = r.revoke_reason;
  j["anchor_tx"] = hex(r.anchor_tx);
  j["anchor_height"] = r.anchor_height;
  j["anchor_index"] = r.anchor_index;
  j["updated_height"] = r.updated_height;
  j["objections_open"] = r.objections_open;
  j["ended_height"] = r.ended_height;
  j["ended_index"] = r.ended_index;
  return j;
}

static Json hashes(const std::vector<Hash>& v);

std::string_view vote_kind_name(std::uint8_t kind) {
  switch (static_cast<VoteKind>(kind)) {
    case VoteKind::kNotarize:
      return "notarize";
    case VoteKind::kNullify:
      return "nullify";
    case VoteKind::kFinalize:
      return "finalize";
  }
  return "unknown";
}

Json to_json(const EvidenceVote& v) {
  return {{"validator", v.validator}, {"kind", vote_kind_name(v.kind)},
          {"view", v.view},           {"height", v.height},
          {"digest", hex(v.digest)},  {"signature", hex(ByteView(v.signature))}};
}

Json to_json(const GrantTerms& t) {
  return {{"holder_ref", hex(t.holder_ref)},
          {"grantee", t.grantee},
          {"record_ids", hashes(t.record_ids)},
          {"type_codes", t.type_codes},
          {"service_code", t.service_code},
          {"case_id", t.case_id},
          {"not_before_ms", t.not_before_ms},
          {"not_after_ms", t.not_after_ms},
          {"max_uses", t.max_uses}};
}

Json to_json(const Grant& g) {
  Json j = to_json(g.terms);
  j["id"] = hex(g.id);
  j["uses"] = g.uses;
  j["status"] = g.status == static_cast<std::uint8_t>(GrantStatus::kActive) ? "active" : "revoked";
  j["created_by_tx"] = hex(g.created_by_tx);
  j["created_height"] = g.created_height;
  j["created_index"] = g.created_index;
  j["updated_height"] = g.updated_height;
  j["revoked_height"] = g.revoked_height;
  j["revoked_index"] = g.revoked_index;
  return j;
}

Json to_json(const Access& a) {
  return {{"id", hex(a.id)},
          {"org", a.org},
          {"record_id", hex(a.record_id)},
          {"holder_ref", hex(a.holder_ref)},
          {"grant_id", a.statutory ? Json(nullptr) : Json(hex(a.grant_id))},
          {"case_id", a.case_id},
          {"statutory", a.statutory},
          {"height", a.height},
          {"tx_index", a.tx_index},
          {"time_ms", a.time_ms}};
}

Json to_json(const HolderBinding& b) {
  return {{"holder_ref", hex(b.holder_ref)},
          {"public_key", hex(ByteView(b.public_key))},
          {"key_seq", b.key_seq},
          {"bound_by", b.bound_by},
          {"updated_height", b.updated_height}};
}

Json to_json(const Objection& o) {
  static constexpr std::string_view kStatus[] = {"unknown", "open", "upheld", "rejected"};
  return {{"id", hex(o.id)},
          {"record_id", hex(o.record_id)},
          {"filed_by_org", o.filed_by_org.empty() ? Json(nullptr) : Json(o.filed_by_org)},
          {"holder_ref", is_zero(o.holder_ref) ? Json(nullptr) : Json(hex(o.holder_ref))},
          {"reason", o.reason},
          {"status", kStatus[o.status <= 3 ? o.status : 0]},
          {"resolution_reason", o.resolution_reason},
          {"filed_height", o.filed_height},
          {"resolved_height", o.resolved_height}};
}

Json to_json(const Archive& a) {
  return {{"id", hex(a.id)},
          {"org", a.org},
          {"case_id", a.case_id},
          {"package_hash", hex(a.package_hash)},
          {"record_ids", hashes(a.record_ids)},
          {"height", a.height}};
}

Json to_json(const BlockHeader& h) {
  return {{"chain_id", h.chain_id},
          {"height", h.height},
          {"view", h.view},
          {"time_ms", h.time_ms},
          {"parent", hex(h.parent)},
          {"log_size", h.log_size},
          {"log_root", hex(h.log_root)},
          {"state_root", hex(h.state_root)},
          {"proposer", hex(ByteView(h.proposer))},
          {"payload_digest", hex(h.payload_digest)}};
}

Json to_json(const Certificate& c) {
  Json sigs = Json::array();
  for (const auto& s : c.signatures)
    sigs.push_back({{"validator", s.validator}, {"signature", hex(ByteView(s.signature))}});
  return {{"height", c.height},
          {"view", c.view},
          {"header_hash", hex(c.header_hash)},
          {"signatures", sigs}};
}

Json to_json(const Tx& tx) {
  Json j = {{"id", hex(tx.id())},
            {"chain_id", tx.body.chain_id},
            {"signer_org", tx.body.signer_org},
            {"key_id", tx.body.key_id},
            {"expires_at_height", tx.body.expires_at_height},
            {"nonce", tx.body.nonce},
            {"type", tx_type_name(tx.body.type)},
            {"signature", hex(ByteView(tx.signature))}};
  switch (static_cast<TxType>(tx.body.type)) {
    case TxType::kRegisterRecord:
      if (auto p = decode<RegisterRecord>(tx.body.payload))
        j["payload"] = {{"body", to_json(p->body)}};
      break;
    case TxType::kChangeLicense:
      if (auto p = decode<ChangeLicense>(tx.body.payload))
        j["payload"] = {{"previous", hex(p->previous)}, {"body", to_json(p->body)}};
      break;
    case TxType::kRenewLicense:
      if (auto p = decode<RenewLicense>(tx.body.payload))
        j["payload"] = {{"record", hex(p->record)}, {"valid_until_ms", p->valid_until_ms}};
      break;
    case TxType::kRevokeRecord:
      if (auto p = decode<RevokeRecord>(tx.body.payload))
        j["payload"] = {{"record", hex(p->record)}, {"reason", p->reason}};
      break;
    case TxType::kBindHolder:
    case TxType::kRebindHolder:
      if (auto p = decode<BindHolder>(tx.body.payload))
        j["payload"] = {{"holder_ref", hex(p->holder_ref)},
                        {"public_key", hex(ByteView(p->public_key))}};
      break;
    case TxType::kRotateHolderKey:
      if (auto p = decode<RotateHolderKey>(tx.body.payload))
        j["payload"] = {{"holder_ref", hex(p->holder_ref)},
                        {"new_public_key", hex(ByteView(p->new_public_key))}};
      break;
    case TxType::kCreateGrant:
      if (auto p = decode<CreateGrant>(tx.body.payload))
        j["payload"] = {{"terms", to_json(p->terms)}};
      break;
    case TxType::kRevokeGrant:
      if (auto p = decode<RevokeGrant>(tx.body.payload))
        j["payload"] = {{"holder_ref", hex(p->holder_ref)}, {"grant_id", hex(p->grant_id)}};
      break;
    case TxType::kRecordAccess:
      if (auto p = decode<RecordAccess>(tx.body.payload))
        j["payload"] = {{"record_id", hex(p->record_id)},
                        {"grant_id", is_zero(p->grant_id) ? Json(nullptr) : Json(hex(p->grant_id))},
                        {"case_id", p->case_id}};
      break;
    case TxType::kFileObjection:
      if (auto p = decode<FileObjection>(tx.body.payload))
        j["payload"] = {
            {"record_id", hex(p->record_id)},
            {"holder_ref", is_zero(p->holder_ref) ? Json(nullptr) : Json(hex(p->holder_ref))},
            {"reason", p->reason}};
      break;
    case TxType::kResolveObjection:
      if (auto p = decode<ResolveObjection>(tx.body.payload))
        j["payload"] = {{"objection_id", hex(p->objection_id)},
                        {"outcome", p->outcome == 1 ? "upheld" : "rejected"},
                        {"reason", p->reason}};
      break;
    case TxType::kAnchorArchive:
      if (auto p = decode<AnchorArchive>(tx.body.payload))
        j["payload"] = {{"case_id", p->case_id},
                        {"package_hash", hex(p->package_hash)},
                        {"record_ids", hashes(p->record_ids)}};
      break;
    case TxType::kSubmitEvidence:
      if (auto p = decode_submit_evidence(tx.body.payload))
        j["payload"] = {
            {"epoch", p->epoch}, {"first", to_json(p->first)}, {"second", to_json(p->second)}};
      break;
    case TxType::kChangeValidators:
      if (auto p = decode<ChangeValidators>(tx.body.payload)) {
        Json validators = Json::array();
        for (const auto& v : p->validators)
          validators.push_back({{"org_id", v.org_id},
                                {"public_key", hex(ByteView(v.public_key))},
                                {"address", v.address}});
        Json approvals = Json::array();
        for (const auto& a : p->approvals)
          approvals.push_back(
              {{"validator", a.validator}, {"signature", hex(ByteView(a.signature))}});
        j["payload"] = {{"epoch", p->epoch}, {"validators", validators}, {"approvals", approvals}};
      }
      break;
  }
  return j;
}

static Json hashes(const std::vector<Hash>& v) {
  Json a = Json::array();
  for (const auto& h : v) a.push_back(hex(h));
  return a;
}

Json to_json(const InclusionProof& p) {
  return {{"leaf_index", p.leaf_index}, {"tree_size", p.tree_size}, {"path", hashes(p.path)}};
}

Json to_json(const ConsistencyProof& p) {
  return {{"first", p.first}, {"second", p.second}, {"path", hashes(p.path)}};
}

Json to_json(const StateProof& p) {
  Json j = {{"key", hex(p.key)},
            {"present", p.present},
            {"terminal", p.terminal == 0 ? "empty" : "leaf"},
            {"siblings", hashes(p.siblings)}};
  if (p.present) j["value"] = hex(p.value);
  if (p.terminal == 1 && !p.present) {
    j["other_path"] = hex(p.other_path);
    j["other_value_hash"] = hex(p.other_value_hash);
  }
  return j;
}

Json to_json(const BundleVerdict& v) {
  Json recs = Json::array();
  for (const auto& r : v.records) {
    Json jr = to_json(r.record);
    jr["verdict"] = verdict_name(r.verdict);
    recs.push_back(jr);
  }
  return {{"verdict", verdict_name(v.overall)},
          {"height", v.height},
          {"time_ms", v.time_ms},
          {"records", recs}};
}

}  // namespace emledger::ledger
