#include "emledger/client/sdk.hpp"

#include <algorithm>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/ledger.hpp"
#include "json_util.hpp"

namespace emledger::client {

using ledger::Json;

Client::Client(const std::string& base_url, ledger::Genesis trusted, const ClientOptions& options)
    : Client(make_http_transport(base_url, options.transport), std::move(trusted), options) {}

Client::Client(std::unique_ptr<Transport> transport, ledger::Genesis trusted,
               const ClientOptions& options)
    : transport_(std::move(transport)),
      trusted_(std::move(trusted)),
      trusted_hash_(trusted_.hash()),
      options_(options) {
  EMLEDGER_ASSERT(transport_ != nullptr);
  options_.chain_page_headers =
      std::clamp<std::uint64_t>(options_.chain_page_headers, 1, kHeadersPageMax);
}

Result<HttpResponse> Client::get_ok(const std::string& target) const {
  auto res = transport_->get(target);
  if (!res) return res.status();
  if (res->status != 200) return node_error(*res);
  return res;
}

Result<Health> Client::health() const {
  auto res = get_ok("/v1/health");
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  Health h;
  Fields f(*j, "health");
  h.status = f.str("status");
  h.chain_id = f.str("chain_id");
  h.genesis_hash = f.hash("genesis_hash");
  h.height = f.u64("height");
  h.log_size = f.u64("log_size");
  h.base_height = f.u64("base_height");
  EMLEDGER_TRY(f.status());
  return h;
}

Result<ledger::Genesis> Client::fetch_untrusted_genesis(const std::string& base_url,
                                                        const ClientOptions& options) {
  auto transport = make_http_transport(base_url, options.transport);
  auto res = transport->get("/v1/genesis");
  if (!res) return res.status();
  if (res->status != 200) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  auto g = ledger::genesis_from_json(*j);
  if (!g)
    return Status::error(std::string(kNodeBadResponse),
                         "node's genesis: " + g.status().to_string());
  return g;
}

Result<ledger::Genesis> Client::genesis() const {
  auto res = get_ok("/v1/genesis");
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  auto g = ledger::genesis_from_json(*j);
  if (!g)
    return Status::error(std::string(kNodeBadResponse),
                         "node's genesis: " + g.status().to_string());
  if (g->hash() != trusted_hash_)
    return Status::error(std::string(kGenesisMismatch),
                         "node runs genesis " + to_hex(g->hash()) + " (chain '" + g->chain_id +
                             "'), trusted genesis is " + to_hex(trusted_hash_));
  return g;
}

namespace {

Result<SubmitResult> submit_result_from(const Json& j) {
  SubmitResult r;
  Fields f(j, "submit result");
  r.id = f.hash("id");
  r.status = f.str("status");
  if (r.status == "committed") {
    r.height = f.u64("height");
    r.log_index = f.u64("log_index");
  } else if (r.status == "rejected") {
    r.error = f.error("error");
  } else if (r.status != "pending") {
    f.bad("unknown status '" + r.status + "'");
  }
  EMLEDGER_TRY(f.status());
  return r;
}

}  // namespace

Result<SubmitResult> Client::submit(const ledger::Tx& tx, bool wait_commit) const {
  const Json body = {{"tx", to_hex(ByteView(ledger::encode(tx)))}};
  auto res = transport_->post(wait_commit ? "/v1/transactions?wait=commit" : "/v1/transactions",
                              body.dump(), wait_commit);
  if (!res) return res.status();
  if (res->status != 200 && res->status != 202) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  auto r = submit_result_from(*j);
  if (!r) return r.status();
  if (r->id != tx.id())
    return Status::error(std::string(kNodeBadResponse), "node answered for another transaction");
  return r;
}

Result<std::vector<SubmitResult>> Client::submit_batch(const std::vector<ledger::Tx>& txs,
                                                       bool wait_commit) const {
  if (txs.size() > kBatchTxsMax)
    return Status::error(std::string(kBadArgument),
                         "a batch holds at most " + std::to_string(kBatchTxsMax) + " transactions");
  Json list = Json::array();
  for (const auto& tx : txs) list.push_back(to_hex(ByteView(ledger::encode(tx))));
  const Json body = {{"txs", std::move(list)}};
  auto res = transport_->post(
      wait_commit ? "/v1/transactions/batch?wait=commit" : "/v1/transactions/batch", body.dump(),
      wait_commit);
  if (!res) return res.status();
  if (res->status != 200 && res->status != 202) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  if (!j->contains("results") || !(*j)["results"].is_array() ||
      (*j)["results"].size() != txs.size())
    return Status::error(std::string(kNodeBadResponse), "batch answer without one result per tx");
  std::vector<SubmitResult> out;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    auto r = submit_result_from((*j)["results"][i]);
    if (!r) return r.status();
    if (r->id != txs[i].id())
      return Status::error(std::string(kNodeBadResponse),
                           "batch result " + std::to_string(i) + " is for another transaction");
    out.push_back(std::move(r).value());
  }
  return out;
}

Result<TxStatus> Client::tx_status(const Hash& tx_id) const {
  auto res = get_ok("/v1/transactions/" + to_hex(tx_id));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  TxStatus t;
  Fields f(*j, "transaction");
  t.id = f.hash("id");
  t.status = f.str("status");
  if (t.status == "committed") {
    t.height = f.u64("height");
    t.index = static_cast<std::uint32_t>(f.u64("index"));
    t.log_index = f.u64("log_index");
    Bytes raw = f.hex("tx");
    EMLEDGER_TRY(f.status());
    auto tx = ledger::decode<ledger::Tx>(raw);
    if (!tx) return Status::error(std::string(kNodeBadResponse), "undecodable transaction");
    if (tx->id() != tx_id)
      return Status::error(std::string(kNodeBadResponse), "node returned another transaction");
    t.tx = std::move(tx).value();
  } else if (t.status == "rejected") {
    t.error = f.error("error");
  } else if (t.status != "pending") {
    f.bad("unknown status '" + t.status + "'");
  }
  EMLEDGER_TRY(f.status());
  if (t.id != tx_id)
    return Status::error(std::string(kNodeBadResponse), "node answered for another transaction");
  return t;
}

Result<CertifiedHeader> Client::verify_tx_committed(const ledger::Tx& tx) const {
  auto head = latest_header();
  if (!head) return head.status();
  auto res = get_ok("/v1/proofs/inclusion?tx=" + to_hex(tx.id()) +
                    "&size=" + std::to_string(head->header.log_size));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "inclusion proof");
  Bytes raw = f.hex("proof");
  EMLEDGER_TRY(f.status());
  auto proof = ledger::decode<ledger::InclusionProof>(raw);
  if (!proof) return Status::error(std::string(kNodeBadResponse), "undecodable inclusion proof");
  EMLEDGER_TRY(verify_tx_inclusion(*head, ledger::encode(tx), *proof));
  return head;
}

// ---- headers ----

namespace {

Result<CertifiedHeader> header_from_json(const ledger::Genesis& trusted, const Json& j,
                                         std::optional<std::uint64_t> height) {
  Fields f(j, "header");
  Bytes encoded = f.hex("encoded");
  Bytes cert = f.hex("certificate");
  EMLEDGER_TRY(f.status());
  return verify_header(trusted, encoded, cert, height);
}

}  // namespace

Result<CertifiedHeader> Client::header_at(const std::string& target,
                                          std::optional<std::uint64_t> height) const {
  auto res = get_ok(target);
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  return header_from_json(trusted_, *j, height);
}

Result<CertifiedHeader> Client::latest_header() const {
  return header_at("/v1/headers/latest", std::nullopt);
}

Result<CertifiedHeader> Client::header(std::uint64_t height) const {
  return header_at("/v1/headers/" + std::to_string(height), height);
}

Result<std::vector<CertifiedHeader>> Client::headers(std::uint64_t from, std::uint64_t to) const {
  if (from == 0 || to < from || to - from + 1 > kHeadersPageMax)
    return Status::error(
        std::string(kBadArgument),
        "header range must be 1 <= from <= to, at most " + std::to_string(kHeadersPageMax));
  auto res = get_ok("/v1/headers?from=" + std::to_string(from) + "&to=" + std::to_string(to));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  if (!j->contains("headers") || !(*j)["headers"].is_array() ||
      (*j)["headers"].size() != to - from + 1)
    return Status::error(std::string(kNodeBadResponse),
                         "expected " + std::to_string(to - from + 1) + " headers");
  std::vector<CertifiedHeader> out;
  for (std::uint64_t h = from; h <= to; ++h) {
    auto hdr = header_from_json(trusted_, (*j)["headers"][h - from], h);
    if (!hdr) return hdr.status();
    out.push_back(std::move(hdr).value());
  }
  return out;
}

// ---- records and bundles ----

Result<ledger::StateProof> Client::state_proof(ByteView key, std::uint64_t height) const {
  auto res = get_ok("/v1/proofs/state?key=" + to_hex(key) + "&height=" + std::to_string(height));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "state proof");
  Bytes raw = f.hex("proof");
  EMLEDGER_TRY(f.status());
  auto proof = ledger::decode<ledger::StateProof>(raw);
  if (!proof)
    return Status::error(std::string(kNodeBadResponse),
                         "undecodable state proof: " + proof.status().message());
  return proof;
}

Result<std::optional<VerifiedRecord>> Client::record(const Hash& record_id) const {
  auto head = latest_header();
  if (!head) return head.status();
  auto proof = state_proof(ledger::record_state_key(record_id), head->header.height);
  if (!proof) return proof.status();
  auto rec = verify_record(*head, record_id, *proof);
  if (!rec) return rec.status();
  if (!rec->has_value()) return std::optional<VerifiedRecord>();
  return std::optional<VerifiedRecord>(VerifiedRecord{std::move(**rec), std::move(head).value()});
}

Result<VerifiedBundle> Client::fetch_bundle(const Hash& content_hash) const {
  auto res = get_ok("/v1/bundles?content_hash=" + to_hex(content_hash));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "bundle");
  Bytes raw = f.hex("bundle");
  EMLEDGER_TRY(f.status());
  auto bundle = decode_bundle(raw);
  if (!bundle)  // the node's bytes, not the user's: a node fault, not bad input
    return Status::error(std::string(kNodeBadResponse), bundle.status().message());
  auto verdict = ledger::verify_bundle(trusted_, *bundle, content_hash);
  if (!verdict) return verdict.status();
  return VerifiedBundle{std::move(bundle).value(), std::move(raw), std::move(verdict).value()};
}

Result<std::vector<ledger::RecordVerdict>> Client::records_by_hash(const Hash& content_hash) const {
  auto b = fetch_bundle(content_hash);
  if (!b) return b.status();
  return std::move(b->verdict.records);
}

Result<ledger::BundleVerdict> Client::verify_file(const std::string& path) const {
  auto digest = crypto::sha256_file(path);
  if (!digest) return digest.status();
  auto b = fetch_bundle(digest->hash);
  if (!b) return b.status();
  return std::move(b->verdict);
}

Result<ledger::Checkpoint> Client::checkpoint() const {
  auto res = get_ok("/v1/checkpoint");
  if (!res) return res.status();
  return ledger::verify_checkpoint(res->body, trusted_);
}

Result<ledger::Tx> Client::make_tx(const Signer& signer, ledger::TxType type, Bytes payload) const {
  auto h = health();
  if (!h) return h.status();
  if (h->genesis_hash != trusted_hash_)
    return Status::error(
        std::string(kGenesisMismatch),
        "node runs genesis " + to_hex(h->genesis_hash) + ", expected " + to_hex(trusted_hash_));
  return build_tx(trusted_, signer, type, std::move(payload), h->height, random_nonce());
}

}  // namespace emledger::client
