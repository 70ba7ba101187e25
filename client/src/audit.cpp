#include "emledger/client/audit.hpp"

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

std::vector<AuditFinding> check_coverage(const ledger::Genesis& genesis,
                                         const std::vector<AuditItem>& items) {
  // (grant id, height) -> uses spent by earlier accesses in that block.
  std::map<std::pair<Hash, std::uint64_t>, std::uint32_t> spent;
  std::vector<AuditFinding> out;
  out.reserve(items.size());
  for (const AuditItem& item : items) {
    const ledger::Access& a = item.access;
    AuditFinding f{a.id, a.height, a.org, "", a.statutory, false, Status::ok()};
    auto judge = [&]() -> Status {
      if (!item.record_before)
        return inconsistent("record " + to_hex(a.record_id) + " did not exist when read");
      const ledger::Record& rec = *item.record_before;
      f.type_code = rec.body.type_code;
      if (rec.id != a.record_id || rec.body.holder_ref != a.holder_ref)
        return inconsistent("the access names another record or holder than the proven one");
      if (rec.status != static_cast<std::uint8_t>(ledger::RecordStatus::kActive))
        return Status::error("RECORD_NOT_ACTIVE", "the record was not active when read");
      if (a.statutory != is_zero(a.grant_id))
        return inconsistent("statutory flag and grant id disagree");
      if (a.statutory) return statute_covers(genesis, rec, a.org);
      if (!item.grant_before)
        return Status::error("GRANT_NOT_FOUND", "grant " + to_hex(a.grant_id) + " did not exist");
      ledger::Grant g = *item.grant_before;
      if (g.id != a.grant_id) return inconsistent("the proven grant is another grant");
      std::uint32_t& used = spent[{g.id, a.height}];
      g.uses += used;
      ++used;  // the kernel counts the use even if this access turns out uncovered here
      return ledger::grant_covers(g, rec, a.org, a.case_id, a.time_ms);
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
class BeforeRoots {
 public:
  BeforeRoots(const ledger::Genesis& g, Hash genesis_root) : g_(g) { roots_[0] = genesis_root; }
  Result<Hash> root(std::uint64_t height, const Json& before, const std::string& what) {
    if (auto it = roots_.find(height); it != roots_.end()) return it->second;
    auto header = hex_field(before, "header", what + " before");
    if (!header) return header.status();
    auto cert = hex_field(before, "certificate", what + " before");
    if (!cert) return cert.status();
    auto at = verify_header(g_, *header, *cert, height);
    if (!at)
      return Status::error(at.status().code(), what + ": header " + std::to_string(height) + ": " +
                                                   at.status().message());
    roots_[height] = at->header.state_root;
    return at->header.state_root;
  }

 private:
  const ledger::Genesis& g_;
  std::map<std::uint64_t, Hash> roots_;
};

// A record or grant created in block h itself is absent as of h-1; the
// kernel saw it because it was written earlier in the same block. Take it
// from height h, proven there, when it was created at h.
Status fill_same_block(const AuthzClient& node, AuditItem& item) {
  const ledger::Access& a = item.access;
  if (!item.record_before) {
    auto v = node.state_at(ledger::record_state_key(a.record_id), a.height);
    if (!v) return v.status();
    if (v->has_value())
      if (auto r = ledger::decode<ledger::Record>(**v); r && r->anchor_height == a.height)
        item.record_before = std::move(r).value();
  }
  if (!a.statutory && !is_zero(a.grant_id) && !item.grant_before) {
    auto v = node.state_at(ledger::grant_state_key(a.grant_id), a.height);
    if (!v) return v.status();
    if (v->has_value())
      if (auto g = ledger::decode<ledger::Grant>(**v); g && g->created_height == a.height) {
        g->uses = 0;  // as created; same-block uses are added by check_coverage
        g->status = static_cast<std::uint8_t>(ledger::GrantStatus::kActive);
        item.grant_before = std::move(g).value();
      }
  }
  return Status::ok();
}

// Verifies one item of a page against the head's root and its h-1 root.
Result<AuditItem> verify_item(const AuthzClient& node, const Hash& head_root, BeforeRoots& roots,
                              const Json& j) {
  AuditItem item;
  auto raw = hex_field(j, "access", "audit item");
  if (!raw) return raw.status();
  auto a = ledger::decode<ledger::Access>(*raw);
  if (!a) return Status::error(std::string(kNodeBadResponse), "undecodable access");
  item.access = std::move(a).value();
  const std::string what =
      "access " + to_hex(item.access.id) + " (height " + std::to_string(item.access.height) + ")";
  auto ap = proof_field(j, "access_proof", what);
  if (!ap) return ap.status();
  EMLEDGER_TRY(
      check_state_value(head_root, ledger::access_state_key(item.access.id), *ap, *raw, what));
  if (item.access.height == 0)
    return Status::error(std::string(kProofInvalid), what + " at height 0");
  if (!j.contains("before") || !j["before"].is_object())
    return Status::error(std::string(kNodeBadResponse), what + ": no 'before'");
  const Json& before = j["before"];
  if (!before.contains("height") || !before["height"].is_number_unsigned() ||
      before["height"].get<std::uint64_t>() != item.access.height - 1)
    return Status::error(std::string(kProofInvalid), what + ": 'before' is not height h-1");
  auto root = roots.root(item.access.height - 1, before, what);
  if (!root) return root.status();

  auto rec = optional_hex(j, "record", what);
  if (!rec) return rec.status();
  auto rp = proof_field(j, "record_proof", what);
  if (!rp) return rp.status();
  EMLEDGER_TRY(check_state_value(*root, ledger::record_state_key(item.access.record_id), *rp, *rec,
                                 what + " record"));
  if (rec->has_value()) {
    auto r = ledger::decode<ledger::Record>(**rec);
    if (!r) return Status::error(std::string(kProofInvalid), what + ": proven record undecodable");
    item.record_before = std::move(r).value();
  }
  if (!is_zero(item.access.grant_id)) {
    auto gv = optional_hex(j, "grant", what);
    if (!gv) return gv.status();
    auto gp = proof_field(j, "grant_proof", what);
    if (!gp) return gp.status();
    EMLEDGER_TRY(check_state_value(*root, ledger::grant_state_key(item.access.grant_id), *gp, *gv,
                                   what + " grant"));
    if (gv->has_value()) {
      auto g = ledger::decode<ledger::Grant>(**gv);
      if (!g) return Status::error(std::string(kProofInvalid), what + ": proven grant undecodable");
      item.grant_before = std::move(g).value();
    }
  }
  EMLEDGER_TRY(fill_same_block(node, item));
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
  BeforeRoots roots(genesis, *groot);
  std::vector<AuditItem> items;
  std::set<Hash> seen;
  const RequestKey key = org_request_key(auditor);
  std::uint64_t from = report.from_height;
  while (from <= to_height) {
    HttpCall call;
    call.target = "/v1/audit/accesses?from=" + std::to_string(from) +
                  "&to=" + std::to_string(to_height) + "&limit=" + std::to_string(kAuditPageItems);
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
    auto at = verify_header(genesis, *hh, *hc);
    if (!at) {
      report.proof_failures.push_back(
          Status::error(at.status().code(), "audit head: " + at.status().message()));
      break;
    }
    std::uint64_t last_height = from;
    for (const Json& ij : (*j)["items"]) {
      auto item = verify_item(node, at->header.state_root, roots, ij);
      if (!item) {
        if (classify(item.status()) == ErrorClass::kUnavailable &&
            item.status().code() == kNodeUnreachable)
          return item.status();
        report.proof_failures.push_back(item.status());
        continue;
      }
      if (item->access.height < from || item->access.height > to_height ||
          item->access.height < last_height) {
        report.proof_failures.push_back(Status::error(
            std::string(kProofInvalid), "access " + to_hex(item->access.id) +
                                            " is outside the range asked or out of chain order"));
        continue;
      }
      last_height = item->access.height;
      if (!seen.insert(item->access.id).second) continue;  // re-sent on a page boundary
      items.push_back(std::move(item).value());
    }
    if (progress) progress(items.size(), last_height, to_height);
    if ((*j)["items"].size() < kAuditPageItems) break;
    if (last_height == from)
      return Status::error("AUDIT_PAGE_OVERFLOW", "more than " + std::to_string(kAuditPageItems) +
                                                      " accesses at height " +
                                                      std::to_string(from));
    from = last_height;  // that height again: its accesses may continue on the next page
  }
  report.findings = check_coverage(genesis, items);
  tally(report);
  return report;
}

}  // namespace emledger::client
