// Ingest benchmark (issues 2 and 5): committed, durable, signature-verified
// register transactions per second on a network of one or more validators,
// beside this machine's Ed25519 verification rate on all cores measured in
// the same run, and their ratio.
//
//   ./build/benchmarks/ingest_bench [--validators 1|4|1,4] [--txs N] [--batch B]
//       [--clients C] [--latency-batch B] [--latency-s S] [--paced-shares LIST]
//       [--view-timeout-ms MS] [--body binary|json] [--json FILE] [--trace FILE]
//       [--node PATH] [--keep]
//
// Each mode (a number of validators; --validators 1,4 runs both, one after
// the other, so their ratios share the ceiling) gets a fresh network of real
// emledger-node processes on loopback (network_setup.hpp) and two phases:
//
//   1. Saturation: N pre-signed transactions in batches of B, C client threads,
//      client i posting to node i mod n, each batch with ?wait=commit, so a
//      transaction counts only once its block is final and fsynced on the node
//      that took it. Committed tx/s is the headline figure.
//   2. Paced: batches of --latency-batch offered on a fixed schedule at half the
//      saturated rate for --latency-s seconds, batch k to node k mod n;
//      finality latency is submit to the ?wait=commit answer, per batch.
//      --paced-shares 0.25,0.5,0.75,0.9 runs one such phase per share of the
//      saturated rate, in that order, for a throughput-latency curve; the
//      share nearest 0.5 is the headline half-load figure.
//
// Transactions are signed before the clock starts, so the load generator does
// not compete for signing. Batches go in the binary body (docs/formats/
// tx-batch.md), as the SDK sends them; --body json sends {"txs": [hex, ...]}
// instead, to compare the two on the same build. The ceiling is measured before the first mode and
// after the last; the ratios use their mean. The nodes are killed on every way
// out (an error, SIGINT/SIGTERM/SIGHUP, a network that commits nothing for
// kStallS) and the temp dir is removed unless --keep.
//
// Each paced phase also reports the node CPU per committed transaction and
// the share of the host's CPU time that was busy (/proc/stat) while it ran:
// a paced phase offered "half load" on a host that is busy all the same
// (LevelDB's compactions of what the saturation phase wrote, say) is not at
// half of what the machine can do. --trace FILE writes one tab-separated line
// per batch posted (mode, phase, node, sent at, latency, transactions,
// committed), to line a latency tail up with block times and the nodes' logs.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "bench_common.hpp"
#include "bench_run.hpp"
#include "bench_txs.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/tx_batch.hpp"
#include "host_cpu.hpp"
#include "ingest_report.hpp"
#include "ingest_results.hpp"
#include "network_setup.hpp"

using namespace emledger;
using namespace emledger::ledger;
namespace fs = std::filesystem;

using bench::busy_share;
using bench::cores;
using bench::ed25519_ceiling;
using bench::fixed;
using bench::g_interrupted;
using bench::host_cpu;
using bench::HostCpu;
using bench::percentile;
using bench::ScratchDir;
using namespace bench::ingest;

namespace {

constexpr double kCeilingSeconds = 3.0;
// A paced share above this would only queue: the saturated rate is measured.
constexpr double kPacedShareMax = 1.5;
constexpr std::size_t kPacedSharesMax = 8;
// At least this many batches in the paced phase, so that p99 means something.
constexpr std::size_t kPacedBatchesMin = 20;
constexpr std::size_t kPacedClientsMax = 256;
constexpr auto kSleepSlice = std::chrono::milliseconds(50);
constexpr int kHttpReadTimeoutS = 120;
constexpr int kHealthTimeoutS = 5;
// A network of several validators makes its first block once a quorum has
// connected; beyond this it is not coming up.
constexpr int kFirstBlockTimeoutS = 60;
// A phase whose network commits no block for this long has stalled: loaded,
// a healthy network commits a block every second or so, and an idle one of
// several validators an empty block about every 250 ms. 60 s is also the
// node's longest view timeout (ValidatorConfig::view_timeout_max_ms).
constexpr int kStallS = 60;
// How long node 0 may take to commit the blocks the other nodes answered for.
constexpr int kCatchUpS = 10;
// Headers per GET /v1/headers (the node's kHeadersPerRequestMax, node/src/api.hpp).
constexpr std::uint64_t kHeadersPerRequestMax = 1000;
// One batch must fit the node's batch and block limits.
constexpr std::size_t kBatchTxsMax = kTxBatchTxsMax;

// "0.25,0.5": 1 to kPacedSharesMax shares, each in (0, kPacedShareMax].
std::optional<std::vector<double>> parse_shares(const std::string& v) {
  std::vector<double> out;
  std::stringstream ss(v);
  for (std::string item; std::getline(ss, item, ',');) {
    std::size_t used = 0;
    const double share = std::stod(item, &used);
    if (used != item.size() || !(share > 0 && share <= kPacedShareMax)) return std::nullopt;
    out.push_back(share);
  }
  if (out.empty() || out.size() > kPacedSharesMax) return std::nullopt;
  return out;
}

constexpr const char* kUsage =
    "usage: ingest_bench [--validators 1|4|1,4] [--txs N] [--batch B] [--clients C]\n"
    "    [--latency-batch B] [--latency-s S] [--paced-shares LIST] [--view-timeout-ms MS]\n"
    "    [--body binary|json] [--json FILE] [--trace FILE] [--node PATH] [--keep]\n"
    "Committed, durable, signature-verified register tx/s of real emledger-node processes\n"
    "on loopback, beside this machine's all-core Ed25519 rate (docs/benchmarks.md).\n";

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  const bool ok = bench::walk_options(
      argc, argv, kUsage, "--keep", [&] { o.keep = true; },
      [&](const std::string& k, const std::string& v) {
        if (k == "--validators") {
          auto list = bench::parse_list(v);
          if (!list) throw std::invalid_argument(v);
          o.validators = *list;
        } else if (k == "--txs") {
          o.txs = std::stoul(v);
        } else if (k == "--batch") {
          o.batch = std::stoul(v);
        } else if (k == "--clients") {
          o.clients = std::stoul(v);
        } else if (k == "--latency-batch") {
          o.latency_batch = std::stoul(v);
        } else if (k == "--latency-s") {
          o.latency_s = std::stod(v);
        } else if (k == "--paced-shares") {
          auto list = parse_shares(v);
          if (!list) throw std::invalid_argument(v);
          o.paced_shares = *list;
        } else if (k == "--view-timeout-ms") {
          o.view_timeout_ms = std::stoull(v);
        } else if (k == "--json") {
          o.json_out = v;
        } else if (k == "--trace") {
          o.trace_out = v;
        } else if (k == "--node") {
          o.node_bin = v;
        } else if (k == "--body") {
          if (v != "binary" && v != "json") throw std::invalid_argument(v);
          o.binary_body = v == "binary";
        } else {
          return false;
        }
        return true;
      });
  if (!ok) return std::nullopt;
  for (auto n : o.validators)
    if (n < 1 || n > bench::kBenchValidatorsMax) {
      std::cerr << "--validators: each 1.." << bench::kBenchValidatorsMax << "\n";
      return std::nullopt;
    }
  if (o.clients < *std::max_element(o.validators.begin(), o.validators.end())) {
    std::cerr << "--clients: at least one per validator (client i posts to node i mod n)\n";
    return std::nullopt;
  }
  if (o.txs < 1 || o.batch < 1 || o.batch > kBatchTxsMax || o.latency_batch < 1 ||
      o.latency_batch > kBatchTxsMax || !(o.latency_s > 0)) {
    std::cerr << "--txs, --clients, --latency-s > 0; --batch, --latency-batch 1.." << kBatchTxsMax
              << "\n";
    return std::nullopt;
  }
  return o;
}

// `count` register transactions of the issuer, nonces from `first_nonce`,
// each encoded: its bytes for the binary body, their hex for JSON.
std::vector<std::string> presign(const Options& o, const Genesis& g, const crypto::KeyPair& key,
                                 std::uint64_t first_nonce, std::size_t count) {
  std::vector<std::string> out(count);
  const unsigned threads = cores();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t k = t; k < count; k += threads) {
        const Bytes tx = encode(bench::register_tx(first_nonce + k, g.chain_id,
                                                   std::string(bench::kBenchIssuerOrg), key,
                                                   kTxLifetimeBlocksMax));
        out[k] = o.binary_body ? std::string(tx.begin(), tx.end()) : to_hex(tx);
      }
    });
  for (auto& th : pool) th.join();
  return out;
}

// User plus system CPU seconds of this process's running children (the
// nodes), from /proc/PID/stat: unlike RUSAGE_CHILDREN it can be read while
// they run, so it brackets one phase.
double children_cpu_seconds() {
  const double ticks_per_s = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const std::string self = std::to_string(::getpid());
  double total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = testing::read_file("/proc/" + pid + "/stat");
    // The command name (field 2) may hold spaces; the fields after it do not.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::vector<std::string> f;
    for (std::string w; rest >> w && f.size() < 13;) f.push_back(w);
    // f[0] is field 3 (state), f[1] field 4 (ppid), f[11] field 14 (utime), f[12] field 15.
    if (f.size() < 13 || f[1] != self) continue;
    total += (std::stod(f[11]) + std::stod(f[12])) / ticks_per_s;
  }
  return total;
}

// The body of one batch request holding txs[begin, end), and its Content-Type.
std::pair<std::string, std::string> batch_body(const Options& o,
                                               const std::vector<std::string>& txs,
                                               std::size_t begin, std::size_t end) {
  if (o.binary_body) {
    TxBatch batch;
    batch.txs.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i) batch.txs.emplace_back(txs[i].begin(), txs[i].end());
    const Bytes b = encode(batch);
    return {std::string(b.begin(), b.end()), std::string(kTxBatchMediaType)};
  }
  Json body = {{"txs", Json::array()}};
  for (std::size_t i = begin; i < end; ++i) body["txs"].push_back(txs[i]);
  return {body.dump(), "application/json"};
}

// Counts the answer to a batch of `txs` transactions that took `ms`.
void count_answer(const httplib::Result& res, std::size_t txs, double ms, Tally& t) {
  if (!res) return t.fail("no answer (" + httplib::to_string(res.error()) + ")", txs);
  const Json j = Json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    std::string code = j.is_object() && j.contains("error") && j["error"].is_object()
                           ? j["error"].value("code", "")
                           : "";
    return t.fail("HTTP " + std::to_string(res->status) + " " + code, txs);
  }
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array())
    return t.fail("malformed answer", txs);
  t.latencies_ms.push_back(ms);
  for (const auto& r : j["results"]) {
    if (r.is_object() && r.value("status", "") == "committed") {
      ++t.committed;
    } else if (r.is_object() && r.contains("error") && r["error"].is_object()) {
      t.fail(r["error"].value("code", "rejected"), 1);
    } else {
      t.fail("rejected", 1);
    }
  }
}

// Posts txs[begin, end) as one batch with ?wait=commit to `node` (whose
// client `http` is) and counts the answer.
void post_batch(const Options& o, httplib::Client& http, std::size_t node,
                const std::vector<std::string>& txs, std::size_t begin, std::size_t end, Tally& t) {
  const auto [text, content_type] = batch_body(o, txs, begin, end);
  const auto t0 = Clock::now();
  auto res = http.Post("/v1/transactions/batch?wait=commit", text, content_type);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const std::size_t committed_before = t.committed;
  count_answer(res, end - begin, ms, t);
  if (!o.trace_out.empty())
    t.batches.push_back(
        BatchRecord{node, std::chrono::duration<double, std::milli>(t0 - g_origin).count(), ms,
                    end - begin, t.committed - committed_before});
}

httplib::Client client_for(const testing::NodeProcess& node) {
  httplib::Client http(node.host(), node.port());
  http.set_read_timeout(kHttpReadTimeoutS, 0);
  return http;
}

struct Head {
  std::uint64_t height = 0;
  std::uint64_t log_size = 0;  // transactions committed since genesis
  // The state cache's memory and the bytes written to its ring (ADR 047);
  // 0 from a node that does not report them (one built before).
  std::uint64_t state_cache_bytes = 0;
  std::uint64_t state_cache_written_bytes = 0;
};

Result<Head> head_of(const testing::NodeProcess& node) {
  auto http = client_for(node);
  // Short: the stall watchdog asks this of nodes that may be hung.
  http.set_connection_timeout(kHealthTimeoutS, 0);
  http.set_read_timeout(kHealthTimeoutS, 0);
  auto res = http.Get("/v1/health");
  if (!res || res->status != 200) return Status::error("NODE_UNREACHABLE", "GET /v1/health");
  const Json j = Json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("height") || !j["height"].is_number_unsigned() ||
      !j.contains("log_size") || !j["log_size"].is_number_unsigned())
    return Status::error("NODE_UNREACHABLE", "GET /v1/health: no height or log_size");
  Head head{j["height"].get<std::uint64_t>(), j["log_size"].get<std::uint64_t>()};
  if (j.contains("state_cache") && j["state_cache"].is_object()) {
    const Json& c = j["state_cache"];
    if (c.contains("bytes") && c["bytes"].is_number_unsigned())
      head.state_cache_bytes = c["bytes"].get<std::uint64_t>();
    if (c.contains("written_bytes") && c["written_bytes"].is_number_unsigned())
      head.state_cache_written_bytes = c["written_bytes"].get<std::uint64_t>();
  }
  return head;
}

Result<std::uint64_t> height_of(const testing::NodeProcess& node) {
  auto head = head_of(node);
  if (!head) return head.status();
  return head->height;
}

// Runs work(i, tally, stop) on `threads` threads and returns what they saw.
// Ends the phase early when the bench is interrupted or node 0 commits no
// block for kStallS (the network stalled; Tally::stalled says how): sets
// `stop` for the threads and kills the nodes, so that pending requests fail
// at once instead of waiting out their timeouts.
Tally run_threads(std::size_t threads, bench::LocalNetwork& net,
                  const std::function<void(std::size_t, Tally&, const std::atomic<bool>&)>& work) {
  std::vector<Tally> tallies(threads);
  std::atomic<std::size_t> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      try {
        work(i, tallies[i], stop);
      } catch (const std::exception& e) {
        tallies[i].fail(std::string("client error: ") + e.what(), 0);
      }
      ++done;
    });
  std::string stalled;
  std::uint64_t height = 0;
  auto progress_at = Clock::now();
  auto polled_at = Clock::now();
  while (done.load() < threads) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (stop.load()) continue;
    if (Clock::now() - polled_at >= std::chrono::seconds(1)) {
      polled_at = Clock::now();
      auto h = height_of(net.node(0));
      if (h && *h != height) {
        height = *h;
        progress_at = polled_at;
      } else if (polled_at - progress_at >= std::chrono::seconds(kStallS)) {
        stalled = "no new block on node 0 for " + std::to_string(kStallS) + " s; heights:";
        for (std::size_t i = 0; i < net.size(); ++i) {
          auto hi = height_of(net.node(i));
          stalled += " " + (hi ? std::to_string(*hi) : std::string("?"));
        }
      }
    }
    if (g_interrupted.load() || !stalled.empty()) {
      stop = true;
      net.stop(SIGKILL);
    }
  }
  for (auto& th : pool) th.join();
  Tally all;
  for (const auto& t : tallies) all.merge(t);
  all.stalled = stalled;
  return all;
}

// Waits until every node has committed a block: a network of several
// validators commits its first (empty) block once a quorum is connected.
Status wait_first_block(const bench::LocalNetwork& net) {
  const auto deadline = Clock::now() + std::chrono::seconds(kFirstBlockTimeoutS);
  for (std::size_t i = 0; i < net.size(); ++i)
    for (;;) {
      auto h = height_of(net.node(i));
      if (h && *h >= 1) break;
      if (Clock::now() > deadline || g_interrupted.load())
        return Status::error("NO_BLOCK", "node " + std::to_string(i) + " made no block in " +
                                             std::to_string(kFirstBlockTimeoutS) + " s");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  return Status::ok();
}

Result<ChainStats> chain_stats(const testing::NodeProcess& node, std::uint64_t from,
                               std::uint64_t to) {
  ChainStats s;
  std::uint64_t prev_log_size = 0;
  std::uint64_t prev_view = 0;
  auto http = client_for(node);
  for (std::uint64_t lo = std::max<std::uint64_t>(from, 1); lo <= to; lo += kHeadersPerRequestMax) {
    const std::uint64_t hi = std::min(to, lo + kHeadersPerRequestMax - 1);
    auto res = http.Get("/v1/headers?from=" + std::to_string(lo) + "&to=" + std::to_string(hi));
    const Json j = res ? Json::parse(res->body, nullptr, false) : Json();
    if (!res || res->status != 200 || !j.is_object() || !j.contains("headers"))
      return Status::error("NODE_UNREACHABLE", "GET /v1/headers");
    for (const auto& item : j["headers"]) {
      const Json& h = item.at("header");
      const auto height = h.at("height").get<std::uint64_t>();
      const auto log_size = h.at("log_size").get<std::uint64_t>();
      const auto view = h.at("view").get<std::uint64_t>();
      if (height > from) {
        ++s.blocks;
        s.txs += log_size - prev_log_size;
        if (log_size == prev_log_size) ++s.empty_blocks;
        s.views += view - prev_view;
      }
      prev_log_size = log_size;
      prev_view = view;
    }
  }
  return s;
}

// Phase 1: every transaction of `txs` as fast as the clients get answers.
SaturationResult saturate(const Options& o, bench::LocalNetwork& net,
                          const std::vector<std::string>& txs) {
  SaturationResult r;
  std::atomic<std::size_t> next{0};
  const double node_cpu0 = children_cpu_seconds();
  const double client_cpu0 = bench::process_cpu_seconds();
  const auto t0 = Clock::now();
  r.tally = run_threads(o.clients, net, [&](std::size_t c, Tally& t, const auto& stop) {
    const std::size_t node = c % net.size();
    auto http = client_for(net.node(node));
    while (!stop.load()) {
      const std::size_t begin = next.fetch_add(o.batch);
      if (begin >= txs.size()) break;
      post_batch(o, http, node, txs, begin, std::min(begin + o.batch, txs.size()), t);
    }
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.client_cpu_s = bench::process_cpu_seconds() - client_cpu0;
  r.node_cpu_s = children_cpu_seconds() - node_cpu0;
  return r;
}

// Phase 2: batches of `batch` on a fixed schedule at `rate` tx/s, batch k to
// node k mod n, on enough threads that a slow answer does not hold the next
// post back (late_starts counts the batches that were held back anyway).
PacedResult pace(const Options& o, bench::LocalNetwork& net, const std::vector<std::string>& txs,
                 double rate, std::size_t clients) {
  PacedResult r;
  r.offered_tps = rate;
  r.batches = txs.size() / o.latency_batch;
  r.clients = clients;
  const auto interval = std::chrono::duration<double>(static_cast<double>(o.latency_batch) / rate);
  const auto t0 = Clock::now() + std::chrono::milliseconds(100);
  std::atomic<std::size_t> next{0};
  r.tally = run_threads(clients, net, [&](std::size_t, Tally& t, const auto& stop) {
    std::vector<std::optional<httplib::Client>> http(net.size());
    for (;;) {
      const std::size_t k = next.fetch_add(1);
      if (k >= r.batches) break;
      const auto due = t0 + std::chrono::duration_cast<Clock::duration>(interval * k);
      // In slices, so that a slow schedule still notices `stop`.
      while (!stop.load() && Clock::now() < due)
        std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), kSleepSlice));
      if (stop.load()) break;
      if (Clock::now() - due > interval) ++t.late_starts;
      const std::size_t node = k % net.size();
      if (!http[node]) http[node].emplace(client_for(net.node(node)));
      post_batch(o, *http[node], node, txs, k * o.latency_batch, (k + 1) * o.latency_batch, t);
    }
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// Threads for the paced phase: the batches in flight at the offered rate if
// each took as long as a saturated batch at the 99th percentile, twice over.
std::size_t paced_clients(const Options& o, double rate, const SaturationResult& s,
                          std::size_t validators) {
  const double in_flight =
      rate / static_cast<double>(o.latency_batch) * percentile(s.tally.latencies_ms, 0.99) / 1000.0;
  const auto wanted = static_cast<std::size_t>(std::ceil(2 * in_flight)) + validators;
  return std::clamp<std::size_t>(wanted, validators, kPacedClientsMax);
}

// `st` with the last lines of every node's log, to see why the network failed.
Status with_logs(const bench::LocalNetwork& net, const Status& st) {
  constexpr std::size_t kTailLines = 15;
  std::string message = st.message();
  for (std::size_t i = 0; i < net.size(); ++i) {
    const std::string log = testing::read_file(net.log_path(i));
    std::size_t from = log.size();
    for (std::size_t lines = 0; from > 0 && lines <= kTailLines; --from)
      if (log[from - 1] == '\n') ++lines;
    message += "\n--- node " + std::to_string(i) + " log, last lines:\n" + log.substr(from);
  }
  return Status::error(st.code(), message);
}

// The blocks of a phase on node 0: from height `from` (before it) to the
// first height whose log holds `log_size` transactions, the number committed
// so far. The answers of a phase come from every node, so node 0 may still be
// committing the last block; it gets kCatchUpS for that.
Result<std::uint64_t> chain_since(const bench::LocalNetwork& net, std::uint64_t from,
                                  std::uint64_t log_size, ChainStats& stats) {
  const auto deadline = Clock::now() + std::chrono::seconds(kCatchUpS);
  auto head = head_of(net.node(0));
  while (head && head->log_size < log_size && Clock::now() < deadline) {
    std::this_thread::sleep_for(kSleepSlice);
    head = head_of(net.node(0));
  }
  if (!head) return head.status();
  auto chain = chain_stats(net.node(0), from, head->height);
  if (!chain) return chain.status();
  stats = *chain;
  return head->height;
}

// One paced phase at `share` of the saturated rate, of fresh transactions
// (nonces from next_nonce, advanced past them). Errors: INTERRUPTED,
// NETWORK_STALLED.
Status run_paced(const Options& o, bench::LocalNetwork& net, double share,
                 const SaturationResult& saturation, std::uint64_t& next_nonce, PacedResult& p) {
  const std::size_t n = net.size();
  const double rate = share * saturation.tps();
  const std::size_t batches = std::max(
      kPacedBatchesMin, static_cast<std::size_t>(
                            std::ceil(rate * o.latency_s / static_cast<double>(o.latency_batch))));
  const auto paced_txs =
      presign(o, net.genesis(), net.issuer_key(), next_nonce, batches * o.latency_batch);
  next_nonce += paced_txs.size();
  const std::size_t clients = paced_clients(o, rate, saturation, n);
  std::printf(
      "[%zu validator(s)] paced at %.0f%%: %zu batches of %zu at %.0f tx/s, %zu client "
      "threads...\n",
      n, 100 * share, batches, o.latency_batch, rate, clients);
  std::fflush(stdout);
  const double node_cpu0 = children_cpu_seconds();
  const HostCpu host0 = host_cpu();
  p = pace(o, net, paced_txs, rate, clients);
  p.host_busy_share = busy_share(host0, host_cpu());
  p.node_cpu_s = children_cpu_seconds() - node_cpu0;
  p.share = share;
  if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
  if (!p.tally.stalled.empty())
    return Status::error("NETWORK_STALLED", "paced: " + p.tally.stalled);
  return Status::ok();
}

// Saturation, then one paced phase per share, on a running network.
Status run_phases(const Options& o, bench::LocalNetwork& net, const std::vector<std::string>& txs,
                  ModeResult& m) {
  const std::size_t n = net.size();
  std::cout << "[" << n << " validator(s)] saturation: " << txs.size() << " txs..." << std::endl;
  auto h0 = height_of(net.node(0));
  if (!h0) return h0.status();
  m.saturation = saturate(o, net, txs);
  if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
  if (!m.saturation.tally.stalled.empty())
    return Status::error("NETWORK_STALLED", "saturation: " + m.saturation.tally.stalled);
  auto h1 = chain_since(net, *h0, m.saturation.tally.committed, m.saturation.chain);
  if (!h1) return h1.status();
  if (auto head = head_of(net.node(0))) {
    m.saturation.state_cache_bytes = head->state_cache_bytes;
    m.saturation.state_cache_written_bytes = head->state_cache_written_bytes;
  }

  if (m.saturation.tps() <= 0) return Status::ok();  // nothing committed: no rate to pace at
  std::uint64_t committed = m.saturation.tally.committed;
  std::uint64_t height = *h1;
  std::uint64_t next_nonce = txs.size();
  for (const double share : o.paced_shares) {
    PacedResult p;
    EMLEDGER_TRY(run_paced(o, net, share, m.saturation, next_nonce, p));
    committed += p.tally.committed;
    auto h = chain_since(net, height, committed, p.chain);
    if (!h) return h.status();
    height = *h;
    m.curve.push_back(std::move(p));
  }
  // The headline: the phase nearest half load.
  m.paced = *std::min_element(m.curve.begin(), m.curve.end(), [](const auto& a, const auto& b) {
    return std::abs(a.share - kHeadlineShare) < std::abs(b.share - kHeadlineShare);
  });
  return Status::ok();
}

// One mode: a fresh network of n validators under DIR, both phases, the
// nodes stopped (by the network's destructor on every error path).
Result<ModeResult> run_mode(const Options& o, std::size_t n, const fs::path& dir) {
  ModeResult m;
  m.validators = n;
  bench::LocalNetwork net;
  fs::create_directories(dir);
  EMLEDGER_TRY(net.write(dir, n));
  std::cout << "[" << n << " validator(s)] pre-signing " << o.txs << " register transactions..."
            << std::endl;
  const auto txs = presign(o, net.genesis(), net.issuer_key(), 0, o.txs);
  m.tx_bytes = o.binary_body ? txs[0].size() : txs[0].size() / 2;
  EMLEDGER_TRY(net.start(o.node_bin, o.view_timeout_ms));  // its error holds the node's log
  Status st = n > 1 ? wait_first_block(net) : Status::ok();
  if (st) st = run_phases(o, net, txs, m);
  if (!st) return g_interrupted.load() ? st : with_logs(net, st);
  net.stop(SIGTERM);
  return m;
}

int run(const Options& o) {
  ScratchDir scratch("emledger-bench", "genesis, keys, node data and logs", o.keep);
  std::cout << "measuring the Ed25519 ceiling (all cores)..." << std::endl;
  const double before = ed25519_ceiling(kCeilingSeconds);
  std::vector<ModeResult> modes;
  bool mode_failed = false;  // the others still run and report
  for (std::size_t i = 0; i < o.validators.size(); ++i) {
    const std::size_t n = o.validators[i];
    auto m =
        run_mode(o, n, scratch.path() / ("run" + std::to_string(i) + "-v" + std::to_string(n)));
    if (g_interrupted.load()) {
      std::cerr << "interrupted\n";
      return 130;
    }
    if (!m) {
      std::cerr << n << " validator(s): " << m.status().to_string() << "\n";
      mode_failed = true;
      continue;
    }
    modes.push_back(std::move(*m));
  }
  if (modes.empty()) return 3;
  std::cout << "measuring the Ed25519 ceiling again..." << std::endl;
  const double after = ed25519_ceiling(kCeilingSeconds);
  print_report(o, before, after, modes);
  if (!o.json_out.empty()) write_json(o, before, after, modes);
  if (!o.trace_out.empty())
    if (Status st = write_trace(o, modes); !st) std::cerr << st.to_string() << "\n";
  const bool failed = std::any_of(modes.begin(), modes.end(), [](const ModeResult& m) {
    return !m.saturation.tally.errors.empty() ||
           std::any_of(m.curve.begin(), m.curve.end(),
                       [](const PacedResult& p) { return !p.tally.errors.empty(); });
  });
  return mode_failed ? 3 : failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::bench_main("ingest_bench", argc, argv, parse, run);
}
