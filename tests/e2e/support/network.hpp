// A multi-validator network on loopback for end-to-end tests: one genesis
// naming n validators (each its own org and key, peer addresses on free
// loopback ports), an issuer org, and one emledger-node process per
// validator (docs/node.md, "Running a network of validators").
//
// With PeerLinks::kProxied, a TcpProxy (support/tcp_proxy.hpp) stands in
// front of each validator's peer port: the genesis lists the proxy's
// address and the node listens on its real port (--peer-listen). Validator i
// dials every validator of higher index and nothing else, so every link of
// validator i to a lower index is inbound through proxy(i), and every link to
// a higher index goes out through that validator's proxy. Cutting proxy(n-1),
// the highest index, therefore isolates validator n-1 completely; cutting any
// other proxy(i) severs only its links to lower indexes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "../../support/free_port.hpp"
#include "../e2e_support.hpp"
#include "tcp_proxy.hpp"

namespace emledger::e2e {

inline int free_loopback_port() { return testing::free_loopback_port(); }

inline constexpr const char* kNetIssuerOrg = "net.issuer";

// How validators reach each other's peer port: directly, or each through a
// proxy the test can cut (see the top of this file).
enum class PeerLinks { kDirect, kProxied };

struct Network {
  ledger::Genesis genesis;
  std::string genesis_path;
  crypto::KeyPair issuer_key = crypto::KeyPair::generate();
  std::vector<std::string> key_paths;  // validator i's key file (clear: --dev)
  std::vector<std::unique_ptr<testing::NodeProcess>> nodes;
  std::vector<std::vector<std::string>> args;      // each node's command line
  std::vector<std::unique_ptr<TcpProxy>> proxies;  // by validator; empty when kDirect
  // Spare validators (nodes n .. n + spares - 1): orgs with the validator role
  // and keys in the genesis, not in its validator set, each with a free peer
  // port, for tests that add them by a ChangeValidators transaction.
  std::vector<ledger::Validator> spares;
  std::vector<crypto::KeyPair> spare_keys;

  // Writes keys and genesis under `s` for `n` validators (and `spare_count`
  // spares; PeerLinks::kDirect only).
  Network(const Scratch& s, std::size_t n, std::uint64_t view_timeout_ms,
          PeerLinks links = PeerLinks::kDirect, std::size_t spare_count = 0) {
    std::vector<int> peer_ports;  // where each node listens for peers
    genesis.chain_id = "emledger-e2e-net";
    genesis.time_ms = 1'700'000'000'000;
    ledger::Org issuer;
    issuer.id = kNetIssuerOrg;
    issuer.region = "e2e";
    issuer.roles = ledger::kRoleIssuer | ledger::kRoleConsumer | ledger::kRoleAuditor;
    issuer.keys.push_back(ledger::OrgKey{1, issuer_key.public_key()});
    genesis.orgs.push_back(issuer);
    for (std::size_t i = 0; i < n; ++i) {
      auto key = crypto::KeyPair::generate();
      const std::string org = "net.v" + std::to_string(i);  // sorts after net.issuer
      ledger::Org o;
      o.id = org;
      o.region = "r" + std::to_string(i);
      o.roles = ledger::kRoleValidator;
      o.keys.push_back(ledger::OrgKey{1, key.public_key()});
      genesis.orgs.push_back(o);
      peer_ports.push_back(free_loopback_port());
      int listed_port = peer_ports.back();
      if (links == PeerLinks::kProxied) {
        proxies.push_back(std::make_unique<TcpProxy>(peer_ports.back()));
        listed_port = proxies.back()->port();
      }
      genesis.validators.push_back(
          ledger::Validator{org, key.public_key(), "127.0.0.1:" + std::to_string(listed_port)});
      key_paths.push_back(s.path("v" + std::to_string(i) + ".key"));
      REQUIRE(crypto::write_key_file(key_paths.back(), key, std::nullopt).is_ok());
    }
    REQUIRE((spare_count == 0 || links == PeerLinks::kDirect));
    for (std::size_t j = 0; j < spare_count; ++j) {
      auto key = crypto::KeyPair::generate();
      const std::string org = "net.w" + std::to_string(j);  // sorts after net.v*
      ledger::Org o;
      o.id = org;
      o.region = "w" + std::to_string(j);
      o.roles = ledger::kRoleValidator;
      o.keys.push_back(ledger::OrgKey{1, key.public_key()});
      genesis.orgs.push_back(o);
      spares.push_back(ledger::Validator{org, key.public_key(),
                                         "127.0.0.1:" + std::to_string(free_loopback_port())});
      spare_keys.push_back(key);
      key_paths.push_back(s.path("w" + std::to_string(j) + ".key"));
      REQUIRE(crypto::write_key_file(key_paths.back(), key, std::nullopt).is_ok());
    }
    REQUIRE(genesis.check().is_ok());
    genesis_path = s.write("genesis.json", ledger::to_json(genesis).dump(2) + "\n");
    for (std::size_t i = 0; i < n + spare_count; ++i) {
      const std::string data = s.path("node" + std::to_string(i));
      nodes.push_back(std::make_unique<testing::NodeProcess>(EMLEDGER_NODE_BIN, data));
      args.push_back({"--dev", "--genesis", genesis_path, "--key", key_paths[i], "--data", data,
                      "--listen", "127.0.0.1:0", "--view-timeout-ms",
                      std::to_string(view_timeout_ms)});
      if (links == PeerLinks::kProxied)
        args.back().insert(args.back().end(),
                           {"--peer-listen", "127.0.0.1:" + std::to_string(peer_ports[i])});
      if (i >= n) args.back().insert(args.back().end(), {"--peer-listen", spares[i - n].address});
    }
  }

  testing::NodeProcess& node(std::size_t i) { return *nodes.at(i); }
  // The proxy in front of validator i's peer port (PeerLinks::kProxied only).
  TcpProxy& proxy(std::size_t i) { return *proxies.at(i); }
  bool start(std::size_t i) { return nodes.at(i)->start(args.at(i)); }

  // A signed RegisterRecord of the issuer, distinct per `n`, as hex.
  std::string register_tx(std::uint64_t n) const {
    ledger::RegisterRecord r;
    r.body.kind = static_cast<std::uint8_t>(ledger::RecordKind::kMaterial);
    r.body.type_code = "net.material";
    r.body.holder_ref = crypto::sha256(as_bytes("holder"));
    r.body.content_hash = crypto::sha256(as_bytes("net-" + std::to_string(n)));
    r.body.size_bytes = n + 1;
    ledger::TxBody b = ledger::make_body(ledger::TxType::kRegisterRecord, r);
    b.chain_id = genesis.chain_id;
    b.signer_org = kNetIssuerOrg;
    b.key_id = 1;
    b.expires_at_height = 50'000;
    b.nonce = n;
    return to_hex(ledger::encode(ledger::sign_tx(std::move(b), issuer_key)));
  }
};

// The header hash a node reports at `height` ("" when it has no such block).
inline std::string header_hash_at(const testing::NodeProcess& node, std::uint64_t height) {
  auto r = http_json(node, "GET", "/v1/headers/" + std::to_string(height));
  if (r.status != 200 || !r.body.is_object()) return "";
  return r.body.value("hash", "");
}

}  // namespace emledger::e2e
