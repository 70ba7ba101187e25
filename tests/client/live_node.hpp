// A real node for the SDK to talk to, and a way to make it lie.
//
// LiveNode is the node itself (the emledger_node library: LevelDB, mempool,
// block producer, HTTP server) started in this process on a loopback port,
// with our genesis and validator key written to a temp dir as an operator
// would. Only this test binary sees node/ headers; the client library never
// does. The node reads time through its Clock parameter, which the test
// holds, so a block can be dated past a record's expiry without sleeping.
//
// TamperTransport sits between the SDK and its real HTTP transport: every
// request reaches the real node, and the answer can then be altered (a node
// that lies) or thrown away as if the connection had dropped.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "config.hpp"
#include "emledger/client/transport.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/ledger/json.hpp"
#include "node.hpp"
#include "test_net.hpp"

namespace emledger::client_test {

class LiveNode {
 public:
  // Starts a node of `genesis`, whose validator key is `validator`, with its
  // clock at `time_ms`.
  LiveNode(const Genesis& genesis, const crypto::KeyPair& validator, std::uint64_t time_ms)
      : time_ms_(std::make_shared<std::atomic<std::uint64_t>>(time_ms)) {
    std::ofstream(dir_.file("genesis.json")) << to_json(genesis).dump(2);
    REQUIRE(crypto::write_key_file(dir_.file("v.key"), validator, std::nullopt).is_ok());
    node::Config config;
    config.dev = true;  // the key file is not passphrase-protected
    config.data_dir = dir_.file("data");
    config.listen = "127.0.0.1:0";
    config.genesis_file = dir_.file("genesis.json");
    config.key_file = dir_.file("v.key");
    config.http_threads = 2;
    auto n = node::Node::start(config, [t = time_ms_] { return t->load(); });
    REQUIRE_MESSAGE(n.is_ok(), n.status().to_string());
    node_ = std::move(*n);
    url_ = "http://127.0.0.1:" + std::to_string(node_->port());
  }

  const std::string& url() const { return url_; }
  // The node's own ledger, to compare what the SDK reports with the truth.
  const Ledger& ledger() { return node_->ledger(); }
  // The time the next block will carry (never before its parent's).
  void advance_time_ms(std::uint64_t ms) { time_ms_->fetch_add(ms); }
  std::uint64_t time_ms() const { return time_ms_->load(); }
  // Shuts the node down: its port closes, so later requests are refused.
  void stop() { node_->shutdown(); }

 private:
  TempDir dir_;
  std::shared_ptr<std::atomic<std::uint64_t>> time_ms_;  // shared with the producer thread
  std::unique_ptr<node::Node> node_;
  std::string url_;
};

class TamperTransport final : public client::Transport {
 public:
  // May change the answer to `target`; returns true if it did.
  using Tamper = std::function<bool(const std::string& target, client::HttpResponse& res)>;
  // True to lose the answer to `target` (after the node has acted on it).
  using Drop = std::function<bool(const std::string& target)>;

  explicit TamperTransport(std::unique_ptr<client::Transport> real) : real_(std::move(real)) {}

  void set_tamper(Tamper tamper) {
    std::lock_guard lock(mu_);
    tamper_ = std::move(tamper);
  }
  void set_drop(Drop drop) {
    std::lock_guard lock(mu_);
    drop_ = std::move(drop);
  }
  // Answers changed or dropped so far: a test whose hook never fired proves nothing.
  int interventions() const { return interventions_.load(); }

  Result<client::HttpResponse> get(const std::string& target) override {
    return intervene(target, real_->get(target));
  }
  Result<client::HttpResponse> post(const std::string& target, const std::string& json_body,
                                    bool long_wait) override {
    return intervene(target, real_->post(target, json_body, long_wait));
  }

 private:
  Result<client::HttpResponse> intervene(const std::string& target,
                                         Result<client::HttpResponse> res) {
    Tamper tamper;
    Drop drop;
    {
      std::lock_guard lock(mu_);
      tamper = tamper_;
      drop = drop_;
    }
    if (!res) return res;
    if (drop && drop(target)) {
      ++interventions_;
      return Status::error("NODE_UNREACHABLE", "test dropped the connection to " + target);
    }
    if (tamper && tamper(target, *res)) ++interventions_;
    return res;
  }

  std::unique_ptr<client::Transport> real_;
  std::mutex mu_;
  Tamper tamper_;
  Drop drop_;
  std::atomic<int> interventions_{0};
};

}  // namespace emledger::client_test
