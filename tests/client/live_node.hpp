// A real node for the SDK to talk to, and a way to make it lie.
//
// LiveNode is the node itself (the emledger_node library: LevelDB, mempool,
// validator, HTTP server) started in this process on a loopback port,
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
#include <chrono>
#include <condition_variable>
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
      : time_ms_(std::make_shared<std::atomic<std::uint64_t>>(time_ms)),
        gate_(std::make_shared<Gate>()) {
    std::ofstream(dir_.file("genesis.json")) << to_json(genesis).dump(2);
    REQUIRE(crypto::write_key_file(dir_.file("v.key"), validator, std::nullopt).is_ok());
    start();
  }

  const std::string& url() const { return url_; }
  // The node's own ledger, to compare what the SDK reports with the truth.
  const Ledger& ledger() { return node_->ledger(); }
  // The time the next block will carry (never before its parent's).
  void advance_time_ms(std::uint64_t ms) { time_ms_->fetch_add(ms); }
  std::uint64_t time_ms() const { return time_ms_->load(); }
  // Shuts the node down: its port closes, so later requests are refused.
  void stop() { node_->shutdown(); }
  // Shuts the node down and lets go of its database, which the test may
  // then open itself (ledger::open_leveldb(db_dir())), as an operator could.
  void close() {
    node_->shutdown();
    node_.reset();
  }
  // Starts the node again on its data dir after close(), on a new port
  // (url() changes).
  void restart() {
    REQUIRE(node_ == nullptr);
    start();
  }
  std::string db_dir() const { return dir_.file("data") + "/db"; }
  ~LiveNode() { release(); }
  LiveNode(const LiveNode&) = delete;
  LiveNode& operator=(const LiveNode&) = delete;

  // Holding the clock: every reading of the node's clock (the validator's,
  // as it stages a block, and a signed request's) waits until release().
  // With the validator stopped inside building a block, transactions submitted
  // meanwhile all wait in the mempool and go into the next block together;
  // signed requests must not be made while holding.
  void hold() {
    std::lock_guard lock(gate_->mu);
    gate_->held = true;
  }
  void release() {
    {
      std::lock_guard lock(gate_->mu);
      gate_->held = false;
    }
    gate_->cv.notify_all();
  }
  // Waits (up to 10 s) until some thread of the node waits on the held clock.
  void wait_until_blocked() {
    std::unique_lock lock(gate_->mu);
    REQUIRE(gate_->cv.wait_for(lock, std::chrono::seconds(10), [&] { return gate_->waiting > 0; }));
  }

 private:
  void start() {
    node::Config config;
    config.dev = true;  // the key file is not passphrase-protected
    config.data_dir = dir_.file("data");
    config.listen = "127.0.0.1:0";
    config.genesis_file = dir_.file("genesis.json");
    config.key_file = dir_.file("v.key");
    config.http_threads = 2;
    auto n = node::Node::start(config, [t = time_ms_, g = gate_] {
      std::unique_lock lock(g->mu);
      if (g->held) {
        ++g->waiting;
        g->cv.notify_all();
        g->cv.wait(lock, [&] { return !g->held; });
        --g->waiting;
      }
      return t->load();
    });
    REQUIRE_MESSAGE(n.is_ok(), n.status().to_string());
    node_ = std::move(*n);
    url_ = "http://127.0.0.1:" + std::to_string(node_->port());
  }

  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool held = false;
    int waiting = 0;  // threads of the node waiting on the held clock
  };
  TempDir dir_;
  std::shared_ptr<std::atomic<std::uint64_t>> time_ms_;  // shared with the validator thread
  std::shared_ptr<Gate> gate_;
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
  // Signed calls (RFC 9421) and material transfers reach the node unchanged;
  // only the answer is open to the hooks.
  Result<client::HttpResponse> send(const client::HttpCall& call) override {
    return intervene(call.target, real_->send(call));
  }
  std::string authority() const override { return real_->authority(); }

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
