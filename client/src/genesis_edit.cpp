#include "emledger/client/genesis_edit.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "emledger/client/errors.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/limits.hpp"

namespace emledger::client {
namespace {

using ledger::Json;

Status malformed(const std::string& why) { return Status::error("GENESIS_MALFORMED", why); }

bool valid_identifier(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
      return false;
  return true;
}

// The genesis JSON must at least have the two arrays we edit.
Status check_shape(const Json& g) {
  if (!g.is_object() || !g.contains("orgs") || !g["orgs"].is_array() || !g.contains("validators") ||
      !g["validators"].is_array())
    return malformed("not a genesis file (needs \"orgs\" and \"validators\" arrays)");
  return Status::ok();
}

// An org key and a validator key may be the same key (a one-node dev
// network often signs both with one file); two org keys or two validator
// keys may not, or a signature would not say who signed.
bool org_key_in_genesis(const Json& g, const std::string& pk_hex) {
  for (const auto& org : g["orgs"]) {
    if (!org.contains("keys") || !org["keys"].is_array()) continue;
    for (const auto& k : org["keys"])
      if (k.value("public_key", "") == pk_hex) return true;
  }
  return false;
}

bool validator_key_in_genesis(const Json& g, const std::string& pk_hex) {
  for (const auto& v : g["validators"])
    if (v.value("public_key", "") == pk_hex) return true;
  return false;
}

// Roles as the kernel names them, merged into an existing list.
Json merge_roles(const Json& existing, std::uint32_t roles) {
  std::uint32_t have = 0;
  if (existing.is_array())
    for (const auto& r : existing)
      if (r.is_string())
        if (auto bit = ledger::role_from_name(r.get<std::string>())) have |= *bit;
  Json out = Json::array();
  for (const auto& name : ledger::role_names(have | roles)) out.push_back(name);
  return out;
}

}  // namespace

Result<Json> new_genesis(const std::string& chain_id, std::uint64_t time_ms) {
  if (!valid_identifier(chain_id, ledger::kChainIdBytesMax))
    return malformed("chain id must be 1 to " + std::to_string(ledger::kChainIdBytesMax) +
                     " characters of [a-z0-9._-]: '" + chain_id + "'");
  return Json{{"chain_id", chain_id},
              {"time_ms", time_ms},
              {"orgs", Json::array()},
              {"validators", Json::array()}};
}

Result<std::uint32_t> parse_roles(std::string_view csv) {
  std::uint32_t roles = 0;
  std::size_t start = 0;
  while (start <= csv.size()) {
    std::size_t end = csv.find(',', start);
    if (end == std::string_view::npos) end = csv.size();
    std::string_view name = csv.substr(start, end - start);
    auto bit = ledger::role_from_name(name);
    if (!bit)
      return Status::error(std::string(kBadArgument),
                           "unknown role '" + std::string(name) +
                               "' (roles: validator, issuer, consumer, identity, auditor, admin)");
    roles |= *bit;
    start = end + 1;
  }
  return roles;
}

Result<std::uint32_t> add_org_key(Json& g, const std::string& org_id, const std::string& region,
                                  std::uint32_t roles, const crypto::PublicKey& public_key) {
  EMLEDGER_TRY(check_shape(g));
  if (!valid_identifier(org_id, ledger::kOrgIdBytesMax))
    return malformed("org id must be 1 to " + std::to_string(ledger::kOrgIdBytesMax) +
                     " characters of [a-z0-9._-]: '" + org_id + "'");
  if (region.size() > ledger::kRegionBytesMax)
    return malformed("region is longer than " + std::to_string(ledger::kRegionBytesMax) + " bytes");
  const std::string pk_hex = to_hex(ByteView(public_key));
  if (org_key_in_genesis(g, pk_hex))
    return malformed("public key " + pk_hex + " is already an org key in the genesis");
  Json& orgs = g["orgs"];
  std::size_t pos = 0;
  while (pos < orgs.size() && orgs[pos].value("id", "") < org_id) ++pos;
  if (pos < orgs.size() && orgs[pos].value("id", "") == org_id) {
    Json& org = orgs[pos];
    if (org.value("region", "") != region)
      return malformed("org " + org_id + " is in region '" + org.value("region", "") + "', not '" +
                       region + "'");
    if (!org.contains("keys") || !org["keys"].is_array()) return malformed("org without keys");
    if (org["keys"].size() >= ledger::kOrgKeysMax)
      return malformed("org " + org_id + " already has " + std::to_string(ledger::kOrgKeysMax) +
                       " keys");
    std::uint32_t next = 1;
    for (const auto& k : org["keys"]) {
      // Numbers built in memory are signed; parsed from a file, unsigned.
      if (!k.contains("key_id") || !k["key_id"].is_number_integer() ||
          k["key_id"].get<std::int64_t>() < 0)
        return malformed("org " + org_id + " has a key without a valid key_id");
      next = std::max<std::uint32_t>(next, k["key_id"].get<std::uint32_t>() + 1);
    }
    org["roles"] = merge_roles(org["roles"], roles);
    org["keys"].push_back({{"key_id", next}, {"public_key", pk_hex}});
    return next;
  }
  if (roles == 0) return malformed("a new org needs at least one role");
  if (orgs.size() >= ledger::kOrgsMax) return malformed("too many orgs");
  Json org = {{"id", org_id},
              {"region", region},
              {"roles", merge_roles(Json::array(), roles)},
              {"keys", Json::array({Json{{"key_id", std::uint32_t{1}}, {"public_key", pk_hex}}})}};
  orgs.insert(orgs.begin() + static_cast<std::ptrdiff_t>(pos), std::move(org));
  return std::uint32_t{1};
}

Status add_validator(Json& g, const std::string& org_id, const crypto::PublicKey& public_key,
                     const std::string& address) {
  EMLEDGER_TRY(check_shape(g));
  Json next = g;
  Json* org = nullptr;
  for (auto& o : next["orgs"])
    if (o.value("id", "") == org_id) org = &o;
  if (!org) return malformed("no org " + org_id + " in the genesis; add it with add-org first");
  if (address.empty() || address.size() > ledger::kAddressBytesMax)
    return malformed("validator address must be host:port, at most " +
                     std::to_string(ledger::kAddressBytesMax) + " bytes");
  const std::string pk_hex = to_hex(ByteView(public_key));
  if (validator_key_in_genesis(next, pk_hex))
    return malformed("public key " + pk_hex + " is already a validator key in the genesis");
  if (next["validators"].size() >= ledger::kValidatorsMax) return malformed("too many validators");
  (*org)["roles"] = merge_roles((*org)["roles"], ledger::kRoleValidator);
  next["validators"].push_back({{"org_id", org_id}, {"public_key", pk_hex}, {"address", address}});
  auto parsed = ledger::genesis_from_json(next);
  if (!parsed) return parsed.status();
  g = std::move(next);
  return Status::ok();
}

Result<Json> read_genesis_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error("IO_ERROR", "cannot open genesis file " + path);
  Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return malformed(path + " is not valid JSON");
  return j;
}

Status write_genesis_json(const std::string& path, const Json& g) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Status::error("IO_ERROR", "cannot create " + tmp);
    out << g.dump(2) << "\n";
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

}  // namespace emledger::client
