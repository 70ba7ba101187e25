// The API's JSON form of ledger types. Never hashed or signed.
#include "emledger/ledger/json.hpp"

#include <fstream>

#include "emledger/crypto/hex.hpp"

namespace emledger::ledger {
namespace {

std::string hex(const Hash& h) { return to_hex(h); }
std::string hex(ByteView b) { return to_hex(b); }

Status bad(const std::string& what) { return Status::error("GENESIS_MALFORMED", what); }

}  // namespace

std::string_view record_kind_name(std::uint8_t kind) {
  switch (static_cast<RecordKind>(kind)) {
    case RecordKind::kMaterial: return "material";
    case RecordKind::kLicense: return "license";
  }
  return "unknown";
}

std::string_view record_status_name(std::uint8_t status) {
  switch (static_cast<RecordStatus>(status)) {
    case RecordStatus::kActive: return "active";
    case RecordStatus::kRevoked: return "revoked";
    case RecordStatus::kSuperseded: return "superseded";
  }
  return "unknown";
}

std::string_view tx_type_name(std::uint8_t type) {
  switch (static_cast<TxType>(type)) {
    case TxType::kRegisterRecord: return "register_record";
    case TxType::kChangeLicense: return "change_license";
    case TxType::kRenewLicense: return "renew_license";
    case TxType::kRevokeRecord: return "revoke_record";
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
  return {{"chain_id", g.chain_id}, {"time_ms", g.time_ms}, {"orgs", orgs}, {"validators", vals}};
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
  j["updated_height"] = r.updated_height;
  return j;
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
      if (auto p = decode<RegisterRecord>(tx.body.payload)) j["payload"] = {{"body", to_json(p->body)}};
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
