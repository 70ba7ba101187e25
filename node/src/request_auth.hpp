// Request authentication for reads of holder-linked data and the material
// store (docs/api.md, "Request signatures"): verifies the RFC 9421 signature
// of a request against org keys of the genesis and holder keys bound in
// state, refuses replayed nonces, and appends every authenticated read to the
// node's read log (DATA/read-log.jsonl).
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "clock.hpp"
#include "emledger/ledger/http_signature.hpp"
#include "emledger/ledger/ledger.hpp"
#include "http_server.hpp"

namespace emledger::node {

// Who signed a request, once verified.
struct Signer {
  std::string keyid;        // as sent
  ledger::KeyId id;         // parsed
  std::uint32_t roles = 0;  // the org's roles (kOrg only)

  bool is_org() const { return id.kind == ledger::KeyId::Kind::kOrg; }
  bool is_org(std::string_view org) const { return is_org() && id.org_id == org; }
  bool is_holder(const Hash& ref) const {
    return id.kind == ledger::KeyId::Kind::kHolder && id.holder_ref == ref;
  }
  bool is_auditor() const { return is_org() && (roles & ledger::kRoleAuditor) != 0; }
};

// Builds the signature library's view of a request: method, Host as the
// authority, the raw target (path and query as sent), header fields, body.
ledger::HttpRequest signature_view(const HttpRequest& req);

// Thread safe.
class RequestAuth {
 public:
  // `read_log_path` is opened for appending; an empty path keeps no log.
  // Errors: IO_ERROR when the log cannot be opened.
  static Result<std::unique_ptr<RequestAuth>> open(const ledger::Ledger& ledger, Clock clock,
                                                   const std::string& read_log_path);
  ~RequestAuth();

  // Verifies the "sig1" signature of `req` now. Errors (all 401):
  // SIGNATURE_MISSING, SIGNATURE_MALFORMED, SIGNATURE_STALE, SIGNATURE_EXPIRED,
  // SIGNATURE_UNKNOWN_KEY, SIGNATURE_INVALID, CONTENT_DIGEST_MISMATCH,
  // SIGNATURE_REPLAYED, SIGNATURE_PREDATES_START (signed at or before this
  // process started); STORAGE_* when a holder binding cannot be read.
  Result<Signer> authenticate(const HttpRequest& req);

  // Wraps `respond` so that the response's status is logged with the signer
  // before it is sent.
  Responder logged(const Signer& signer, const HttpRequest& req, Responder respond);

 private:
  RequestAuth(const ledger::Ledger& ledger, Clock clock, std::FILE* log);
  std::optional<crypto::PublicKey> lookup(const std::string& keyid) const;
  void append_log(const std::string& line);

  const ledger::Ledger& ledger_;
  Clock clock_;
  ledger::NonceCache nonces_;
  std::mutex log_mu_;
  std::FILE* log_ = nullptr;  // guarded by log_mu_
};

}  // namespace emledger::node
