#include "emledger/ledger/types.hpp"

#include <algorithm>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::ledger {
namespace {

// RFC 3629 well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<std::uint8_t>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<std::uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

bool valid_identifier(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

Hash tagged_hash(std::string_view tag, ByteView data) {
  crypto::Sha256 h;
  h.update(as_bytes(tag));
  h.update(data);
  return h.finish();
}

}  // namespace

void Decoder::str(std::string& v, std::size_t max) {
  std::size_t n = length(max);
  if (!take(n)) return;
  v.assign(reinterpret_cast<const char*>(in_.data()) + pos_ - n, n);
  if (!valid_utf8(v)) fail("invalid UTF-8");
}

void Decoder::tag(std::string_view domain, std::uint8_t version) {
  std::uint8_t len = 0;
  u8(len);
  if (!ok()) return;
  if (len != domain.size() || !take(len)) {
    fail("wrong domain tag, expected " + std::string(domain));
    return;
  }
  if (!std::equal(domain.begin(), domain.end(), in_.begin() + pos_ - len)) {
    fail("wrong domain tag, expected " + std::string(domain));
    return;
  }
  std::uint8_t ver = 0;
  u8(ver);
  if (ok() && ver != version) fail("unknown version " + std::to_string(ver));
}

std::optional<std::uint32_t> role_from_name(std::string_view name) {
  static constexpr std::pair<std::string_view, std::uint32_t> kRoles[] = {
      {"validator", kRoleValidator}, {"issuer", kRoleIssuer},   {"consumer", kRoleConsumer},
      {"identity", kRoleIdentity},   {"auditor", kRoleAuditor}, {"admin", kRoleAdmin}};
  for (const auto& [n, r] : kRoles)
    if (n == name) return r;
  return std::nullopt;
}

std::vector<std::string> role_names(std::uint32_t roles) {
  static constexpr std::string_view kNames[] = {"validator", "issuer",  "consumer",
                                                "identity",  "auditor", "admin"};
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < 6; ++i)
    if (roles & (1u << i)) out.emplace_back(kNames[i]);
  return out;
}

Status Org::check() const {
  if (!valid_identifier(id, kOrgIdBytesMax))
    return Status::error("GENESIS_MALFORMED", "org id must be [a-z0-9._-]+: '" + id + "'");
  if (roles == 0 || (roles & ~kRolesAll) != 0)
    return Status::error("GENESIS_MALFORMED", "org " + id + " has no or unknown roles");
  if (keys.empty()) return Status::error("GENESIS_MALFORMED", "org " + id + " has no key");
  for (std::size_t i = 1; i < keys.size(); ++i)
    if (keys[i].key_id <= keys[i - 1].key_id)
      return Status::error("GENESIS_MALFORMED", "org " + id + " key ids must increase");
  return Status::ok();
}

const OrgKey* Org::find_key(std::uint32_t key_id) const {
  for (const auto& k : keys)
    if (k.key_id == key_id) return &k;
  return nullptr;
}

Status Genesis::check() const {
  if (!valid_identifier(chain_id, kChainIdBytesMax))
    return Status::error("GENESIS_MALFORMED", "chain id must be [a-z0-9._-]+");
  if (validators.empty()) return Status::error("GENESIS_MALFORMED", "no validators");
  for (std::size_t i = 0; i < orgs.size(); ++i) {
    EMLEDGER_TRY(orgs[i].check());
    if (i > 0 && orgs[i].id <= orgs[i - 1].id)
      return Status::error("GENESIS_MALFORMED", "orgs must be sorted by id and unique");
  }
  for (std::size_t i = 0; i < statutes.size(); ++i) {
    if (statutes[i].type_code.empty() || statutes[i].roles == 0 ||
        (statutes[i].roles & ~kRolesAll) != 0)
      return Status::error("GENESIS_MALFORMED", "statute policy needs a type code and roles");
    if (i > 0 && statutes[i].type_code <= statutes[i - 1].type_code)
      return Status::error("GENESIS_MALFORMED", "statute policies must be sorted by type code");
  }
  for (std::size_t i = 0; i < validators.size(); ++i) {
    const Org* org = find_org(validators[i].org_id);
    if (!org || !(org->roles & kRoleValidator))
      return Status::error("GENESIS_MALFORMED",
                           "validator org " + validators[i].org_id + " lacks the validator role");
    for (std::size_t j = 0; j < i; ++j)
      if (validators[j].public_key == validators[i].public_key)
        return Status::error("GENESIS_MALFORMED", "duplicate validator key");
  }
  return Status::ok();
}

const StatutePolicy* Genesis::find_statute(std::string_view type_code) const {
  auto it =
      std::lower_bound(statutes.begin(), statutes.end(), type_code,
                       [](const StatutePolicy& p, std::string_view v) { return p.type_code < v; });
  return it != statutes.end() && it->type_code == type_code ? &*it : nullptr;
}

bool holder_may_sign(std::uint8_t type) {
  switch (static_cast<TxType>(type)) {
    case TxType::kRotateHolderKey:
    case TxType::kCreateGrant:
    case TxType::kRevokeGrant:
    case TxType::kFileObjection:
      return true;
    default:
      return false;
  }
}

bool org_may_sign(std::uint8_t type) {
  switch (static_cast<TxType>(type)) {
    case TxType::kRotateHolderKey:
    case TxType::kCreateGrant:
    case TxType::kRevokeGrant:
      return false;
    default:
      return true;
  }
}

Status GrantTerms::check() const {
  if (is_zero(holder_ref)) return Status::error("INVALID_PAYLOAD", "grant names no holder");
  if (!valid_identifier(grantee, kOrgIdBytesMax))
    return Status::error("INVALID_PAYLOAD", "grant names no valid grantee org");
  if (record_ids.empty() && type_codes.empty())
    return Status::error("INVALID_PAYLOAD", "grant scope is empty");
  for (std::size_t i = 1; i < record_ids.size(); ++i)
    if (!(record_ids[i - 1] < record_ids[i]))
      return Status::error("INVALID_PAYLOAD", "grant record ids must be sorted and unique");
  for (std::size_t i = 1; i < type_codes.size(); ++i)
    if (!(type_codes[i - 1] < type_codes[i]))
      return Status::error("INVALID_PAYLOAD", "grant type codes must be sorted and unique");
  for (const auto& t : type_codes)
    if (t.empty()) return Status::error("INVALID_PAYLOAD", "empty type code in grant scope");
  if (service_code.empty() || case_id.empty())
    return Status::error("INVALID_PAYLOAD", "grant purpose needs a service code and a case id");
  if (not_after_ms <= not_before_ms)
    return Status::error("INVALID_PAYLOAD", "grant window ends before it starts");
  if (max_uses == 0) return Status::error("INVALID_PAYLOAD", "grant allows no use");
  return Status::ok();
}

Status Grant::check() const {
  EMLEDGER_TRY(terms.check());
  if (status < 1 || status > 2) return Status::error("MALFORMED_ENCODING", "bad grant status");
  const bool active = status == static_cast<std::uint8_t>(GrantStatus::kActive);
  if (active != (revoked_height == 0 && revoked_index == 0))
    return Status::error("MALFORMED_ENCODING", "grant status and revocation point disagree");
  return Status::ok();
}

Status FileObjection::check() const {
  if (reason == 0) return Status::error("INVALID_PAYLOAD", "objection reason code must be nonzero");
  return Status::ok();
}

Status ResolveObjection::check() const {
  if (outcome != static_cast<std::uint8_t>(ObjectionOutcome::kUpheld) &&
      outcome != static_cast<std::uint8_t>(ObjectionOutcome::kRejected))
    return Status::error("INVALID_PAYLOAD", "outcome must be upheld (1) or rejected (2)");
  if (reason == 0)
    return Status::error("INVALID_PAYLOAD", "resolution reason code must be nonzero");
  return Status::ok();
}

Status AnchorArchive::check() const {
  if (case_id.empty() || is_zero(package_hash))
    return Status::error("INVALID_PAYLOAD", "archive needs a case id and a package hash");
  for (std::size_t i = 1; i < record_ids.size(); ++i)
    if (!(record_ids[i - 1] < record_ids[i]))
      return Status::error("INVALID_PAYLOAD", "archive record ids must be sorted and unique");
  return Status::ok();
}

Hash grant_id_for(const Hash& tx_id) { return tagged_hash("emledger.grant-id", tx_id); }
Hash access_id_for(const Hash& tx_id) { return tagged_hash("emledger.access-id", tx_id); }
Hash objection_id_for(const Hash& tx_id) { return tagged_hash("emledger.objection-id", tx_id); }
Hash archive_id_for(const Hash& tx_id) { return tagged_hash("emledger.archive-id", tx_id); }

Hash Genesis::hash() const { return crypto::sha256(encode(*this)); }

const Org* Genesis::find_org(std::string_view id) const {
  auto it = std::lower_bound(orgs.begin(), orgs.end(), id,
                             [](const Org& o, std::string_view v) { return o.id < v; });
  return it != orgs.end() && it->id == id ? &*it : nullptr;
}

Status RecordBody::check() const {
  if (kind != static_cast<std::uint8_t>(RecordKind::kMaterial) &&
      kind != static_cast<std::uint8_t>(RecordKind::kLicense))
    return Status::error("INVALID_PAYLOAD", "kind must be material (1) or license (2)");
  if (type_code.empty()) return Status::error("INVALID_PAYLOAD", "type code is empty");
  if (is_zero(content_hash)) return Status::error("INVALID_PAYLOAD", "content hash is zero");
  if (valid_until_ms != 0 && valid_until_ms <= valid_from_ms)
    return Status::error("INVALID_PAYLOAD", "validity window ends before it starts");
  return Status::ok();
}

Status Record::check() const {
  EMLEDGER_TRY(body.check());
  if (status < 1 || status > 3) return Status::error("MALFORMED_ENCODING", "bad record status");
  const bool active = status == static_cast<std::uint8_t>(RecordStatus::kActive);
  if (active != (ended_height == 0 && ended_index == 0))
    return Status::error("MALFORMED_ENCODING", "record status and end point disagree");
  return Status::ok();
}

Status RevokeRecord::check() const {
  if (reason == 0)
    return Status::error("INVALID_PAYLOAD", "revocation reason code must be nonzero");
  return Status::ok();
}

Status Tx::check() const {
  if (body.signer_org.empty() ? !holder_may_sign(body.type) : !org_may_sign(body.type))
    return Status::error("TX_MALFORMED",
                         body.signer_org.empty()
                             ? "this transaction type must be signed by an org"
                             : "this transaction type must be signed by the holder");
  if (body.type < static_cast<std::uint8_t>(TxType::kRegisterRecord) || body.type > kTxTypeMax)
    return Status::error("TX_MALFORMED", "unknown transaction type " + std::to_string(body.type));
  return Status::ok();
}

Bytes Tx::signing_bytes() const { return encode(SignedBodyView{body}); }

Hash Tx::id() const { return crypto::sha256(encode(*this)); }

Tx sign_tx(TxBody body, const crypto::KeyPair& key) {
  Tx tx;
  tx.body = std::move(body);
  tx.signature = key.sign(tx.signing_bytes());
  return tx;
}

Hash record_id_for(const Hash& tx_id) { return tagged_hash("emledger.record-id", tx_id); }

Hash BlockHeader::hash() const { return crypto::sha256(encode(*this)); }

Hash payload_digest(const std::vector<Hash>& tx_ids) {
  crypto::Sha256 h;
  h.update(as_bytes("emledger.payload"));
  std::uint8_t count[4];
  auto n = static_cast<std::uint32_t>(tx_ids.size());
  for (int i = 0; i < 4; ++i) count[i] = static_cast<std::uint8_t>(n >> (8 * (3 - i)));
  h.update(ByteView(count, 4));
  for (const auto& id : tx_ids) h.update(id);
  return h.finish();
}

Status verify_certificate(const Genesis& genesis, const BlockHeader& header,
                          const Certificate& cert) {
  return verify_certificate_in_epoch(genesis, kGenesisEpoch, header, cert);
}

Status verify_certificate_in_epoch(const Genesis& genesis, Epoch epoch, const BlockHeader& header,
                                   const Certificate& cert) {
  ValidatorSet set = genesis_validator_set(genesis);
  set.epoch = epoch;
  return verify_certificate_in_set(genesis.chain_id, set, header, cert);
}

void sign_certificate(const Genesis& genesis, const BlockHeader& header, std::uint16_t index,
                      const crypto::KeyPair& key, Certificate& cert) {
  ValidatorSet set = genesis_validator_set(genesis);
  sign_certificate_in_set(genesis.chain_id, set, header, index, key, cert);
}

}  // namespace emledger::ledger
