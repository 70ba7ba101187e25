// Shared helpers for the node tests: temp directories, in-process nodes on
// loopback ports, signed transactions and small HTTP helpers.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>

#include "config.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/json.hpp"
#include "node.hpp"

namespace emledger::node::test {

namespace fs = std::filesystem;
using nlohmann::json;

// Whether `cond` holds within `timeout_ms`, polled every 20 ms (and once more
// at the deadline).
inline bool eventually(const std::function<bool()>& cond, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("emledger-node-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter.fetch_add(1)) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string str(const std::string& sub = "") const { return (path_ / sub).string(); }

 private:
  fs::path path_;
};

inline Config dev_config(const std::string& data_dir) {
  Config c;
  c.dev = true;
  c.data_dir = data_dir;
  c.listen = "127.0.0.1:0";
  c.http_threads = 2;
  return c;
}

inline std::unique_ptr<Node> start_node(const Config& c) {
  auto n = Node::start(c);
  REQUIRE_MESSAGE(n.is_ok(), n.status().to_string());
  return std::move(*n);
}

inline httplib::Client client_for(Node& n) {
  httplib::Client c("127.0.0.1", n.port());
  c.set_connection_timeout(5);
  c.set_read_timeout(30);
  c.set_write_timeout(30);
  return c;
}

struct Reply {
  int status = 0;
  json body;
  std::string raw;
};

inline Reply to_reply(const httplib::Result& r) {
  REQUIRE_MESSAGE(r, "HTTP request failed: " << httplib::to_string(r.error()));
  Reply out;
  out.status = r->status;
  out.raw = r->body;
  out.body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  return out;
}

inline Reply get(Node& n, const std::string& path) {
  auto c = client_for(n);
  return to_reply(c.Get(path.c_str()));
}

inline Reply post(Node& n, const std::string& path, const std::string& body) {
  auto c = client_for(n);
  return to_reply(c.Post(path.c_str(), body, "application/json"));
}

inline std::string error_code(const Reply& r) {
  if (!r.body.is_object() || !r.body.contains("error")) return "";
  return r.body["error"].value("code", "");
}

// Thread safe: tests submit from several threads, and a shared generator
// raced into handing two threads the same hash (a duplicate record).
inline Hash random_hash() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  Hash h;
  for (auto& b : h) b = static_cast<std::uint8_t>(rng());
  return h;
}

inline ledger::RecordBody license_body(const Hash& content_hash) {
  ledger::RecordBody b;
  b.kind = static_cast<std::uint8_t>(ledger::RecordKind::kLicense);
  b.type_code = "test.business-license";
  b.holder_ref = random_hash();
  b.content_hash = content_hash;
  b.size_bytes = 1234;
  b.media_type = "application/pdf";
  b.locator = "https://issuer.example/files/1";
  b.issued_at_ms = 1'700'000'000'000;
  b.valid_from_ms = 1'700'000'000'000;
  b.valid_until_ms = 0;
  return b;
}

// A signed transaction with the fields admission and execution look at.
inline ledger::Tx signed_tx(ledger::TxBody body, const std::string& chain_id,
                            const std::string& org, const crypto::KeyPair& key,
                            std::uint64_t expires_at_height = 1000) {
  static std::atomic<std::uint64_t> nonce{1};
  body.chain_id = chain_id;
  body.signer_org = org;
  body.key_id = 1;
  body.expires_at_height = expires_at_height;
  body.nonce = nonce.fetch_add(1);
  return ledger::sign_tx(std::move(body), key);
}

inline ledger::Tx register_tx(const std::string& chain_id, const std::string& org,
                              const crypto::KeyPair& key, const Hash& content_hash) {
  return signed_tx(ledger::make_body(ledger::TxType::kRegisterRecord,
                                     ledger::RegisterRecord{license_body(content_hash)}),
                   chain_id, org, key);
}

inline ledger::Tx revoke_tx(const std::string& chain_id, const std::string& org,
                            const crypto::KeyPair& key, const Hash& record) {
  return signed_tx(
      ledger::make_body(ledger::TxType::kRevokeRecord, ledger::RevokeRecord{record, 7}), chain_id,
      org, key);
}

inline std::string tx_hex(const ledger::Tx& tx) { return to_hex(ledger::encode(tx)); }
inline std::string submit_body(const ledger::Tx& tx) { return json{{"tx", tx_hex(tx)}}.dump(); }

inline crypto::KeyPair dev_issuer_key(const std::string& data_dir) {
  auto k = crypto::read_key_file(dev_issuer_key_path(data_dir), std::nullopt);
  REQUIRE_MESSAGE(k.is_ok(), k.status().to_string());
  return *k;
}

// An org of a test genesis: region r1, one key with id 1.
inline ledger::Org test_org(std::string id, std::uint32_t roles, const crypto::KeyPair& k) {
  ledger::Org o;
  o.id = std::move(id);
  o.region = "r1";
  o.roles = roles;
  o.keys.push_back(ledger::OrgKey{1, k.public_key()});
  return o;
}

// A network of several orgs for rejection tests: a.issuer and b.issuer
// (issuers), c.consumer (no issuer role), v.node (the validator). Started
// with --dev --genesis --key, as the end-to-end tests do.
struct MultiOrgNetwork {
  crypto::KeyPair a = crypto::KeyPair::generate();
  crypto::KeyPair b = crypto::KeyPair::generate();
  crypto::KeyPair c = crypto::KeyPair::generate();
  crypto::KeyPair v = crypto::KeyPair::generate();
  std::string chain_id = "emledger-test-multi";
  ledger::Genesis genesis;

  Config write(const TempDir& dir) {
    auto org = test_org;
    genesis.chain_id = chain_id;
    genesis.time_ms = 1'700'000'000'000;
    genesis.orgs = {
        org("a.issuer", ledger::kRoleIssuer, a), org("b.issuer", ledger::kRoleIssuer, b),
        org("c.consumer", ledger::kRoleConsumer, c), org("v.node", ledger::kRoleValidator, v)};
    genesis.validators = {ledger::Validator{"v.node", v.public_key(), "127.0.0.1:0"}};
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

// Sends raw bytes to the node on loopback and returns everything it answers
// until it closes. `half_close`: shut the sending side after the request (a
// header promising a body that never comes).
inline std::string raw_exchange(std::uint16_t port, const std::string& request,
                                bool half_close = false) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace emledger::node::test
