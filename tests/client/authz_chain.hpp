// A network with every role of the authorization layer, built with the
// kernel alone on a real LevelDB (like KernelChain in test_net.hpp), and a
// transport that answers the SDK's audit and header requests from it the way
// docs/api.md specifies, checking the request signature as the node does.
#pragma once

#include <map>

#include "emledger/client/audit.hpp"
#include "emledger/client/authz.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/http_signature.hpp"
#include "emledger/ledger/json.hpp"
#include "test_net.hpp"

namespace emledger::client_test {

// Orgs: gov.issuer (issuer), id.org (identity), x.consumer and y.consumer
// (consumer), z.auditor (auditor), v.node (validator). Statute: any consumer
// may read "pub.license" records without a grant.
struct AuthzChain {
  crypto::KeyPair issuer = key_from(21);
  crypto::KeyPair identity = key_from(22);
  crypto::KeyPair consumer_x = key_from(23);
  crypto::KeyPair consumer_y = key_from(24);
  crypto::KeyPair auditor = key_from(25);
  crypto::KeyPair validator = key_from(26);
  crypto::KeyPair holder = key_from(27);
  Hash holder_ref = [] {
    Hash h{};
    h.fill(0x5a);
    return h;
  }();
  static constexpr std::uint64_t kGenesisTimeMs = 1'800'000'000'000;

  Genesis genesis = make_genesis();
  TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::uint64_t clock_ms = kGenesisTimeMs;
  std::uint64_t nonce = 0;

  Genesis make_genesis() const {
    Genesis g;
    g.chain_id = "authz-test";
    g.time_ms = kGenesisTimeMs;
    g.orgs = {
        Org{"gov.issuer", "r1", kRoleIssuer, {OrgKey{1, issuer.public_key()}}},
        Org{"id.org", "r1", kRoleIdentity, {OrgKey{1, identity.public_key()}}},
        Org{"v.node", "r1", kRoleValidator, {OrgKey{1, validator.public_key()}}},
        Org{"x.consumer", "r1", kRoleConsumer, {OrgKey{1, consumer_x.public_key()}}},
        Org{"y.consumer", "r2", kRoleConsumer, {OrgKey{1, consumer_y.public_key()}}},
        Org{"z.auditor", "r1", kRoleAuditor, {OrgKey{1, auditor.public_key()}}},
    };
    g.validators = {Validator{"v.node", validator.public_key(), "127.0.0.1:1"}};
    g.statutes = {StatutePolicy{"pub.license", kRoleConsumer}};
    REQUIRE(g.check().is_ok());
    return g;
  }

  AuthzChain() {
    auto store = open_leveldb(dir.file("db"));
    REQUIRE(store.is_ok());
    auto l = Ledger::open(std::move(*store), genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
  }

  client::Signer signer(const crypto::KeyPair& key) const {
    auto s = client::signer_for_key(genesis, key);
    REQUIRE(s.is_ok());
    return *s;
  }
  Tx org_tx(TxType type, Bytes payload, const crypto::KeyPair& key) {
    return client::build_tx(genesis, signer(key), type, std::move(payload), ledger->head().height,
                            ++nonce);
  }
  Tx holder_tx(TxType type, Bytes payload, std::uint32_t seq = 1) {
    return client::build_holder_tx(genesis, client::HolderSigner{holder_ref, seq, holder}, type,
                                   std::move(payload), ledger->head().height, ++nonce);
  }
  Tx reg(const std::string& content, const std::string& type_code) {
    RecordBody b = record_body(content);
    b.type_code = type_code;
    b.holder_ref = holder_ref;
    return org_tx(TxType::kRegisterRecord, encode(RegisterRecord{b}), issuer);
  }
  Tx access(const crypto::KeyPair& org, const Hash& record, const Hash& grant,
            const std::string& case_id) {
    auto p = client::access_payload(record, grant, case_id);
    REQUIRE(p.is_ok());
    return org_tx(TxType::kRecordAccess, *p, org);
  }

  // Commits one block; every transaction must be accepted.
  void commit(const std::vector<Tx>& txs) {
    clock_ms += 1000;
    std::vector<TxOutcome> outcomes;
    auto p = ledger->prepare(txs, clock_ms, 0, validator.public_key(), false, outcomes);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    for (const auto& o : outcomes) REQUIRE_MESSAGE(o.status.is_ok(), o.status.to_string());
    Certificate cert;
    sign_certificate(genesis, p->block.header, 0, validator, cert);
    REQUIRE(ledger->commit(*p, cert).is_ok());
  }

  template <class T>
  T state(const Bytes& key, std::uint64_t height) const {
    auto p = ledger->state_proof(key, height);
    REQUIRE(p.is_ok());
    REQUIRE(p->present);
    auto v = decode<T>(p->value);
    REQUIRE(v.is_ok());
    return *v;
  }
};

// Serves GET /v1/headers/{latest,h}, GET /v1/proofs/state and the signed GET
// /v1/audit/accesses from an AuthzChain. `tamper` may alter each audit item.
class ChainTransport final : public client::Transport {
 public:
  explicit ChainTransport(const AuthzChain& chain) : c_(chain) {}
  std::function<void(ledger::Json&)> tamper;       // each audit item
  std::function<void(ledger::Json&)> tamper_view;  // each holder view item
  int audit_pages = 0;

  std::string authority() const override { return "node.test:7700"; }
  Result<client::HttpResponse> get(const std::string& target) override;
  Result<client::HttpResponse> post(const std::string&, const std::string&, bool) override {
    return Status::error("NOT_SUPPORTED", "read-only fake");
  }
  Result<client::HttpResponse> send(const client::HttpCall& call) override;

 private:
  ledger::Json header_json(std::uint64_t h) const;
  std::string hex_proof(const Bytes& key, std::uint64_t h) const;
  client::HttpResponse audit_page(std::uint64_t from, std::uint64_t to, std::size_t limit) const;
  client::HttpResponse holder_list(const std::string& target, const KeyId& signer) const;
  client::HttpResponse grant_read(const Hash& id) const;
  const AuthzChain& c_;
};

}  // namespace emledger::client_test
