#include "emledger/client/audit.hpp"

#include <algorithm>
#include <set>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/store.hpp"
#include "json_util.hpp"

namespace emledger::client {

using ledger::Json;

namespace {

Status inconsistent(const std::string& what) { return Status::error("AUDIT_INCONSISTENT", what); }

Status statute_covers(const ledger::Genesis& genesis, const ledger::Record& record,
                      const std::string& org) {
  const ledger::StatutePolicy* law = genesis.find_statute(record.body.type_code);
  const ledger::Org* o = genesis.find_org(org);
  if (!law) return Status::error("NO_GRANT", "no statute covers type " + record.body.type_code);
  if (!o || !(law->roles & o->roles))
    return Status::error("NO_GRANT", "the statute for " + record.body.type_code +
                                         " does not cover the roles of " + org);
  return Status::ok();
}

}  // namespace

namespace {

using GrantBlock = std::pair<Hash, std::uint64_t>;  // (grant id, height)

// The indices of the accesses under each grant in each block.
std::map<GrantBlock, std::vector<std::uint32_t>> accesses_by_grant_block(
    const std::vector<AuditItem>& items) {
  std::map<GrantBlock, std::vector<std::uint32_t>> out;
  for (const AuditItem& it : items)
    if (!it.access.statutory && !is_zero(it.access.grant_id))
      out[{it.access.grant_id, it.access.height}].push_back(it.access.tx_index);
  for (auto& [key, v] : out) std::sort(v.begin(), v.end());
  return out;
}

ledger::ChainPos position(const ledger::Access& a) { return {a.height, a.tx_index}; }

// The record as the kernel saw it at the access's position. Errors name why
// it could not have been read there.
Result<ledger::Record> record_at_access(const AuditItem& item) {
  const ledger::Access& a = item.access;
  if (!item.record)
    return inconsistent("record " + to_hex(a.record_id) + " is absent at the end of block " +
                        std::to_string(a.height));
  const ledger::Record& rec = *item.record;
  if (rec.id != a.record_id || rec.body.holder_ref != a.holder_ref)
    return inconsistent("the access names another record or holder than the proven one");
  if (ledger::ChainPos{rec.anchor_height, rec.anchor_index} >= position(a))
    return Status::error("RECORD_NOT_FOUND", "the record was anchored after the access");
  const bool active = rec.status == static_cast<std::uint8_t>(ledger::RecordStatus::kActive);
  if (!active && ledger::ChainPos{rec.ended_height, rec.ended_index} < position(a))
    return Status::error("RECORD_NOT_ACTIVE", "the record was not active when read");
  return rec;
}

// The grant as the kernel saw it at the access's position: its terms, its
// status then, and the uses spent before it.
Result<ledger::Grant> grant_at_access(const AuditItem& item,
                                      const std::vector<std::uint32_t>& in_block) {
  const ledger::Access& a = item.access;
  if (!item.grant)
    return Status::error("GRANT_NOT_FOUND", "grant " + to_hex(a.grant_id) + " does not exist");
  ledger::Grant g = *item.grant;
  if (g.id != a.grant_id) return inconsistent("the proven grant is another grant");
  if (ledger::ChainPos{g.created_height, g.created_index} >= position(a))
    return Status::error("GRANT_NOT_FOUND", "the grant was created after the access");
  const bool existed_before = g.created_height < a.height;
  if (existed_before != item.grant_before.has_value())
    return inconsistent("the grant's h-1 value disagrees with its creation height");
  if (item.grant_before && (item.grant_before->id != g.id ||
                            ledger::encode(ledger::CreateGrant{item.grant_before->terms}) !=
                                ledger::encode(ledger::CreateGrant{g.terms})))
    return inconsistent("the grant's terms changed between h-1 and h");
  const std::uint32_t uses_before_block = item.grant_before ? item.grant_before->uses : 0;
  const bool revoked = g.status != static_cast<std::uint8_t>(ledger::GrantStatus::kActive) &&
                       ledger::ChainPos{g.revoked_height, g.revoked_index} < position(a);
  g.status = static_cast<std::uint8_t>(revoked ? ledger::GrantStatus::kRevoked
                                               : ledger::GrantStatus::kActive);
  const auto earlier =
      std::lower_bound(in_block.begin(), in_block.end(), a.tx_index) - in_block.begin();
  g.uses = uses_before_block + static_cast<std::uint32_t>(earlier);
  return g;
}

// Every access under a grant counts one use: the grant's count at the end of
// block h is its h-1 count plus the accesses listed under it in block h.
Status uses_add_up(const AuditItem& item, const std::vector<std::uint32_t>& in_block) {
  const std::uint64_t before = item.grant_before ? item.grant_before->uses : 0;
  if (item.grant && item.grant->uses != before + in_block.size())
    return inconsistent("grant " + to_hex(item.access.grant_id) + " counts " +
                        std::to_string(item.grant->uses) + " uses at the end of block " +
                        std::to_string(item.access.height) + ", but " + std::to_string(before) +
                        " before it and " + std::to_string(in_block.size()) + " accesses in it");
  return Status::ok();
}

}  // namespace

std::vector<AuditFinding> check_coverage(const ledger::Genesis& genesis,
                                         const std::vector<AuditItem>& items) {
  const auto by_block = accesses_by_grant_block(items);
  static const std::vector<std::uint32_t> kNone;
  std::vector<AuditFinding> out;
  out.reserve(items.size());
  for (const AuditItem& item : items) {
    const ledger::Access& a = item.access;
    AuditFinding f{a.id, a.height, a.org, "", a.statutory, false, Status::ok()};
    if (item.record) f.type_code = item.record->body.type_code;
    auto judge = [&]() -> Status {
      auto rec = record_at_access(item);
      if (!rec) return rec.status();
      if (a.statutory != is_zero(a.grant_id))
        return inconsistent("statutory flag and grant id disagree");
      if (a.statutory) return statute_covers(genesis, *rec, a.org);
      auto it = by_block.find({a.grant_id, a.height});
      const auto& in_block = it == by_block.end() ? kNone : it->second;
      auto g = grant_at_access(item, in_block);
      if (!g) return g.status();
      EMLEDGER_TRY(ledger::grant_covers(*g, *rec, a.org, a.case_id, a.time_ms));
      return uses_add_up(item, in_block);
    };
    f.reason = judge();
    f.covered = f.reason.is_ok();
    out.push_back(std::move(f));
  }
  return out;
}

bool AuditReport::ok() const {
  if (!proof_failures.empty()) return false;
  for (const auto& f : findings)
    if (!f.covered) return false;
  return true;
}

void tally(AuditReport& report) {
  report.by_org.clear();
  report.by_type.clear();
  for (const auto& f : report.findings) {
    for (AuditCounts* c :
         {&report.by_org[f.org], &report.by_type[f.type_code.empty() ? "?" : f.type_code]}) {
      c->accesses += 1;
      if (f.statutory) c->statutory += 1;
      if (!f.covered) c->uncovered += 1;
    }
  }
}

Result<Hash> genesis_state_root(const ledger::Genesis& genesis) {
  struct Empty final : ledger::KvReader {
    Result<std::optional<Bytes>> get(ByteView) const override { return std::optional<Bytes>(); }
  } empty;
  ledger::Overlay ov(empty);
  std::vector<std::pair<Bytes, Bytes>> puts;
  for (const auto& org : genesis.orgs)
    puts.emplace_back(ledger::org_state_key(org.id), ledger::encode(org));
  return ledger::StateTree(ov).update(ledger::smt_empty_root(), puts, ov);
}

namespace {

Result<Bytes> hex_field(const Json& j, const char* key, const std::string& what) {
  if (!j.contains(key) || !j[key].is_string())
    return Status::error(std::string(kNodeBadResponse), what + ": missing field " + key);
  auto b = from_hex(j[key].get<std::string>());
  if (!b)
    return Status::error(std::string(kNodeBadResponse), what + ": field " + key + " is not hex");
  return std::move(*b);
}

// A value that may be null (absent as of h-1).
Result<std::optional<Bytes>> optional_hex(const Json& j, const char* key, const std::string& what) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<Bytes>();
  auto b = hex_field(j, key, what);
  if (!b) return b.status();
  return std::optional<Bytes>(std::move(b).value());
}

Result<ledger::StateProof> proof_field(const Json& j, const char* key, const std::string& what) {
  auto raw = hex_field(j, key, what);
  if (!raw) return raw.status();
  auto p = ledger::decode<ledger::StateProof>(*raw);
  if (!p) return Status::error(std::string(kNodeBadResponse), what + ": undecodable " + key);
  return p;
}

// The state root of height h as a certified header shows it (the genesis
// root for 0). Certified headers are cached per height: a page holds many
// accesses of few blocks.
class CertifiedRoots {
 public:
  CertifiedRoots(const Client& c, Hash genesis_root) : c_(c) { roots_[0] = genesis_root; }
  // `j` is the certified header an item names ({height, header, certificate}).
  Result<Hash> root(std::uint64_t height, const Json& j, const std::string& what) {
    if (!j.is_object() || !j.contains("height") || !j["height"].is_number_unsigned() ||
        j["height"].get<std::uint64_t>() != height)
      return Status::error(std::string(kProofInvalid),
                           what + ": no certified header at height " + std::to_string(height));
    if (auto it = roots_.find(height); it != roots_.end()) return it->second;
    auto header = hex_field(j, "header", what);
    if (!header) return header.status();
    auto cert = hex_field(j, "certificate", what);
    if (!cert) return cert.status();
    auto at = c_.certify_header(*header, *cert, height);
    if (!at)
      return Status::error(at.status().code(), what + ": header " + std::to_string(height) + ": " +
                                                   at.status().message());
    roots_[height] = at->header.state_root;
    return at->header.state_root;
  }

 private:
  const Client& c_;
  std::map<std::uint64_t, Hash> roots_;
};

// A value at `key` that `j[name]` shows (null: absent) and `j[name_proof]`
// proves under `root`, decoded as T.
template <class T>
Result<std::optional<T>> proven_value(const Json& j, const std::string& name, const Hash& root,
                                      const Bytes& key, const std::string& what) {
  auto v = optional_hex(j, name.c_str(), what);
  if (!v) return v.status();
  auto p = proof_field(j, (name + "_proof").c_str(), what);
  if (!p) return p.status();
  EMLEDGER_TRY(check_state_value(root, key, *p, *v, what + " " + name));
  if (!v->has_value()) return std::optional<T>();
  auto t = ledger::decode<T>(**v);
  if (!t)
    return Status::error(std::string(kProofInvalid), what + ": proven " + name + " undecodable");
  return std::optional<T>(std::move(t).value());
}

// Verifies one item of a page: the access against the head's root, the
// record and grant against block h's root, the grant also against h-1's.
Result<AuditItem> verify_item(const Hash& head_root, CertifiedRoots& roots, const Json& j) {
  AuditItem item;
  auto raw = hex_field(j, "access", "audit item");
  if (!raw) return raw.status();
  auto a = ledger::decode<ledger::Access>(*raw);
  if (!a) return Status::error(std::string(kNodeBadResponse), "undecodable access");
  item.access = std::move(a).value();
  const ledger::Access& acc = item.access;
  const std::string what =
      "access " + to_hex(acc.id) + " (height " + std::to_string(acc.height) + ")";
  auto ap = proof_field(j, "access_proof", what);
  if (!ap) return ap.status();
  EMLEDGER_TRY(check_state_value(head_root, ledger::access_state_key(acc.id), *ap, *raw, what));
  if (acc.height == 0) return Status::error(std::string(kProofInvalid), what + " at height 0");
  auto at = roots.root(acc.height, j.contains("at") ? j["at"] : Json(), what);
  if (!at) return at.status();
  auto rec =
      proven_value<ledger::Record>(j, "record", *at, ledger::record_state_key(acc.record_id), what);
  if (!rec) return rec.status();
  item.record = std::move(rec).value();
  if (is_zero(acc.grant_id)) return item;
  auto g =
      proven_value<ledger::Grant>(j, "grant", *at, ledger::grant_state_key(acc.grant_id), what);
  if (!g) return g.status();
  item.grant = std::move(g).value();
  auto before = roots.root(acc.height - 1, j.contains("before") ? j["before"] : Json(), what);
  if (!before) return before.status();
  auto gb = proven_value<ledger::Grant>(j, "grant_before", *before,
                                        ledger::grant_state_key(acc.grant_id), what);
  if (!gb) return gb.status();
  item.grant_before = std::move(gb).value();
  return item;
}

}  // namespace

Result<AuditReport> run_audit(const AuthzClient& node, const Signer& auditor,
                              std::uint64_t from_height, std::uint64_t to_height,
                              const AuditProgress& progress) {
  const ledger::Genesis& genesis = node.client().trusted_genesis();
  auto groot = genesis_state_root(genesis);
  if (!groot) return groot.status();
  if (to_height == 0) {
    auto head = node.client().latest_header();
    // No block yet: no access can have been recorded.
    if (!head && head.status().code() == "NOT_FOUND") return AuditReport{};
    if (!head) return head.status();
    to_height = head->header.height;
  }
  AuditReport report;
  report.from_height = std::max<std::uint64_t>(from_height, 1);
  report.to_height = to_height;
  CertifiedRoots roots(node.client(), *groot);
  std::vector<AuditItem> items;
  std::set<Hash> seen;
  const RequestKey key = org_request_key(auditor);
  std::optional<ledger::ChainPos> after;
  for (;;) {
    HttpCall call;
    call.target = "/v1/audit/accesses?from=" + std::to_string(report.from_height) +
                  "&to=" + std::to_string(to_height) + "&limit=" + std::to_string(kAuditPageItems);
    if (after) call.target += "&after=" + ledger::cursor_string(*after);
    auto res = node.send_signed(std::move(call), key);
    if (!res) return res.status();
    if (res->status != 200) return node_error(*res);
    auto j = parse_json(*res);
    if (!j) return j.status();
    if (!j->contains("head") || !(*j)["head"].is_object() || !j->contains("items") ||
        !(*j)["items"].is_array() || (*j)["items"].size() > kAuditPageItems)
      return Status::error(std::string(kNodeBadResponse), "audit page without head and items");
    const Json& head = (*j)["head"];
    auto hh = hex_field(head, "header", "audit head");
    if (!hh) return hh.status();
    auto hc = hex_field(head, "certificate", "audit head");
    if (!hc) return hc.status();
    auto at = node.client().certify_header(*hh, *hc);
    if (!at) {
      report.proof_failures.push_back(
          Status::error(at.status().code(), "audit head: " + at.status().message()));
      break;
    }
    for (const Json& ij : (*j)["items"]) {
      auto item = verify_item(at->header.state_root, roots, ij);
      if (!item) {
        report.proof_failures.push_back(item.status());
        continue;
      }
      const ledger::ChainPos pos{item->access.height, item->access.tx_index};
      // Chain order, strictly after the cursor, within the range: a node
      // that repeats, reorders or strays cannot make an access count twice.
      if (item->access.height < report.from_height || item->access.height > to_height ||
          (after && pos <= *after)) {
        report.proof_failures.push_back(Status::error(
            std::string(kProofInvalid), "access " + to_hex(item->access.id) +
                                            " is outside the range asked or out of chain order"));
        continue;
      }
      after = pos;
      if (!seen.insert(item->access.id).second) continue;
      items.push_back(std::move(item).value());
    }
    if (progress) progress(items.size(), after ? after->height : report.from_height, to_height);
    const Json& next = (*j)["next"];
    if ((*j)["items"].empty() || !j->contains("next") || next.is_null()) break;
    if (!next.is_string() || !after || ledger::parse_cursor(next.get<std::string>()) != after)
      return Status::error(std::string(kNodeBadResponse),
                           "the page's cursor is not its last item's position");
  }
  report.findings = check_coverage(genesis, items);
  tally(report);
  return report;
}

}  // namespace emledger::client
