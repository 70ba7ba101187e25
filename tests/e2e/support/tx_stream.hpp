// A steady stream of transactions into a Network, from background threads,
// while a test kills, restarts and partitions nodes: one thread per node
// submits batches with ?wait=commit to its node, one batch at a time, and
// keeps the ids the node acknowledged committed. The threads never touch a
// NodeProcess (the test restarts those): each reads its node's address from
// the stream, which the test updates with mark_down() / mark_up().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "network.hpp"

namespace emledger::e2e {

class TxStream {
 public:
  struct Config {
    int batch = 4;            // transactions per request
    int read_timeout_s = 20;  // a batch unanswered this long is given up
    int pause_ms = 0;         // between one node's batches
    int retry_ms = 100;       // after a failed request (node down, refused)
  };

  // Starts submitting to every node of `net` that is running now.
  TxStream(Network& net, Config cfg) : net_(net), cfg_(cfg), slots_(net.nodes.size()) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (net.node(i).running()) mark_up(i);
      threads_.emplace_back([this, i] { run(i); });
    }
  }
  ~TxStream() { stop(); }
  TxStream(const TxStream&) = delete;
  TxStream& operator=(const TxStream&) = delete;

  // Node i is about to stop: its thread sends nothing new to it (a request
  // already in flight ends with an error or a late answer).
  void mark_down(std::size_t i) {
    std::lock_guard lock(mu_);
    slots_.at(i).up = false;
  }
  // Node i serves again (after NodeProcess::start, which picks a new port).
  void mark_up(std::size_t i) {
    std::lock_guard lock(mu_);
    slots_.at(i).up = true;
    slots_.at(i).host = net_.node(i).host();
    slots_.at(i).port = net_.node(i).port();
    cv_.notify_all();
  }

  // Ends the stream: no new batches; waits for those in flight (each bounded
  // by read_timeout_s).
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  // The ids acknowledged committed so far, over all nodes.
  std::vector<std::string> acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::uint64_t submitted() const { return submitted_.load(); }
  // Batches that got no answer (timeout, connection lost) or an error status.
  std::uint64_t batches_failed() const { return failed_.load(); }
  // Transactions the node answered with another status than committed.
  std::uint64_t not_committed() const { return not_committed_.load(); }

 private:
  struct Slot {
    bool up = false;
    std::string host;
    int port = 0;
  };

  void run(std::size_t i) {
    for (;;) {
      Slot target;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || slots_[i].up; });
        if (stopping_) return;
        target = slots_[i];
      }
      if (!send_batch(target)) {
        failed_.fetch_add(1);
        sleep_unless_stopping(cfg_.retry_ms);
      } else if (cfg_.pause_ms > 0) {
        sleep_unless_stopping(cfg_.pause_ms);
      }
    }
  }

  bool send_batch(const Slot& target) {
    httplib::Client c(target.host, target.port);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(cfg_.read_timeout_s, 0);
    Json body = {{"txs", Json::array()}};
    for (int k = 0; k < cfg_.batch; ++k) body["txs"].push_back(net_.register_tx(nonce_++));
    submitted_.fetch_add(static_cast<std::uint64_t>(cfg_.batch));
    auto r = c.Post("/v1/transactions/batch?wait=commit", body.dump(), "application/json");
    if (!r || r->status != 200) return false;
    Json j = Json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("results")) return false;
    std::vector<std::string> ids;
    for (const auto& res : j["results"]) {
      if (res.value("status", "") == "committed")
        ids.push_back(res["id"].get<std::string>());
      else
        not_committed_.fetch_add(1);
    }
    std::lock_guard lock(mu_);
    acked_.insert(acked_.end(), ids.begin(), ids.end());
    return true;
  }

  void sleep_unless_stopping(int ms) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
  }

  Network& net_;
  const Config cfg_;
  std::atomic<std::uint64_t> nonce_{0};
  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> not_committed_{0};
  mutable std::mutex mu_;  // guards slots_, stopping_, acked_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Slot> slots_;
  std::vector<std::string> acked_;
  std::vector<std::thread> threads_;
};

}  // namespace emledger::e2e
