// A network of emledger-node processes on loopback for the benchmarks, set up
// the way the end-to-end tests set up theirs (tests/e2e/support/network.hpp,
// which needs doctest; docs/node.md, "Running a network of validators"): one
// genesis naming n validators, each its own org and clear key file, peer
// addresses on free loopback ports, and an issuer org whose key signs the
// load; one `emledger-node --dev --genesis FILE --key FILE` process each.
//
// n = 1 is a genesis with one validator, so that every mode of ingest_bench
// signs the same transactions, of the same size, for the same orgs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../tests/support/node_process.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::bench {

// Processes on one host: beyond this the machine measures its scheduler.
inline constexpr std::size_t kBenchValidatorsMax = 16;
inline constexpr const char* kBenchChainId = "emledger-bench";
inline constexpr const char* kBenchIssuerOrg = "bench.issuer";  // sorts before bench.v*

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it,
// close). Another process may take it before the node binds it; that node then
// fails to start, which LocalNetwork::start reports.
inline Result<int> free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::error("IO_ERROR", "socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) return Status::error("IO_ERROR", "no free loopback port");
  return static_cast<int>(ntohs(a.sin_port));
}

// The files and processes of one network. Not thread safe. The destructor
// kills every node it started (SIGKILL), so no error path leaves one behind;
// removing the directory is the caller's business.
class LocalNetwork {
 public:
  LocalNetwork() = default;
  LocalNetwork(const LocalNetwork&) = delete;
  LocalNetwork& operator=(const LocalNetwork&) = delete;

  // Writes DIR/genesis.json and DIR/vI.key for `validators` validators.
  // Errors: IO_ERROR, and the genesis check's own code (a bug here).
  Status write(const std::filesystem::path& dir, std::size_t validators) {
    EMLEDGER_ASSERT(validators >= 1 && validators <= kBenchValidatorsMax);
    EMLEDGER_ASSERT(nodes_.empty());
    dir_ = dir;
    genesis_ = ledger::Genesis{};
    genesis_.chain_id = kBenchChainId;
    genesis_.time_ms = 1'700'000'000'000;
    ledger::Org issuer;
    issuer.id = kBenchIssuerOrg;
    issuer.region = "bench";
    issuer.roles = ledger::kRoleIssuer | ledger::kRoleConsumer | ledger::kRoleAuditor;
    issuer.keys.push_back(ledger::OrgKey{1, issuer_key_.public_key()});
    genesis_.orgs.push_back(issuer);
    key_paths_.clear();
    for (std::size_t i = 0; i < validators; ++i) {
      auto port = free_loopback_port();
      if (!port) return port.status();
      auto key = crypto::KeyPair::generate();
      ledger::Org org;
      org.id = "bench.v" + std::to_string(i);
      org.region = "r" + std::to_string(i);
      org.roles = ledger::kRoleValidator;
      org.keys.push_back(ledger::OrgKey{1, key.public_key()});
      genesis_.orgs.push_back(org);
      genesis_.validators.push_back(
          ledger::Validator{org.id, key.public_key(), "127.0.0.1:" + std::to_string(*port)});
      key_paths_.push_back((dir / ("v" + std::to_string(i) + ".key")).string());
      EMLEDGER_TRY(crypto::write_key_file(key_paths_.back(), key, std::nullopt));
    }
    // Orgs are sorted by id in a genesis; "bench.v10" sorts before "bench.v2".
    std::sort(genesis_.orgs.begin(), genesis_.orgs.end(),
              [](const ledger::Org& a, const ledger::Org& b) { return a.id < b.id; });
    EMLEDGER_TRY(genesis_.check());
    genesis_path_ = (dir / "genesis.json").string();
    std::ofstream out(genesis_path_, std::ios::binary | std::ios::trunc);
    out << ledger::to_json(genesis_).dump(2) << "\n";
    out.flush();
    if (!out) return Status::error("IO_ERROR", "cannot write " + genesis_path_);
    return Status::ok();
  }

  // Starts one node per validator (data in DIR/nodeI, log in DIR/nodeI.log),
  // each waited for until it serves HTTP. On error the nodes already started
  // keep running until stop() or the destructor. Errors: NODE_START_FAILED
  // (with the node's log).
  Status start(const std::string& node_bin, std::uint64_t view_timeout_ms) {
    EMLEDGER_ASSERT(!genesis_path_.empty() && nodes_.empty());
    for (std::size_t i = 0; i < key_paths_.size(); ++i) {
      const std::string data = (dir_ / ("node" + std::to_string(i))).string();
      nodes_.push_back(std::make_unique<testing::NodeProcess>(node_bin, data));
      // --view-timeout-ms is read only by a network of several validators.
      const std::vector<std::string> args{"--dev",
                                          "--genesis",
                                          genesis_path_,
                                          "--key",
                                          key_paths_[i],
                                          "--data",
                                          data,
                                          "--listen",
                                          "127.0.0.1:0",
                                          "--view-timeout-ms",
                                          std::to_string(view_timeout_ms)};
      if (!nodes_.back()->start(args))
        return Status::error("NODE_START_FAILED", "node " + std::to_string(i) +
                                                      " did not start:\n" + nodes_.back()->log());
    }
    return Status::ok();
  }

  // Sends `sig` to every running node and reaps it. Idempotent.
  void stop(int sig) {
    for (auto& n : nodes_) n->stop(sig);
  }

  std::size_t size() const { return key_paths_.size(); }
  const testing::NodeProcess& node(std::size_t i) const { return *nodes_.at(i); }
  const ledger::Genesis& genesis() const { return genesis_; }
  const crypto::KeyPair& issuer_key() const { return issuer_key_; }
  std::string log_path(std::size_t i) const {
    return (dir_ / ("node" + std::to_string(i) + ".log")).string();
  }

 private:
  std::filesystem::path dir_;
  ledger::Genesis genesis_;
  std::string genesis_path_;
  crypto::KeyPair issuer_key_ = crypto::KeyPair::generate();
  std::vector<std::string> key_paths_;
  std::vector<std::unique_ptr<testing::NodeProcess>> nodes_;  // SIGKILLed on destruction
};

}  // namespace emledger::bench
