// One running node: ledger, mempool, validator and HTTP API wired together.
// main.cpp and the tests both start nodes through this.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "clock.hpp"
#include "config.hpp"
#include "emledger/ledger/ledger.hpp"
#include "snapshot_server.hpp"
#include "validator.hpp"

namespace emledger::node {

class Api;
class AuthzApi;
class HttpServer;

class Node {
 public:
  // Loads the identity (creating it in dev mode), opens LevelDB in
  // DATA/db, starts the validator (consensus with the other validators of
  // the set in force, Ledger::validators(); alone in a one-validator set)
  // and the HTTP server. A key that is not in the set in force starts no
  // validator: the node serves reads at its height and refuses transactions
  // (NOT_A_VALIDATOR), and says so on stderr.
  // With config.join_snapshot and no ledger in DATA/db, first fetches and
  // restores a snapshot from a peer (snapshot_join.hpp); `stop_requested`
  // (optional) ends that wait early (CANCELLED).
  static Result<std::unique_ptr<Node>> start(const Config& config, Clock clock = system_clock_ms,
                                             std::function<bool()> stop_requested = {});
  ~Node();  // shutdown()s

  const std::string& host() const;
  std::uint16_t port() const;  // the bound port (real even when 0 was asked)
  ledger::Ledger& ledger() { return *ledger_; }
  const Identity& identity() const { return identity_; }
  Mempool& mempool() { return *mempool_; }
  // Null when the key is not in the set in force at start.
  Validator* validator() { return validator_.get(); }
  // Serves snapshots to joining validators (multi-validator networks only).
  SnapshotServer* snapshot_server() { return snapshots_.get(); }

  // Stops accepting, refuses new transactions (503 SHUTTING_DOWN), finishes
  // the block in flight, fails what is still pending, flushes responses and
  // closes. Idempotent; blocks until done.
  void shutdown();

 private:
  explicit Node(Identity identity);
  std::once_flag shutdown_once_;
  Identity identity_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<Mempool> mempool_;
  std::unique_ptr<SnapshotServer> snapshots_;  // before validator_: outlives it
  std::unique_ptr<Validator> validator_;
  std::unique_ptr<AuthzApi> authz_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;  // last: stops first
};

}  // namespace emledger::node
