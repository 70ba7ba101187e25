#include "api_authz.hpp"

#include <charconv>
#include <filesystem>
#include <map>

#include "api.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"
#include "errors.hpp"
#include "request_params.hpp"

namespace emledger::node {

using nlohmann::json;
using HolderList = ledger::Ledger::HolderList;

namespace {

constexpr std::string_view kMaterialsPrefix = "/v1/materials/";

HttpResponse forbidden(const std::string& why) { return error_response(403, "FORBIDDEN", why); }

// ?limit=N, 1..kAuthzItemsMax, default kAuthzItemsDefault.
std::optional<std::size_t> parse_limit(const HttpRequest& req) {
  const std::string* s = query_param(req, "limit");
  if (!s) return kAuthzItemsDefault;
  auto v = parse_u64(*s);
  if (!v || *v == 0 || *v > kAuthzItemsMax) return std::nullopt;
  return static_cast<std::size_t>(*v);
}

// ?after=HEIGHT.INDEX, the cursor a previous page answered with as "next".
// Returns false when the parameter is present but malformed.
bool parse_after(const HttpRequest& req, std::optional<ledger::ChainPos>& after) {
  after.reset();
  const std::string* s = query_param(req, "after");
  if (!s) return true;
  after = ledger::parse_cursor(*s);
  return after.has_value();
}

json next_cursor(const std::vector<ledger::Ledger::Listed>& page, std::size_t limit) {
  return page.size() < limit ? json(nullptr) : json(ledger::cursor_string(page.back().pos));
}

// A committed header with its finality certificate.
struct Certified {
  ledger::BlockHeader header;
  ledger::FinalityProof finality;  // its own certificate, or a finalized descendant's link
  json to_json() const {
    return {{"height", header.height},
            {"header", to_hex(ledger::encode(header))},
            {"certificate", to_hex(ledger::encode_finality_proof(finality))}};
  }
};

// Errors: NOT_FOUND when no block `height` is committed, STORAGE_*.
Result<Certified> certified_at(const ledger::Ledger& l, std::uint64_t height) {
  auto h = l.header(height);
  if (!h.is_ok()) return h.status();
  if (!h->has_value())
    return Status::error("NOT_FOUND", "no block at height " + std::to_string(height));
  auto c = l.finality_proof(height);
  if (!c.is_ok()) return c.status();
  if (!c->has_value())
    return Status::error("STORAGE_CORRUPT",
                         "block " + std::to_string(height) + " has no finality proof");
  return Certified{std::move(**h), std::move(**c)};
}

// A state value with its proof at `height` (>= 1); the value is taken from the
// proof itself, so that it is exactly what the proof commits to.
struct Proven {
  ledger::StateProof proof;
  json to_json_fields(std::string_view value_name) const {
    return {{std::string(value_name), to_hex(proof.value)},
            {"proof", to_hex(ledger::encode(proof))}};
  }
};

Result<Proven> proven_at(const ledger::Ledger& l, const Bytes& key, std::uint64_t height) {
  auto p = l.state_proof(key, height);
  if (!p.is_ok()) return p.status();
  return Proven{std::move(*p)};
}

template <class T>
Result<T> decode_state(const Bytes& value, std::string_view what) {
  auto v = ledger::decode<T>(value);
  if (!v.is_ok())
    return Status::error("STORAGE_CORRUPT",
                         std::string(what) + " in state: " + v.status().to_string());
  return std::move(*v);
}

Bytes list_state_key(HolderList list, const Hash& id) {
  switch (list) {
    case HolderList::kRecords:
      return ledger::record_state_key(id);
    case HolderList::kGrants:
      return ledger::grant_state_key(id);
    case HolderList::kAccesses:
      return ledger::access_state_key(id);
  }
  EMLEDGER_ASSERT(false);
  return {};
}

Result<json> decoded_json(HolderList list, const Bytes& value) {
  switch (list) {
    case HolderList::kRecords: {
      auto v = decode_state<ledger::Record>(value, "record");
      if (!v.is_ok()) return v.status();
      return ledger::to_json(*v);
    }
    case HolderList::kGrants: {
      auto v = decode_state<ledger::Grant>(value, "grant");
      if (!v.is_ok()) return v.status();
      return ledger::to_json(*v);
    }
    case HolderList::kAccesses: {
      auto v = decode_state<ledger::Access>(value, "access");
      if (!v.is_ok()) return v.status();
      return ledger::to_json(*v);
    }
  }
  EMLEDGER_ASSERT(false);
  return json();
}

}  // namespace

// The genesis state (the SMT of the genesis orgs) in memory. An access in
// block 1 was judged against it, and there is no header at height 0 to prove
// against: the audit listing proves against this root, which anyone holding
// the genesis can compute the same way.
class GenesisState {
 public:
  static Result<std::unique_ptr<GenesisState>> build(const ledger::Genesis& g) {
    std::unique_ptr<GenesisState> s(new GenesisState());
    std::vector<std::pair<Bytes, Bytes>> puts;
    for (const auto& org : g.orgs)
      puts.emplace_back(ledger::org_state_key(org.id), ledger::encode(org));
    auto root = ledger::StateTree(s->overlay_).update(ledger::smt_empty_root(), puts, s->overlay_);
    if (!root.is_ok()) return root.status();
    s->root_ = *root;
    return s;
  }
  const Hash& root() const { return root_; }
  // Thread safe: only reads the overlay.
  Result<ledger::StateProof> prove(ByteView key) const {
    return ledger::StateTree(overlay_).prove(root_, key);
  }

 private:
  GenesisState() = default;
  struct Empty final : ledger::KvReader {
    Result<std::optional<Bytes>> get(ByteView) const override { return std::optional<Bytes>(); }
  };
  Empty empty_;
  ledger::Overlay overlay_{empty_};
  Hash root_{};
};

// Defined here rather than in api.cpp: the material route's body limit is
// this layer's business.
std::size_t Api::body_bytes_max(std::string_view method, std::string_view target) {
  return ctx_.authz ? ctx_.authz->body_bytes_max(method, target) : kRequestBodyBytesMax;
}

Result<std::unique_ptr<AuthzApi>> AuthzApi::open(const ledger::Ledger& ledger, Clock clock,
                                                 const std::string& data_dir) {
  namespace fs = std::filesystem;
  auto auth =
      RequestAuth::open(ledger, std::move(clock), (fs::path(data_dir) / "read-log.jsonl").string());
  if (!auth.is_ok()) return auth.status();
  auto store = MaterialStore::open((fs::path(data_dir) / "materials").string());
  if (!store.is_ok()) return store.status();
  auto gs = GenesisState::build(ledger.genesis());
  if (!gs.is_ok()) return gs.status();
  // Before block 1 the head shows the kernel's own genesis root: if the two
  // ever differ (the kernel put more into the genesis state), block-1 proofs
  // would be wrong, so refuse to start.
  const auto head = ledger.head();
  if (head.height == 0 && head.state_root != (*gs)->root())
    return Status::error("INTERNAL", "the genesis state root differs from the kernel's");
  return std::unique_ptr<AuthzApi>(
      new AuthzApi(ledger, std::move(*auth), std::move(*store), std::move(*gs)));
}

AuthzApi::AuthzApi(const ledger::Ledger& ledger, std::unique_ptr<RequestAuth> auth,
                   std::unique_ptr<MaterialStore> materials,
                   std::unique_ptr<GenesisState> genesis_state)
    : ledger_(ledger),
      auth_(std::move(auth)),
      materials_(std::move(materials)),
      genesis_state_(std::move(genesis_state)) {}

AuthzApi::~AuthzApi() = default;

std::size_t AuthzApi::body_bytes_max(std::string_view method, std::string_view target) const {
  static_assert(kMaterialBytesMax <= kRouteBodyBytesMax);
  if (method == "PUT" && target.substr(0, kMaterialsPrefix.size()) == kMaterialsPrefix)
    return kMaterialBytesMax;
  return kRequestBodyBytesMax;
}

RouteFn AuthzApi::signed_route(SignedFn fn) {
  return [this, fn](const HttpRequest& req, const PathParams& p, Responder respond) {
    auto signer = auth_->authenticate(req);
    if (!signer.is_ok()) return respond(error_response(signer.status()));
    (this->*fn)(req, p, *signer, auth_->logged(*signer, req, std::move(respond)));
  };
}

void AuthzApi::add_routes(Router& router) {
  router.add("GET", "/v1/holders/{ref}",
             [this](const HttpRequest& r, const PathParams& p, Responder out) {
               holder(r, p, std::move(out));
             });
  router.add("GET", "/v1/holders/{ref}/records", signed_route(&AuthzApi::holder_records));
  router.add("GET", "/v1/holders/{ref}/grants", signed_route(&AuthzApi::holder_grants));
  router.add("GET", "/v1/holders/{ref}/accesses", signed_route(&AuthzApi::holder_accesses));
  router.add("GET", "/v1/grants/{id}", signed_route(&AuthzApi::grant));
  router.add("GET", "/v1/grants/{id}/records", signed_route(&AuthzApi::grant_records));
  router.add("GET", "/v1/accesses/{id}", signed_route(&AuthzApi::access));
  router.add("GET", "/v1/audit/accesses", signed_route(&AuthzApi::audit_accesses));
  router.add("PUT", "/v1/materials/{hash}", signed_route(&AuthzApi::put_material));
  router.add("GET", "/v1/materials/{hash}", signed_route(&AuthzApi::get_material));
}

// ---- holder view ----

void AuthzApi::holder(const HttpRequest&, const PathParams& p, Responder respond) {
  auto ref = parse_hash(p[0]);
  if (!ref) return respond(bad_parameter("holder_ref", "expected 64 hex characters"));
  const auto head = ledger_.head();
  auto not_bound = [&] {
    return error_response(404, "HOLDER_NOT_BOUND", "no key is bound to holder " + p[0]);
  };
  if (head.height == 0) return respond(not_bound());
  auto pr = proven_at(ledger_, ledger::holder_state_key(*ref), head.height);
  if (!pr.is_ok()) return respond(error_response(pr.status()));
  if (!pr->proof.present) return respond(not_bound());
  auto b = decode_state<ledger::HolderBinding>(pr->proof.value, "holder binding");
  if (!b.is_ok()) return respond(error_response(b.status()));
  auto cert = certified_at(ledger_, head.height);
  if (!cert.is_ok()) return respond(error_response(cert.status()));
  json j = cert->to_json();
  j["binding"] = ledger::to_json(*b);
  j["encoded"] = to_hex(pr->proof.value);
  j["proof"] = to_hex(ledger::encode(pr->proof));
  respond(json_response(200, j));
}

void AuthzApi::holder_records(const HttpRequest& r, const PathParams& p, const Signer& s,
                              Responder out) {
  holder_list(HolderList::kRecords, r, p, s, std::move(out));
}
void AuthzApi::holder_grants(const HttpRequest& r, const PathParams& p, const Signer& s,
                             Responder out) {
  holder_list(HolderList::kGrants, r, p, s, std::move(out));
}
void AuthzApi::holder_accesses(const HttpRequest& r, const PathParams& p, const Signer& s,
                               Responder out) {
  holder_list(HolderList::kAccesses, r, p, s, std::move(out));
}

void AuthzApi::holder_list(HolderList list, const HttpRequest& req, const PathParams& p,
                           const Signer& signer, Responder respond) {
  auto ref = parse_hash(p[0]);
  if (!ref) return respond(bad_parameter("holder_ref", "expected 64 hex characters"));
  if (!signer.is_holder(*ref) && !signer.is_auditor())
    return respond(forbidden("only the holder itself or an auditor may list a holder's data"));
  auto limit = parse_limit(req);
  if (!limit)
    return respond(bad_parameter("limit", "expected 1.." + std::to_string(kAuthzItemsMax)));
  std::optional<ledger::ChainPos> after;
  if (!parse_after(req, after)) return respond(bad_parameter("after", "expected HEIGHT.INDEX"));
  auto listed = ledger_.holder_list(list, *ref, *limit, after);
  if (!listed.is_ok()) return respond(error_response(listed.status()));
  std::vector<Hash> ids;
  for (const auto& l : *listed) ids.push_back(l.id);
  auto page = proven_page(list, ids);
  if (!page.is_ok()) return respond(error_response(page.status()));
  (*page)["next"] = next_cursor(*listed, *limit);
  respond(json_response(200, *page));
}

Result<json> AuthzApi::proven_page(HolderList list, const std::vector<Hash>& ids) const {
  // The head is read after the listing: it only grows, so every listed id is
  // in the state the proofs are made against.
  const auto head = ledger_.head();
  json j = {{"height", head.height}, {"header", nullptr}, {"certificate", nullptr}};
  json items = json::array();
  if (head.height > 0) {
    auto cert = certified_at(ledger_, head.height);
    if (!cert.is_ok()) return cert.status();
    j = cert->to_json();
    for (const auto& id : ids) {
      auto pr = proven_at(ledger_, list_state_key(list, id), head.height);
      if (!pr.is_ok()) return pr.status();
      if (!pr->proof.present)
        return Status::error("STORAGE_CORRUPT",
                             "holder index lists " + to_hex(id) + " absent from state");
      auto decoded = decoded_json(list, pr->proof.value);
      if (!decoded.is_ok()) return decoded.status();
      items.push_back({{"id", to_hex(id)},
                       {"encoded", to_hex(pr->proof.value)},
                       {"proof", to_hex(ledger::encode(pr->proof))},
                       {"decoded", std::move(*decoded)}});
    }
  }
  j["items"] = std::move(items);
  return j;
}

// ---- the grantee's view of a holder's records ----

// The holder's records a live grant covers for its grantee: a grant that
// names only type codes is usable without knowing record ids in advance.
// Whether the grant is live is judged as the kernel would for an access now
// (at the head's time); each record still has to be accessed under the grant
// before its file is released.
void AuthzApi::grant_records(const HttpRequest& req, const PathParams& p, const Signer& signer,
                             Responder respond) {
  auto id = parse_hash(p[0]);
  if (!id) return respond(bad_parameter("id", "expected 64 hex characters"));
  auto limit = parse_limit(req);
  if (!limit)
    return respond(bad_parameter("limit", "expected 1.." + std::to_string(kAuthzItemsMax)));
  std::optional<ledger::ChainPos> after;
  if (!parse_after(req, after)) return respond(bad_parameter("after", "expected HEIGHT.INDEX"));
  const auto head = ledger_.head();
  auto v = head.height == 0 ? Result<std::optional<Bytes>>(std::optional<Bytes>())
                            : ledger_.state_value(ledger::grant_state_key(*id));
  if (!v.is_ok()) return respond(error_response(v.status()));
  if (!v->has_value()) return respond(error_response(404, "GRANT_NOT_FOUND", "no grant " + p[0]));
  auto g = decode_state<ledger::Grant>(**v, "grant");
  if (!g.is_ok()) return respond(error_response(g.status()));
  if (!signer.is_org(g->terms.grantee))
    return respond(forbidden("only the grantee lists records through a grant"));
  if (auto live = grant_live(*g, head.time_ms); !live.is_ok())
    return respond(error_response(403, live.code(), live.message()));
  auto scanned = scan_scope(*g, *limit, after);
  if (!scanned.is_ok()) return respond(error_response(scanned.status()));
  auto page = proven_page(HolderList::kRecords, scanned->ids);
  if (!page.is_ok()) return respond(error_response(page.status()));
  (*page)["grant_id"] = to_hex(*id);
  (*page)["next"] = scanned->next ? json(ledger::cursor_string(*scanned->next)) : json(nullptr);
  respond(json_response(200, *page));
}

Status AuthzApi::grant_live(const ledger::Grant& g, std::uint64_t time_ms) {
  if (g.status != static_cast<std::uint8_t>(ledger::GrantStatus::kActive))
    return Status::error("GRANT_REVOKED", "the holder revoked the grant");
  if (time_ms < g.terms.not_before_ms)
    return Status::error("GRANT_NOT_YET_VALID", "the grant is not valid yet");
  if (time_ms >= g.terms.not_after_ms)
    return Status::error("GRANT_EXPIRED", "the grant has expired");
  if (g.uses >= g.terms.max_uses)
    return Status::error("GRANT_EXHAUSTED", "the grant's uses are spent");
  return Status::ok();
}

// Walks the holder's record index from `after`, keeping records in the
// grant's scope, until `limit` are found, the index ends, or
// kGrantScanEntriesMax entries were read (then `next` resumes the walk).
Result<AuthzApi::ScopeScan> AuthzApi::scan_scope(const ledger::Grant& g, std::size_t limit,
                                                 std::optional<ledger::ChainPos> after) const {
  ScopeScan out;
  std::size_t read = 0;
  while (out.ids.size() < limit) {
    if (read >= kGrantScanEntriesMax) {
      out.next = after;
      return out;
    }
    const std::size_t chunk = std::min(kAuthzItemsMax, kGrantScanEntriesMax - read);
    auto listed = ledger_.holder_list(HolderList::kRecords, g.terms.holder_ref, chunk, after);
    if (!listed.is_ok()) return listed.status();
    for (const auto& l : *listed) {
      ++read;
      after = l.pos;
      auto rec = ledger_.record(l.id);
      if (!rec.is_ok()) return rec.status();
      if (!rec->has_value())
        return Status::error("STORAGE_CORRUPT",
                             "holder index lists missing record " + to_hex(l.id));
      const auto& r = **rec;
      const auto& t = g.terms;
      if (std::binary_search(t.record_ids.begin(), t.record_ids.end(), r.id) ||
          std::binary_search(t.type_codes.begin(), t.type_codes.end(), r.body.type_code))
        out.ids.push_back(r.id);
      if (out.ids.size() == limit) {
        out.next = after;
        return out;
      }
    }
    if (listed->size() < chunk) return out;  // the end of the index
  }
  return out;
}

// ---- single grant / access ----

void AuthzApi::grant(const HttpRequest&, const PathParams& p, const Signer& signer,
                     Responder respond) {
  auto id = parse_hash(p[0]);
  if (!id) return respond(bad_parameter("id", "expected 64 hex characters"));
  const auto head = ledger_.head();
  auto not_found = [&] { return error_response(404, "GRANT_NOT_FOUND", "no grant " + p[0]); };
  if (head.height == 0) return respond(not_found());
  auto pr = proven_at(ledger_, ledger::grant_state_key(*id), head.height);
  if (!pr.is_ok()) return respond(error_response(pr.status()));
  if (!pr->proof.present) return respond(not_found());
  auto g = decode_state<ledger::Grant>(pr->proof.value, "grant");
  if (!g.is_ok()) return respond(error_response(g.status()));
  if (!signer.is_holder(g->terms.holder_ref) && !signer.is_org(g->terms.grantee) &&
      !signer.is_auditor())
    return respond(forbidden("only the holder, the grantee or an auditor may read a grant"));
  auto cert = certified_at(ledger_, head.height);
  if (!cert.is_ok()) return respond(error_response(cert.status()));
  json j = cert->to_json();
  j["grant"] = ledger::to_json(*g);
  j["encoded"] = to_hex(pr->proof.value);
  j["proof"] = to_hex(ledger::encode(pr->proof));
  respond(json_response(200, j));
}

void AuthzApi::access(const HttpRequest&, const PathParams& p, const Signer& signer,
                      Responder respond) {
  auto id = parse_hash(p[0]);
  if (!id) return respond(bad_parameter("id", "expected 64 hex characters"));
  const auto head = ledger_.head();
  auto not_found = [&] { return error_response(404, "ACCESS_NOT_FOUND", "no access " + p[0]); };
  if (head.height == 0) return respond(not_found());
  auto pr = proven_at(ledger_, ledger::access_state_key(*id), head.height);
  if (!pr.is_ok()) return respond(error_response(pr.status()));
  if (!pr->proof.present) return respond(not_found());
  auto a = decode_state<ledger::Access>(pr->proof.value, "access");
  if (!a.is_ok()) return respond(error_response(a.status()));
  bool allowed = signer.is_holder(a->holder_ref) || signer.is_org(a->org) || signer.is_auditor();
  if (!allowed && signer.is_org()) {
    auto rec = ledger_.record(a->record_id);
    if (!rec.is_ok()) return respond(error_response(rec.status()));
    allowed = rec->has_value() && signer.is_org((*rec)->issuer);
  }
  if (!allowed)
    return respond(
        forbidden("only the holder, the accessing org, the record's issuer or an auditor may read "
                  "an access"));
  auto cert = certified_at(ledger_, head.height);
  if (!cert.is_ok()) return respond(error_response(cert.status()));
  json j = cert->to_json();
  j["access"] = ledger::to_json(*a);
  j["encoded"] = to_hex(pr->proof.value);
  j["proof"] = to_hex(ledger::encode(pr->proof));
  respond(json_response(200, j));
}

// ---- audit ----

// Certified headers by height, for the items of one audit page (the
// accesses of one block share theirs). Height 0 is the genesis: no header,
// its state is the genesis orgs (GenesisState).
class AuthzApi::CertifiedCache {
 public:
  explicit CertifiedCache(const ledger::Ledger& l) : ledger_(l) {}
  Result<json> at(std::uint64_t height) {
    if (auto it = cache_.find(height); it != cache_.end()) return it->second;
    json j = {{"height", 0}, {"header", nullptr}, {"certificate", nullptr}};
    if (height > 0) {
      auto c = certified_at(ledger_, height);
      if (!c.is_ok()) return c.status();
      j = c->to_json();
    }
    cache_[height] = j;
    return j;
  }

 private:
  const ledger::Ledger& ledger_;
  std::map<std::uint64_t, json> cache_;
};

// The listing of every access in heights [from, to], in chain order, each
// with what an auditor needs to re-judge it (docs/api.md): the access proven
// at the head; the record and the grant proven at the end of the access's
// block h, whose recorded positions tell what held at the access's own
// index; and the grant proven at h-1, whose use count plus the block's
// earlier accesses gives the uses the kernel saw.
void AuthzApi::audit_accesses(const HttpRequest& req, const PathParams&, const Signer& signer,
                              Responder respond) {
  if (!signer.is_auditor()) return respond(forbidden("the audit listing is for auditor orgs"));
  const std::string* from_s = query_param(req, "from");
  const std::string* to_s = query_param(req, "to");
  if (!from_s) return respond(bad_parameter("from", "required"));
  if (!to_s) return respond(bad_parameter("to", "required"));
  auto from = parse_u64(*from_s);
  auto to = parse_u64(*to_s);
  if (!from || *from == 0) return respond(bad_parameter("from", "expected a height >= 1"));
  if (!to || *to < *from) return respond(bad_parameter("to", "expected a height >= from"));
  auto limit = parse_limit(req);
  if (!limit)
    return respond(bad_parameter("limit", "expected 1.." + std::to_string(kAuthzItemsMax)));
  std::optional<ledger::ChainPos> after;
  if (!parse_after(req, after)) return respond(bad_parameter("after", "expected HEIGHT.INDEX"));
  auto listed = ledger_.accesses(*from, *to, *limit, after);
  if (!listed.is_ok()) return respond(error_response(listed.status()));
  const auto head = ledger_.head();  // after the listing: see proven_page
  json out = {{"head", nullptr}, {"items", json::array()}, {"next", nullptr}};
  if (head.height == 0) return respond(json_response(200, out));
  CertifiedCache certified(ledger_);
  auto head_cert = certified.at(head.height);
  if (!head_cert.is_ok()) return respond(error_response(head_cert.status()));
  out["head"] = *head_cert;
  for (const auto& l : *listed) {
    auto item = audit_item(l.id, head, certified);
    if (!item.is_ok()) return respond(error_response(item.status()));
    out["items"].push_back(std::move(*item));
  }
  out["next"] = next_cursor(*listed, *limit);
  respond(json_response(200, out));
}

Result<json> AuthzApi::audit_item(const Hash& id, const ledger::ChainHead& head,
                                  CertifiedCache& certified) const {
  auto acc = proven_at(ledger_, ledger::access_state_key(id), head.height);
  if (!acc.is_ok()) return acc.status();
  if (!acc->proof.present)
    return Status::error("STORAGE_CORRUPT",
                         "access index lists " + to_hex(id) + " absent from state");
  auto a = decode_state<ledger::Access>(acc->proof.value, "access");
  if (!a.is_ok()) return a.status();
  if (a->height == 0 || a->height > head.height)
    return Status::error("STORAGE_CORRUPT",
                         "access " + to_hex(id) + " has height " + std::to_string(a->height));
  auto prove = [&](const Bytes& key, std::uint64_t height) -> Result<ledger::StateProof> {
    if (height == 0) return genesis_state_->prove(key);
    return ledger_.state_proof(key, height);
  };
  auto proven = [](json& item, const char* name, const ledger::StateProof& p) {
    item[name] = p.present ? json(to_hex(p.value)) : json(nullptr);
    item[std::string(name) + "_proof"] = to_hex(ledger::encode(p));
  };
  json item = {{"id", to_hex(id)},
               {"access", to_hex(acc->proof.value)},
               {"access_proof", to_hex(ledger::encode(acc->proof))}};
  auto at = certified.at(a->height);
  if (!at.is_ok()) return at.status();
  item["at"] = *at;
  auto rec = prove(ledger::record_state_key(a->record_id), a->height);
  if (!rec.is_ok()) return rec.status();
  proven(item, "record", *rec);
  if (is_zero(a->grant_id)) return item;
  auto before = certified.at(a->height - 1);
  if (!before.is_ok()) return before.status();
  item["before"] = *before;
  auto g = prove(ledger::grant_state_key(a->grant_id), a->height);
  if (!g.is_ok()) return g.status();
  proven(item, "grant", *g);
  auto gb = prove(ledger::grant_state_key(a->grant_id), a->height - 1);
  if (!gb.is_ok()) return gb.status();
  proven(item, "grant_before", *gb);
  return item;
}

// ---- material store ----

void AuthzApi::put_material(const HttpRequest& req, const PathParams& p, const Signer& signer,
                            Responder respond) {
  if (!signer.is_org()) return respond(forbidden("materials are uploaded by their issuing org"));
  auto hash = parse_hash(p[0]);
  if (!hash) return respond(bad_parameter("content_hash", "expected 64 hex characters"));
  auto records = ledger_.records_by_hash(*hash);
  if (!records.is_ok()) return respond(error_response(records.status()));
  bool issued = false;
  for (const auto& r : *records) issued = issued || signer.is_org(r.issuer);
  if (!issued)
    return respond(
        error_response(422, "NO_MATCHING_RECORD",
                       "no anchored record of " + signer.id.org_id + " has content hash " + p[0]));
  auto stored = materials_->put(*hash, req.body);
  if (!stored.is_ok()) return respond(error_response(stored.status()));
  respond(json_response(*stored ? 201 : 200,
                        {{"content_hash", to_hex(*hash)}, {"size_bytes", req.body.size()}}));
}

void AuthzApi::get_material(const HttpRequest& req, const PathParams& p, const Signer& signer,
                            Responder respond) {
  if (!signer.is_org()) return respond(forbidden("materials are released to orgs only"));
  auto hash = parse_hash(p[0]);
  if (!hash) return respond(bad_parameter("content_hash", "expected 64 hex characters"));
  const std::string* access_s = query_param(req, "access");
  if (!access_s) return respond(bad_parameter("access", "required: the committed access id"));
  auto access_id = parse_hash(*access_s);
  if (!access_id) return respond(bad_parameter("access", "expected 64 hex characters"));

  auto v = ledger_.state_value(ledger::access_state_key(*access_id));
  if (!v.is_ok()) return respond(error_response(v.status()));
  if (!v->has_value())
    return respond(error_response(404, "ACCESS_NOT_FOUND", "no committed access " + *access_s));
  auto a = decode_state<ledger::Access>(**v, "access");
  if (!a.is_ok()) return respond(error_response(a.status()));
  if (!signer.is_org(a->org)) return respond(forbidden("the access was recorded by another org"));
  auto rec = ledger_.record(a->record_id);
  if (!rec.is_ok()) return respond(error_response(rec.status()));
  if (!rec->has_value())
    return respond(error_response(500, "STORAGE_CORRUPT", "access names a missing record"));
  const ledger::Record& record = **rec;
  if (record.body.content_hash != *hash)
    return respond(forbidden("the access is for a record with other content"));
  if (record.status != static_cast<std::uint8_t>(ledger::RecordStatus::kActive))
    return respond(
        error_response(422, "RECORD_NOT_ACTIVE",
                       "the record is " + std::string(ledger::record_status_name(record.status))));
  auto bytes = materials_->get(*hash);
  if (!bytes.is_ok()) return respond(error_response(bytes.status()));
  if (!bytes->has_value())
    return respond(
        error_response(404, "MATERIAL_NOT_FOUND", "this node does not hold the file " + p[0]));
  // Durable before the first byte leaves: a crash after this point loses the
  // release rather than allowing a second one.
  if (auto st = materials_->mark_released(*access_id); !st.is_ok())
    return respond(error_response(st));
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body = std::move(**bytes);
  respond(std::move(r));
}

}  // namespace emledger::node
