// What the client tests share: fixed keys, the test network's genesis, temp
// directories, and KernelChain, a chain built with the kernel alone in a real
// LevelDB. KernelChain is for the tests of pure verification functions, which
// need blocks the node would never make (empty ones, forged and re-certified
// ones); everything that talks to a node talks to a real one (live_node.hpp).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "emledger/crypto/sha256.hpp"
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
    // The random part keeps two test processes with a recycled pid apart.
    path_ = std::filesystem::temp_directory_path() /
            ("emledger-client-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  std::filesystem::path path_;
};

// Orgs: gov.issuer (issuer; keys 1 and 2), x.consumer (consumer), v.node
// (validator). One validator, so quorum 1: what one node certifies alone.
struct TestKeys {
  crypto::KeyPair issuer = key_from(11);
  crypto::KeyPair issuer2 = key_from(12);
  crypto::KeyPair consumer = key_from(13);
  crypto::KeyPair validator = key_from(14);

  static constexpr std::uint64_t kGenesisTimeMs = 1'800'000'000'000;

  Genesis make_genesis(std::uint64_t time_ms = kGenesisTimeMs) const {
    Genesis g;
    g.chain_id = "client-test";
    g.time_ms = time_ms;
    g.orgs = {
        Org{"gov.issuer",
            "r1",
            kRoleIssuer,
            {OrgKey{1, issuer.public_key()}, OrgKey{2, issuer2.public_key()}}},
        Org{"v.node", "r1", kRoleValidator, {OrgKey{1, validator.public_key()}}},
        Org{"x.consumer", "r2", kRoleConsumer, {OrgKey{1, consumer.public_key()}}},
    };
    g.validators = {Validator{"v.node", validator.public_key(), "127.0.0.1:1"}};
    REQUIRE(g.check().is_ok());
    return g;
  }
};

// A licence whose file content is `content`.
inline RecordBody record_body(const std::string& content, std::uint64_t valid_until_ms = 0) {
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

// A chain committed with the kernel directly (prepare, certify with the
// validator key, commit), block by block as the test dictates.
struct KernelChain : TestKeys {
  Genesis genesis = make_genesis();
  TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::uint64_t clock_ms = kGenesisTimeMs;
  std::uint64_t nonce = 0;

  KernelChain() {
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

  Tx reg(const std::string& content, std::uint64_t valid_until_ms = 0) {
    return tx(TxType::kRegisterRecord, encode(RegisterRecord{record_body(content, valid_until_ms)}),
              issuer);
  }

  // Prepares, certifies and commits one block of `txs`; all must be valid.
  PreparedBlock commit(const std::vector<Tx>& txs) {
    clock_ms += 1000;
    std::vector<TxOutcome> outcomes;
    auto p = ledger->prepare(txs, clock_ms, 0, validator.public_key(), false, outcomes);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    for (const auto& o : outcomes) REQUIRE_MESSAGE(o.status.is_ok(), o.status.to_string());
    REQUIRE(ledger->commit(*p, cert_for(p->block.header)).is_ok());
    return std::move(p).value();
  }

  Certificate cert_for(const BlockHeader& h) const {
    Certificate cert;
    sign_certificate(genesis, h, 0, validator, cert);
    return cert;
  }
};

}  // namespace emledger::client_test
