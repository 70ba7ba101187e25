// The replicated-log reference of issue 5: an etcd 3.4 cluster of three
// members on loopback (Debian's etcd-server), and puts of the same record
// bytes at saturation through etcd's v3 HTTP/JSON gateway. etcd checks no
// signature, so its figure is context, not a target.
//
// Each member has its own data dir and free client and peer ports; it fsyncs
// its WAL before acknowledging (etcd's default; there is no way to turn that
// off in 3.4 short of --unsafe-no-fsync, which is not used).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../bench_common.hpp"
#include "../network_setup.hpp"
#include "child_process.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"
#include "workload.hpp"

namespace emledger::bench {

inline constexpr const char* kEtcdBinDefault = "/usr/bin/etcd";
inline constexpr std::size_t kEtcdMembers = 3;
inline constexpr int kEtcdStartTimeoutS = 30;
inline constexpr int kEtcdHttpTimeoutS = 30;
inline constexpr auto kEtcdStopGrace = std::chrono::seconds(5);

// Three etcd processes. The destructor kills any stop() has not stopped.
class EtcdCluster {
 public:
  // Starts the members under DIR/mI and returns once each reports healthy
  // (which needs an elected leader). Errors: IO_ERROR, SPAWN_FAILED,
  // ETCD_START (with the end of a member's log).
  Status start(const std::filesystem::path& dir, const std::string& etcd_bin) {
    std::filesystem::create_directories(dir);
    std::vector<int> peer_ports;
    for (std::size_t i = 0; i < kEtcdMembers; ++i) {
      auto client = free_loopback_port();
      auto peer = free_loopback_port();
      if (!client) return client.status();
      if (!peer) return peer.status();
      client_ports_.push_back(*client);
      peer_ports.push_back(*peer);
    }
    std::string cluster;
    for (std::size_t i = 0; i < kEtcdMembers; ++i)
      cluster += (i ? "," : "") + name(i) + "=" + url(peer_ports[i]);
    for (std::size_t i = 0; i < kEtcdMembers; ++i) {
      members_.push_back(std::make_unique<ChildProcess>());
      EMLEDGER_TRY(members_.back()->start({etcd_bin,
                                           "--name",
                                           name(i),
                                           "--data-dir",
                                           (dir / name(i)).string(),
                                           "--listen-client-urls",
                                           url(client_ports_[i]),
                                           "--advertise-client-urls",
                                           url(client_ports_[i]),
                                           "--listen-peer-urls",
                                           url(peer_ports[i]),
                                           "--initial-advertise-peer-urls",
                                           url(peer_ports[i]),
                                           "--initial-cluster",
                                           cluster,
                                           "--initial-cluster-token",
                                           "emledger-baseline-" + std::to_string(::getpid()),
                                           "--initial-cluster-state",
                                           "new",
                                           "--logger",
                                           "zap",
                                           "--log-level",
                                           "warn"},
                                          dir / (name(i) + ".log"), std::nullopt));
    }
    return wait_healthy();
  }

  std::size_t size() const { return client_ports_.size(); }
  int client_port(std::size_t i) const { return client_ports_.at(i); }

  // The server version a member reports (GET /version), or "?".
  std::string version() const {
    httplib::Client http("127.0.0.1", client_ports_.at(0));
    auto res = http.Get("/version");
    if (!res || res->status != 200) return "?";
    const auto j = ledger::Json::parse(res->body, nullptr, false);
    return j.is_object() ? j.value("etcdserver", "?") : "?";
  }

  void stop() {
    for (auto& m : members_) m->stop(SIGTERM, kEtcdStopGrace);
  }

 private:
  static std::string name(std::size_t i) { return std::string(1, 'm').append(std::to_string(i)); }
  static std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

  Status wait_healthy() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(kEtcdStartTimeoutS);
    for (std::size_t i = 0; i < members_.size(); ++i) {
      httplib::Client http("127.0.0.1", client_ports_[i]);
      http.set_connection_timeout(1, 0);
      for (;;) {
        auto res = http.Get("/health");
        if (res && res->status == 200 && res->body.find("\"true\"") != std::string::npos) break;
        if (members_[i]->exited() || std::chrono::steady_clock::now() >= deadline) {
          stop();
          return Status::error(
              "ETCD_START", name(i) + " did not become healthy:\n" + log_tail(members_[i]->log()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    return Status::ok();
  }

  std::vector<std::unique_ptr<ChildProcess>> members_;
  std::vector<int> client_ports_;
};

struct EtcdLoadResult {
  std::size_t puts = 0;
  std::size_t failed = 0;
  std::string first_error;
  double seconds = 0;
  std::vector<double> latency_ms;  // per put: POST to answer
  double puts_per_s() const { return seconds > 0 ? static_cast<double>(puts) / seconds : 0; }
};

// Puts key "rec/" + record id, value the signed transaction, for the first
// `count` transactions of `w`, from `clients` threads, client i keeping one
// connection to member i mod 3. The JSON bodies are made before the clock
// starts, as the transactions were signed before it.
inline EtcdLoadResult etcd_load(const EtcdCluster& cluster, const Workload& w, std::size_t count,
                                std::size_t clients, const std::atomic<bool>& interrupted) {
  using Clock = std::chrono::steady_clock;
  EMLEDGER_ASSERT(count <= w.txs.size() && clients >= 1);
  std::vector<std::string> bodies(count);
  for (std::size_t i = 0; i < count; ++i) {
    Bytes key{'r', 'e', 'c', '/'};
    key.insert(key.end(), w.record_ids[i].begin(), w.record_ids[i].end());
    bodies[i] = ledger::Json{{"key", to_base64(key)}, {"value", to_base64(w.txs[i])}}.dump();
  }
  struct PerClient {
    std::size_t puts = 0, failed = 0;
    std::string first_error;
    std::vector<double> latency_ms;
  };
  std::vector<PerClient> per(clients);
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (std::size_t c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", cluster.client_port(c % cluster.size()));
      http.set_keep_alive(true);
      http.set_read_timeout(kEtcdHttpTimeoutS, 0);
      auto& p = per[c];
      while (!interrupted.load()) {
        const std::size_t i = next++;
        if (i >= count) break;
        const auto s0 = Clock::now();
        auto res = http.Post("/v3/kv/put", bodies[i], "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
        if (res && res->status == 200 && res->body.find("\"revision\"") != std::string::npos) {
          ++p.puts;
          p.latency_ms.push_back(ms);
          continue;
        }
        ++p.failed;
        if (p.first_error.empty())
          p.first_error =
              res ? "HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 200)
                  : "no answer (" + httplib::to_string(res.error()) + ")";
      }
    });
  for (auto& th : threads) th.join();
  EtcdLoadResult r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& p : per) {
    r.puts += p.puts;
    r.failed += p.failed;
    if (r.first_error.empty()) r.first_error = p.first_error;
    r.latency_ms.insert(r.latency_ms.end(), p.latency_ms.begin(), p.latency_ms.end());
  }
  return r;
}

}  // namespace emledger::bench
