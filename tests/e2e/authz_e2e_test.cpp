// The acceptance of the authorization layer with real processes: one node
// (the issuing agency's, serving its material store) on a genesis with four
// distinct parties (issuing agency, consuming agency, identity org, auditor)
// and a holder key, every step through the emledger CLI.
#include <chrono>

#include "e2e_support.hpp"
#include "emledger/client/authz.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

// A valid resident id (GB 11643-1999 check digit) and file bytes nobody else
// writes: the scan at the end looks for both.
const std::string kIdentityNumber = "11010519491231002X";
const std::string kMarker = "q7Zr2Kx9Lm4Tw8Vb3Np6Hc1Jd5Fg0Ys";

Json json_of(const testing::RunResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), r.out);
  return j;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string now_ms_plus(std::int64_t delta_ms) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::to_string(now + delta_ms);
}

// Passes everything through, but flips a byte of every file the material
// store releases: a source node (or a path to it) that corrupts the file.
class CorruptingTransport final : public client::Transport {
 public:
  explicit CorruptingTransport(std::unique_ptr<client::Transport> inner)
      : inner_(std::move(inner)) {}
  Result<client::HttpResponse> get(const std::string& t) override { return inner_->get(t); }
  Result<client::HttpResponse> post(const std::string& t, const std::string& b, bool w) override {
    return inner_->post(t, b, w);
  }
  Result<client::HttpResponse> send(const client::HttpCall& call) override {
    auto r = inner_->send(call);
    if (r && r->status == 200 && call.target.rfind("/v1/materials/", 0) == 0)
      r->body = flip_byte(r->body, 100);
    return r;
  }
  std::string authority() const override { return inner_->authority(); }

 private:
  std::unique_ptr<client::Transport> inner_;
};

}  // namespace

TEST_CASE(
    "e2e: bind, grant, one-call fetch, holder view, audit, revoke; no identity or content on "
    "chain") {
  Scratch s("authz");
  for (const char* k : {"issuer", "consumer", "identity", "auditor", "holder"}) {
    auto r = cli(s, {"keygen", "--out", s.path(std::string(k) + ".key"), "--no-passphrase"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  }
  // A node outside --dev wants a passphrase-protected key.
  const std::string pass = s.write("pass", "validator passphrase\n");
  auto vk = cli(s, {"keygen", "--out", s.path("validator.key"), "--passphrase-file", pass});
  REQUIRE_MESSAGE(vk.exit_code == 0, vk.out);
  const std::string genesis = s.path("genesis.json");
  REQUIRE(cli(s, {"genesis", "new", "--chain-id", "e2e-authz", "--out", genesis, "--time",
                  now_ms_plus(-60'000)})
              .exit_code == 0);
  const std::vector<std::vector<std::string>> orgs = {{"gov.issuer", "issuer", "issuer"},
                                                      {"id.org", "identity", "identity"},
                                                      {"v.node", "validator", "validator"},
                                                      {"x.consumer", "consumer", "consumer"},
                                                      {"z.auditor", "auditor", "auditor"}};
  for (const auto& o : orgs) {
    auto r = cli(s, {"genesis", "add-org", genesis, "--id", o[0], "--region", "r1", "--roles", o[1],
                     "--key", s.path(o[2] + ".key"), "--passphrase-file", pass});
    REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  }
  auto law =
      cli(s, {"genesis", "add-statute", genesis, "--type", "pub.license", "--roles", "consumer"});
  REQUIRE_MESSAGE(law.exit_code == 0, law.out);
  auto av =
      cli(s, {"genesis", "add-validator", genesis, "--org", "v.node", "--key",
              s.path("validator.key"), "--passphrase-file", pass, "--address", "127.0.0.1:1"});
  REQUIRE_MESSAGE(av.exit_code == 0, av.out);

  const std::string data = s.path("node");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, data);
  REQUIRE_MESSAGE(
      node.start({"--data", data, "--genesis", genesis, "--key", s.path("validator.key"),
                  "--passphrase-file", pass, "--listen", "127.0.0.1:0"}),
      node.log());
  const std::string url = node.url();

  // The identity org computes the holder_ref; only the reference travels.
  REQUIRE(cli(s, {"pseudonym-key", "new", "--out", s.path("pseudonym.key")}).exit_code == 0);
  auto hr = cli(s, {"holder-ref", "--kind", "cn-resident-id", "--number", kIdentityNumber,
                    "--pseudonym-key", s.path("pseudonym.key"), "--json"});
  REQUIRE_MESSAGE(hr.exit_code == 0, hr.out);
  CHECK_FALSE(contains(hr.out, kIdentityNumber));
  const std::string ref = json_of(hr).at("holder_ref").get<std::string>();

  // The issuing agency anchors and stores the file.
  const std::string content = "%PDF-1.7 diploma " + kMarker + "\n" + std::string(3000, 'd');
  const std::string file = s.write("diploma.pdf", content);
  auto reg = cli(s, {"register", file, "--type", "edu.diploma", "--kind", "material",
                     "--holder-ref", ref, "--key", s.path("issuer.key"), "--node", url, "--json"});
  REQUIRE_MESSAGE(reg.exit_code == 0, reg.out);
  const std::string record = json_of(reg).at("record_id").get<std::string>();
  auto up = cli(s, {"material", "upload", file, "--key", s.path("issuer.key"), "--node", url});
  REQUIRE_MESSAGE(up.exit_code == 0, up.out);

  auto bind = cli(s, {"holder", "bind", "--holder-ref", ref, "--holder-key", s.path("holder.key"),
                      "--key", s.path("identity.key"), "--node", url});
  REQUIRE_MESSAGE(bind.exit_code == 0, bind.out);

  // The holder signs a grant for x.consumer: scope is "--record ID" or
  // "--type CODE".
  auto create_grant = [&](const std::string& scope_flag, const std::string& scope,
                          const std::string& case_id, const std::string& max_uses) {
    return cli(s, {"grant",        "create",
                   "--holder-ref", ref,
                   "--key",        s.path("holder.key"),
                   "--grantee",    "x.consumer",
                   scope_flag,     scope,
                   "--service",    "svc.enrol",
                   "--case",       case_id,
                   "--not-before", now_ms_plus(-60'000),
                   "--not-after",  now_ms_plus(3'600'000),
                   "--max-uses",   max_uses,
                   "--node",       url,
                   "--json"});
  };
  auto gr = create_grant("--record", record, "case-1", "3");
  REQUIRE_MESSAGE(gr.exit_code == 0, gr.out);
  const std::string grant = json_of(gr).at("grant_id").get<std::string>();

  const std::vector<std::string> fetch = {
      "material", "fetch", "--holder-ref", ref,      "--type", "edu.diploma",
      "--grant",  grant,   "--case",       "case-1", "--key",  s.path("consumer.key"),
      "--node",   url,     "--trust",      genesis,  "--json", "--out"};
  auto f1 = fetch;
  f1.push_back(s.path("fetched.pdf"));
  f1.insert(f1.end(), {"--source", url});  // the issuing agency's node (here the only one)
  auto got = cli(s, f1);
  REQUIRE_MESSAGE(got.exit_code == 0, got.out);
  CHECK(testing::read_file(s.path("fetched.pdf")) == content);
  CHECK(json_of(got).at("verified") == true);

  // Corrupted bytes on the way: the access is recorded (a use is spent) but
  // nothing is released to the caller.
  {
    auto trusted = ledger::load_genesis_file(genesis);
    REQUIRE(trusted.is_ok());
    auto ck = crypto::read_key_file(s.path("consumer.key"), std::nullopt);
    REQUIRE(ck.is_ok());
    auto signer = client::signer_for_key(*trusted, *ck);
    REQUIRE(signer.is_ok());
    client::AuthzClient sdk(std::make_shared<CorruptingTransport>(client::make_http_transport(url)),
                            *trusted);
    auto bad = sdk.fetch_shared_material(*signer, *hash_from_hex(ref), "edu.diploma",
                                         *hash_from_hex(grant), "case-1");
    REQUIRE_FALSE(bad.is_ok());
    CHECK(bad.status().code() == "MATERIAL_HASH_MISMATCH");
    CHECK(client::classify(bad.status()) == client::ErrorClass::kVerifiedFalse);
  }

  auto view = cli(s, {"holder", "view", "accesses", "--holder-ref", ref, "--key",
                      s.path("holder.key"), "--node", url, "--trust", genesis, "--json"});
  REQUIRE_MESSAGE(view.exit_code == 0, view.out);
  const Json items = json_of(view).at("items");
  REQUIRE(items.size() == 2);
  CHECK(contains(items[0].dump(), "x.consumer"));

  // A public license is read under the statute, without a grant; an
  // unauthorized read of the diploma without a grant is refused.
  const std::string lic = s.write("license.pdf", "public business license " + kMarker);
  auto lreg = cli(s, {"register", lic, "--type", "pub.license", "--holder-ref", ref, "--key",
                      s.path("issuer.key"), "--node", url, "--json"});
  REQUIRE_MESSAGE(lreg.exit_code == 0, lreg.out);
  const std::string lic_record = json_of(lreg).at("record_id").get<std::string>();
  auto stat = cli(s, {"access", lic_record, "--statute", "--case", "case-9", "--key",
                      s.path("consumer.key"), "--node", url, "--json"});
  CHECK_MESSAGE(stat.exit_code == 0, stat.out);
  auto nograce = cli(s, {"access", record, "--statute", "--case", "case-9", "--key",
                         s.path("consumer.key"), "--node", url});
  CHECK_MESSAGE(nograce.exit_code == 2, nograce.out);
  CHECK(contains(nograce.out, "NO_GRANT"));

  auto audit = cli(
      s, {"audit", "--node", url, "--trust", genesis, "--key", s.path("auditor.key"), "--json"});
  CHECK_MESSAGE(audit.exit_code == 0, audit.out);
  if (audit.exit_code == 0) {
    const Json aj = json_of(audit);
    CHECK(aj.at("accesses") == 3);
    CHECK(aj.at("by_org").at("x.consumer").at("accesses") == 3);
    CHECK(aj.at("by_org").at("x.consumer").at("statutory") == 1);
    CHECK(aj.at("by_type").at("pub.license").at("accesses") == 1);
    CHECK(aj.at("by_type").at("edu.diploma").at("uncovered") == 0);
  }

  // The holder withdraws consent: the next fetch is refused, nothing released.
  auto rv = cli(s, {"grant", "revoke", grant, "--holder-ref", ref, "--key", s.path("holder.key"),
                    "--node", url});
  REQUIRE_MESSAGE(rv.exit_code == 0, rv.out);
  auto f2 = fetch;
  f2.push_back(s.path("refused.pdf"));
  auto refused = cli(s, f2);
  CHECK_MESSAGE(refused.exit_code == 2, refused.out);
  CHECK(contains(refused.out, "GRANT_REVOKED"));
  CHECK_FALSE(fs::exists(s.path("refused.pdf")));

  // A grant naming the type code only: the consumer's one call finds the
  // holder's diploma through it, without knowing the record id.
  auto gt = create_grant("--type", "edu.diploma", "case-2", "1");
  REQUIRE_MESSAGE(gt.exit_code == 0, gt.out);
  const std::string type_grant = json_of(gt).at("grant_id").get<std::string>();
  const std::vector<std::string> by_type = {
      "material", "fetch",    "--holder-ref", ref,      "--type",   "edu.diploma",
      "--grant",  type_grant, "--case",       "case-2", "--key",    s.path("consumer.key"),
      "--node",   url,        "--trust",      genesis,  "--source", url,
      "--out"};
  auto t1 = by_type;
  t1.push_back(s.path("by-type.pdf"));
  auto by_type_got = cli(s, t1);
  REQUIRE_MESSAGE(by_type_got.exit_code == 0, by_type_got.out);
  CHECK(testing::read_file(s.path("by-type.pdf")) == content);
  // Its one use is spent: a second fetch is refused and writes nothing.
  auto t2 = by_type;
  t2.push_back(s.path("by-type-again.pdf"));
  auto spent = cli(s, t2);
  CHECK_MESSAGE(spent.exit_code == 2, spent.out);
  CHECK(contains(spent.out, "GRANT_EXHAUSTED"));
  CHECK_FALSE(fs::exists(s.path("by-type-again.pdf")));

  // The holder contests the record: it still verifies, visibly contested.
  auto obj = cli(s, {"objection", "file", record, "--reason", "3", "--holder-ref", ref, "--key",
                     s.path("holder.key"), "--node", url, "--json"});
  REQUIRE_MESSAGE(obj.exit_code == 0, obj.out);
  const std::string objection = json_of(obj).at("objection_id").get<std::string>();
  auto contested = cli(s, {"verify", file, "--node", url, "--trust", genesis});
  CHECK_MESSAGE(contested.exit_code == 0, contested.out);
  CHECK_MESSAGE(contains(contested.out, "UNDER OBJECTION"), contested.out);
  auto resolved = cli(s, {"objection", "resolve", objection, "--outcome", "rejected", "--reason",
                          "1", "--key", s.path("issuer.key"), "--node", url});
  CHECK_MESSAGE(resolved.exit_code == 0, resolved.out);
  auto settled = cli(s, {"verify", file, "--node", url, "--trust", genesis});
  CHECK_MESSAGE(!contains(settled.out, "UNDER OBJECTION"), settled.out);

  // Key rotation: the old key no longer speaks for the holder.
  REQUIRE(cli(s, {"keygen", "--out", s.path("holder2.key"), "--no-passphrase"}).exit_code == 0);
  auto rot = cli(s, {"holder", "rotate", "--holder-ref", ref, "--key", s.path("holder.key"),
                     "--new-key", s.path("holder2.key"), "--node", url});
  REQUIRE_MESSAGE(rot.exit_code == 0, rot.out);
  auto old_view = cli(s, {"holder", "view", "grants", "--holder-ref", ref, "--key",
                          s.path("holder.key"), "--node", url, "--trust", genesis});
  CHECK_MESSAGE(old_view.exit_code == 2, old_view.out);
  CHECK(contains(old_view.out, "HOLDER_KEY_MISMATCH"));
  auto new_view = cli(s, {"holder", "view", "grants", "--holder-ref", ref, "--key",
                          s.path("holder2.key"), "--node", url, "--trust", genesis});
  CHECK_MESSAGE(new_view.exit_code == 0, new_view.out);
  CHECK_MESSAGE(contains(new_view.out, "REVOKED"), new_view.out);

  auto arch = cli(s, {"archive", "case-1", "--package", file, "--record", record, "--key",
                      s.path("consumer.key"), "--node", url});
  CHECK_MESSAGE(arch.exit_code == 0, arch.out);

  // Nothing the node stores outside its material store holds the identity
  // number or the file's distinctive bytes.
  node.stop(SIGTERM);
  std::size_t scanned = 0;
  for (const auto& e : fs::recursive_directory_iterator(data)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), data);
    if (*rel.begin() == "materials") continue;  // the off-chain store: expected to hold the file
    const std::string bytes = testing::read_file(e.path().string());
    ++scanned;
    CHECK_MESSAGE(!contains(bytes, kIdentityNumber), rel.string());
    CHECK_MESSAGE(!contains(bytes, kMarker), rel.string());
  }
  CHECK(scanned > 0);
}
