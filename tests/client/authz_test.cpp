// The authorization layer's SDK against a real node (live_node.hpp): request
// signing, the transaction builders, the holder view and the coverage audit
// over a chain made by submitting signed transactions, including two
// accesses of one grant in one block, statutory accesses, planted uncovered
// accesses (by hand-built values for check_coverage, and written into the
// stopped node's LevelDB for run_audit) and answers a lying node altered.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "authz_chain.hpp"
#include "emledger/client/errors.hpp"
#include "emledger/client/genesis_edit.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/http_signature.hpp"
#include "emledger/ledger/json.hpp"
#include "live_node.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using emledger::client_test::AuthzKeys;
using emledger::client_test::key_from;
using emledger::client_test::LiveNode;
using emledger::client_test::record_body;
using emledger::client_test::TamperTransport;

namespace {

constexpr std::uint64_t kHourMs = 3'600'000;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Applies `alter` to every element of "items" in a JSON answer.
bool alter_items(client::HttpResponse& res, const std::function<void(Json&)>& alter) {
  if (res.status != 200) return false;
  auto j = Json::parse(res.body);
  for (Json& item : j["items"]) alter(item);
  res.body = j.dump();
  return true;
}

// The chain every audit test reads, made on a real node, one batch a block
// (between them, blocks of a filler record of another holder: see commit()):
//   1: records A (edu.diploma) and B (pub.license) of the holder, the
//      holder's binding, and a statutory access of B by y.consumer
//      (record created in the same block as its access)
//   2: grant G (x.consumer, record A, case c1, 3 uses) and access 1 under
//      it (grant created in the same block as its access)
//   3: accesses 2 and 3 under G in one block (G's last uses)
//   4: the holder revokes G
struct Scenario : AuthzKeys {
  Genesis genesis = make_genesis();
  // The node's clock: a minute after genesis, inside G's hour.
  LiveNode node{genesis, validator, genesis_time_ms + 60'000};
  std::shared_ptr<TamperTransport> wire;
  std::unique_ptr<AuthzClient> api;
  std::uint64_t nonce = 0;
  Hash record_a{}, record_b{}, grant{};
  std::vector<Hash> access_ids;  // chain order
  // Heights of the four blocks above.
  std::uint64_t h_records = 0, h_grant = 0, h_pair = 0, h_revoke = 0;
  int fillers = 0;

  Scenario() {
    connect();
    const Tx a = reg("diploma bytes", "edu.diploma");
    const Tx b = reg("licence bytes", "pub.license");
    record_a = record_id_for(a.id());
    record_b = record_id_for(b.id());
    const Tx bind =
        org_tx(TxType::kBindHolder, encode(BindHolder{holder_ref, holder.public_key()}), identity);
    const Tx stat = access(consumer_y, record_b, Hash{}, "case-s");
    h_records = commit({a, b, bind, stat});
    access_ids.push_back(access_id_for(stat.id()));

    GrantTerms t;
    t.holder_ref = holder_ref;
    t.grantee = "x.consumer";
    t.record_ids = {record_a};
    t.service_code = "svc.enrol";
    t.case_id = "c1";
    t.not_before_ms = genesis_time_ms;
    t.not_after_ms = genesis_time_ms + kHourMs;
    t.max_uses = 3;
    auto terms = canonical_grant_terms(t);
    REQUIRE(terms.is_ok());
    const Tx g = holder_tx(TxType::kCreateGrant, encode(CreateGrant{*terms}));
    grant = grant_id_for(g.id());
    const Tx acc1 = access(consumer_x, record_a, grant, "c1");
    h_grant = commit({g, acc1});
    access_ids.push_back(access_id_for(acc1.id()));

    const Tx acc2 = access(consumer_x, record_a, grant, "c1");
    const Tx acc3 = access(consumer_x, record_a, grant, "c1");
    h_pair = commit({acc2, acc3});
    access_ids.push_back(access_id_for(acc2.id()));
    access_ids.push_back(access_id_for(acc3.id()));

    h_revoke = commit({holder_tx(TxType::kRevokeGrant, encode(RevokeGrant{holder_ref, grant}))});
    REQUIRE(h_records < h_grant);
    REQUIRE(h_grant < h_pair);
    REQUIRE(h_pair < h_revoke);
  }

  // A fresh SDK transport to the node (after restart() its port changes).
  void connect() {
    wire = std::make_shared<TamperTransport>(make_http_transport(node.url()));
    api = std::make_unique<AuthzClient>(wire, genesis);
  }

  client::Signer signer(const crypto::KeyPair& key) const {
    auto s = client::signer_for_key(genesis, key);
    REQUIRE(s.is_ok());
    return *s;
  }
  Tx org_tx(TxType type, Bytes payload, const crypto::KeyPair& key) {
    auto tx = api->client().make_tx(signer(key), type, std::move(payload));
    REQUIRE_MESSAGE(tx.is_ok(), tx.status().to_string());
    return *tx;
  }
  Tx holder_tx(TxType type, Bytes payload, std::uint32_t seq = 1) {
    return client::build_holder_tx(genesis, client::HolderSigner{holder_ref, seq, holder}, type,
                                   std::move(payload), node.ledger().head().height, ++nonce);
  }
  Tx reg(const std::string& content, const std::string& type_code) {
    RecordBody b = record_body(content);
    b.type_code = type_code;
    b.holder_ref = holder_ref;
    return org_tx(TxType::kRegisterRecord, encode(RegisterRecord{b}), issuer);
  }
  Tx access(const crypto::KeyPair& org, const Hash& record, const Hash& grant_id,
            const std::string& case_id) {
    auto p = client::access_payload(record, grant_id, case_id);
    REQUIRE(p.is_ok());
    return org_tx(TxType::kRecordAccess, *p, org);
  }

  // Submits `txs` so that they go into one block, in order, and waits for
  // it; every transaction must commit. Returns that block's height.
  //
  // The node adds a batch's transactions to its mempool one by one, and its
  // validator takes whatever is there as soon as there is something: a batch
  // alone would be cut across blocks. So the node's clock is held first and
  // a filler transaction (a record of another holder) submitted: the
  // validator takes it and stops, reading the clock for its block. The batch
  // then waits whole in the mempool, and after release() it is the next block.
  std::uint64_t commit(const std::vector<Tx>& txs) {
    node.hold();
    auto filler = api->client().submit(
        org_tx(TxType::kRegisterRecord,
               encode(RegisterRecord{record_body("filler " + std::to_string(++fillers))}), issuer),
        false);
    if (!filler) node.release();
    REQUIRE_MESSAGE(filler.is_ok(), filler.status().to_string());
    node.wait_until_blocked();
    auto pending =
        std::async(std::launch::async, [&] { return api->client().submit_batch(txs, true); });
    // The batch is in the mempool once its last transaction is.
    for (int i = 0; i < 1000; ++i) {
      auto st = api->client().tx_status(txs.back().id());
      if (st.is_ok() && st->status != "unknown") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    node.release();
    auto r = pending.get();
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    REQUIRE(r->size() == txs.size());
    for (const auto& s : *r) REQUIRE_MESSAGE(s.status == "committed", s.error.to_string());
    for (const auto& s : *r) REQUIRE(s.height == r->front().height);
    return r->front().height;
  }

  // A state value as the node's own ledger holds it at `height` (the truth
  // the SDK's answers are compared with).
  template <class T>
  T state(const Bytes& key, std::uint64_t height) {
    auto p = node.ledger().state_proof(key, height);
    REQUIRE(p.is_ok());
    REQUIRE(p->present);
    auto v = decode<T>(p->value);
    REQUIRE(v.is_ok());
    return *v;
  }
  Access access_value(std::size_t i) {
    return state<Access>(access_state_key(access_ids[i]), node.ledger().head().height);
  }
  // The value at `key` at `height`, if any (height 0: the genesis holds
  // only orgs).
  template <class T>
  std::optional<T> state_if_any(const Bytes& key, std::uint64_t height) {
    if (height == 0) return std::nullopt;
    auto p = node.ledger().state_proof(key, height);
    REQUIRE(p.is_ok());
    if (!p->present) return std::nullopt;
    auto v = decode<T>(p->value);
    REQUIRE(v.is_ok());
    return *v;
  }
  // Access i with the state it was judged against, as the audit listing
  // proves it.
  AuditItem item(std::size_t i) {
    AuditItem it;
    it.access = access_value(i);
    const Access& a = it.access;
    it.record = state_if_any<Record>(record_state_key(a.record_id), a.height);
    if (!a.statutory) {
      it.grant = state_if_any<Grant>(grant_state_key(a.grant_id), a.height);
      it.grant_before = state_if_any<Grant>(grant_state_key(a.grant_id), a.height - 1);
    }
    return it;
  }
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

TEST_CASE("builders: holder transactions carry no org and the key sequence; the node judges them") {
  Scenario s;  // every builder above was committed by the real node while building it
  const Tx tx = s.holder_tx(TxType::kRevokeGrant, encode(RevokeGrant{s.holder_ref, s.grant}), 1);
  CHECK(tx.body.signer_org.empty());
  CHECK(tx.body.key_id == 1);
  CHECK(tx.body.chain_id == s.genesis.chain_id);
  CHECK(tx.body.expires_at_height == s.node.ledger().head().height + kTxExpiryBlocks);
  CHECK(crypto::verify(s.holder.public_key(), tx.signing_bytes(), tx.signature));
  // A wrong key sequence is the node's (its kernel's) to refuse.
  const HolderSigner stale{s.holder_ref, 2, s.holder};
  auto r = s.api->submit_holder(stale, TxType::kRotateHolderKey,
                                encode(RotateHolderKey{s.holder_ref, key_from(99).public_key()}));
  REQUIRE_FALSE(r.is_ok());
  CHECK_MESSAGE(r.status().code() == "HOLDER_KEY_STALE", r.status().to_string());
  CHECK(s.node.ledger().head().height == s.h_revoke);
  // The binding still has the first key.
  auto bound = s.api->holder_binding(s.holder_ref);
  REQUIRE_MESSAGE(bound.is_ok(), bound.status().to_string());
  CHECK(bound->binding.key_seq == 1);
  CHECK(bound->binding.public_key == s.holder.public_key());
}

TEST_CASE("audit: every access of a real chain is proven and covered, counted per org and type") {
  Scenario s;
  int audit_pages = 0;
  s.wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
    // Answered pages only: a request refused as signed before the node's
    // start is signed again by the SDK.
    if (starts_with(target, "/v1/audit/accesses?") && res.status == 200) ++audit_pages;
    return false;
  });
  const AuthzClient& node = *s.api;
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
  CHECK(report->to_height == s.h_revoke);
  CHECK(report->by_org["x.consumer"].accesses == 3);
  CHECK(report->by_org["y.consumer"].statutory == 1);
  CHECK(report->by_type["edu.diploma"].accesses == 3);
  CHECK(report->by_type["pub.license"].accesses == 1);
  CHECK(audit_pages == 1);

  auto later = run_audit(node, s.signer(s.auditor), s.h_pair, s.h_pair);
  REQUIRE(later.is_ok());
  CHECK(later->findings.size() == 2);
  CHECK(later->ok());
}

TEST_CASE("audit: only an auditor's signature opens the access log") {
  Scenario s;
  CHECK(run_audit(*s.api, s.signer(s.consumer_x), 1, 0).status().code() == "FORBIDDEN");
  CHECK(run_audit(*s.api, s.signer(s.issuer), 1, 0).status().code() == "FORBIDDEN");
}

TEST_CASE("audit: each access is judged at its own position in its block") {
  Scenario s;
  // Access 1 shares its block with the grant's creation (grant first);
  // accesses 2 and 3 share a block; G allows 3 uses.
  std::vector<AuditItem> items = {s.item(0), s.item(1), s.item(2), s.item(3)};
  auto f = check_coverage(s.genesis, items);
  REQUIRE(f.size() == 4);
  for (const auto& x : f) CHECK_MESSAGE(x.covered, x.reason.to_string());
  CHECK(f[0].statutory);

  SUBCASE("a grant or record created later in the same block did not cover the access") {
    AuditItem early = s.item(1);
    early.access.tx_index = early.grant->created_index;  // not after the grant's creation
    CHECK(check_coverage(s.genesis, {early})[0].reason.code() == "GRANT_NOT_FOUND");
    AuditItem before_record = s.item(1);
    before_record.record->anchor_height = before_record.access.height;
    before_record.record->anchor_index = before_record.access.tx_index + 1;
    CHECK(check_coverage(s.genesis, {before_record})[0].reason.code() == "RECORD_NOT_FOUND");
  }
  SUBCASE("a revocation earlier in the block applies, a later one does not") {
    AuditItem a2 = s.item(2), a3 = s.item(3);
    a2.access.tx_index = 0;
    a3.access.tx_index = 2;
    for (AuditItem* it : {&a2, &a3}) {
      it->grant->status = static_cast<std::uint8_t>(GrantStatus::kRevoked);
      it->grant->revoked_height = s.h_pair;
      it->grant->revoked_index = 1;
    }
    f = check_coverage(s.genesis, {a2, a3});
    CHECK(f[0].covered);
    CHECK(f[1].reason.code() == "GRANT_REVOKED");
    // The same for the record: revoked by its issuer between the two.
    a2 = s.item(2), a3 = s.item(3);
    a2.access.tx_index = 0;
    a3.access.tx_index = 2;
    for (AuditItem* it : {&a2, &a3}) {
      it->record->status = static_cast<std::uint8_t>(RecordStatus::kRevoked);
      it->record->ended_height = s.h_pair;
      it->record->ended_index = 1;
    }
    f = check_coverage(s.genesis, {a2, a3});
    CHECK(f[0].covered);
    CHECK(f[1].reason.code() == "RECORD_NOT_ACTIVE");
  }
  SUBCASE("uses: h-1 count plus the block's earlier accesses; a planted one never adds up") {
    AuditItem planted = s.item(3);
    planted.access.id.fill(0xee);
    planted.access.tx_index = 7;
    // Alone, or beside the real ones: the grant's count at the end of the
    // block does not include it.
    CHECK(check_coverage(s.genesis, {planted})[0].reason.code() == "AUDIT_INCONSISTENT");
    items.push_back(planted);
    f = check_coverage(s.genesis, items);
    CHECK_FALSE(f[4].covered);  // after the two real ones the grant is spent anyway
    // A grant with one use left before the block: the second access of the
    // block finds it spent.
    AuditItem a2 = s.item(2), a3 = s.item(3);
    for (AuditItem* it : {&a2, &a3}) it->grant->terms.max_uses = 2;
    for (AuditItem* it : {&a2, &a3}) it->grant_before->terms.max_uses = 2;
    f = check_coverage(s.genesis, {a2, a3});
    CHECK(f[0].covered);
    CHECK(f[1].reason.code() == "GRANT_EXHAUSTED");
  }
  SUBCASE("the grant's other terms") {
    AuditItem other_case = s.item(2);
    other_case.access.case_id = "c2";
    CHECK(check_coverage(s.genesis, {other_case, s.item(3)})[0].reason.code() ==
          "GRANT_PURPOSE_MISMATCH");
    AuditItem late = s.item(2);
    late.access.time_ms = s.genesis_time_ms + kHourMs;
    CHECK(check_coverage(s.genesis, {late, s.item(3)})[0].reason.code() == "GRANT_EXPIRED");
    AuditItem stranger = s.item(2);
    stranger.access.org = "y.consumer";
    CHECK(check_coverage(s.genesis, {stranger, s.item(3)})[0].reason.code() ==
          "GRANT_WRONG_GRANTEE");
    AuditItem missing = s.item(2);
    missing.grant.reset();
    CHECK(check_coverage(s.genesis, {missing})[0].reason.code() == "GRANT_NOT_FOUND");
    AuditItem hidden_before = s.item(2);
    hidden_before.grant_before.reset();
    CHECK(check_coverage(s.genesis, {hidden_before})[0].reason.code() == "AUDIT_INCONSISTENT");
  }
  SUBCASE("statute: consumers may read pub.license; an auditor may not; no statute for diplomas") {
    AuditItem stat = s.item(0);
    CHECK(check_coverage(s.genesis, {stat})[0].covered);
    AuditItem auditor_read = stat;
    auditor_read.access.org = "z.auditor";
    CHECK(check_coverage(s.genesis, {auditor_read})[0].reason.code() == "NO_GRANT");
    AuditItem diploma_stat = stat;
    diploma_stat.record = s.state<Record>(record_state_key(s.record_a), s.h_records);
    diploma_stat.access.record_id = s.record_a;
    CHECK(check_coverage(s.genesis, {diploma_stat})[0].reason.code() == "NO_GRANT");
  }
}

TEST_CASE("audit: a node that alters what an access was judged against fails the proof, named") {
  Scenario s;
  std::function<void(Json&)> alter;
  SUBCASE("record value changed") {
    alter = [](Json& item) {
      if (item["record"].is_null()) return;
      std::string hex = item["record"].get<std::string>();
      hex[hex.size() - 1] = hex[hex.size() - 1] == '0' ? '1' : '0';
      item["record"] = hex;
    };
  }
  SUBCASE("grant hidden") {
    alter = [](Json& item) {
      if (!item["grant"].is_null()) item["grant"] = nullptr;
    };
  }
  s.wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
    return starts_with(target, "/v1/audit/accesses?") && alter_items(res, alter);
  });
  auto report = run_audit(*s.api, s.signer(s.auditor), 1, 0);
  CHECK(s.wire->interventions() > 0);
  REQUIRE(report.is_ok());
  CHECK_FALSE(report->ok());
  REQUIRE_FALSE(report->proof_failures.empty());
  CHECK(report->proof_failures[0].code() == "PROOF_INVALID");
  CHECK(report->proof_failures[0].message().find("access ") != std::string::npos);
}

namespace {

// Writes `puts` into the node's LevelDB while it is down, as someone with
// access to its disk could, and starts it again.
void plant(Scenario& s, const std::vector<std::pair<Bytes, Bytes>>& puts) {
  s.node.close();
  {
    auto store = open_leveldb(s.node.db_dir());
    REQUIRE_MESSAGE(store.is_ok(), store.status().to_string());
    WriteBatch batch;
    for (const auto& [k, v] : puts) batch.put(k, v);
    REQUIRE((*store)->write(batch, true).is_ok());
  }
  s.node.restart();
  s.connect();
}

// "i" + 'A' + u64 height + u32 index: the every-access index entry
// (docs/formats/storage.md).
Bytes access_index_key(std::uint64_t height, std::uint32_t index) {
  Bytes k{'i', 'A'};
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(height >> (8 * i)));
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(index >> (8 * i)));
  return k;
}

}  // namespace

TEST_CASE("audit: an access planted in the node's database is not passed as covered") {
  Scenario s;
  const std::uint64_t head = s.node.ledger().head().height;
  SUBCASE("a real access listed again at a later height fails the audit, verified false") {
    // The access index of block 4 (which has none) names the statutory
    // access of block 1: the node serves it with its true height.
    plant(s, {{access_index_key(head, 7), Bytes(s.access_ids[0].begin(), s.access_ids[0].end())}});
    auto report = run_audit(*s.api, s.signer(s.auditor), 1, 0);
    REQUIRE_MESSAGE(report.is_ok(), report.status().to_string());
    CHECK_FALSE(report->ok());
    REQUIRE(report->proof_failures.size() == 1);
    CHECK(report->proof_failures[0].code() == "PROOF_INVALID");
    CHECK(report->proof_failures[0].message().find(to_hex(s.access_ids[0])) != std::string::npos);
    CHECK(classify(report->proof_failures[0]) == ErrorClass::kVerifiedFalse);
    CHECK(report->findings.size() == 4);  // the real ones are still judged
  }
  SUBCASE("an access value with no place in the certified state is refused by the node") {
    // A fifth use of G, dated in block 4 after the revocation, written as
    // the kernel would write an access (flat index entry with its value,
    // access index) but outside the state tree the certificates cover.
    Access forged = s.access_value(3);
    forged.id.fill(0xee);
    forged.height = head;
    const Bytes entry = encode(forged);  // a flat index entry is the value (ADR 032)
    Bytes skey{'s'};
    const Bytes state_key = access_state_key(forged.id);
    skey.insert(skey.end(), state_key.begin(), state_key.end());
    plant(s,
          {{skey, entry}, {access_index_key(head, 7), Bytes(forged.id.begin(), forged.id.end())}});
    // Its grant would not cover it either.
    AuditItem it{forged, s.state<Record>(record_state_key(s.record_a), head),
                 s.state<Grant>(grant_state_key(s.grant), head),
                 s.state<Grant>(grant_state_key(s.grant), head - 1)};
    CHECK(check_coverage(s.genesis, {it})[0].reason.code() == "GRANT_REVOKED");
    auto report = run_audit(*s.api, s.signer(s.auditor), 1, 0);
    REQUIRE_FALSE(report.is_ok());
    MESSAGE(report.status().to_string());
    CHECK(report.status().code() == "STORAGE_CORRUPT");
    CHECK(report.status().message().find(to_hex(forged.id)) != std::string::npos);
    // The CLI turns it into "verified false" (exit 1), as an audit finding.
    CHECK(classify(report.status()) == ErrorClass::kVerifiedFalse);
  }
}

TEST_CASE(
    "audit: the genesis state root computed by the client is the node's; no block, empty audit") {
  const AuthzKeys keys;
  const Genesis genesis = keys.make_genesis();
  LiveNode node(genesis, keys.validator, keys.genesis_time_ms + 60'000);
  // No block yet: the node's head state root is the genesis state's.
  auto root = genesis_state_root(genesis);
  REQUIRE(root.is_ok());
  CHECK(*root == node.ledger().head().state_root);
  // And an audit of a chain without blocks is empty, not an error.
  const AuthzClient api(node.url(), genesis);
  auto s = signer_for_key(genesis, keys.auditor);
  REQUIRE(s.is_ok());
  auto report = run_audit(api, *s, 1, 0);
  REQUIRE_MESSAGE(report.is_ok(), report.status().to_string());
  CHECK(report->findings.empty());
  CHECK(report->ok());
}

TEST_CASE("holder view: every item is proven and the holder's; a node that lies is caught") {
  Scenario s;
  const AuthzClient& node = *s.api;
  const RequestKey holder_key = holder_request_key(s.holder_ref, 1, s.holder);
  using L = Ledger::HolderList;
  auto records = node.holder_view(holder_key, s.holder_ref, L::kRecords);
  REQUIRE_MESSAGE(records.is_ok(), records.status().to_string());
  CHECK(records->records.size() == 2);
  CHECK(records->at.header.height == s.h_revoke);
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
    s.wire->set_tamper([](const std::string& target, client::HttpResponse& res) {
      return starts_with(target, "/v1/holders/") && alter_items(res, [](Json& item) {
               std::string hex = item["encoded"].get<std::string>();
               hex[10] = hex[10] == '0' ? '1' : '0';
               item["encoded"] = hex;
             });
    });
    CHECK(node.holder_view(holder_key, s.holder_ref, L::kRecords).status().code() ==
          "PROOF_INVALID");
    CHECK(s.wire->interventions() > 0);
  }
  SUBCASE("an item listed under another id") {
    s.wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
      return starts_with(target, "/v1/holders/") &&
             alter_items(res, [&](Json& item) { item["id"] = to_hex(s.record_b); });
    });
    CHECK(node.holder_view(holder_key, s.holder_ref, L::kAccesses).status().code() ==
          "PROOF_INVALID");
    CHECK(s.wire->interventions() > 0);
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

TEST_CASE("chain verify: holder keys follow the chain's bindings and rotations; a lied one fails") {
  Scenario s;
  // One block in which the holder rotates its key, then signs a grant with
  // the new one: the walk must apply the rotation before the grant.
  const crypto::KeyPair next = key_from(28);
  const Tx rot = s.holder_tx(TxType::kRotateHolderKey,
                             encode(RotateHolderKey{s.holder_ref, next.public_key()}));
  GrantTerms t;
  t.holder_ref = s.holder_ref;
  t.grantee = "y.consumer";
  t.record_ids = {s.record_a};
  t.service_code = "svc.enrol";
  t.case_id = "c2";
  t.not_before_ms = s.genesis_time_ms;
  t.not_after_ms = s.genesis_time_ms + kHourMs;
  t.max_uses = 1;
  auto terms = canonical_grant_terms(t);
  REQUIRE(terms.is_ok());
  const Tx g = client::build_holder_tx(s.genesis, client::HolderSigner{s.holder_ref, 2, next},
                                       TxType::kCreateGrant, encode(CreateGrant{*terms}),
                                       s.node.ledger().head().height, ++s.nonce);
  s.commit({rot, g});

  auto r = s.api->client().verify_chain();
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK_MESSAGE(r->valid, r->failure.to_string());
  CHECK(r->height == s.node.ledger().head().height);
  CHECK(r->base_height == 0);

  SUBCASE("a node that alters the proven binding is caught") {
    const std::string key_hex = to_hex(holder_state_key(s.holder_ref));
    s.wire->set_tamper([&](const std::string& target, client::HttpResponse& res) {
      if (!starts_with(target, "/v1/proofs/state?key=" + key_hex)) return false;
      auto j = Json::parse(res.body);
      std::string proof = j["proof"];
      proof[proof.size() - 3] = proof[proof.size() - 3] == '0' ? '1' : '0';
      j["proof"] = proof;
      res.body = j.dump();
      return true;
    });
    auto bad = s.api->client().verify_chain();
    CHECK(s.wire->interventions() > 0);
    REQUIRE(bad.is_ok());
    CHECK_FALSE(bad->valid);
    CHECK(bad->failure.code() == "PROOF_INVALID");
    // The block of the binding: a binding is checked against the parent's
    // state too (it must not bind a holder already bound).
    CHECK(bad->failed_height == s.h_records);
  }
}
