#include "api.hpp"

#include <charconv>
#include <mutex>

#include "api_authz.hpp"
#include "checkpoint_book.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/tx_batch.hpp"
#include "errors.hpp"
#include "request_params.hpp"
#include "validate.hpp"

namespace emledger::node {

using nlohmann::json;

namespace {

// ?wait=commit, or nothing. Anything else is a typo worth reporting.
std::optional<bool> parse_wait(const HttpRequest& req) {
  const std::string* w = query_param(req, "wait");
  if (!w) return false;
  if (*w == "commit") return true;
  return std::nullopt;
}

// JSON body, or the error to answer with.
std::optional<HttpResponse> parse_body(const HttpRequest& req, json& out) {
  if (!req.body_length_known)
    return error_response(411, "LENGTH_REQUIRED", "POST needs Content-Length or chunked encoding");
  try {
    out = json::parse(req.body);
  } catch (const json::parse_error& e) {
    return error_response(400, "MALFORMED_JSON", e.what(), {{"byte", e.byte}});
  }
  return std::nullopt;
}

HttpResponse schema_error(const SchemaViolation& v, std::string_view schema) {
  return error_response(400, "MALFORMED_REQUEST", v.message,
                        {{"field", v.field}, {"schema", std::string(schema)}});
}

// The transactions of a batch request, in either form (docs/api.md): the
// binary TxBatch when the Content-Type names it, JSON {"txs": [hex, ...]}
// otherwise. A body that is neither is refused whole (400
// MALFORMED_REQUEST, or MALFORMED_JSON); a bad transaction inside a
// well-formed batch is only that entry's result.
std::optional<HttpResponse> batch_txs(const HttpRequest& req, std::vector<Bytes>& out) {
  if (!req.body_length_known)
    return error_response(411, "LENGTH_REQUIRED", "POST needs Content-Length or chunked encoding");
  auto type = req.headers.find("content-type");
  if (type != req.headers.end() && ledger::is_tx_batch_media_type(type->second)) {
    auto batch = ledger::decode<ledger::TxBatch>(
        ByteView(reinterpret_cast<const std::uint8_t*>(req.body.data()), req.body.size()));
    if (!batch)
      return error_response(400, "MALFORMED_REQUEST", batch.status().message(),
                            {{"media_type", std::string(ledger::kTxBatchMediaType)},
                             {"format", "docs/formats/tx-batch.md"}});
    out = std::move(batch->txs);
    return std::nullopt;
  }
  json body;
  if (auto err = parse_body(req, body)) return err;
  if (auto v = validate_submit_batch(body)) return schema_error(*v, "submit_batch.json");
  const auto& txs = body["txs"];
  out.reserve(txs.size());
  for (const auto& t : txs) {
    auto bytes = from_hex(t.get<std::string>());
    EMLEDGER_ASSERT(bytes.has_value());  // validated against the schema before
    out.push_back(std::move(*bytes));
  }
  return std::nullopt;
}

json committed_json(const TxResult& r) {
  return {{"id", to_hex(r.id)},
          {"status", "committed"},
          {"height", r.height},
          {"log_index", r.log_index}};
}

// A batch answer's results are written as text, not built as a JSON tree:
// thousands of them per second sit on the commit path (each result's tree,
// its serialization and its destruction cost more than the commit's share of
// the transaction). The text is what json_response writes for the same
// object: keys in order, no spaces. A rejection quotes a message, so it goes
// through the JSON library for the escaping.
std::string committed_result_text(const TxResult& r) {
  std::string out;
  out.reserve(128);
  out += R"({"height":)";
  out += std::to_string(r.height);
  out += R"(,"id":")";
  out += to_hex(r.id);
  out += R"(","log_index":)";
  out += std::to_string(r.log_index);
  out += R"(,"status":"committed"})";
  return out;
}

std::string pending_result_text(const Hash& id) {
  return R"({"id":")" + to_hex(id) + R"(","status":"pending"})";
}

std::string rejected_result_text(const Hash& id, const Status& st) {
  const json j = {{"id", to_hex(id)},
                  {"status", "rejected"},
                  {"error", {{"code", st.code()}, {"message", st.message()}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// "certificate" is the block's finality proof (docs/formats/finality.md):
// its own certificate, or the link to a finalized descendant.
json header_object(const ledger::BlockHeader& h, const ledger::FinalityProof& f) {
  return {{"height", h.height},
          {"hash", to_hex(h.hash())},
          {"header", ledger::to_json(h)},
          {"encoded", to_hex(ledger::encode(h))},
          {"certificate", to_hex(ledger::encode_finality_proof(f))}};
}

// The header object at `height`, nullopt when there is no such block.
Result<std::optional<json>> header_json(const ledger::Ledger& l, std::uint64_t height) {
  auto h = l.header(height);
  if (!h.is_ok()) return h.status();
  if (!h->has_value()) return std::optional<json>();
  auto c = l.finality_proof(height);
  if (!c.is_ok()) return c.status();
  if (!c->has_value())
    return Status::error("STORAGE_CORRUPT",
                         "block " + std::to_string(height) + " has no finality proof");
  return std::optional<json>(header_object(**h, **c));
}

// "V.VIEW.KIND" (epoch 0) or "V.VIEW.KIND.EPOCH" (a later epoch): the cursor
// of GET /v1/evidence.
std::optional<ledger::Ledger::Offence> parse_offence(std::string_view s) {
  std::uint64_t part[4] = {0, 0, 0, ledger::kGenesisEpoch};
  int parts = 0;
  for (bool more = true; more;) {
    if (parts == 4) return std::nullopt;
    const std::size_t dot = std::min(s.find('.'), s.size());
    auto v = parse_u64(s.substr(0, dot));
    if (!v) return std::nullopt;
    part[parts++] = *v;
    more = dot < s.size();
    s.remove_prefix(std::min(s.size(), dot + 1));
  }
  if (parts < 3) return std::nullopt;
  if (part[0] > UINT16_MAX || part[2] > UINT8_MAX) return std::nullopt;
  // Epoch 0 is written with three parts only: one offence, one cursor.
  if (parts == 4 && part[3] == ledger::kGenesisEpoch) return std::nullopt;
  return ledger::Ledger::Offence{static_cast<std::uint16_t>(part[0]), part[1],
                                 static_cast<std::uint8_t>(part[2]), part[3]};
}

std::string offence_cursor(const ledger::EvidenceRecord& r) {
  std::string c =
      std::to_string(r.validator) + "." + std::to_string(r.view) + "." + std::to_string(r.kind);
  if (r.epoch != ledger::kGenesisEpoch) c += "." + std::to_string(r.epoch);
  return c;
}

json evidence_json(const ledger::EvidenceRecord& r) {
  json first = ledger::to_json(r.first);
  return {{"epoch", r.epoch},
          {"validator", r.validator},
          {"kind", first.value("kind", json())},
          {"view", r.view},
          {"validator_key", to_hex(r.validator_key)},
          {"first", std::move(first)},
          {"second", ledger::to_json(r.second)},
          {"submitted_by", r.submitted_by},
          {"tx", to_hex(r.tx)},
          {"height", r.height},
          {"index", r.index}};
}

json record_json(const ledger::Record& r) {
  return {{"record", ledger::to_json(r)}, {"encoded", to_hex(ledger::encode(r))}};
}

}  // namespace

struct Api::Admission {
  Status status;
  Hash id{};  // SHA-256 of the submitted bytes: the tx id whenever they decode
};

Api::Api(ApiContext ctx) : ctx_(std::move(ctx)) {
  EMLEDGER_ASSERT(ctx_.ledger && ctx_.mempool);
  auto bind = [this](void (Api::*fn)(const HttpRequest&, const PathParams&, Responder)) {
    return [this, fn](const HttpRequest& r, const PathParams& p, Responder out) {
      (this->*fn)(r, p, std::move(out));
    };
  };
  // Literal paths before the patterns that would also match them.
  router_.add("GET", "/v1/health", bind(&Api::health));
  router_.add("GET", "/v1/genesis", bind(&Api::genesis));
  router_.add("GET", "/v1/openapi.json", bind(&Api::openapi));
  router_.add("POST", "/v1/transactions", bind(&Api::submit));
  router_.add("POST", "/v1/transactions/batch", bind(&Api::submit_batch));
  router_.add("GET", "/v1/transactions/{id}", bind(&Api::get_transaction));
  router_.add("GET", "/v1/records", bind(&Api::find_records));
  router_.add("GET", "/v1/records/{id}", bind(&Api::get_record));
  router_.add("GET", "/v1/headers", bind(&Api::header_range));
  router_.add("GET", "/v1/headers/latest", bind(&Api::latest_header));
  router_.add("GET", "/v1/headers/{height}", bind(&Api::header_at));
  router_.add("GET", "/v1/blocks/{height}", bind(&Api::block_at));
  router_.add("GET", "/v1/proofs/inclusion", bind(&Api::inclusion_proof));
  router_.add("GET", "/v1/proofs/consistency", bind(&Api::consistency_proof));
  router_.add("GET", "/v1/proofs/frontier", bind(&Api::log_frontier));
  router_.add("GET", "/v1/proofs/state", bind(&Api::state_proof));
  router_.add("GET", "/v1/bundles", bind(&Api::bundle));
  router_.add("GET", "/v1/checkpoint", bind(&Api::checkpoint));
  router_.add("GET", "/v1/evidence", bind(&Api::evidence));
  router_.add("GET", "/v1/evidence/{validator}", bind(&Api::evidence));
  router_.add("GET", "/v1/validators", bind(&Api::validators));
  if (ctx_.authz) ctx_.authz->add_routes(router_);
}

HttpResponse Api::error_response(int status, const std::string& code, const std::string& message) {
  return node::error_response(status, code, message);
}

void Api::handle(HttpRequest request, Responder respond) {
  auto m = router_.match(request.method, request.path);
  if (m.outcome == Router::Outcome::kNoSuchPath)
    return respond(node::error_response(404, "NOT_FOUND", "no such path: " + request.path));
  if (m.outcome == Router::Outcome::kWrongMethod)
    return respond(node::error_response(405, "METHOD_NOT_ALLOWED",
                                        request.method + " is not allowed on " + request.path,
                                        {{"allowed", m.allowed}}));
  // Routes answer their errors as values; an exception escaping one is a bug,
  // and the server turns it into a 500.
  (*m.fn)(request, m.params, std::move(respond));
}

// ---- writes ----

Api::Admission Api::admit(ByteView bytes, TxWaiter waiter) {
  // The kernel's own decoding rules: TX_TOO_LARGE, TX_MALFORMED.
  auto tx = ledger::parse_tx(bytes);
  if (!tx.is_ok()) return Admission{tx.status(), crypto::sha256(bytes)};
  Status checked = ctx_.ledger->check_tx_stateless(*tx);
  return admit_checked(crypto::sha256(bytes), std::move(*tx), bytes, std::move(checked),
                       std::move(waiter));
}

Api::Admission Api::admit_checked(const Hash& id, ledger::Tx tx, ByteView encoding, Status checked,
                                  TxWaiter waiter) {
  Admission a;
  a.id = id;
  a.status = std::move(checked);
  if (!a.status.is_ok()) return a;
  // Read before the lookup: the id is absent at this height at least, which
  // spares block execution a second lookup (ADR 022). The filter of committed
  // ids answers most lookups without the store (ADR 023).
  const std::uint64_t head = ctx_.ledger->head().height;
  if (!ctx_.ledger->tx_surely_uncommitted(a.id)) {
    auto entry = ctx_.ledger->tx_entry(a.id);
    if (!entry.is_ok()) {
      a.status = entry.status();
      return a;
    }
    if (entry->has_value()) {
      a.status = Status::error("DUPLICATE_TX", "transaction already committed at height " +
                                                   std::to_string((*entry)->height));
      return a;
    }
  }
  // The bytes go along, so that the block's execution does not encode and
  // hash the transaction again on the validator thread.
  a.status = ctx_.mempool->add(std::move(tx), a.id, std::move(waiter), /*announce=*/true, head,
                               Bytes(encoding.begin(), encoding.end()));
  return a;
}

void Api::submit(const HttpRequest& req, const PathParams&, Responder respond) {
  auto wait = parse_wait(req);
  if (!wait) return respond(bad_parameter("wait", "the only value is \"commit\""));
  json body;
  if (auto err = parse_body(req, body)) return respond(std::move(*err));
  if (auto v = validate_submit_tx(body)) return respond(schema_error(*v, "submit_tx.json"));

  TxWaiter waiter;
  if (*wait) {
    waiter = [respond](const TxResult& r) {
      if (r.status.is_ok()) return respond(json_response(200, committed_json(r)));
      respond(node::error_response(r.status, ErrorContext::kTransaction, {{"id", to_hex(r.id)}}));
    };
  }
  auto bytes = from_hex(body["tx"].get<std::string>());
  EMLEDGER_ASSERT(bytes.has_value());  // validated against the schema before
  Admission a = admit(*bytes, std::move(waiter));
  if (!a.status.is_ok())
    return respond(
        node::error_response(a.status, ErrorContext::kTransaction, {{"id", to_hex(a.id)}}));
  if (!*wait) respond(json_response(202, {{"id", to_hex(a.id)}, {"status", "pending"}}));
  // With wait, the waiter answers once the block is committed.
}

void Api::submit_batch(const HttpRequest& req, const PathParams&, Responder respond) {
  auto wait = parse_wait(req);
  if (!wait) return respond(bad_parameter("wait", "the only value is \"commit\""));
  std::vector<Bytes> txs;
  if (auto err = batch_txs(req, txs)) return respond(std::move(*err));

  // The results fill in as transactions are admitted and (with wait) as their
  // blocks commit; whoever brings `outstanding` to zero answers. The loop
  // itself holds one count so that an early commit cannot answer too soon.
  struct BatchState {
    std::mutex mu;
    std::vector<std::string> results;  // each result's JSON text, in request order
    std::size_t outstanding = 1;       // guarded by mu
    Responder respond;

    // Records result i; true for whoever finishes last, who then answers.
    bool finish(std::size_t i, std::string text) {
      std::lock_guard lock(mu);
      results[i] = std::move(text);
      return --outstanding == 0;
    }
    void answer() {
      std::size_t bytes = 16;
      for (const auto& r : results) bytes += r.size() + 1;
      HttpResponse out;
      out.status = 200;
      out.content_type = "application/json";
      out.body.reserve(bytes);
      out.body += R"({"results":[)";
      for (std::size_t i = 0; i < results.size(); ++i) {
        if (i > 0) out.body += ',';
        out.body += results[i];
      }
      out.body += "]}";
      respond(std::move(out));
    }
  };
  auto state = std::make_shared<BatchState>();
  state->respond = std::move(respond);
  state->results.assign(txs.size(), "{}");
  if (*wait) state->outstanding += txs.size();  // each admitted one's waiter finishes it

  // Decoded and checked a chunk at a time, the chunk's signatures together
  // (ADR 039); the chunk is short enough that the first transactions reach
  // the mempool while a large batch is still being verified.
  constexpr std::size_t kCheckChunk = 256;
  std::vector<ledger::Tx> chunk;
  std::vector<Status> checked;
  std::vector<std::uint8_t> decoded;
  std::size_t chunk_begin = 0;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (i - chunk_begin == chunk.size()) {  // the next chunk
      chunk_begin = i;
      const std::size_t end = std::min(txs.size(), i + kCheckChunk);
      chunk.assign(end - i, ledger::Tx{});
      checked.assign(end - i, Status::ok());
      decoded.assign(end - i, 0);
      std::vector<const ledger::Tx*> ptrs;
      std::vector<std::size_t> at;
      for (std::size_t j = i; j < end; ++j) {
        auto tx = ledger::parse_tx(txs[j]);
        if (!tx.is_ok()) {
          checked[j - i] = tx.status();
          continue;
        }
        chunk[j - i] = std::move(*tx);
        decoded[j - i] = 1;
        ptrs.push_back(&chunk[j - i]);
        at.push_back(j - i);
      }
      auto st = ctx_.ledger->check_txs_stateless(ptrs);
      for (std::size_t k = 0; k < at.size(); ++k) checked[at[k]] = std::move(st[k]);
    }
    TxWaiter waiter;
    if (*wait) {
      waiter = [state, i](const TxResult& r) {
        std::string text =
            r.status.is_ok() ? committed_result_text(r) : rejected_result_text(r.id, r.status);
        if (state->finish(i, std::move(text))) state->answer();
      };
    }
    const std::size_t c = i - chunk_begin;
    Admission a = decoded[c] ? admit_checked(crypto::sha256(txs[i]), std::move(chunk[c]), txs[i],
                                             std::move(checked[c]), std::move(waiter))
                             : Admission{std::move(checked[c]), crypto::sha256(txs[i])};
    if (!a.status.is_ok()) {
      // Refused at admission: with wait, its waiter was dropped unused, so
      // this finishes it instead.
      std::string text = rejected_result_text(a.id, a.status);
      if (!*wait) {
        std::lock_guard lock(state->mu);
        state->results[i] = std::move(text);
      } else if (state->finish(i, std::move(text))) {
        state->answer();
      }
    } else if (!*wait) {
      std::lock_guard lock(state->mu);
      state->results[i] = pending_result_text(a.id);
    }
  }
  bool last = false;
  {
    std::lock_guard lock(state->mu);
    last = --state->outstanding == 0;
  }
  if (last) state->answer();
}

// ---- reads ----

void Api::health(const HttpRequest&, const PathParams&, Responder respond) {
  auto head = ctx_.ledger->head();
  // ADR 034: whether LevelDB's background thread has compactions queued.
  const auto compaction = ledger::compaction_state(ctx_.ledger->store());
  respond(json_response(
      200,
      {{"status", "ok"},
       {"chain_id", ctx_.ledger->genesis().chain_id},
       {"genesis_hash", to_hex(ctx_.ledger->genesis_hash())},
       {"height", head.height},
       {"log_size", head.log_size},
       {"base_height", ctx_.ledger->base_height()},
       // ADR 023 and 026: until "complete", replay checks and reads of
       // new state keys go to LevelDB.
       {"committed_id_filter",
        ctx_.ledger->tx_filter_complete() && ctx_.ledger->state_key_filter_complete() ? "complete"
                                                                                      : "scanning"},
       {"compaction", compaction && compaction->due() ? "pending" : "idle"},
       // ADR 047: once written_bytes passes bytes, the ring has gone round
       // and updates read older pages back from the store.
       {"state_cache",
        {{"bytes", ctx_.ledger->state_pages().mapped_bytes()},
         {"written_bytes", ctx_.ledger->state_pages().written_bytes()}}}}));
}

void Api::genesis(const HttpRequest&, const PathParams&, Responder respond) {
  respond(json_response(200, ledger::to_json(ctx_.ledger->genesis())));
}

void Api::openapi(const HttpRequest&, const PathParams&, Responder respond) {
  HttpResponse r;
  r.content_type = "application/json";
  r.body = std::string(ctx_.openapi_json);
  respond(std::move(r));
}

void Api::get_transaction(const HttpRequest&, const PathParams& p, Responder respond) {
  auto id = parse_hash(p[0]);
  if (!id) return respond(bad_parameter("id", "expected 64 hex characters"));
  // Mempool first: a transaction leaves it only after its block is committed,
  // so checking in this order never misses one that is moving between them.
  auto where = ctx_.mempool->lookup(*id);
  if (where.where == Mempool::Where::kPending)
    return respond(json_response(200, {{"id", to_hex(*id)}, {"status", "pending"}}));
  auto entry = ctx_.ledger->tx_entry(*id);
  if (!entry.is_ok()) return respond(node::error_response(entry.status()));
  if (entry->has_value()) {
    const auto& e = **entry;
    json j = {{"id", to_hex(*id)}, {"status", "committed"},    {"height", e.height},
              {"index", e.index},  {"log_index", e.log_index}, {"tx", to_hex(e.tx)}};
    auto tx = ledger::decode<ledger::Tx>(e.tx);
    if (!tx.is_ok())
      return respond(node::error_response(500, "STORAGE_CORRUPT",
                                          "stored transaction: " + tx.status().to_string()));
    j["decoded"] = ledger::to_json(*tx);
    return respond(json_response(200, j));
  }
  if (where.where == Mempool::Where::kRejected) {
    const Status& st = where.rejection;
    return respond(
        json_response(200, {{"id", to_hex(*id)},
                            {"status", "rejected"},
                            {"error", {{"code", st.code()}, {"message", st.message()}}}}));
  }
  respond(node::error_response(404, "TX_NOT_FOUND", "no transaction " + to_hex(*id)));
}

void Api::get_record(const HttpRequest&, const PathParams& p, Responder respond) {
  auto id = parse_hash(p[0]);
  if (!id) return respond(bad_parameter("id", "expected 64 hex characters"));
  auto r = ctx_.ledger->record(*id);
  if (!r.is_ok()) return respond(node::error_response(r.status()));
  if (!r->has_value())
    return respond(node::error_response(404, "RECORD_NOT_FOUND", "no record " + to_hex(*id)));
  respond(json_response(200, record_json(**r)));
}

void Api::find_records(const HttpRequest& req, const PathParams&, Responder respond) {
  const std::string* h = query_param(req, "content_hash");
  if (!h) return respond(bad_parameter("content_hash", "required"));
  auto hash = parse_hash(*h);
  if (!hash) return respond(bad_parameter("content_hash", "expected 64 hex characters"));
  auto rs = ctx_.ledger->records_by_hash(*hash);
  if (!rs.is_ok()) return respond(node::error_response(rs.status()));
  json list = json::array();
  for (const auto& r : *rs) list.push_back(record_json(r));
  respond(json_response(200, {{"records", std::move(list)}}));
}

void Api::latest_header(const HttpRequest&, const PathParams&, Responder respond) {
  auto head = ctx_.ledger->head();
  if (head.height == 0)
    return respond(node::error_response(404, "NOT_FOUND", "no block has been committed yet"));
  auto j = header_json(*ctx_.ledger, head.height);
  if (!j.is_ok()) return respond(node::error_response(j.status()));
  EMLEDGER_ASSERT(j->has_value());
  respond(json_response(200, **j));
}

void Api::header_at(const HttpRequest&, const PathParams& p, Responder respond) {
  auto height = parse_u64(p[0]);
  if (!height) return respond(bad_parameter("height", "expected a decimal block height"));
  auto j = header_json(*ctx_.ledger, *height);
  if (!j.is_ok()) return respond(node::error_response(j.status()));
  if (!j->has_value())
    return respond(node::error_response(404, "NOT_FOUND", "no block at height " + p[0]));
  respond(json_response(200, **j));
}

void Api::header_range(const HttpRequest& req, const PathParams&, Responder respond) {
  const std::string* from_s = query_param(req, "from");
  const std::string* to_s = query_param(req, "to");
  if (!from_s) return respond(bad_parameter("from", "required"));
  if (!to_s) return respond(bad_parameter("to", "required"));
  auto from = parse_u64(*from_s);
  auto to = parse_u64(*to_s);
  if (!from || *from == 0) return respond(bad_parameter("from", "expected a height >= 1"));
  if (!to || *to < *from) return respond(bad_parameter("to", "expected a height >= from"));
  if (*to - *from >= kHeadersPerRequestMax)
    return respond(bad_parameter(
        "to", "at most " + std::to_string(kHeadersPerRequestMax) + " headers per request"));
  // Heights above the head are simply not there: the list stops at the head.
  std::uint64_t last = std::min(*to, ctx_.ledger->head().height);
  json list = json::array();
  for (std::uint64_t h = *from; h <= last; ++h) {
    auto j = header_json(*ctx_.ledger, h);
    if (!j.is_ok()) return respond(node::error_response(j.status()));
    if (!j->has_value()) break;
    list.push_back(std::move(**j));
  }
  respond(json_response(200, {{"headers", std::move(list)}}));
}

void Api::block_at(const HttpRequest&, const PathParams& p, Responder respond) {
  auto height = parse_u64(p[0]);
  if (!height) return respond(bad_parameter("height", "expected a decimal block height"));
  auto b = ctx_.ledger->block(*height);
  if (!b.is_ok()) return respond(node::error_response(b.status()));
  if (!b->has_value())
    return respond(node::error_response(404, "NOT_FOUND", "no block at height " + p[0]));
  auto c = ctx_.ledger->finality_proof(*height);
  if (!c.is_ok()) return respond(node::error_response(c.status()));
  if (!c->has_value())
    return respond(node::error_response(500, "STORAGE_CORRUPT", "block has no finality proof"));
  respond(json_response(200, {{"height", *height},
                              {"block", to_hex(ledger::encode(**b))},
                              {"certificate", to_hex(ledger::encode_finality_proof(**c))}}));
}

void Api::inclusion_proof(const HttpRequest& req, const PathParams&, Responder respond) {
  const auto head = ctx_.ledger->head();
  std::uint64_t size = head.log_size;
  if (const std::string* s = query_param(req, "size")) {
    auto v = parse_u64(*s);
    if (!v || *v == 0 || *v > head.log_size)
      return respond(bad_parameter("size", "expected 1.." + std::to_string(head.log_size)));
    size = *v;
  }
  const std::string* tx_s = query_param(req, "tx");
  const std::string* index_s = query_param(req, "index");
  if ((tx_s == nullptr) == (index_s == nullptr))
    return respond(bad_parameter("tx", "give exactly one of tx or index"));
  std::uint64_t index = 0;
  if (tx_s) {
    auto id = parse_hash(*tx_s);
    if (!id) return respond(bad_parameter("tx", "expected 64 hex characters"));
    auto e = ctx_.ledger->tx_entry(*id);
    if (!e.is_ok()) return respond(node::error_response(e.status()));
    if (!e->has_value())
      return respond(
          node::error_response(404, "TX_NOT_FOUND", "no committed transaction " + *tx_s));
    index = (*e)->log_index;
  } else {
    auto v = parse_u64(*index_s);
    if (!v) return respond(bad_parameter("index", "expected a decimal log index"));
    index = *v;
  }
  if (index >= size)
    return respond(bad_parameter(
        tx_s ? "tx" : "index",
        "log index " + std::to_string(index) + " is not below size " + std::to_string(size)));
  auto proof = ctx_.ledger->inclusion_proof(index, size);
  if (!proof.is_ok()) return respond(node::error_response(proof.status()));
  auto leaf = ctx_.ledger->log_leaf(index);
  if (!leaf.is_ok()) return respond(node::error_response(leaf.status()));
  auto root = ctx_.ledger->log_root(size);
  if (!root.is_ok()) return respond(node::error_response(root.status()));
  respond(json_response(200, {{"proof", to_hex(ledger::encode(*proof))},
                              {"leaf_hash", to_hex(*leaf)},
                              {"root", to_hex(*root)}}));
}

void Api::consistency_proof(const HttpRequest& req, const PathParams&, Responder respond) {
  const std::string* first_s = query_param(req, "first");
  const std::string* second_s = query_param(req, "second");
  if (!first_s) return respond(bad_parameter("first", "required"));
  if (!second_s) return respond(bad_parameter("second", "required"));
  auto first = parse_u64(*first_s);
  auto second = parse_u64(*second_s);
  const auto head = ctx_.ledger->head();
  if (!first || *first == 0) return respond(bad_parameter("first", "expected a size >= 1"));
  if (!second || *second < *first || *second > head.log_size)
    return respond(bad_parameter(
        "second", "expected first.." + std::to_string(head.log_size) + " (the head's log size)"));
  auto proof = ctx_.ledger->consistency_proof(*first, *second);
  if (!proof.is_ok()) return respond(node::error_response(proof.status()));
  respond(json_response(200, {{"proof", to_hex(ledger::encode(*proof))}}));
}

void Api::log_frontier(const HttpRequest& req, const PathParams&, Responder respond) {
  const std::string* size_s = query_param(req, "size");
  if (!size_s) return respond(bad_parameter("size", "required"));
  auto size = parse_u64(*size_s);
  const auto head = ctx_.ledger->head();
  if (!size || *size > head.log_size)
    return respond(bad_parameter(
        "size", "expected 0.." + std::to_string(head.log_size) + " (the head's log size)"));
  auto subtrees = ctx_.ledger->log_frontier(*size);
  if (!subtrees.is_ok()) return respond(node::error_response(subtrees.status()));
  json list = json::array();
  for (const Hash& h : *subtrees) list.push_back(to_hex(h));
  respond(json_response(200, {{"size", *size}, {"subtrees", std::move(list)}}));
}

void Api::state_proof(const HttpRequest& req, const PathParams&, Responder respond) {
  const std::string* key_s = query_param(req, "key");
  if (!key_s) return respond(bad_parameter("key", "required"));
  auto key = from_hex(*key_s);
  if (!key || key->empty() || key->size() > ledger::kStateKeyBytesMax)
    return respond(bad_parameter(
        "key", "expected 1.." + std::to_string(ledger::kStateKeyBytesMax) + " bytes in hex"));
  const auto head = ctx_.ledger->head();
  std::uint64_t height = head.height;
  Hash state_root = head.state_root;
  if (const std::string* h = query_param(req, "height")) {
    auto v = parse_u64(*h);
    if (!v || *v > head.height)
      return respond(bad_parameter("height", "expected 0.." + std::to_string(head.height)));
    height = *v;
    if (height > 0 && height != head.height) {
      auto hdr = ctx_.ledger->header(height);
      if (!hdr.is_ok()) return respond(node::error_response(hdr.status()));
      if (!hdr->has_value())
        return respond(node::error_response(404, "NOT_FOUND", "no block at height " + *h));
      state_root = (*hdr)->state_root;
    } else if (height == 0 && head.height != 0) {
      return respond(bad_parameter("height", "the genesis state is proven only before block 1"));
    }
  }
  // Pin the height we read the root at, so a block committing meanwhile
  // cannot pair a new proof with an old root.
  auto proof = ctx_.ledger->state_proof(
      *key, height > 0 ? std::optional<std::uint64_t>(height) : std::nullopt);
  if (!proof.is_ok()) return respond(node::error_response(proof.status()));
  respond(json_response(200, {{"proof", to_hex(ledger::encode(*proof))},
                              {"height", height},
                              {"state_root", to_hex(state_root)}}));
}

void Api::bundle(const HttpRequest& req, const PathParams&, Responder respond) {
  const std::string* h = query_param(req, "content_hash");
  if (!h) return respond(bad_parameter("content_hash", "required"));
  auto hash = parse_hash(*h);
  if (!hash) return respond(bad_parameter("content_hash", "expected 64 hex characters"));
  auto b = ctx_.ledger->bundle_for_hash(*hash);
  if (!b.is_ok()) {
    if (b.status().code() == "NO_BLOCKS")
      return respond(node::error_response(404, "NOT_FOUND", b.status().message()));
    return respond(node::error_response(b.status()));
  }
  respond(
      json_response(200, {{"bundle", to_hex(ledger::encode(*b))}, {"height", b->header.height}}));
}

// With one validator its signature of the head is a quorum; with several the
// note the validators cosigned (checkpoint_book.hpp), which may be a little
// behind the head.
void Api::checkpoint(const HttpRequest&, const PathParams&, Responder respond) {
  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  if (ctx_.checkpoints) {
    auto note = ctx_.checkpoints->note();
    if (!note)
      return respond(node::error_response(Status::error(
          "CHECKPOINT_PENDING", "no checkpoint has the signatures of a quorum of validators yet")));
    r.body = std::move(*note);
    return respond(std::move(r));
  }
  if (!ctx_.validator_key)
    return respond(
        node::error_response(Status::error("CHECKPOINT_PENDING",
                                           "this node is not a validator and signs no checkpoint; "
                                           "ask a validator of the set in force")));
  const auto head = ctx_.ledger->head();
  ledger::Checkpoint cp;
  cp.origin = ctx_.ledger->genesis().chain_id;
  cp.size = head.log_size;
  cp.root = head.log_root;
  r.body = ledger::sign_checkpoint(cp, ctx_.validator_org, *ctx_.validator_key);
  respond(std::move(r));
}

// The equivocation evidence recorded on chain, each record with its state
// proof against the certified header of one height: the head when the request
// began. A record committed after that is left out (records are permanent, so
// the others are exactly the state at that height).
void Api::evidence(const HttpRequest& req, const PathParams& p, Responder respond) {
  std::optional<std::uint16_t> validator;
  const std::string* v_s = p.empty() ? query_param(req, "validator") : &p[0];
  if (v_s) {
    auto v = parse_u64(*v_s);
    // An index of any epoch's set: sets after the genesis may be larger.
    constexpr auto n = ledger::kValidatorsMax;
    if (!v || *v >= n)
      return respond(bad_parameter("validator", "expected 0.." + std::to_string(n - 1)));
    validator = static_cast<std::uint16_t>(*v);
  }
  std::uint64_t limit = kEvidencePerRequestDefault;
  if (const std::string* l = query_param(req, "limit")) {
    auto v = parse_u64(*l);
    if (!v || *v == 0 || *v > kEvidencePerRequestMax)
      return respond(
          bad_parameter("limit", "expected 1.." + std::to_string(kEvidencePerRequestMax)));
    limit = *v;
  }
  std::optional<ledger::Ledger::Offence> after;
  if (const std::string* a = query_param(req, "after")) {
    after = parse_offence(*a);
    if (!after) return respond(bad_parameter("after", "expected VALIDATOR.VIEW.KIND[.EPOCH]"));
  }
  const std::uint64_t height = ctx_.ledger->head().height;
  json out = {{"height", height},
              {"header", nullptr},
              {"certificate", nullptr},
              {"items", json::array()},
              {"next", nullptr}};
  if (height == 0) return respond(json_response(200, out));
  auto header = ctx_.ledger->header(height);
  auto proof = ctx_.ledger->finality_proof(height);
  if (!header || !proof)
    return respond(node::error_response(!header ? header.status() : proof.status()));
  if (!header->has_value() || !proof->has_value())
    return respond(node::error_response(
        Status::error("STORAGE_CORRUPT", "block " + std::to_string(height) + " is incomplete")));
  out["header"] = to_hex(ledger::encode(**header));
  out["certificate"] = to_hex(ledger::encode_finality_proof(**proof));
  auto records = ctx_.ledger->evidence(validator, limit, after);
  if (!records) return respond(node::error_response(records.status()));
  for (const auto& r : *records) {
    if (r.height > height) continue;
    auto sp = ctx_.ledger->state_proof(
        ledger::evidence_state_key(r.epoch, r.validator, r.view, r.kind), height);
    if (!sp) return respond(node::error_response(sp.status()));
    out["items"].push_back({{"encoded", to_hex(ledger::encode_evidence_record(r))},
                            {"proof", to_hex(ledger::encode(*sp))},
                            {"decoded", evidence_json(r)}});
  }
  if (records->size() == limit) {
    const auto& last = records->back();
    out["next"] = offence_cursor(last);
  }
  respond(json_response(200, out));
}

// The set in force above the head, with the succession that proves it from
// the genesis (docs/validator-set-changes.md section 4). The two are read
// one after the other; a change committed in between is seen by reading
// again, so that the succession always reaches the set's epoch.
void Api::validators(const HttpRequest&, const PathParams&, Responder respond) {
  constexpr int kReadsMax = 3;
  for (int read = 0; read < kReadsMax; ++read) {
    auto set = ctx_.ledger->validators();
    if (!set) return respond(node::error_response(set.status()));
    auto succession = ctx_.ledger->succession();
    if (!succession) return respond(node::error_response(succession.status()));
    if (succession->changes.size() != set->epoch) continue;
    json members = json::array();
    for (const auto& v : set->validators)
      members.push_back(
          {{"org_id", v.org_id}, {"public_key", to_hex(v.public_key)}, {"address", v.address}});
    return respond(json_response(200, {{"epoch", set->epoch},
                                       {"since_height", set->since_height},
                                       {"validators", std::move(members)},
                                       {"encoded", to_hex(ledger::encode(*set))},
                                       {"succession", to_hex(ledger::encode(*succession))}}));
  }
  respond(node::error_response(
      Status::error("STORAGE_CORRUPT", "the succession does not reach the set in force")));
}

}  // namespace emledger::node
