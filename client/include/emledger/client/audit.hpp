// The auditor's check that every recorded access was covered (design.md
// section 3 "Access"; docs/api.md GET /v1/audit/accesses): each access is
// proven at the certified head, the record and grant it was judged against
// are proven at the end of its block and as of h-1, and coverage is
// recomputed here, at the access's own position in its block, with the
// kernel's own rule (ledger::grant_covers) or, for a statutory access, the
// genesis statute policy. A node that recorded an access it should have
// refused, or that lies about one, is named.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "emledger/client/authz.hpp"

namespace emledger::client {

// One access with the state it was judged against, every part verified.
// Values proven at the end of the access's block h carry the positions of
// their changes (ledger::ChainPos), which say whether a change came before
// the access's own index in that block.
struct AuditItem {
  ledger::Access access;
  std::optional<ledger::Record> record;       // as of the end of block h
  std::optional<ledger::Grant> grant;         // as of the end of block h; nullopt when statutory
  std::optional<ledger::Grant> grant_before;  // as of h-1 (absent when created in block h)
};

// The verdict on one access. covered == false: `reason` says why (the code
// grant_covers or the statute check gave, or AUDIT_INCONSISTENT).
struct AuditFinding {
  Hash access_id{};
  std::uint64_t height = 0;
  std::string org;
  std::string type_code;
  bool statutory = false;
  bool covered = false;
  Status reason;
};

// Re-checks each access as the kernel saw it at its own position: the
// record and grant must have been created before it in the chain and not
// ended or revoked before it; the grant's uses are its h-1 count plus the
// accesses under it earlier in block h. `items` must hold every access of
// each block it touches (run_audit lists whole ranges); the grant's count at
// the end of block h must then equal its h-1 count plus those accesses, or
// each of them is named AUDIT_INCONSISTENT. Pure.
std::vector<AuditFinding> check_coverage(const ledger::Genesis& genesis,
                                         const std::vector<AuditItem>& items);

struct AuditCounts {
  std::uint64_t accesses = 0;
  std::uint64_t statutory = 0;
  std::uint64_t uncovered = 0;
};

struct AuditReport {
  std::uint64_t from_height = 0;
  std::uint64_t to_height = 0;
  std::vector<AuditFinding> findings;          // one per access, chain order
  std::map<std::string, AuditCounts> by_org;   // accessing org
  std::map<std::string, AuditCounts> by_type;  // record type code
  // Verification failures (a proof or certificate that did not verify), each
  // naming the access or height; any entry makes the audit fail.
  std::vector<Status> proof_failures;
  bool ok() const;  // no proof failure and every access covered
};

// Counts per org and type from findings.
void tally(AuditReport& report);

// Called after each page: (accesses so far, last height seen, to height).
using AuditProgress = std::function<void(std::uint64_t, std::uint64_t, std::uint64_t)>;

// Pages through GET /v1/audit/accesses?from&to&limit&after signed by
// `auditor` (an org with the auditor role), verifies every item and checks
// coverage. to_height 0: the certified head. An error means the audit could
// not run (NODE_UNREACHABLE, FORBIDDEN, ...); verification failures are in
// the report. kAuditPageItems bounds one page.
inline constexpr std::size_t kAuditPageItems = 500;
Result<AuditReport> run_audit(const AuthzClient& node, const Signer& auditor,
                              std::uint64_t from_height, std::uint64_t to_height,
                              const AuditProgress& progress = {});

// The state root of the genesis state (the orgs), as the kernel computes it
// at height 0: what proofs "as of height 0" are checked against.
Result<Hash> genesis_state_root(const ledger::Genesis& genesis);

}  // namespace emledger::client
