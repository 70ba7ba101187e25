// The authorization layer's HTTP routes end to end: a real node in-process on
// loopback, holder bindings, grants and accesses made by signed transactions,
// and reads signed with RFC 9421 request signatures (http_signature.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "emledger/crypto/random.hpp"
#include "emledger/ledger/http_signature.hpp"
#include "emledger/ledger/ledger.hpp"
#include "http_server.hpp"
#include "material_store.hpp"
#include "node_test_util.hpp"
#include "request_params.hpp"

using namespace emledger;
using namespace emledger::node;
using namespace emledger::node::test;

namespace {

// identity, consumer (two), auditor, issuer (two) and validator orgs.
struct AuthzNetwork {
  crypto::KeyPair aud = crypto::KeyPair::generate();
  crypto::KeyPair con = crypto::KeyPair::generate();
  crypto::KeyPair con2 = crypto::KeyPair::generate();
  crypto::KeyPair idt = crypto::KeyPair::generate();
  crypto::KeyPair iss = crypto::KeyPair::generate();
  crypto::KeyPair iss2 = crypto::KeyPair::generate();
  crypto::KeyPair v = crypto::KeyPair::generate();
  std::string chain_id = "emledger-test-authz";
  ledger::Genesis genesis;

  Config write(const TempDir& dir) {
    auto org = test_org;
    genesis.chain_id = chain_id;
    genesis.time_ms = 1'700'000'000'000;
    genesis.orgs = {
        org("aud.org", ledger::kRoleAuditor, aud),    org("con.org", ledger::kRoleConsumer, con),
        org("con2.org", ledger::kRoleConsumer, con2), org("id.org", ledger::kRoleIdentity, idt),
        org("iss.org", ledger::kRoleIssuer, iss),     org("iss2.org", ledger::kRoleIssuer, iss2),
        org("v.node", ledger::kRoleValidator, v)};
    genesis.validators = {ledger::Validator{"v.node", v.public_key(), "127.0.0.1:0"}};
    genesis.statutes = {ledger::StatutePolicy{"pub.license", ledger::kRoleConsumer}};
    REQUIRE(genesis.check().is_ok());
    {
      std::ofstream out(dir.str("genesis.json"));
      out << ledger::to_json(genesis).dump(2);
    }
    REQUIRE(crypto::write_key_file(dir.str("v.key"), v, std::nullopt).is_ok());
    Config cfg = dev_config(dir.str("data"));
    cfg.genesis_file = dir.str("genesis.json");
    cfg.key_file = dir.str("v.key");
    return cfg;
  }
};

std::uint64_t now_ms() { return static_cast<std::uint64_t>(std::time(nullptr)) * 1000; }

// Submits and waits for the commit; the transaction must be accepted.
void commit(Node& n, const ledger::Tx& tx) {
  auto r = post(n, "/v1/transactions?wait=commit", submit_body(tx));
  REQUIRE_MESSAGE(r.status == 200, r.raw);
}

ledger::Tx holder_tx(ledger::TxBody body, const std::string& chain_id, const crypto::KeyPair& key,
                     std::uint32_t key_seq = 1) {
  static std::atomic<std::uint64_t> nonce{1};
  body.chain_id = chain_id;
  body.signer_org = "";
  body.key_id = key_seq;
  body.expires_at_height = 1000;
  body.nonce = nonce.fetch_add(1);
  return ledger::sign_tx(std::move(body), key);
}

struct Signing {
  const crypto::KeyPair* key = nullptr;
  std::string keyid;
  std::int64_t created_offset_s = 0;  // relative to now
  std::int64_t validity_s = 60;
};

httplib::Headers sign_headers(Node& n, const std::string& method, const std::string& target,
                              const std::string& body, const Signing& s) {
  ledger::HttpRequest req;
  req.method = method;
  req.scheme = "http";
  req.authority = "127.0.0.1:" + std::to_string(n.port());
  req.target = target;
  req.body = body;
  ledger::SignOptions o;
  o.keyid = s.keyid;
  o.created_s = static_cast<std::int64_t>(std::time(nullptr)) + s.created_offset_s;
  o.expires_s = o.created_s + s.validity_s;
  o.nonce = crypto::random_nonce_hex();
  auto h = ledger::sign_request(req, *s.key, o);
  REQUIRE_MESSAGE(h.is_ok(), h.status().to_string());
  httplib::Headers out = {{"Signature-Input", h->signature_input}, {"Signature", h->signature}};
  if (!h->content_digest.empty()) out.emplace("Content-Digest", h->content_digest);
  return out;
}

Reply send_get(Node& n, const std::string& target, const httplib::Headers& headers) {
  auto c = client_for(n);
  return to_reply(c.Get(target.c_str(), headers));
}

Reply signed_get(Node& n, const std::string& target, const Signing& s) {
  return send_get(n, target, sign_headers(n, "GET", target, "", s));
}

Reply signed_put(Node& n, const std::string& target, const std::string& body, const Signing& s) {
  auto c = client_for(n);
  return to_reply(c.Put(target.c_str(), sign_headers(n, "PUT", target, body, s), body,
                        "application/octet-stream"));
}

template <class T>
T decode_hex(const json& j) {
  REQUIRE(j.is_string());
  auto bytes = from_hex(j.get<std::string>());
  REQUIRE(bytes.has_value());
  auto v = ledger::decode<T>(*bytes);
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  return *v;
}

// Checks the certified header object {"height","header","certificate"} and
// returns the header.
ledger::BlockHeader certified_header(const ledger::Genesis& g, const json& j) {
  auto h = decode_hex<ledger::BlockHeader>(j["header"]);
  auto c = decode_hex<ledger::Certificate>(j["certificate"]);
  CHECK(ledger::verify_certificate(g, h, c).is_ok());
  CHECK(j["height"].get<std::uint64_t>() == h.height);
  return h;
}

// A proof that `key` holds exactly the bytes `value_hex` under `root`.
void check_proof(const json& proof_hex, const Bytes& key, const json& value_hex, const Hash& root) {
  auto p = decode_hex<ledger::StateProof>(proof_hex);
  CHECK(ledger::verify_state_proof(p, root));
  CHECK(p.key == key);
  CHECK(p.present);
  CHECK(to_hex(p.value) == value_hex.get<std::string>());
}

// A node whose signed routes can be called at once: it refuses signatures
// made in or before its start second (SIGNATURE_PREDATES_START), so wait for
// the wall clock to pass it.
std::unique_ptr<Node> start_signed_node(const Config& c) {
  auto n = start_node(c);
  const std::time_t started = std::time(nullptr);
  while (std::time(nullptr) <= started) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return n;
}

json load_schema(const std::string& name) {
  auto dir = fs::path(__FILE__).parent_path().parent_path().parent_path() / "schemas";
  std::ifstream in(dir / name);
  REQUIRE_MESSAGE(in, "cannot open schemas/" << name);
  return json::parse(in);
}

// The response has every field its schema requires, at the top and in the
// first element of each array of objects (a shallow check, not a validator).
void check_required(const std::string& schema_name, const json& body) {
  const json s = load_schema(schema_name);
  CAPTURE(schema_name);
  for (const auto& f : s["required"]) {
    CAPTURE(f);
    REQUIRE(body.contains(f.get<std::string>()));
    const json& sub = s["properties"][f.get<std::string>()];
    const json& v = body[f.get<std::string>()];
    if (sub.contains("items") && sub["items"].contains("required") && !v.empty())
      for (const auto& g : sub["items"]["required"]) CHECK(v[0].contains(g.get<std::string>()));
    if (sub.contains("required") && v.is_object())
      for (const auto& g : sub["required"]) CHECK(v.contains(g.get<std::string>()));
  }
}

std::vector<std::string> item_ids(const Reply& r) {
  std::vector<std::string> ids;
  for (const auto& it : r.body["items"]) ids.push_back(it["id"].get<std::string>());
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string sorted_pair(const Hash& a, const Hash& b, bool first) {
  return to_hex((a < b) == first ? a : b);
}

}  // namespace

TEST_CASE("authorization layer: holder view, grants, accesses, audit and the material store") {
  TempDir dir;
  AuthzNetwork net;
  Config cfg = net.write(dir);
  auto n = start_signed_node(cfg);
  const std::string& chain = net.chain_id;

  // Two holders, bound by the identity org.
  auto hA = crypto::KeyPair::generate();
  auto hB = crypto::KeyPair::generate();
  const Hash refA = random_hash();
  const Hash refB = random_hash();
  for (auto [ref, key] : {std::pair{refA, &hA}, std::pair{refB, &hB}})
    commit(*n, signed_tx(ledger::make_body(ledger::TxType::kBindHolder,
                                           ledger::BindHolder{ref, key->public_key()}),
                         chain, "id.org", net.idt));

  // Files and the records anchoring them: R1, R2 for holder A, R3 for B.
  const std::string file1 = "file one: a business license, exact bytes\x01\x02";
  const std::string file2 = "file two: another material";
  const std::string file3 = "file three: holder B's license";
  auto hash_of = [](const std::string& s) { return crypto::sha256(as_bytes(s)); };
  auto register_for = [&](const Hash& ref, const std::string& file) {
    auto body = license_body(hash_of(file));
    body.holder_ref = ref;
    auto tx =
        signed_tx(ledger::make_body(ledger::TxType::kRegisterRecord, ledger::RegisterRecord{body}),
                  chain, "iss.org", net.iss);
    commit(*n, tx);
    return ledger::record_id_for(tx.id());
  };
  const Hash r1 = register_for(refA, file1);
  const Hash r2 = register_for(refA, file2);
  const Hash r3 = register_for(refB, file3);

  // Grants signed by the holders for con.org, and the accesses under them.
  auto grant_for = [&](const Hash& ref, std::vector<Hash> records, const crypto::KeyPair& key) {
    std::sort(records.begin(), records.end());
    ledger::GrantTerms t;
    t.holder_ref = ref;
    t.grantee = "con.org";
    t.record_ids = std::move(records);
    t.service_code = "svc.open-business";
    t.case_id = "case-1";
    t.not_before_ms = 0;
    t.not_after_ms = now_ms() + 3'600'000;
    t.max_uses = 10;
    auto tx = holder_tx(ledger::make_body(ledger::TxType::kCreateGrant, ledger::CreateGrant{t}),
                        chain, key);
    commit(*n, tx);
    return ledger::grant_id_for(tx.id());
  };
  const Hash gA = grant_for(refA, {r1, r2}, hA);
  const Hash gB = grant_for(refB, {r3}, hB);
  auto access_for = [&](const Hash& record, const Hash& grant) {
    auto tx = signed_tx(ledger::make_body(ledger::TxType::kRecordAccess,
                                          ledger::RecordAccess{record, grant, "case-1"}),
                        chain, "con.org", net.con);
    commit(*n, tx);
    return ledger::access_id_for(tx.id());
  };
  const Hash x1 = access_for(r1, gA);
  const Hash x2 = access_for(r2, gA);
  const Hash x3 = access_for(r3, gB);

  const Signing holderA{&hA, ledger::holder_keyid(refA, 1)};
  const Signing holderB{&hB, ledger::holder_keyid(refB, 1)};
  const Signing auditor{&net.aud, ledger::org_keyid("aud.org", 1)};
  const Signing consumer{&net.con, ledger::org_keyid("con.org", 1)};
  const Signing consumer2{&net.con2, ledger::org_keyid("con2.org", 1)};
  const Signing issuer{&net.iss, ledger::org_keyid("iss.org", 1)};
  const Signing issuer2{&net.iss2, ledger::org_keyid("iss2.org", 1)};
  const std::string pathA = "/v1/holders/" + to_hex(refA);

  SUBCASE("the holder binding is public, with a proof") {
    auto r = get(*n, pathA);
    REQUIRE_MESSAGE(r.status == 200, r.raw);
    CHECK(r.body["binding"]["key_seq"] == 1);
    check_required("holder_response.json", r.body);
    auto h = certified_header(net.genesis, r.body);
    check_proof(r.body["proof"], ledger::holder_state_key(refA), r.body["encoded"], h.state_root);
    CHECK(error_code(get(*n, "/v1/holders/" + to_hex(random_hash()))) == "HOLDER_NOT_BOUND");
  }

  SUBCASE("a bound holder lists its own records, grants and accesses, with proofs") {
    auto recs = signed_get(*n, pathA + "/records", holderA);
    REQUIRE_MESSAGE(recs.status == 200, recs.raw);
    check_required("holder_items_response.json", recs.body);
    CHECK(item_ids(recs) ==
          std::vector<std::string>{sorted_pair(r1, r2, true), sorted_pair(r1, r2, false)});
    auto h = certified_header(net.genesis, recs.body);
    for (const auto& it : recs.body["items"]) {
      check_proof(it["proof"],
                  ledger::record_state_key(*hash_from_hex(it["id"].get<std::string>())),
                  it["encoded"], h.state_root);
      CHECK(it["decoded"]["holder_ref"] == to_hex(refA));
    }
    auto grants = signed_get(*n, pathA + "/grants", holderA);
    REQUIRE(grants.status == 200);
    CHECK(item_ids(grants) == std::vector<std::string>{to_hex(gA)});
    auto accesses = signed_get(*n, pathA + "/accesses", holderA);
    REQUIRE(accesses.status == 200);
    CHECK(item_ids(accesses) ==
          std::vector<std::string>{sorted_pair(x1, x2, true), sorted_pair(x1, x2, false)});
    CHECK(accesses.raw.find(to_hex(x3)) == std::string::npos);
    auto limited = signed_get(*n, pathA + "/accesses?limit=1", holderA);
    REQUIRE(limited.status == 200);
    CHECK(limited.body["items"].size() == 1);
  }

  SUBCASE("another holder, or an org that is not an auditor, is refused and sees nothing") {
    for (const char* list : {"/records", "/grants", "/accesses"}) {
      auto r = signed_get(*n, pathA + list, holderB);
      CHECK(r.status == 403);
      CHECK(error_code(r) == "FORBIDDEN");
      CHECK(!r.body.contains("items"));
      CHECK(r.raw.find(to_hex(r1)) == std::string::npos);
      auto c = signed_get(*n, pathA + list, consumer);
      CHECK(c.status == 403);
      CHECK(error_code(c) == "FORBIDDEN");
    }
    auto aud = signed_get(*n, pathA + "/records", auditor);
    CHECK(aud.status == 200);
    CHECK(aud.body["items"].size() == 2);
  }

  SUBCASE("missing, stale, expired, replayed or forged signatures are 401") {
    auto unsigned_r = get(*n, pathA + "/records");
    CHECK(unsigned_r.status == 401);
    CHECK(error_code(unsigned_r) == "SIGNATURE_MISSING");

    Signing stale = holderA;
    stale.created_offset_s = -400;
    auto s = signed_get(*n, pathA + "/records", stale);
    CHECK(s.status == 401);
    CHECK(error_code(s) == "SIGNATURE_STALE");

    Signing expired = holderA;
    expired.created_offset_s = -100;
    expired.validity_s = 60;
    auto e = signed_get(*n, pathA + "/records", expired);
    CHECK(e.status == 401);
    CHECK(error_code(e) == "SIGNATURE_EXPIRED");

    auto headers = sign_headers(*n, "GET", pathA + "/records", "", holderA);
    CHECK(send_get(*n, pathA + "/records", headers).status == 200);
    auto replay = send_get(*n, pathA + "/records", headers);
    CHECK(replay.status == 401);
    CHECK(error_code(replay) == "SIGNATURE_REPLAYED");

    // Signed for one target, sent to another.
    auto moved =
        send_get(*n, pathA + "/grants", sign_headers(*n, "GET", pathA + "/records", "", holderA));
    CHECK(error_code(moved) == "SIGNATURE_INVALID");

    // A key that is not the holder's current one.
    Signing wrong_key{&hB, ledger::holder_keyid(refA, 1)};
    CHECK(error_code(signed_get(*n, pathA + "/records", wrong_key)) == "SIGNATURE_INVALID");
    Signing old_seq{&hA, ledger::holder_keyid(refA, 2)};
    CHECK(error_code(signed_get(*n, pathA + "/records", old_seq)) == "SIGNATURE_UNKNOWN_KEY");
  }

  SUBCASE("grants and accesses by id: who may read them") {
    CHECK(signed_get(*n, "/v1/grants/" + to_hex(gA), holderA).status == 200);
    auto g = signed_get(*n, "/v1/grants/" + to_hex(gA), consumer);
    REQUIRE(g.status == 200);
    check_required("grant_response.json", g.body);
    auto h = certified_header(net.genesis, g.body);
    check_proof(g.body["proof"], ledger::grant_state_key(gA), g.body["encoded"], h.state_root);
    CHECK(signed_get(*n, "/v1/grants/" + to_hex(gA), auditor).status == 200);
    CHECK(error_code(signed_get(*n, "/v1/grants/" + to_hex(gA), holderB)) == "FORBIDDEN");
    CHECK(error_code(signed_get(*n, "/v1/grants/" + to_hex(gA), consumer2)) == "FORBIDDEN");
    CHECK(error_code(signed_get(*n, "/v1/grants/" + to_hex(random_hash()), auditor)) ==
          "GRANT_NOT_FOUND");

    auto a = signed_get(*n, "/v1/accesses/" + to_hex(x1), issuer);  // the record's issuer
    REQUIRE(a.status == 200);
    check_required("access_response.json", a.body);
    CHECK(a.body["access"]["org"] == "con.org");
    CHECK(signed_get(*n, "/v1/accesses/" + to_hex(x1), holderA).status == 200);
    CHECK(signed_get(*n, "/v1/accesses/" + to_hex(x1), consumer).status == 200);
    CHECK(error_code(signed_get(*n, "/v1/accesses/" + to_hex(x1), holderB)) == "FORBIDDEN");
    CHECK(error_code(signed_get(*n, "/v1/accesses/" + to_hex(x1), issuer2)) == "FORBIDDEN");
    CHECK(error_code(signed_get(*n, "/v1/accesses/" + to_hex(random_hash()), auditor)) ==
          "ACCESS_NOT_FOUND");
  }

  SUBCASE("a grantee lists the holder's records in a live grant's scope, nobody else does") {
    auto listed = [&](const Hash& grant, const Signing& who) {
      return signed_get(*n, "/v1/grants/" + to_hex(grant) + "/records", who);
    };
    auto r = listed(gA, consumer);
    REQUIRE_MESSAGE(r.status == 200, r.raw);
    check_required("holder_items_response.json", r.body);
    CHECK(item_ids(r) ==
          std::vector<std::string>{sorted_pair(r1, r2, true), sorted_pair(r1, r2, false)});
    CHECK(r.body["grant_id"] == to_hex(gA));
    CHECK(r.body["next"].is_null());
    auto h = certified_header(net.genesis, r.body);
    for (const auto& it : r.body["items"])
      check_proof(it["proof"],
                  ledger::record_state_key(*node::parse_hash(it["id"].get<std::string>())),
                  it["encoded"], h.state_root);
    // Only records named by the grant: a grant naming r1 alone lists r1.
    const Hash g1 = grant_for(refA, {r1}, hA);
    CHECK(item_ids(listed(g1, consumer)) == std::vector<std::string>{to_hex(r1)});
    // A grant naming the type code lists the holder's records of that type,
    // a page at a time.
    ledger::GrantTerms t;
    t.holder_ref = refA;
    t.grantee = "con.org";
    t.type_codes = {license_body(Hash{}).type_code};
    t.service_code = "svc.open-business";
    t.case_id = "case-1";
    t.not_after_ms = now_ms() + 3'600'000;
    t.max_uses = 1;
    auto gtx = holder_tx(ledger::make_body(ledger::TxType::kCreateGrant, ledger::CreateGrant{t}),
                         chain, hA);
    commit(*n, gtx);
    const Hash gT = ledger::grant_id_for(gtx.id());
    auto p1 = signed_get(*n, "/v1/grants/" + to_hex(gT) + "/records?limit=1", consumer);
    REQUIRE_MESSAGE(p1.status == 200, p1.raw);
    REQUIRE(p1.body["items"].size() == 1);
    REQUIRE(p1.body["next"].is_string());
    auto p2 = signed_get(
        *n,
        "/v1/grants/" + to_hex(gT) + "/records?limit=1&after=" + p1.body["next"].get<std::string>(),
        consumer);
    REQUIRE_MESSAGE(p2.status == 200, p2.raw);
    REQUIRE(p2.body["items"].size() == 1);
    std::vector<std::string> both = {p1.body["items"][0]["id"], p2.body["items"][0]["id"]};
    std::sort(both.begin(), both.end());
    CHECK(both == std::vector<std::string>{sorted_pair(r1, r2, true), sorted_pair(r1, r2, false)});
    // Not the holder, not another org, not a stranger's grant.
    CHECK(error_code(listed(gA, holderA)) == "FORBIDDEN");
    CHECK(error_code(listed(gA, consumer2)) == "FORBIDDEN");
    CHECK(error_code(listed(gA, auditor)) == "FORBIDDEN");
    CHECK(error_code(listed(random_hash(), consumer)) == "GRANT_NOT_FOUND");
    // Spent or revoked: nothing listed.
    access_for(r1, gT);
    CHECK(error_code(listed(gT, consumer)) == "GRANT_EXHAUSTED");
    commit(*n,
           holder_tx(ledger::make_body(ledger::TxType::kRevokeGrant, ledger::RevokeGrant{refA, g1}),
                     chain, hA));
    CHECK(error_code(listed(g1, consumer)) == "GRANT_REVOKED");
  }

  SUBCASE("the audit listing proves each access and the state it was judged against") {
    CHECK(error_code(signed_get(*n, "/v1/audit/accesses?from=1&to=100", consumer)) == "FORBIDDEN");
    auto r = signed_get(*n, "/v1/audit/accesses?from=1&to=100", auditor);
    REQUIRE_MESSAGE(r.status == 200, r.raw);
    check_required("audit_accesses_response.json", r.body);
    auto head = certified_header(net.genesis, r.body["head"]);
    REQUIRE(r.body["items"].size() == 3);
    std::vector<std::string> seen;
    for (const auto& it : r.body["items"]) {
      auto a = decode_hex<ledger::Access>(it["access"]);
      seen.push_back(to_hex(a.id));
      check_proof(it["access_proof"], ledger::access_state_key(a.id), it["access"],
                  head.state_root);
      auto at = certified_header(net.genesis, it["at"]);
      CHECK(at.height == a.height);
      check_proof(it["record_proof"], ledger::record_state_key(a.record_id), it["record"],
                  at.state_root);
      check_proof(it["grant_proof"], ledger::grant_state_key(a.grant_id), it["grant"],
                  at.state_root);
      auto before = certified_header(net.genesis, it["before"]);
      CHECK(before.height == a.height - 1);
      check_proof(it["grant_before_proof"], ledger::grant_state_key(a.grant_id), it["grant_before"],
                  before.state_root);
      // What an auditor re-checks: the grant as of h-1 covered the access
      // (these three accesses are each alone in their block).
      auto rec = decode_hex<ledger::Record>(it["record"]);
      auto grant = decode_hex<ledger::Grant>(it["grant_before"]);
      CHECK(ledger::grant_covers(grant, rec, a.org, a.case_id, a.time_ms).is_ok());
      CHECK(decode_hex<ledger::Grant>(it["grant"]).uses == grant.uses + 1);
    }
    std::sort(seen.begin(), seen.end());
    std::vector<std::string> want = {to_hex(x1), to_hex(x2), to_hex(x3)};
    std::sort(want.begin(), want.end());
    CHECK(seen == want);
    auto none = signed_get(*n, "/v1/audit/accesses?from=1&to=1", auditor);
    REQUIRE(none.status == 200);
    CHECK(none.body["items"].empty());
    CHECK(error_code(signed_get(*n, "/v1/audit/accesses?from=0&to=1", auditor)) == "BAD_PARAMETER");
  }

  SUBCASE("material upload: only the issuer of an anchored record, only the right bytes") {
    const auto materials = fs::path(cfg.data_dir) / "materials";
    const std::string orphan = "bytes no record anchors";
    const std::string orphan_path = "/v1/materials/" + to_hex(hash_of(orphan));
    auto r = signed_put(*n, orphan_path, orphan, issuer);
    CHECK(r.status == 422);
    CHECK(error_code(r) == "NO_MATCHING_RECORD");
    CHECK(!fs::exists(materials / to_hex(hash_of(orphan))));

    const std::string path1 = "/v1/materials/" + to_hex(hash_of(file1));
    auto other = signed_put(*n, path1, file1, issuer2);
    CHECK(other.status == 422);
    CHECK(error_code(other) == "NO_MATCHING_RECORD");
    auto holder = signed_put(*n, path1, file1, holderA);
    CHECK(error_code(holder) == "FORBIDDEN");
    auto wrong = signed_put(*n, path1, file2, issuer);
    CHECK(wrong.status == 400);
    CHECK(error_code(wrong) == "CONTENT_HASH_MISMATCH");
    CHECK(!fs::exists(materials / to_hex(hash_of(file1))));

    auto ok = signed_put(*n, path1, file1, issuer);
    REQUIRE_MESSAGE(ok.status == 201, ok.raw);
    check_required("material_put_response.json", ok.body);
    CHECK(ok.body["size_bytes"] == file1.size());
    CHECK(fs::exists(materials / to_hex(hash_of(file1))));
    CHECK(signed_put(*n, path1, file1, issuer).status == 200);
  }

  SUBCASE("material release: once per committed access, to the org that recorded it") {
    const std::string path1 = "/v1/materials/" + to_hex(hash_of(file1));
    const std::string path2 = "/v1/materials/" + to_hex(hash_of(file2));
    REQUIRE(signed_put(*n, path1, file1, issuer).status == 201);

    auto q = [](const Hash& access) { return "?access=" + to_hex(access); };
    CHECK(error_code(signed_get(*n, path1 + q(x1), consumer2)) == "FORBIDDEN");
    CHECK(error_code(signed_get(*n, path1 + q(x1), holderA)) == "FORBIDDEN");
    // x2 is an access to R2, whose content is file2.
    CHECK(error_code(signed_get(*n, path1 + q(x2), consumer)) == "FORBIDDEN");
    CHECK(error_code(signed_get(*n, path1 + q(random_hash()), consumer)) == "ACCESS_NOT_FOUND");
    // file2 was never uploaded: x2 is not used up by asking.
    CHECK(error_code(signed_get(*n, path2 + q(x2), consumer)) == "MATERIAL_NOT_FOUND");

    auto first = signed_get(*n, path1 + q(x1), consumer);
    REQUIRE(first.status == 200);
    CHECK(first.raw == file1);
    auto second = signed_get(*n, path1 + q(x1), consumer);
    CHECK(second.status == 409);
    CHECK(error_code(second) == "ACCESS_ALREADY_USED");

    // A signed read the node answered before a restart, sent again word for
    // word after it, while its signature is still in its window: refused,
    // although the new process never saw its nonce.
    const auto replay_headers = sign_headers(*n, "GET", pathA + "/grants", "", holderA);
    REQUIRE(send_get(*n, pathA + "/grants", replay_headers).status == 200);

    // The release survives a restart of the node (on the same port: the
    // replayed signature covers the authority).
    Config same_port = cfg;
    same_port.listen = "127.0.0.1:" + std::to_string(n->port());
    n->shutdown();
    n.reset();
    n = start_signed_node(same_port);
    CHECK(error_code(signed_get(*n, path1 + q(x1), consumer)) == "ACCESS_ALREADY_USED");
    auto replayed = send_get(*n, pathA + "/grants", replay_headers);
    CHECK(replayed.status == 401);
    CHECK(error_code(replayed) == "SIGNATURE_PREDATES_START");
    REQUIRE(signed_put(*n, path2, file2, issuer).status == 201);
    auto late = signed_get(*n, path2 + q(x2), consumer);
    CHECK(late.status == 200);
    CHECK(late.raw == file2);
  }

  SUBCASE("concurrent fetches under one access: exactly one gets the file") {
    const std::string path1 = "/v1/materials/" + to_hex(hash_of(file1));
    REQUIRE(signed_put(*n, path1, file1, issuer).status == 201);
    const std::string target = path1 + "?access=" + to_hex(x1);
    constexpr int kFetchers = 6;
    std::vector<httplib::Headers> headers;
    for (int i = 0; i < kFetchers; ++i)
      headers.push_back(sign_headers(*n, "GET", target, "", consumer));
    std::vector<int> statuses(kFetchers, 0);
    std::vector<std::string> bodies(kFetchers);
    std::vector<std::thread> threads;
    for (int i = 0; i < kFetchers; ++i)
      threads.emplace_back([&, i] {
        auto c = client_for(*n);
        auto r = c.Get(target.c_str(), headers[i]);
        if (r) {
          statuses[i] = r->status;
          bodies[i] = r->body;
        }
      });
    for (auto& t : threads) t.join();
    int ok = 0, used = 0;
    for (int i = 0; i < kFetchers; ++i) {
      if (statuses[i] == 200) {
        ++ok;
        CHECK(bodies[i] == file1);
      }
      if (statuses[i] == 409) ++used;
    }
    CHECK(ok == 1);
    CHECK(used == kFetchers - 1);
  }

  SUBCASE("a revoked record's file is not released, and the access is not used up") {
    const std::string path3 = "/v1/materials/" + to_hex(hash_of(file3));
    REQUIRE(signed_put(*n, path3, file3, issuer).status == 201);
    commit(*n, revoke_tx(chain, "iss.org", net.iss, r3));
    auto r = signed_get(*n, path3 + "?access=" + to_hex(x3), consumer);
    CHECK(r.status == 422);
    CHECK(error_code(r) == "RECORD_NOT_ACTIVE");
    CHECK(!fs::exists(fs::path(cfg.data_dir) / "materials" / "released" / to_hex(x3)));
  }

  SUBCASE("a body other than the one signed is CONTENT_DIGEST_MISMATCH, and nothing is stored") {
    const std::string path1 = "/v1/materials/" + to_hex(hash_of(file1));
    auto headers = sign_headers(*n, "PUT", path1, file1, issuer);
    auto c = client_for(*n);
    auto r = to_reply(c.Put(path1.c_str(), headers, file2, "application/octet-stream"));
    CHECK(r.status == 401);
    CHECK(error_code(r) == "CONTENT_DIGEST_MISMATCH");
    CHECK(!fs::exists(fs::path(cfg.data_dir) / "materials" / to_hex(hash_of(file1))));
  }

  SUBCASE("after a key rotation only the new key signs for the holder") {
    auto next = crypto::KeyPair::generate();
    commit(*n, holder_tx(ledger::make_body(ledger::TxType::kRotateHolderKey,
                                           ledger::RotateHolderKey{refA, next.public_key()}),
                         chain, hA, 1));
    CHECK(error_code(signed_get(*n, pathA + "/records", holderA)) == "SIGNATURE_UNKNOWN_KEY");
    const Signing rotated{&next, ledger::holder_keyid(refA, 2)};
    CHECK(signed_get(*n, pathA + "/records", rotated).status == 200);
    CHECK(get(*n, pathA).body["binding"]["key_seq"] == 2);
  }

  SUBCASE("every authenticated read is in the read log") {
    CHECK(signed_get(*n, pathA + "/records", holderA).status == 200);
    CHECK(signed_get(*n, pathA + "/records", holderB).status == 403);
    std::ifstream in(fs::path(cfg.data_dir) / "read-log.jsonl");
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["keyid"] == holderA.keyid);
    CHECK(lines[0]["status"] == 200);
    CHECK(lines[0]["target"] == pathA + "/records");
    CHECK(lines[0]["method"] == "GET");
    CHECK(lines[1]["keyid"] == holderB.keyid);
    CHECK(lines[1]["status"] == 403);
    CHECK(lines[1]["time_ms"].get<std::uint64_t>() > 0);
  }
}

TEST_CASE("audit listing: a statutory access in the same block as its record") {
  TempDir dir;
  AuthzNetwork net;
  auto n = start_signed_node(net.write(dir));
  auto body = license_body(random_hash());
  body.type_code = "pub.license";
  auto reg =
      signed_tx(ledger::make_body(ledger::TxType::kRegisterRecord, ledger::RegisterRecord{body}),
                net.chain_id, "iss.org", net.iss);
  const Hash record = ledger::record_id_for(reg.id());
  auto acc = signed_tx(ledger::make_body(ledger::TxType::kRecordAccess,
                                         ledger::RecordAccess{record, Hash{}, "case-7"}),
                       net.chain_id, "con.org", net.con);
  // One batch: the validator usually puts both in block 1, and may split them.
  auto r = post(*n, "/v1/transactions/batch?wait=commit",
                json{{"txs", {tx_hex(reg), tx_hex(acc)}}}.dump());
  REQUIRE_MESSAGE(r.status == 200, r.raw);
  REQUIRE(r.body["results"][0]["status"] == "committed");
  REQUIRE(r.body["results"][1]["status"] == "committed");
  const auto access_height = r.body["results"][1]["height"].get<std::uint64_t>();

  const Signing auditor{&net.aud, ledger::org_keyid("aud.org", 1)};
  auto a = signed_get(*n, "/v1/audit/accesses?from=1&to=10", auditor);
  REQUIRE_MESSAGE(a.status == 200, a.raw);
  check_required("audit_accesses_response.json", a.body);
  REQUIRE(a.body["items"].size() == 1);
  CHECK(a.body["next"].is_null());
  const json& it = a.body["items"][0];
  auto head = certified_header(net.genesis, a.body["head"]);
  check_proof(it["access_proof"], ledger::access_state_key(ledger::access_id_for(acc.id())),
              it["access"], head.state_root);
  const auto access = decode_hex<ledger::Access>(it["access"]);
  CHECK(access.statutory);
  CHECK(access.height == access_height);
  CHECK_FALSE(it.contains("grant"));
  CHECK_FALSE(it.contains("before"));
  // The record is proven at the end of the access's block, and its anchor
  // position comes before the access's.
  auto at = certified_header(net.genesis, it["at"]);
  CHECK(at.height == access_height);
  check_proof(it["record_proof"], ledger::record_state_key(record), it["record"], at.state_root);
  const auto rec = decode_hex<ledger::Record>(it["record"]);
  CHECK((ledger::ChainPos{rec.anchor_height, rec.anchor_index} <
         ledger::ChainPos{access.height, access.tx_index}));
}

TEST_CASE("audit listing: pages follow the cursor without repeating or skipping") {
  TempDir dir;
  AuthzNetwork net;
  auto n = start_signed_node(net.write(dir));
  auto body = license_body(random_hash());
  body.type_code = "pub.license";
  auto reg =
      signed_tx(ledger::make_body(ledger::TxType::kRegisterRecord, ledger::RegisterRecord{body}),
                net.chain_id, "iss.org", net.iss);
  commit(*n, reg);
  const Hash record = ledger::record_id_for(reg.id());
  json txs = json::array();
  std::vector<std::string> want;
  for (int i = 0; i < 7; ++i) {
    auto acc = signed_tx(
        ledger::make_body(ledger::TxType::kRecordAccess,
                          ledger::RecordAccess{record, Hash{}, "case-" + std::to_string(i)}),
        net.chain_id, "con.org", net.con);
    txs.push_back(tx_hex(acc));
    want.push_back(to_hex(ledger::access_id_for(acc.id())));
  }
  auto r = post(*n, "/v1/transactions/batch?wait=commit", json{{"txs", txs}}.dump());
  REQUIRE_MESSAGE(r.status == 200, r.raw);
  const Signing auditor{&net.aud, ledger::org_keyid("aud.org", 1)};
  std::vector<std::string> got;
  std::string after;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto a = signed_get(*n, "/v1/audit/accesses?from=1&to=100&limit=3" + after, auditor);
    REQUIRE_MESSAGE(a.status == 200, a.raw);
    for (const auto& it : a.body["items"]) got.push_back(it["id"].get<std::string>());
    if (a.body["next"].is_null()) break;
    after = "&after=" + a.body["next"].get<std::string>();
  }
  CHECK(pages == 2);  // 3 + 3 + 1
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  CHECK(got == want);
  for (const char* bad : {"&after=1", "&after=1.x", "&after=01.2", "&after=1.4294967296"})
    CHECK(error_code(signed_get(*n, std::string("/v1/audit/accesses?from=1&to=9") + bad,
                                auditor)) == "BAD_PARAMETER");
}

TEST_CASE("material upload: files above the 8 MiB default up to 64 MiB, on that route only") {
  TempDir dir;
  AuthzNetwork net;
  Config cfg = net.write(dir);
  auto n = start_signed_node(cfg);
  const std::string big(kRequestBodyBytesMax + 1, 'm');
  const Hash h = crypto::sha256(as_bytes(big));
  auto body = license_body(h);
  commit(*n,
         signed_tx(ledger::make_body(ledger::TxType::kRegisterRecord, ledger::RegisterRecord{body}),
                   net.chain_id, "iss.org", net.iss));
  const Signing issuer{&net.iss, ledger::org_keyid("iss.org", 1)};
  auto r = signed_put(*n, "/v1/materials/" + to_hex(h), big, issuer);
  REQUIRE_MESSAGE(r.status == 201, r.raw);
  CHECK(fs::file_size(fs::path(cfg.data_dir) / "materials" / to_hex(h)) == big.size());

  // Other routes keep the default limit.
  auto post_big = post(*n, "/v1/transactions", big);
  CHECK(post_big.status == 413);
  CHECK(error_code(post_big) == "BODY_TOO_LARGE");

  // Over 64 MiB is refused from the header alone.
  auto answer =
      raw_exchange(n->port(),
                   "PUT /v1/materials/" + to_hex(h) + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                       std::to_string(kMaterialBytesMax + 1) + "\r\n\r\n",
                   /*half_close=*/true);
  CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(answer.find("BODY_TOO_LARGE") != std::string::npos);
}
