// The authorization layer's SDK without a node: request signing, the
// transaction builders, and the coverage audit over data made by the real
// kernel (authz_chain.hpp), including two accesses of one grant in one
// block, statutory accesses, planted uncovered accesses and tampered proofs.
#include <doctest/doctest.h>

#include "authz_chain.hpp"
#include "emledger/client/genesis_edit.hpp"
#include "emledger/ledger/http_signature.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using emledger::client_test::AuthzChain;
using emledger::client_test::ChainTransport;
using emledger::client_test::key_from;

namespace emledger::client_test {
namespace {

std::string query_param(const std::string& target, const std::string& name) {
  const std::size_t q = target.find('?');
  if (q == std::string::npos) return {};
  std::string rest = target.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string kv = rest.substr(0, amp);
    if (kv.rfind(name + "=", 0) == 0) return kv.substr(name.size() + 1);
    if (amp == std::string::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

client::HttpResponse ok_json(const ledger::Json& j) { return {200, j.dump(), "application/json"}; }

}  // namespace

ledger::Json ChainTransport::header_json(std::uint64_t h) const {
  auto hd = c_.ledger->header(h);
  auto cert = c_.ledger->certificate(h);
  REQUIRE((hd.is_ok() && hd->has_value() && cert.is_ok() && cert->has_value()));
  return {{"height", h},
          {"encoded", to_hex(ByteView(encode(**hd)))},
          {"certificate", to_hex(ByteView(encode(**cert)))}};
}

std::string ChainTransport::hex_proof(const Bytes& key, std::uint64_t h) const {
  if (h == 0) {  // the genesis state has no header: prove against its root
    auto root = client::genesis_state_root(c_.genesis);
    REQUIRE(root.is_ok());
    auto p = StateTree(c_.ledger->store()).prove(*root, key);
    REQUIRE(p.is_ok());
    return to_hex(ByteView(encode(*p)));
  }
  auto p = c_.ledger->state_proof(key, h);
  REQUIRE(p.is_ok());
  return to_hex(ByteView(encode(*p)));
}

Result<client::HttpResponse> ChainTransport::get(const std::string& target) {
  if (target == "/v1/headers/latest") return ok_json(header_json(c_.ledger->head().height));
  if (target.rfind("/v1/headers/", 0) == 0)
    return ok_json(header_json(std::stoull(target.substr(12))));
  if (target.rfind("/v1/proofs/state?", 0) == 0) {
    auto key = from_hex(query_param(target, "key"));
    REQUIRE(key.has_value());
    return ok_json({{"proof", hex_proof(*key, std::stoull(query_param(target, "height")))}});
  }
  return client::HttpResponse{404, R"({"error":{"code":"NOT_FOUND","message":"fake"}})", ""};
}

Result<client::HttpResponse> ChainTransport::send(const client::HttpCall& call) {
  // Check the signature as the node does: org keys from the genesis.
  ledger::HttpRequest req{call.method, "http", authority(), call.target, call.headers, call.body};
  auto lookup = [this](const std::string& keyid) -> std::optional<crypto::PublicKey> {
    auto k = parse_keyid(keyid);
    if (!k) return std::nullopt;
    if (k->kind == KeyId::Kind::kHolder) {
      auto p = c_.ledger->state_proof(holder_state_key(k->holder_ref), std::nullopt);
      if (!p || !p->present) return std::nullopt;
      auto b = decode<HolderBinding>(p->value);
      if (!b || b->key_seq != k->key) return std::nullopt;
      return b->public_key;
    }
    const Org* org = c_.genesis.find_org(k->org_id);
    const OrgKey* key = org ? org->find_key(k->key) : nullptr;
    if (!key) return std::nullopt;
    return key->public_key;
  };
  auto v = verify_request(req, lookup, client::unix_now_s());
  if (!v)
    return client::HttpResponse{
        401, ledger::Json{{"error", {{"code", v.status().code()}, {"message", ""}}}}.dump(), ""};
  auto signer = parse_keyid(v->keyid);
  REQUIRE(signer.is_ok());
  if (call.target.rfind("/v1/holders/", 0) == 0) return holder_list(call.target, *signer);
  if (call.target.rfind("/v1/grants/", 0) == 0)
    return grant_read(*hash_from_hex(call.target.substr(11)));
  if (call.target.rfind("/v1/audit/accesses?", 0) != 0) return get(call.target);
  if (v->keyid != org_keyid("z.auditor", 1))
    return client::HttpResponse{403, R"({"error":{"code":"FORBIDDEN","message":"auditors only"}})",
                                ""};
  ++audit_pages;
  return audit_page(std::stoull(query_param(call.target, "from")),
                    std::stoull(query_param(call.target, "to")),
                    std::stoull(query_param(call.target, "limit")));
}

client::HttpResponse ChainTransport::holder_list(const std::string& target,
                                                 const KeyId& signer) const {
  const Hash ref = *hash_from_hex(target.substr(12, 64));
  if (signer.kind != KeyId::Kind::kHolder || signer.holder_ref != ref)
    return {403, R"({"error":{"code":"FORBIDDEN","message":"not this holder"}})", ""};
  const std::string list = target.substr(12 + 65, target.find('?') - (12 + 65));
  using L = Ledger::HolderList;
  const L kind = list == "records" ? L::kRecords : list == "grants" ? L::kGrants : L::kAccesses;
  auto ids = c_.ledger->holder_list(kind, ref, 1000);
  REQUIRE(ids.is_ok());
  const std::uint64_t head = c_.ledger->head().height;
  ledger::Json items = ledger::Json::array();
  for (const Hash& id : *ids) {
    const Bytes key = kind == L::kRecords  ? record_state_key(id)
                      : kind == L::kGrants ? grant_state_key(id)
                                           : access_state_key(id);
    auto p = c_.ledger->state_proof(key, head);
    REQUIRE(p.is_ok());
    ledger::Json item = {{"id", to_hex(id)},
                         {"encoded", to_hex(ByteView(p->value))},
                         {"proof", to_hex(ByteView(encode(*p)))}};
    if (tamper_view) tamper_view(item);
    items.push_back(std::move(item));
  }
  const ledger::Json h = header_json(head);
  return ok_json({{"height", head},
                  {"header", h["encoded"]},
                  {"certificate", h["certificate"]},
                  {"items", std::move(items)}});
}

client::HttpResponse ChainTransport::grant_read(const Hash& id) const {
  const std::uint64_t head = c_.ledger->head().height;
  auto p = c_.ledger->state_proof(grant_state_key(id), head);
  REQUIRE(p.is_ok());
  if (!p->present) return {404, R"({"error":{"code":"GRANT_NOT_FOUND","message":""}})", ""};
  return ok_json({{"encoded", to_hex(ByteView(p->value))},
                  {"proof", to_hex(ByteView(encode(*p)))},
                  {"height", head}});
}

client::HttpResponse ChainTransport::audit_page(std::uint64_t from, std::uint64_t to,
                                                std::size_t limit) const {
  const std::uint64_t head = c_.ledger->head().height;
  auto ids = c_.ledger->accesses(from, to, limit);
  REQUIRE(ids.is_ok());
  ledger::Json items = ledger::Json::array();
  for (const Hash& id : *ids) {
    const Access a = c_.state<Access>(access_state_key(id), head);
    const std::uint64_t before = a.height - 1;
    auto value_at = [&](const Bytes& key) -> ledger::Json {
      auto p =
          before == 0
              ? StateTree(c_.ledger->store()).prove(*client::genesis_state_root(c_.genesis), key)
              : c_.ledger->state_proof(key, before);
      REQUIRE(p.is_ok());
      return p->present ? ledger::Json(to_hex(ByteView(p->value))) : ledger::Json(nullptr);
    };
    ledger::Json item = {
        {"access", to_hex(ByteView(encode(a)))},
        {"access_proof", hex_proof(access_state_key(id), head)},
        {"record", value_at(record_state_key(a.record_id))},
        {"record_proof", hex_proof(record_state_key(a.record_id), before)},
        {"grant", nullptr},
        {"grant_proof", nullptr},
        {"before", {{"height", before}, {"header", nullptr}, {"certificate", nullptr}}}};
    if (before > 0) {
      const ledger::Json h = header_json(before);
      item["before"]["header"] = h["encoded"];
      item["before"]["certificate"] = h["certificate"];
    }
    if (!is_zero(a.grant_id)) {
      item["grant"] = value_at(grant_state_key(a.grant_id));
      item["grant_proof"] = hex_proof(grant_state_key(a.grant_id), before);
    }
    if (tamper) tamper(item);
    items.push_back(std::move(item));
  }
  ledger::Json head_j = header_json(head);
  return ok_json(
      {{"head",
        {{"height", head}, {"header", head_j["encoded"]}, {"certificate", head_j["certificate"]}}},
       {"items", std::move(items)}});
}

}  // namespace emledger::client_test

namespace {

constexpr std::uint64_t kHourMs = 3'600'000;

// The chain every audit test reads:
//   1: records A (edu.diploma) and B (pub.license) of the holder, the
//      holder's binding, and a statutory access of B by y.consumer
//      (record created in the same block as its access)
//   2: grant G (x.consumer, record A, case c1, 3 uses) and access 1 under
//      it (grant created in the same block as its access)
//   3: accesses 2 and 3 under G in one block (G's last uses)
//   4: the holder revokes G
struct Scenario : AuthzChain {
  Hash record_a{}, record_b{}, grant{};
  std::vector<Hash> access_ids;  // chain order

  Scenario() {
    const Tx a = reg("diploma bytes", "edu.diploma");
    const Tx b = reg("licence bytes", "pub.license");
    record_a = record_id_for(a.id());
    record_b = record_id_for(b.id());
    const Tx bind =
        org_tx(TxType::kBindHolder, encode(BindHolder{holder_ref, holder.public_key()}), identity);
    const Tx stat = access(consumer_y, record_b, Hash{}, "case-s");
    commit({a, b, bind, stat});
    access_ids.push_back(access_id_for(stat.id()));

    GrantTerms t;
    t.holder_ref = holder_ref;
    t.grantee = "x.consumer";
    t.record_ids = {record_a};
    t.service_code = "svc.enrol";
    t.case_id = "c1";
    t.not_before_ms = kGenesisTimeMs;
    t.not_after_ms = kGenesisTimeMs + kHourMs;
    t.max_uses = 3;
    auto terms = canonical_grant_terms(t);
    REQUIRE(terms.is_ok());
    const Tx g = holder_tx(TxType::kCreateGrant, encode(CreateGrant{*terms}));
    grant = grant_id_for(g.id());
    const Tx acc1 = access(consumer_x, record_a, grant, "c1");
    commit({g, acc1});
    access_ids.push_back(access_id_for(acc1.id()));

    const Tx acc2 = access(consumer_x, record_a, grant, "c1");
    const Tx acc3 = access(consumer_x, record_a, grant, "c1");
    commit({acc2, acc3});
    access_ids.push_back(access_id_for(acc2.id()));
    access_ids.push_back(access_id_for(acc3.id()));

    commit({holder_tx(TxType::kRevokeGrant, encode(RevokeGrant{holder_ref, grant}))});
  }

  Access access_value(std::size_t i) const {
    return state<Access>(access_state_key(access_ids[i]), ledger->head().height);
  }
  AuditItem item(std::size_t i, std::uint64_t grant_height) const {
    AuditItem it{access_value(i), state<Record>(record_state_key(record_a), 2), std::nullopt};
    it.grant_before = state<Grant>(grant_state_key(grant), grant_height);
    return it;
  }
  AuthzClient client(std::shared_ptr<ChainTransport> t) const { return AuthzClient(t, genesis); }
};

}  // namespace

TEST_CASE(
    "request signing: org and holder keyids, window, nonce, digest; the node's check passes") {
  const crypto::KeyPair key = key_from(41);
  const Signer signer{"gov.issuer", 2, key};
  const RequestKey rk = org_request_key(signer);
  CHECK(rk.keyid == "gov.issuer/2");
  Hash ref{};
  ref.fill(0x11);
  CHECK(holder_request_key(ref, 3, key).keyid == "holder/" + to_hex(ref) + "/3");

  const std::int64_t now = 1'900'000'000;
  const SignOptions opt = sign_options(rk, now);
  CHECK(opt.created_s == now);
  CHECK(opt.expires_s == now + kRequestSignatureValidity_s);
  CHECK(opt.nonce.size() >= kNonceCharsMin);
  CHECK(sign_options(rk, now).nonce != opt.nonce);

  HttpCall put;
  put.method = "PUT";
  put.target = "/v1/materials/" + to_hex(ref);
  put.body = std::string("\x00\xff binary", 9);
  put.content_type = "application/octet-stream";
  REQUIRE(sign_call(put, "node.test:7700", rk, opt).is_ok());
  auto has = [](const HttpCall& c, const std::string& name) {
    return std::any_of(c.headers.begin(), c.headers.end(),
                       [&](const auto& h) { return h.first == name; });
  };
  CHECK(has(put, "Content-Digest"));
  CHECK(has(put, "Signature-Input"));
  CHECK(has(put, "Signature"));

  auto lookup = [&](const std::string& keyid) -> std::optional<crypto::PublicKey> {
    if (keyid == "gov.issuer/2") return key.public_key();
    return std::nullopt;
  };
  HttpRequest req{put.method, "http", "node.test:7700", put.target, put.headers, put.body};
  auto v = verify_request(req, lookup, now + 10);
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  CHECK(v->keyid == "gov.issuer/2");
  CHECK(v->nonce == opt.nonce);

  HttpRequest other_body = req;
  other_body.body += "x";
  CHECK(verify_request(other_body, lookup, now + 10).status().code() == "CONTENT_DIGEST_MISMATCH");
  HttpRequest other_host = req;
  other_host.authority = "evil.test:7700";
  CHECK(verify_request(other_host, lookup, now + 10).status().code() == "SIGNATURE_INVALID");
  CHECK(verify_request(req, lookup, now + kRequestSignatureValidity_s).status().code() ==
        "SIGNATURE_EXPIRED");

  HttpCall get;
  get.target = "/v1/grants/" + to_hex(ref);
  REQUIRE(sign_call(get, "node.test:7700", rk, sign_options(rk, now)).is_ok());
  CHECK_FALSE(has(get, "Content-Digest"));
  HttpCall nowhere;
  nowhere.target = "/v1/grants/x";
  CHECK(sign_call(nowhere, "", rk, opt).code() == "BAD_ARGUMENT");
}

TEST_CASE("builders: grant terms are made canonical and bounded, payloads checked") {
  GrantTerms t;
  t.holder_ref.fill(1);
  t.grantee = "x.consumer";
  Hash r1{}, r2{};
  r1.fill(9);
  r2.fill(3);
  t.record_ids = {r1, r2, r1};
  t.type_codes = {"b", "a", "b"};
  t.service_code = "svc";
  t.case_id = "c";
  t.not_before_ms = 1;
  t.not_after_ms = 2;
  t.max_uses = 1;
  auto c = canonical_grant_terms(t);
  REQUIRE_MESSAGE(c.is_ok(), c.status().to_string());
  CHECK(c->record_ids == std::vector<Hash>{r2, r1});
  CHECK(c->type_codes == std::vector<std::string>{"a", "b"});

  GrantTerms empty = t;
  empty.record_ids.clear();
  empty.type_codes.clear();
  CHECK(canonical_grant_terms(empty).status().code() == "INVALID_PAYLOAD");
  GrantTerms many = t;
  many.record_ids.clear();
  for (std::size_t i = 0; i <= kGrantRecordsMax; ++i) {
    Hash h{};
    h[0] = static_cast<std::uint8_t>(i);
    h[1] = 1;
    many.record_ids.push_back(h);
  }
  CHECK(canonical_grant_terms(many).status().code() == "INVALID_PAYLOAD");
  GrantTerms long_case = t;
  long_case.case_id.assign(kCaseIdBytesMax + 1, 'c');
  CHECK(canonical_grant_terms(long_case).status().code() == "INVALID_PAYLOAD");
  GrantTerms window = t;
  window.not_after_ms = window.not_before_ms;
  CHECK(canonical_grant_terms(window).status().code() == "INVALID_PAYLOAD");

  CHECK(access_payload(r1, Hash{}, "").status().code() == "INVALID_PAYLOAD");
  CHECK(objection_payload(r1, Hash{}, 0).status().code() == "INVALID_PAYLOAD");
  CHECK(resolve_payload(r1, ObjectionOutcome::kUpheld, 0).status().code() == "INVALID_PAYLOAD");
  auto arch = archive_payload("case-9", r1, {r1, r2, r1});
  REQUIRE(arch.is_ok());
  auto decoded = decode<AnchorArchive>(*arch);
  REQUIRE(decoded.is_ok());
  CHECK(decoded->record_ids == std::vector<Hash>{r2, r1});
  CHECK(archive_payload("case-9", Hash{}, {}).status().code() == "INVALID_PAYLOAD");
}

TEST_CASE(
    "builders: holder transactions carry no org and the key sequence; the kernel judges them") {
  Scenario s;  // every builder above was accepted by the kernel while building it
  const Tx tx = s.holder_tx(TxType::kRevokeGrant, encode(RevokeGrant{s.holder_ref, s.grant}), 1);
  CHECK(tx.body.signer_org.empty());
  CHECK(tx.body.key_id == 1);
  CHECK(tx.body.chain_id == s.genesis.chain_id);
  CHECK(tx.body.expires_at_height == s.ledger->head().height + kTxExpiryBlocks);
  CHECK(crypto::verify(s.holder.public_key(), tx.signing_bytes(), tx.signature));
  // A wrong key sequence is the kernel's to refuse.
  const Tx stale = s.holder_tx(TxType::kRotateHolderKey,
                               encode(RotateHolderKey{s.holder_ref, key_from(99).public_key()}), 2);
  std::vector<TxOutcome> outcomes;
  auto p =
      s.ledger->prepare({stale}, s.clock_ms + 1000, 0, s.validator.public_key(), false, outcomes);
  REQUIRE(outcomes.size() == 1);
  CHECK_FALSE(outcomes[0].status.is_ok());
}

TEST_CASE("audit: every access of a real chain is proven and covered, counted per org and type") {
  Scenario s;
  auto wire = std::make_shared<ChainTransport>(s);
  const AuthzClient node = s.client(wire);
  auto report = run_audit(node, s.signer(s.auditor), 1, 0);
  REQUIRE_MESSAGE(report.is_ok(), report.status().to_string());
  for (const auto& st : report->proof_failures) MESSAGE(st.to_string());
  CHECK(report->proof_failures.empty());
  REQUIRE(report->findings.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    INFO(i << ": " << report->findings[i].reason.to_string());
    CHECK(report->findings[i].access_id == s.access_ids[i]);
    CHECK(report->findings[i].covered);
  }
  CHECK(report->findings[0].statutory);
  CHECK(report->ok());
  CHECK(report->to_height == 4);
  CHECK(report->by_org["x.consumer"].accesses == 3);
  CHECK(report->by_org["y.consumer"].statutory == 1);
  CHECK(report->by_type["edu.diploma"].accesses == 3);
  CHECK(report->by_type["pub.license"].accesses == 1);
  CHECK(wire->audit_pages == 1);

  auto later = run_audit(node, s.signer(s.auditor), 3, 3);
  REQUIRE(later.is_ok());
  CHECK(later->findings.size() == 2);
  CHECK(later->ok());
}

TEST_CASE("audit: only an auditor's signature opens the access log") {
  Scenario s;
  const AuthzClient node = s.client(std::make_shared<ChainTransport>(s));
  CHECK(run_audit(node, s.signer(s.consumer_x), 1, 0).status().code() == "FORBIDDEN");
}

TEST_CASE(
    "audit: uses spent earlier in the same block count; planted uncovered accesses are named") {
  Scenario s;
  // Accesses 2 and 3 share block 3; G had 1 use as of block 2 and allows 3.
  std::vector<AuditItem> items = {s.item(2, 2), s.item(3, 2)};
  auto f = check_coverage(s.genesis, items);
  REQUIRE(f.size() == 2);
  CHECK(f[0].covered);
  CHECK(f[1].covered);
  // A fourth access planted in the same block: alone it would pass, after
  // the two real ones the grant is spent.
  AuditItem planted = s.item(3, 2);
  planted.access.id.fill(0xee);
  CHECK(check_coverage(s.genesis, {planted})[0].covered);
  items.push_back(planted);
  f = check_coverage(s.genesis, items);
  CHECK_FALSE(f[2].covered);
  CHECK(f[2].reason.code() == "GRANT_EXHAUSTED");

  AuditItem revoked = s.item(2, 4);  // judged against the revoked grant
  revoked.grant_before->uses = 1;
  CHECK(check_coverage(s.genesis, {revoked})[0].reason.code() == "GRANT_REVOKED");
  AuditItem other_case = s.item(2, 2);
  other_case.access.case_id = "c2";
  CHECK(check_coverage(s.genesis, {other_case})[0].reason.code() == "GRANT_PURPOSE_MISMATCH");
  AuditItem late = s.item(2, 2);
  late.access.time_ms = AuthzChain::kGenesisTimeMs + kHourMs;
  CHECK(check_coverage(s.genesis, {late})[0].reason.code() == "GRANT_EXPIRED");
  AuditItem stranger = s.item(2, 2);
  stranger.access.org = "y.consumer";
  CHECK(check_coverage(s.genesis, {stranger})[0].reason.code() == "GRANT_WRONG_GRANTEE");

  // Statute: consumers may read pub.license; an auditor org may not, and
  // no statute covers edu.diploma.
  AuditItem stat{s.access_value(0), s.state<Record>(record_state_key(s.record_b), 1), std::nullopt};
  CHECK(check_coverage(s.genesis, {stat})[0].covered);
  AuditItem auditor_read = stat;
  auditor_read.access.org = "z.auditor";
  CHECK(check_coverage(s.genesis, {auditor_read})[0].reason.code() == "NO_GRANT");
  AuditItem diploma_stat = stat;
  diploma_stat.record_before = s.state<Record>(record_state_key(s.record_a), 1);
  diploma_stat.access.record_id = s.record_a;
  CHECK(check_coverage(s.genesis, {diploma_stat})[0].reason.code() == "NO_GRANT");
  AuditItem missing = s.item(2, 2);
  missing.grant_before.reset();
  CHECK(check_coverage(s.genesis, {missing})[0].reason.code() == "GRANT_NOT_FOUND");
}

TEST_CASE("audit: a node that alters what an access was judged against fails the proof, named") {
  Scenario s;
  auto wire = std::make_shared<ChainTransport>(s);
  const AuthzClient node = s.client(wire);
  SUBCASE("record value changed") {
    wire->tamper = [](ledger::Json& item) {
      if (item["record"].is_null()) return;
      std::string hex = item["record"].get<std::string>();
      hex[hex.size() - 1] = hex[hex.size() - 1] == '0' ? '1' : '0';
      item["record"] = hex;
    };
  }
  SUBCASE("grant hidden") {
    wire->tamper = [](ledger::Json& item) {
      if (!item["grant"].is_null()) item["grant"] = nullptr;
    };
  }
  auto report = run_audit(node, s.signer(s.auditor), 1, 0);
  REQUIRE(report.is_ok());
  CHECK_FALSE(report->ok());
  REQUIRE_FALSE(report->proof_failures.empty());
  CHECK(report->proof_failures[0].code() == "PROOF_INVALID");
  CHECK(report->proof_failures[0].message().find("access ") != std::string::npos);
}

TEST_CASE("audit: the genesis state root computed by the client is the kernel's") {
  AuthzChain c;  // no block yet: the head's state root is the genesis state's
  auto root = genesis_state_root(c.genesis);
  REQUIRE(root.is_ok());
  CHECK(*root == c.ledger->head().state_root);
}

TEST_CASE("holder view: every item is proven and the holder's; a node that lies is caught") {
  Scenario s;
  auto wire = std::make_shared<ChainTransport>(s);
  const AuthzClient node = s.client(wire);
  const RequestKey holder_key = holder_request_key(s.holder_ref, 1, s.holder);
  using L = Ledger::HolderList;
  auto records = node.holder_view(holder_key, s.holder_ref, L::kRecords);
  REQUIRE_MESSAGE(records.is_ok(), records.status().to_string());
  CHECK(records->records.size() == 2);
  CHECK(records->at.header.height == 4);
  auto grants = node.holder_view(holder_key, s.holder_ref, L::kGrants);
  REQUIRE(grants.is_ok());
  REQUIRE(grants->grants.size() == 1);
  CHECK(grants->grants[0].uses == 3);
  CHECK(grants->grants[0].status == static_cast<std::uint8_t>(GrantStatus::kRevoked));
  auto accesses = node.holder_view(holder_key, s.holder_ref, L::kAccesses);
  REQUIRE(accesses.is_ok());
  CHECK(accesses->accesses.size() == 4);

  auto g = node.grant(holder_key, s.grant);
  REQUIRE_MESSAGE(g.is_ok(), g.status().to_string());
  CHECK(g->grant.terms.grantee == "x.consumer");

  SUBCASE("a value that is not the proven one") {
    wire->tamper_view = [](ledger::Json& item) {
      std::string hex = item["encoded"].get<std::string>();
      hex[10] = hex[10] == '0' ? '1' : '0';
      item["encoded"] = hex;
    };
    CHECK(node.holder_view(holder_key, s.holder_ref, L::kRecords).status().code() ==
          "PROOF_INVALID");
  }
  SUBCASE("an item listed under another id") {
    wire->tamper_view = [&](ledger::Json& item) { item["id"] = to_hex(s.record_b); };
    CHECK(node.holder_view(holder_key, s.holder_ref, L::kAccesses).status().code() ==
          "PROOF_INVALID");
  }
  SUBCASE("a stale key sequence is refused by the node's signature check") {
    const RequestKey stale = holder_request_key(s.holder_ref, 2, s.holder);
    CHECK(node.holder_view(stale, s.holder_ref, L::kRecords).status().code() ==
          "SIGNATURE_UNKNOWN_KEY");
  }
}

TEST_CASE("errors: the authorization layer's codes land in their exit classes") {
  auto cls = [](const char* code) { return classify(Status::error(code, "")); };
  CHECK(cls("MATERIAL_HASH_MISMATCH") == ErrorClass::kVerifiedFalse);
  CHECK(cls("AUDIT_INCONSISTENT") == ErrorClass::kVerifiedFalse);
  for (const char* refused :
       {"GRANT_REVOKED", "GRANT_EXPIRED", "GRANT_EXHAUSTED", "FORBIDDEN", "ACCESS_ALREADY_USED",
        "HOLDER_KEY_MISMATCH", "NO_MATCHING_RECORD", "SIGNATURE_EXPIRED", "HOLDER_NOT_BOUND"})
    CHECK_MESSAGE(cls(refused) == ErrorClass::kBadInput, refused);
  CHECK(cls("NODE_UNREACHABLE") == ErrorClass::kUnavailable);
}

TEST_CASE("genesis add-statute: sorted by type, roles merged, a complete genesis stays valid") {
  auto g = new_genesis("statute-test", 1'800'000'000'000);
  REQUIRE(g.is_ok());
  REQUIRE(add_statute(*g, "z.type", kRoleConsumer).is_ok());
  REQUIRE(add_statute(*g, "a.type", kRoleAuditor).is_ok());
  REQUIRE(add_statute(*g, "z.type", kRoleIssuer).is_ok());
  REQUIRE((*g)["statutes"].size() == 2);
  CHECK((*g)["statutes"][0]["type_code"] == "a.type");
  CHECK((*g)["statutes"][1]["roles"] == ledger::Json(role_names(kRoleConsumer | kRoleIssuer)));
  CHECK(add_statute(*g, "", kRoleConsumer).code() == "GENESIS_MALFORMED");
  CHECK(add_statute(*g, "b.type", 0).code() == "GENESIS_MALFORMED");

  const crypto::KeyPair v = key_from(61);
  REQUIRE(add_org_key(*g, "v.node", "r1", kRoleValidator, v.public_key()).is_ok());
  REQUIRE(add_validator(*g, "v.node", v.public_key(), "127.0.0.1:1").is_ok());
  auto parsed = genesis_from_json(*g);
  REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().to_string());
  REQUIRE(parsed->find_statute("z.type") != nullptr);
  CHECK(parsed->find_statute("z.type")->roles == (kRoleConsumer | kRoleIssuer));
}
