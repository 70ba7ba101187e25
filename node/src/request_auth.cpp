#include "request_auth.hpp"

#include <nlohmann/json.hpp>

namespace emledger::node {

ledger::HttpRequest signature_view(const HttpRequest& req) {
  ledger::HttpRequest out;
  out.method = req.method;
  out.scheme = "http";  // the node serves plain HTTP; "@scheme" is not in our profile
  if (auto it = req.headers.find("host"); it != req.headers.end()) out.authority = it->second;
  // The target as sent: the signer signed the path and query before any
  // decoding. Requests built without the server (unit tests) fall back to
  // the path.
  out.target = req.target.empty() ? req.path : req.target;
  out.headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) out.headers.emplace_back(name, value);
  out.body = req.body;
  return out;
}

Result<std::unique_ptr<RequestAuth>> RequestAuth::open(const ledger::Ledger& ledger, Clock clock,
                                                       const std::string& read_log_path) {
  std::FILE* log = nullptr;
  if (!read_log_path.empty()) {
    log = std::fopen(read_log_path.c_str(), "ae");
    if (!log) return Status::error("IO_ERROR", "cannot open the read log " + read_log_path);
  }
  return std::unique_ptr<RequestAuth>(new RequestAuth(ledger, std::move(clock), log));
}

RequestAuth::RequestAuth(const ledger::Ledger& ledger, Clock clock, std::FILE* log)
    : ledger_(ledger), clock_(std::move(clock)), log_(log) {
  // The nonce cache starts empty: a signature made before now may have been
  // used with the node's previous process, so none is accepted (ADR 011).
  nonces_.refuse_signed_at_or_before(static_cast<std::int64_t>(clock_() / 1000));
}

RequestAuth::~RequestAuth() {
  if (log_) std::fclose(log_);
}

std::optional<crypto::PublicKey> RequestAuth::lookup(const std::string& keyid) const {
  auto id = ledger::parse_keyid(keyid);
  if (!id.is_ok()) return std::nullopt;
  if (id->kind == ledger::KeyId::Kind::kOrg) {
    const ledger::Org* org = ledger_.genesis().find_org(id->org_id);
    if (!org) return std::nullopt;
    const ledger::OrgKey* k = org->find_key(id->key);
    if (!k) return std::nullopt;
    return k->public_key;
  }
  // A holder key is valid only while it is the current binding: a rotated or
  // re-bound key (lower sequence) no longer signs. A storage error also
  // answers "unknown key": the request is refused either way.
  auto v = ledger_.state_value(ledger::holder_state_key(id->holder_ref));
  if (!v.is_ok() || !v->has_value()) return std::nullopt;
  auto b = ledger::decode<ledger::HolderBinding>(**v);
  if (!b.is_ok() || b->key_seq != id->key) return std::nullopt;
  return b->public_key;
}

Result<Signer> RequestAuth::authenticate(const HttpRequest& req) {
  const auto view = signature_view(req);
  const auto now_s = static_cast<std::int64_t>(clock_() / 1000);
  auto v = ledger::verify_request(
      view, [this](const std::string& keyid) { return lookup(keyid); }, now_s);
  if (!v.is_ok()) return v.status();
  if (auto st = nonces_.check_and_remember(*v, now_s); !st.is_ok()) return st;
  Signer s;
  s.keyid = v->keyid;
  auto id = ledger::parse_keyid(v->keyid);
  EMLEDGER_ASSERT(id.is_ok());  // the lookup above resolved it
  s.id = *id;
  if (s.is_org()) {
    const ledger::Org* org = ledger_.genesis().find_org(s.id.org_id);
    EMLEDGER_ASSERT(org != nullptr);
    s.roles = org->roles;
  }
  return s;
}

Responder RequestAuth::logged(const Signer& signer, const HttpRequest& req, Responder respond) {
  return [this, keyid = signer.keyid, method = req.method,
          target = req.target.empty() ? req.path : req.target,
          respond = std::move(respond)](HttpResponse r) {
    nlohmann::json line = {{"time_ms", clock_()},
                           {"keyid", keyid},
                           {"method", method},
                           {"target", target},
                           {"status", r.status}};
    append_log(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    respond(std::move(r));
  };
}

void RequestAuth::append_log(const std::string& line) {
  std::lock_guard lock(log_mu_);
  if (!log_) return;
  // Flushed to the OS per line, not fsynced: the log is an audit aid beside
  // the ledger's own record of accesses, and a sync per read would cap reads
  // at the disk's sync rate.
  std::fwrite(line.data(), 1, line.size(), log_);
  std::fputc('\n', log_);
  std::fflush(log_);
}

}  // namespace emledger::node
