// A network for client tests with no sockets: a real Ledger in a temp dir
// certified by one validator key, and a Transport that answers the HTTP API
// (docs/api.md) from it, with hooks to take the node down or tamper with an
// answer. The SDK under test cannot tell it from a node.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "emledger/client/sdk.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/ledger.hpp"

namespace emledger::client_test {

using namespace emledger::ledger;

inline crypto::KeyPair key_from(std::uint8_t n) {
  crypto::Seed seed{};
  seed.fill(n);
  return crypto::KeyPair::from_seed(seed);
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("emledger-client-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  std::filesystem::path path_;
};

// Orgs: gov.issuer (issuer; keys 1 and 2), x.consumer (consumer), v.node
// (validator). One validator, so quorum 1.
struct TestNet {
  crypto::KeyPair issuer = key_from(11);
  crypto::KeyPair issuer2 = key_from(12);
  crypto::KeyPair consumer = key_from(13);
  crypto::KeyPair validator = key_from(14);
  Genesis genesis;
  TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::uint64_t clock_ms = 1'800'000'000'000;
  std::uint64_t nonce = 0;

  TestNet() {
    genesis.chain_id = "client-test";
    genesis.time_ms = clock_ms;
    genesis.orgs = {
        Org{"gov.issuer",
            "r1",
            kRoleIssuer,
            {OrgKey{1, issuer.public_key()}, OrgKey{2, issuer2.public_key()}}},
        Org{"v.node", "r1", kRoleValidator, {OrgKey{1, validator.public_key()}}},
        Org{"x.consumer", "r2", kRoleConsumer, {OrgKey{1, consumer.public_key()}}},
    };
    genesis.validators = {Validator{"v.node", validator.public_key(), "127.0.0.1:1"}};
    auto store = open_leveldb(dir.file("db"));
    REQUIRE(store.is_ok());
    auto l = Ledger::open(std::move(*store), genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
  }

  Tx tx(TxType type, const Bytes& payload, const crypto::KeyPair& key, std::uint32_t key_id = 1,
        const std::string& org = "gov.issuer") {
    TxBody b;
    b.chain_id = genesis.chain_id;
    b.signer_org = org;
    b.key_id = key_id;
    b.expires_at_height = ledger->head().height + 100;
    b.nonce = ++nonce;
    b.type = static_cast<std::uint8_t>(type);
    b.payload = payload;
    return sign_tx(std::move(b), key);
  }

  static RecordBody body(const std::string& content, std::uint64_t valid_until_ms = 0) {
    RecordBody b;
    b.kind = static_cast<std::uint8_t>(RecordKind::kLicense);
    b.type_code = "biz.license";
    b.holder_ref.fill(0xab);
    b.content_hash = crypto::sha256(as_bytes(content));
    b.size_bytes = content.size();
    b.media_type = "application/pdf";
    b.valid_until_ms = valid_until_ms;
    return b;
  }

  Tx reg(const std::string& content, std::uint64_t valid_until_ms = 0) {
    return tx(TxType::kRegisterRecord, encode(RegisterRecord{body(content, valid_until_ms)}),
              issuer);
  }

  // Prepares, certifies and commits one block of `txs`; all must be valid.
  PreparedBlock commit(const std::vector<Tx>& txs) {
    clock_ms += 1000;
    std::vector<TxOutcome> outcomes;
    auto p = ledger->prepare(txs, clock_ms, 0, validator.public_key(), false, outcomes);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    for (const auto& o : outcomes) REQUIRE_MESSAGE(o.status.is_ok(), o.status.to_string());
    Certificate cert;
    sign_certificate(genesis, p->block.header, 0, validator, cert);
    REQUIRE(ledger->commit(*p, cert).is_ok());
    return std::move(p).value();
  }

  Certificate cert_for(const BlockHeader& h) const {
    Certificate cert;
    sign_certificate(genesis, h, 0, validator, cert);
    return cert;
  }
};

// The node's HTTP API answered in process from TestNet's ledger.
class FakeNode final : public client::Transport {
 public:
  explicit FakeNode(TestNet& net) : net_(net) {}

  bool down = false;
  // Called on every answer before it is returned; may change it.
  std::function<void(const std::string& target, client::HttpResponse&)> tamper;
  // Overrides the genesis this node claims to run.
  std::optional<Genesis> claimed_genesis;
  // Who signs the checkpoint (default: the validator under "v.node").
  std::optional<std::pair<std::string, crypto::KeyPair>> checkpoint_signer;
  int requests = 0;

  Result<client::HttpResponse> get(const std::string& target) override {
    std::lock_guard lock(mu_);
    ++requests;
    if (down) return Status::error("NODE_UNREACHABLE", "fake node is down");
    client::HttpResponse res = route_get(target);
    if (tamper) tamper(target, res);
    return res;
  }

  Result<client::HttpResponse> post(const std::string& target, const std::string& body,
                                    bool) override {
    std::lock_guard lock(mu_);
    ++requests;
    if (down) return Status::error("NODE_UNREACHABLE", "fake node is down");
    client::HttpResponse res = route_post(target, body);
    if (tamper) tamper(target, res);
    return res;
  }

 private:
  static client::HttpResponse json(int status, const Json& j) {
    return {status, j.dump(), "application/json"};
  }
  static client::HttpResponse error(int status, const std::string& code) {
    return json(status, {{"error", {{"code", code}, {"message", code}}}});
  }
  static std::map<std::string, std::string> query(const std::string& target) {
    std::map<std::string, std::string> q;
    auto qm = target.find('?');
    if (qm == std::string::npos) return q;
    std::string rest = target.substr(qm + 1);
    std::size_t pos = 0;
    while (pos <= rest.size()) {
      auto amp = rest.find('&', pos);
      if (amp == std::string::npos) amp = rest.size();
      auto kv = rest.substr(pos, amp - pos);
      auto eq = kv.find('=');
      if (eq != std::string::npos) q[kv.substr(0, eq)] = kv.substr(eq + 1);
      pos = amp + 1;
    }
    return q;
  }
  static std::string path_of(const std::string& target) {
    return target.substr(0, target.find('?'));
  }

  Json header_json(std::uint64_t h) {
    auto hdr = net_.ledger->header(h);
    auto cert = net_.ledger->certificate(h);
    REQUIRE((hdr.is_ok() && hdr->has_value() && cert.is_ok() && cert->has_value()));
    return {{"height", h},
            {"hash", to_hex((*hdr)->hash())},
            {"header", to_json(**hdr)},
            {"encoded", to_hex(ByteView(encode(**hdr)))},
            {"certificate", to_hex(ByteView(encode(**cert)))}};
  }

  client::HttpResponse route_get(const std::string& target) {
    const std::string path = path_of(target);
    auto q = query(target);
    const ChainHead head = net_.ledger->head();
    if (path == "/v1/health")
      return json(200, {{"status", "ok"},
                        {"chain_id", net_.genesis.chain_id},
                        {"genesis_hash", to_hex(net_.ledger->genesis_hash())},
                        {"height", head.height},
                        {"log_size", head.log_size}});
    if (path == "/v1/genesis") return json(200, to_json(claimed_genesis.value_or(net_.genesis)));
    if (path == "/v1/headers/latest") {
      if (head.height == 0) return error(404, "NOT_FOUND");
      return json(200, header_json(head.height));
    }
    if (path.rfind("/v1/headers/", 0) == 0) {
      std::uint64_t h = std::stoull(path.substr(12));
      if (h == 0 || h > head.height) return error(404, "NOT_FOUND");
      return json(200, header_json(h));
    }
    if (path == "/v1/headers") {
      std::uint64_t from = std::stoull(q["from"]), to = std::stoull(q["to"]);
      if (from == 0 || to < from || to > head.height || to - from >= 1000)
        return error(400, "BAD_PARAMETER");
      Json list = Json::array();
      for (std::uint64_t h = from; h <= to; ++h) list.push_back(header_json(h));
      return json(200, {{"headers", list}});
    }
    if (path.rfind("/v1/blocks/", 0) == 0) {
      std::uint64_t h = std::stoull(path.substr(11));
      auto blk = net_.ledger->block(h);
      auto cert = net_.ledger->certificate(h);
      if (!blk.is_ok() || !blk->has_value()) return error(404, "NOT_FOUND");
      return json(200, {{"height", h},
                        {"block", to_hex(ByteView(encode(**blk)))},
                        {"certificate", to_hex(ByteView(encode(**cert)))}});
    }
    if (path == "/v1/proofs/state") {
      auto key = from_hex(q["key"]);
      std::optional<std::uint64_t> height;
      if (q.count("height")) height = std::stoull(q["height"]);
      auto p = net_.ledger->state_proof(*key, height);
      if (!p) return error(400, p.status().code());
      return json(
          200, {{"proof", to_hex(ByteView(encode(*p)))}, {"height", height.value_or(head.height)}});
    }
    if (path == "/v1/proofs/consistency") {
      auto p = net_.ledger->consistency_proof(std::stoull(q["first"]), std::stoull(q["second"]));
      if (!p) return error(400, p.status().code());
      return json(200, {{"proof", to_hex(ByteView(encode(*p)))}});
    }
    if (path == "/v1/proofs/inclusion") {
      auto id = hash_from_hex(q["tx"]);
      auto entry = net_.ledger->tx_entry(*id);
      if (!entry.is_ok() || !entry->has_value()) return error(404, "TX_NOT_FOUND");
      std::uint64_t size = q.count("size") ? std::stoull(q["size"]) : head.log_size;
      auto p = net_.ledger->inclusion_proof((*entry)->log_index, size);
      if (!p) return error(400, p.status().code());
      return json(200, {{"proof", to_hex(ByteView(encode(*p)))}});
    }
    if (path == "/v1/bundles") {
      auto b = net_.ledger->bundle_for_hash(*hash_from_hex(q["content_hash"]));
      if (!b) return error(404, b.status().code());
      return json(200, {{"bundle", to_hex(ByteView(encode(*b)))}, {"height", head.height}});
    }
    if (path == "/v1/checkpoint") {
      Checkpoint cp{net_.genesis.chain_id, head.log_size, head.log_root};
      auto signer = checkpoint_signer.value_or(std::make_pair("v.node", net_.validator));
      return {200, sign_checkpoint(cp, signer.first, signer.second), "text/plain"};
    }
    if (path.rfind("/v1/transactions/", 0) == 0) {
      auto id = hash_from_hex(path.substr(17));
      auto entry = net_.ledger->tx_entry(*id);
      if (!entry.is_ok() || !entry->has_value()) return error(404, "TX_NOT_FOUND");
      return json(200, {{"id", to_hex(*id)},
                        {"status", "committed"},
                        {"height", (*entry)->height},
                        {"index", (*entry)->index},
                        {"log_index", (*entry)->log_index},
                        {"tx", to_hex(ByteView((*entry)->tx))}});
    }
    return error(404, "NOT_FOUND");
  }

  // All valid transactions of the batch go into one block.
  client::HttpResponse route_batch(const std::string& body) {
    auto j = Json::parse(body, nullptr, false);
    std::vector<Tx> txs;
    for (const auto& hex : j["txs"]) txs.push_back(*decode<Tx>(*from_hex(hex.get<std::string>())));
    net_.clock_ms += 1000;
    std::vector<TxOutcome> outcomes;
    auto p =
        net_.ledger->prepare(txs, net_.clock_ms, 0, net_.validator.public_key(), false, outcomes);
    REQUIRE(p.is_ok());
    REQUIRE(net_.ledger->commit(*p, net_.cert_for(p->block.header)).is_ok());
    Json results = Json::array();
    for (const auto& o : outcomes) {
      if (o.status.is_ok()) {
        auto entry = **net_.ledger->tx_entry(o.id);
        results.push_back({{"id", to_hex(o.id)},
                           {"status", "committed"},
                           {"height", entry.height},
                           {"log_index", entry.log_index}});
      } else {
        results.push_back(
            {{"id", to_hex(o.id)},
             {"status", "rejected"},
             {"error", {{"code", o.status.code()}, {"message", o.status.message()}}}});
      }
    }
    return json(200, {{"results", results}});
  }

  client::HttpResponse route_post(const std::string& target, const std::string& body) {
    if (path_of(target) == "/v1/transactions/batch") return route_batch(body);
    if (path_of(target) != "/v1/transactions") return error(404, "NOT_FOUND");
    auto j = Json::parse(body, nullptr, false);
    auto raw = from_hex(j.value("tx", ""));
    if (!raw) return error(400, "MALFORMED_REQUEST");
    auto tx = decode<Tx>(*raw);
    if (!tx) return error(400, "TX_MALFORMED");
    if (Status st = net_.ledger->check_tx_stateless(*tx); !st) return error(403, st.code());
    net_.clock_ms += 1000;
    std::vector<TxOutcome> outcomes;
    auto p =
        net_.ledger->prepare({*tx}, net_.clock_ms, 0, net_.validator.public_key(), true, outcomes);
    if (!p) return error(500, "INTERNAL_ERROR");
    if (!outcomes[0].status) return error(422, outcomes[0].status.code());
    REQUIRE(net_.ledger->commit(*p, net_.cert_for(p->block.header)).is_ok());
    auto entry = net_.ledger->tx_entry(tx->id());
    return json(200, {{"id", to_hex(tx->id())},
                      {"status", "committed"},
                      {"height", (*entry)->height},
                      {"log_index", (*entry)->log_index}});
  }

  TestNet& net_;
  std::mutex mu_;
};

}  // namespace emledger::client_test
