// emledger audit: were all recorded accesses covered by a grant or a statute?
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/client/audit.hpp"
#include "emledger/crypto/hex.hpp"

namespace emledger::cli {
namespace {

struct AuditOptions {
  Common common;
  std::string node;
  std::string trust;
  KeyOptions key;
  std::uint64_t from = 1;
  std::uint64_t to = 0;
};

Json counts_json(const std::map<std::string, client::AuditCounts>& m) {
  Json j = Json::object();
  for (const auto& [name, c] : m)
    j[name] = {{"accesses", c.accesses}, {"statutory", c.statutory}, {"uncovered", c.uncovered}};
  return j;
}

void print_counts(const std::string& title, const std::map<std::string, client::AuditCounts>& m) {
  std::cout << "\n" << title << "\n";
  for (const auto& [name, c] : m)
    std::cout << "  " << name << ": " << c.accesses << " access(es), " << c.statutory
              << " statutory, " << c.uncovered << " uncovered\n";
}

void print_report(const Common& common, const client::AuditReport& r) {
  if (common.json) {
    Json uncovered = Json::array();
    for (const auto& f : r.findings)
      if (!f.covered)
        uncovered.push_back({{"access_id", to_hex(f.access_id)},
                             {"height", f.height},
                             {"org", f.org},
                             {"type_code", f.type_code},
                             {"statutory", f.statutory},
                             {"code", f.reason.code()},
                             {"message", f.reason.message()}});
    Json failures = Json::array();
    for (const auto& st : r.proof_failures)
      failures.push_back({{"code", st.code()}, {"message", st.message()}});
    print_json({{"ok", r.ok()},
                {"from", r.from_height},
                {"to", r.to_height},
                {"accesses", r.findings.size()},
                {"uncovered", std::move(uncovered)},
                {"proof_failures", std::move(failures)},
                {"by_org", counts_json(r.by_org)},
                {"by_type", counts_json(r.by_type)}});
    return;
  }
  std::cout << (r.ok() ? "ALL ACCESSES COVERED" : "AUDIT FAILED") << "\n"
            << "heights       " << r.from_height << " to " << r.to_height << "\n"
            << "accesses      " << r.findings.size() << " (each proven; coverage recomputed)\n";
  for (const auto& f : r.findings)
    if (!f.covered)
      std::cout << "UNCOVERED     access " << to_hex(f.access_id) << " at height " << f.height
                << " by " << f.org << " (" << (f.statutory ? "statute" : "grant")
                << "): " << f.reason.code() << ": " << f.reason.message() << "\n";
  for (const auto& st : r.proof_failures)
    std::cout << "PROOF FAILED  " << st.code() << ": " << st.message() << "\n";
  print_counts("by org", r.by_org);
  print_counts("by record type", r.by_type);
  std::cout << std::flush;
}

int run_audit(const AuditOptions& o) {
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  auto key = load_key(o.key);
  if (!key) return fail(o.common, key.status());
  auto signer = client::signer_for_key(*trusted, *key);
  if (!signer) return fail(o.common, signer.status());
  if (o.to != 0 && o.to < o.from) return usage(o.common, "--to is below --from");
  client::AuthzClient node(o.node, std::move(trusted).value());
  client::AuditProgress progress;
  auto bar = stderr_progress("audit");
  if (bar) progress = [bar](std::uint64_t, std::uint64_t at, std::uint64_t to) { bar(at, to); };
  auto report = client::run_audit(node, *signer, o.from, o.to, progress);
  if (!report) return fail(o.common, report.status());
  print_report(o.common, *report);
  return report->ok() ? kExitOk : kExitFalse;
}

}  // namespace

void add_audit_commands(CLI::App& app, Action& action) {
  auto a = std::make_shared<AuditOptions>();
  auto* cmd = add_command(
      app, "audit",
      "Check that every recorded access was covered (auditor). Pages through the node's access "
      "log for heights --from..--to (signed with an auditor org's key), proves each access at the "
      "certified head and the record and grant it was judged against as of the block before, and "
      "re-applies the kernel's rule: the grant's holder, grantee, window, scope, case and uses "
      "(counting earlier accesses of the same grant in the same block), or the genesis statute "
      "for the record's type and the org's roles. Reports counts per org and record type. Exit "
      "0 when everything is covered and proven, 1 naming each uncovered access or failed proof, "
      "3 when the node cannot be reached.");
  cmd->add_option("--node", a->node, kNodeHelp)->required();
  cmd->add_option("--trust", a->trust, kTrustHelp)->required();
  add_key_options(cmd, a->key, /*required=*/true);
  cmd->add_option("--from", a->from, "First height (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--to", a->to, "Last height (default: the certified head)");
  add_json_flag(cmd, a->common);
  cmd->callback([a, &action] { action = [a] { return run_audit(*a); }; });
}

}  // namespace emledger::cli
