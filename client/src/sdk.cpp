#include "emledger/client/sdk.hpp"

#include <algorithm>
#include <mutex>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/ledger.hpp"
#include "json_util.hpp"

namespace emledger::client {

using ledger::Json;

Client::Client(const std::string& base_url, ledger::Genesis trusted, const ClientOptions& options)
    : Client(make_http_transport(base_url, options.transport), std::move(trusted), options) {}

struct Client::SetsCache {
  std::mutex mu;
  std::shared_ptr<const ValidatorSets> sets;  // null until first fetched
};

Client::Client(std::unique_ptr<Transport> transport, ledger::Genesis trusted,
               const ClientOptions& options)
    : transport_(std::move(transport)),
      trusted_(std::move(trusted)),
      trusted_hash_(trusted_.hash()),
      options_(options),
      sets_cache_(std::make_shared<SetsCache>()) {
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
  const std::string target =
      wait_commit ? "/v1/transactions/batch?wait=commit" : "/v1/transactions/batch";
  // The binary form (docs/formats/tx-batch.md): no hex to write or JSON for
  // the node to parse. The JSON form goes instead through a transport that
  // carries only JSON, and again to a node that read the binary body as JSON
  // (400 MALFORMED_JSON: one built before the binary body, which admitted
  // nothing).
  ledger::TxBatch batch;
  batch.txs.reserve(txs.size());
  for (const auto& tx : txs) batch.txs.push_back(ledger::encode(tx));
  HttpCall call;
  call.method = "POST";
  call.target = target;
  const Bytes encoded = ledger::encode(batch);
  call.body.assign(encoded.begin(), encoded.end());
  call.content_type = std::string(ledger::kTxBatchMediaType);
  call.long_wait = wait_commit;
  auto res = transport_->send(call);
  const bool json_only_transport = !res && res.status().code() == "NOT_SUPPORTED";
  const bool json_only_node =
      res && res->status == 400 && node_error(*res).code() == "MALFORMED_JSON";
  if (json_only_transport || json_only_node) {
    Json list = Json::array();
    for (const Bytes& tx : batch.txs) list.push_back(to_hex(ByteView(tx)));
    const Json body = {{"txs", std::move(list)}};
    res = transport_->post(target, body.dump(), wait_commit);
  }
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

// ---- validator sets ----

namespace {

// The "validators" list of GET /v1/validators, as the node states it.
Result<std::vector<ledger::Validator>> validators_from_json(const Json& j) {
  if (!j.contains("validators") || !j["validators"].is_array() ||
      j["validators"].size() > ledger::kValidatorsMax)
    return Status::error(std::string(kNodeBadResponse),
                         "validators: expected a list of validators");
  std::vector<ledger::Validator> out;
  for (const auto& item : j["validators"]) {
    Fields f(item, "validator " + std::to_string(out.size()));
    ledger::Validator v;
    v.org_id = f.str("org_id");
    v.public_key = f.hash("public_key");  // 32 bytes, as a hash
    v.address = f.str("address");
    EMLEDGER_TRY(f.status());
    out.push_back(std::move(v));
  }
  return out;
}

Status succession_invalid(const std::string& why) {
  return Status::error("SUCCESSION_INVALID", why);
}

}  // namespace

Result<std::shared_ptr<const ValidatorSets>> Client::fetch_validator_sets() const {
  auto res = transport_->get("/v1/validators");
  if (!res) return res.status();
  if (res->status == 404) {
    // A node older than validator-set changes: no route. Judging everything
    // by the genesis set refuses what a later set certified, never more.
    Status st = node_error(*res);
    if (st.code() != "NOT_FOUND") return st;
    return std::make_shared<const ValidatorSets>(genesis_sets(trusted_));
  }
  if (res->status != 200) return node_error(*res);
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "validators");
  const std::uint64_t epoch = f.u64("epoch");
  const std::uint64_t since = f.u64("since_height");
  const Bytes encoded = f.hex("encoded");
  const Bytes raw = f.hex("succession");
  EMLEDGER_TRY(f.status());
  auto listed = validators_from_json(*j);
  if (!listed) return listed.status();
  auto succession = ledger::decode<ledger::Succession>(raw);
  if (!succession)
    return Status::error(std::string(kNodeBadResponse),
                         "undecodable succession: " + succession.status().message());
  auto sets = verify_sets(trusted_, std::move(succession).value());
  if (!sets) return sets.status();
  // What the node states beside the succession must be what it proves.
  const ledger::ValidatorSet& proven = sets->current();
  if (encoded != ledger::encode(proven) || epoch != proven.epoch || since != proven.since_height ||
      ledger::encode(ledger::ValidatorList{*listed}) !=
          ledger::encode(ledger::ValidatorList{proven.validators}))
    return succession_invalid("the node reports the validators of epoch " + std::to_string(epoch) +
                              ", its succession proves epoch " + std::to_string(proven.epoch) +
                              " from height " + std::to_string(proven.since_height) +
                              " with other members");
  return std::make_shared<const ValidatorSets>(std::move(sets).value());
}

Result<std::shared_ptr<const ValidatorSets>> Client::kept_sets(bool refresh, bool* fresh) const {
  if (fresh) *fresh = false;
  if (!refresh) {
    std::lock_guard lock(sets_cache_->mu);
    if (sets_cache_->sets) return sets_cache_->sets;
  }
  // Fetched outside the lock: a slow node must not hold other threads'
  // verifications that the kept sets already answer.
  auto fetched = fetch_validator_sets();
  if (!fetched) return fetched.status();
  std::lock_guard lock(sets_cache_->mu);
  const auto& kept = sets_cache_->sets;
  const auto& got = *fetched;
  if (kept) {
    // Both verified from the genesis: one must extend the other, or a quorum
    // finalized two histories.
    const std::size_t common = std::min(kept->sets.size(), got->sets.size());
    for (std::size_t e = 0; e < common; ++e)
      if (ledger::encode(kept->sets[e]) != ledger::encode(got->sets[e]))
        return succession_invalid(
            "the node's succession contradicts the one verified before at "
            "epoch " +
            std::to_string(e));
    // An older answer (another node behind, a race) never replaces a newer one.
    if (got->sets.size() < kept->sets.size()) return kept;
  }
  sets_cache_->sets = got;
  if (fresh) *fresh = true;
  return got;
}

template <class T, class Check>
Result<T> Client::with_sets(std::string_view retry_prefix, const Check& check) const {
  bool fresh = false;
  auto sets = kept_sets(/*refresh=*/false, &fresh);
  if (!sets) return sets.status();
  Result<T> first = check(**sets);
  if (first.is_ok() || fresh ||
      first.status().code().compare(0, retry_prefix.size(), retry_prefix) != 0)
    return first;
  // Perhaps a change of set since they were fetched: ask once more.
  auto newer = kept_sets(/*refresh=*/true);
  if (!newer) return newer.status();
  if ((*newer)->sets.size() == (*sets)->sets.size()) return first;
  return check(**newer);
}

Result<ValidatorSets> Client::validator_sets(bool refresh) const {
  auto sets = kept_sets(refresh);
  if (!sets) return sets.status();
  return **sets;
}

// ---- headers ----

namespace {

template <class Certify>
Result<CertifiedHeader> header_from_json(const Json& j, std::optional<std::uint64_t> height,
                                         const Certify& certify) {
  Fields f(j, "header");
  Bytes encoded = f.hex("encoded");
  Bytes cert = f.hex("certificate");
  EMLEDGER_TRY(f.status());
  return certify(encoded, cert, height);
}

}  // namespace

Result<CertifiedHeader> Client::certify_header(ByteView encoded_header,
                                               ByteView encoded_certificate,
                                               std::optional<std::uint64_t> height) const {
  return with_sets<CertifiedHeader>("CERT_", [&](const ValidatorSets& sets) {
    return verify_header(trusted_, sets, encoded_header, encoded_certificate, height);
  });
}

Result<CertifiedHeader> Client::header_at(const std::string& target,
                                          std::optional<std::uint64_t> height) const {
  auto res = get_ok(target);
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  return header_from_json(
      *j, height, [this](ByteView e, ByteView c, auto h) { return certify_header(e, c, h); });
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
    auto hdr = header_from_json(
        (*j)["headers"][h - from], h,
        [this](ByteView e, ByteView c, auto at) { return certify_header(e, c, at); });
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
  // Cosigned by the set in force at the checkpoint's log size
  // (ledger::sets_for_log_size): a note from before a change keeps verifying,
  // a retired set cannot vouch for a later size.
  return with_sets<ledger::Checkpoint>("CHECKPOINT_", [&](const ValidatorSets& sets) {
    return ledger::verify_checkpoint(res->body, trusted_, sets.sets, sets.succession);
  });
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
