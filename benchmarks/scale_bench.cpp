// Scale benchmark (issue 5): proofs served over HTTP by one real emledger-node,
// offline light-client verification of full proof bundles, and how latency,
// disk use and restart time hold up as the ledger grows.
//
//   ./build/benchmarks/scale_bench [--points 100000,1000000,10000000] [--requests N]
//       [--clients C] [--json FILE] [--node PATH] [--dir DIR] [--keep] [--state-cache-mib M]
//       [--state-retention-blocks W] [--compaction background|full]
//
//   --points LIST  increasing record counts to measure at (default 100000,1000000,10000000)
//   --requests N   requests per client thread and proof kind in the throughput phase,
//                  and requests per kind in the latency phase (default 2000)
//   --clients C    client threads of the throughput phase (default 8)
//   --json FILE    also write the figures as JSON ({"bench":"scale","setup",
//                  "table","points"}; see write_json)
//   --node PATH    the emledger-node binary (default: this build's)
//   --dir DIR      where the run's directory goes (default: the system temp dir);
//                  10M records take about 30 GB
//   --keep         leave the run's directory (genesis, keys, node data, log) behind
//   --state-cache-mib M  the state-page cache of the loader's Ledger and of the node
//                  (emledger-node --state-cache-mib; default 112 MiB, the library's, which the
//                  node's own default was before ADR 047 and which earlier scale runs used)
//   --state-retention-blocks W  state trees kept by the loader's Ledger and the node
//                  (emledger-node --state-retention-blocks; default 0, every tree)
//   --compaction C background (default): the figures of each point as the load left
//                  the database; full: the loader then compacts the whole database
//                  (LevelDB CompactRange), which is where background compaction
//                  converges: entries pruning erased are gone from disk
//
// One ledger of one validator (network_setup.hpp's genesis: an issuer org and
// validator bench.v0) grows point by point in one data directory. At each
// point (a number of register records, bench_txs.hpp's workload):
//
//   1. Load (scale/load.cpp): with the node stopped, the records up to the
//      point are committed in-process through the kernel, as the node commits
//      them: Ledger::prepare of blocks of kBlockTxsMax transactions, each on
//      the previous block while that one's synced commit runs, a finality
//      certificate signed by the validator's own key (read from its key file),
//      Ledger::commit in one synced LevelDB batch per block. Transactions are signed as they are
//      needed on every core, at most kBatchesAheadMax blocks ahead, so memory
//      stays bounded whatever the point. The benchmark signed them itself, so
//      the node's admission check (the signature) is not repeated: it would
//      change no byte on disk. Loading over HTTP would run the same prepare and
//      commit in the node, plus JSON, hex, admission and the load generator's
//      requests on the same 2 cores: it cannot be faster. Prepare (the
//      state-tree update) takes nearly all the load's time. After the
//      measurements, one more record is posted over HTTP with ?wait=commit, so
//      each point also shows that the node goes on committing on the loaded
//      chain; it counts toward the next point.
//   2. The node is started on the data and measured over HTTP:
//      - latency, one client, one request at a time: GET /v1/records/{id},
//        GET /v1/proofs/state (the record's key), and the SDK's verify flow
//        (client::Client::fetch_bundle: GET /v1/bundles, decode, verify_bundle
//        against the trusted genesis; a connection per call, as the SDK does).
//        Twice: from the node's first answer, while its start-up scan (every
//        'b' and 's' entry, to fill its filters) runs on one core, and once
//        GET /v1/health reports that scan complete, with fresh draws. The
//        second is the node in service and is the one set against the
//        targets; the first is printed beside it as "at start";
//      - throughput: C client threads on keep-alive connections, N requests
//        each, per kind: inclusion proofs (?tx=ID), consistency proofs (a
//        random first size to the head's) and state proofs;
//      - bundle verifications per second on all cores: decode_bundle and
//        ledger::verify_bundle (what `emledger verify --bundle` runs) of
//        bundles fetched before the clock starts, certificate included.
//      Every request asks about a record drawn at random from all loaded
//      records, a fresh draw per request, so the node's caches are not warm
//      by construction.
//   3. Restart: SIGKILL, start on the same data, time until GET /v1/health and
//      a state proof answer; then the same after SIGTERM.
//   4. Disk: the node stopped (SIGTERM), the bytes of its data directory
//      (every file: LevelDB's, and the consensus files) per record, and
//      LevelDB's approximate size of each key prefix (docs/formats/storage.md),
//      for the state-tree nodes alone.
//
// Every number printed is measured in this run. The node and the clients
// share the machine's cores; the 1-minute load average before each point's
// HTTP phases is printed, since other work on the machine shows in every
// figure. Processes and the data directory are removed on every way out (an
// error, SIGINT/SIGTERM/SIGHUP) unless --keep.
#include <httplib.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "bench_common.hpp"
#include "bench_run.hpp"
#include "bench_txs.hpp"
#include "emledger/client/sdk.hpp"
#include "emledger/client/verify.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/ledger/ledger.hpp"
#include "network_setup.hpp"
#include "scale/load.hpp"
#include "scale/point.hpp"

using namespace emledger;
using namespace emledger::ledger;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

using bench::cores;
using bench::fixed;
using bench::g_interrupted;
using bench::percentile;
using bench::seconds_since;
using bench::scale::Latency;
using bench::scale::load_records;
using bench::scale::Options;
using bench::scale::Point;
using bench::scale::PointLatencies;
using bench::scale::ProofRates;
using bench::scale::Rate;
using bench::scale::Records;
using bench::scale::Restart;
using bench::scale::ValidatorKey;

namespace {

constexpr std::uint64_t kPointMax = 1'000'000'000;
constexpr std::size_t kPointsMax = 16;
constexpr std::size_t kClientsMax = 256;
constexpr std::size_t kRequestsMax = 1'000'000;
// Bundles fetched for the offline verification phase (each verified many times).
constexpr std::size_t kBundlesMax = 1024;
constexpr int kNodeStartTimeoutS = 300;
constexpr int kReadyTimeoutS = 300;
// How long a point waits at most for LevelDB's compaction to fall idle (a
// load of 10M records leaves it minutes of work).
constexpr int kCompactionWaitMaxS = 3600;
constexpr int kHttpTimeoutS = 60;
// The random draws of records are repeatable from run to run.
constexpr std::uint64_t kSampleSeed = 0x5ca1eb;
// A load needs about this much more than the previous point's bytes per
// record times the new records; refused when the disk has less.
constexpr double kDiskMargin = 1.2;

std::optional<std::vector<std::uint64_t>> parse_points(const std::string& v) {
  auto list = bench::parse_list(v);
  if (!list || list->size() > kPointsMax) return std::nullopt;
  std::vector<std::uint64_t> out(list->begin(), list->end());
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] < 1 || out[i] > kPointMax || (i > 0 && out[i] <= out[i - 1])) return std::nullopt;
  return out;
}

constexpr const char* kUsage =
    "usage: scale_bench [--points 100000,1000000,10000000] [--requests N] [--clients C]\n"
    "    [--json FILE] [--node PATH] [--dir DIR] [--keep] [--state-cache-mib M]\n"
    "    [--state-retention-blocks W] [--compaction background|full] [--latency-log FILE]\n"
    "Proofs per second over HTTP, bundle verifications per second, and lookup, proof and\n"
    "verify latency, bytes per record and restart time as one ledger grows\n"
    "(docs/benchmarks.md). 10M records take about 30 GB under --dir.\n";

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  const bool ok = bench::walk_options(
      argc, argv, kUsage, "--keep", [&] { o.keep = true; },
      [&](const std::string& k, const std::string& v) {
        if (k == "--points") {
          auto list = parse_points(v);
          if (!list) {
            std::cerr << "--points: 1 to " << kPointsMax << " increasing counts, each 1.."
                      << kPointMax << "\n";
            throw std::invalid_argument(v);
          }
          o.points = *list;
        } else if (k == "--requests") {
          o.requests = std::stoul(v);
        } else if (k == "--clients") {
          o.clients = std::stoul(v);
        } else if (k == "--json") {
          o.json_out = v;
        } else if (k == "--latency-log") {
          o.latency_log = v;
        } else if (k == "--node") {
          o.node_bin = v;
        } else if (k == "--dir") {
          o.dir = v;
        } else if (k == "--state-cache-mib") {
          o.state_cache_mib = std::stoull(v);
        } else if (k == "--state-retention-blocks") {
          o.state_retention_blocks = std::stoull(v);
        } else if (k == "--compaction") {
          if (v != "background" && v != "full") throw std::invalid_argument(v);
          o.full_compaction = v == "full";
        } else {
          return false;
        }
        return true;
      });
  if (!ok) return std::nullopt;
  if (o.requests < 1 || o.requests > kRequestsMax || o.clients < 1 || o.clients > kClientsMax) {
    std::cerr << "--requests 1.." << kRequestsMax << ", --clients 1.." << kClientsMax << "\n";
    return std::nullopt;
  }
  if (o.state_cache_mib < 1 || o.state_cache_mib > kStateCacheMibMax) {
    std::cerr << "--state-cache-mib 1.." << kStateCacheMibMax << "\n";
    return std::nullopt;
  }
  if (o.state_retention_blocks != kStateRetentionKeepAll &&
      (o.state_retention_blocks < kStateRetentionBlocksMin ||
       o.state_retention_blocks > kStateRetentionBlocksMax)) {
    std::cerr << "--state-retention-blocks 0 (every tree) or " << kStateRetentionBlocksMin << ".."
              << kStateRetentionBlocksMax << "\n";
    return std::nullopt;
  }
  return o;
}

// The directory of one run, DIR/emledger-scale-PID: removed on every way out
// but a crash, unless `keep`. (bench::ScratchDir always lives in the system
// temp dir; 10M records need a disk chosen with --dir.)
class RunDir {
 public:
  RunDir(const fs::path& parent, bool keep)
      : keep_(keep),
        path_(fs::absolute(parent) / ("emledger-scale-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~RunDir() {
    std::error_code ec;
    if (keep_)
      std::cerr << "kept " << path_.string() << " (genesis, keys, node data and log)\n";
    else
      fs::remove_all(path_, ec);
  }
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  bool keep_;
  fs::path path_;
};

// ---- the node -------------------------------------------------------------

// The one emledger-node of the run, started and stopped on the same data
// (the directory LocalNetwork::start would give node 0). SIGKILLed by the
// destructor, so no way out leaves it running.
class Node {
 public:
  Node(std::string binary, const fs::path& dir, std::uint64_t state_cache_mib,
       std::uint64_t state_retention_blocks)
      : binary_(std::move(binary)),
        dir_(dir),
        state_cache_mib_(state_cache_mib),
        state_retention_blocks_(state_retention_blocks),
        data_((dir / "node0").string()),
        process_(binary_, data_) {}

  // Starts the node and waits until it prints its listening line.
  // Errors: NODE_START_FAILED with the node's log.
  Status start() {
    const std::vector<std::string> args{"--dev",
                                        "--genesis",
                                        (dir_ / "genesis.json").string(),
                                        "--key",
                                        (dir_ / "v0.key").string(),
                                        "--data",
                                        data_,
                                        "--listen",
                                        "127.0.0.1:0",
                                        "--state-cache-mib",
                                        std::to_string(state_cache_mib_),
                                        "--state-retention-blocks",
                                        std::to_string(state_retention_blocks_)};
    if (!process_.start(args, kNodeStartTimeoutS))
      return Status::error("NODE_START_FAILED",
                           binary_ + " did not start:\n" + tail(process_.log()));
    return Status::ok();
  }
  void stop(int sig) { process_.stop(sig); }
  bool running() const { return process_.running(); }
  const testing::NodeProcess& process() const { return process_; }
  fs::path data_dir() const { return data_; }
  fs::path db_dir() const { return fs::path(data_) / "db"; }
  std::string url() const { return process_.url(); }

  httplib::Client http() const {
    httplib::Client c(process_.host(), process_.port());
    c.set_keep_alive(true);
    c.set_connection_timeout(kHttpTimeoutS, 0);
    c.set_read_timeout(kHttpTimeoutS, 0);
    return c;
  }

 private:
  static std::string tail(const std::string& log) {
    constexpr std::size_t kTailBytes = 3000;
    return log.size() > kTailBytes ? log.substr(log.size() - kTailBytes) : log;
  }
  std::string binary_;
  fs::path dir_;
  std::uint64_t state_cache_mib_;
  std::uint64_t state_retention_blocks_;
  std::string data_;
  testing::NodeProcess process_;  // SIGKILLed on destruction
};

// GET `target`; the body of a 200 answer. Errors: HTTP_FAILED.
Result<std::string> get_ok(httplib::Client& http, const std::string& target) {
  auto res = http.Get(target);
  if (!res) return Status::error("HTTP_FAILED", target + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    return Status::error("HTTP_FAILED",
                         target + ": HTTP " + std::to_string(res->status) + " " + res->body);
  return std::move(res->body);
}

Result<std::uint64_t> log_size_of(const Node& node) {
  auto http = node.http();
  auto body = get_ok(http, "/v1/health");
  if (!body) return body.status();
  const Json j = Json::parse(*body, nullptr, false);
  if (!j.is_object() || !j.contains("log_size") || !j["log_size"].is_number_unsigned())
    return Status::error("NODE_BAD_RESPONSE", "GET /v1/health: no log_size");
  return j["log_size"].get<std::uint64_t>();
}

// Waits until GET /v1/health reports `value` for its string field `field`,
// polling every `poll`, for at most `timeout_s`. Errors: HTTP_FAILED,
// NODE_BAD_RESPONSE, NODE_NOT_READY (with `late`) after timeout_s,
// INTERRUPTED.
Status wait_health(const Node& node, const std::string& field, const std::string& value,
                   int timeout_s, std::chrono::milliseconds poll, const std::string& late) {
  auto http = node.http();
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    auto body = get_ok(http, "/v1/health");
    if (!body) return body.status();
    const Json j = Json::parse(*body, nullptr, false);
    if (!j.is_object() || !j.contains(field) || !j[field].is_string())
      return Status::error("NODE_BAD_RESPONSE", "GET /v1/health: no " + field);
    if (j[field] == value) return Status::ok();
    if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
    if (Clock::now() > deadline) return Status::error("NODE_NOT_READY", late);
    std::this_thread::sleep_for(poll);
  }
}

// Waits until GET /v1/health reports the node's start-up scan complete
// (committed_id_filter: the scan of every 'b' and 's' entry that fills the
// node's filters, ADR 023 and 026), for at most kReadyTimeoutS.
Status wait_startup_scan(const Node& node) {
  return wait_health(node, "committed_id_filter", "complete", kReadyTimeoutS,
                     std::chrono::milliseconds(20), "the start-up scan did not complete");
}

// Waits until GET /v1/health reports the store's background work done (ADR
// 034: no LevelDB level over the size at which LevelDB compacts it, and no
// erased key range left to sweep), for at most kCompactionWaitMaxS.
Status wait_compaction_idle(const Node& node) {
  return wait_health(node, "compaction", "idle", kCompactionWaitMaxS,
                     std::chrono::milliseconds(500), "the store's compaction did not fall idle");
}

// ---- what the requests ask about ------------------------------------------

// One loaded record, drawn at random, with everything a request names.
struct Sample {
  std::uint64_t n = 0;
  Hash tx_id{};
  Hash content_hash{};
  std::string record_path;  // /v1/records/{id}
  std::string state_path;   // /v1/proofs/state?key=...
  std::string inclusion_path;
};

// `count` draws (with replacement) from all loaded records, built on every core.
std::vector<Sample> draw_samples(const Records& records, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> pick(0, records.count() - 1);
  std::vector<Sample> out(count);
  for (auto& s : out) s.n = pick(rng);
  std::vector<std::thread> pool;
  const unsigned threads = cores();
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < count; i += threads) {
        Sample& s = out[i];
        const Tx tx = records.tx(s.n);
        s.tx_id = tx.id();
        const auto body = decode<RegisterRecord>(tx.body.payload);
        EMLEDGER_ASSERT(body.is_ok());
        s.content_hash = body->body.content_hash;
        const Hash record_id = record_id_for(s.tx_id);
        s.record_path = "/v1/records/" + to_hex(record_id);
        s.state_path = "/v1/proofs/state?key=" + to_hex(record_state_key(record_id));
        s.inclusion_path = "/v1/proofs/inclusion?tx=" + to_hex(s.tx_id);
      }
    });
  for (auto& th : pool) th.join();
  return out;
}

// ---- measurements over HTTP -----------------------------------------------

Latency summarize(const std::vector<double>& ms) {
  return Latency{percentile(ms, 0.5), percentile(ms, 0.99)};
}

// One client, one request at a time, `count` of each kind (distinct draws).
// `log` (may be null) gets a line per request: "LABEL KIND UNIX_TIME_S MS",
// the wall time of its start, so that a tail can be set against the node's
// LevelDB LOG.
Result<PointLatencies> measure_latencies(const Node& node, const Genesis& g,
                                         const std::vector<Sample>& samples, std::size_t count,
                                         std::ostream* log, const std::string& label) {
  EMLEDGER_ASSERT(samples.size() >= 3 * count);
  auto http = node.http();
  auto note = [&](const char* kind, std::chrono::system_clock::time_point wall, double ms) {
    if (log == nullptr) return;
    const double t = std::chrono::duration<double>(wall.time_since_epoch()).count();
    *log << label << ' ' << kind << ' ' << fixed(t, 6) << ' ' << fixed(ms, 3) << '\n';
  };
  auto timed = [&](const std::string& target, std::vector<double>& ms, const char* kind) -> Status {
    const auto wall = std::chrono::system_clock::now();
    const auto t0 = Clock::now();
    auto body = get_ok(http, target);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    note(kind, wall, ms.back());
    return body.status();
  };
  std::vector<double> lookup, state, verify;
  for (std::size_t i = 0; i < count && !g_interrupted.load(); ++i)
    EMLEDGER_TRY(timed(samples[i].record_path, lookup, "lookup"));
  for (std::size_t i = count; i < 2 * count && !g_interrupted.load(); ++i)
    EMLEDGER_TRY(timed(samples[i].state_path, state, "state_proof"));
  client::ClientOptions co;
  co.transport.read_timeout_ms = kHttpTimeoutS * 1000;
  const client::Client sdk(node.url(), g, co);
  for (std::size_t i = 2 * count; i < 3 * count && !g_interrupted.load(); ++i) {
    const auto wall = std::chrono::system_clock::now();
    const auto t0 = Clock::now();
    auto b = sdk.fetch_bundle(samples[i].content_hash);
    verify.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    note("verify", wall, verify.back());
    if (!b) return Status::error(b.status().code(), "verify: " + b.status().message());
    if (b->verdict.overall != Verdict::kValid)
      return Status::error("VERIFY_UNEXPECTED",
                           "verify: verdict " + std::string(verdict_name(b->verdict.overall)));
  }
  if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
  return PointLatencies{summarize(lookup), summarize(state), summarize(verify)};
}

// `clients` threads on keep-alive connections, `requests` GETs each of
// target(i) for i in the thread's share; proofs answered per second.
Result<Rate> measure_rate(const Node& node, std::size_t clients, std::size_t requests,
                          const std::function<std::string(std::size_t)>& target) {
  std::vector<std::vector<double>> ms(clients);
  std::vector<Status> failed(clients, Status::ok());
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (std::size_t c = 0; c < clients; ++c)
    pool.emplace_back([&, c] {
      auto http = node.http();
      ms[c].reserve(requests);
      for (std::size_t r = 0; r < requests && !g_interrupted.load(); ++r) {
        const auto s0 = Clock::now();
        auto body = get_ok(http, target(c * requests + r));
        if (!body) {
          failed[c] = body.status();
          return;
        }
        ms[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
      }
    });
  for (auto& th : pool) th.join();
  const double seconds = seconds_since(t0);
  if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
  for (const auto& st : failed) EMLEDGER_TRY(st);
  std::vector<double> all;
  for (const auto& m : ms) all.insert(all.end(), m.begin(), m.end());
  return Rate{static_cast<double>(all.size()) / seconds, summarize(all)};
}

Result<ProofRates> measure_proof_rates(const Node& node, const std::vector<Sample>& samples,
                                       std::size_t clients, std::size_t requests) {
  EMLEDGER_ASSERT(samples.size() >= clients * requests);
  auto size = log_size_of(node);
  if (!size) return size.status();
  ProofRates r;
  auto inc = measure_rate(node, clients, requests,
                          [&](std::size_t i) { return samples[i].inclusion_path; });
  if (!inc) return inc.status();
  r.inclusion = *inc;
  // The first size is 1 + the draw modulo (head size - 1), the second the
  // head's: a client that saw the log at a random earlier size catching up.
  auto con = measure_rate(node, clients, requests, [&](std::size_t i) {
    const std::uint64_t first = 1 + samples[i].n % std::max<std::uint64_t>(1, *size - 1);
    return "/v1/proofs/consistency?first=" + std::to_string(first) +
           "&second=" + std::to_string(*size);
  });
  if (!con) return con.status();
  r.consistency = *con;
  auto st =
      measure_rate(node, clients, requests, [&](std::size_t i) { return samples[i].state_path; });
  if (!st) return st.status();
  r.state = *st;
  return r;
}

// Bundles of distinct records fetched over HTTP, then decode_bundle and
// verify_bundle `total` times on every core; verifications per second.
Result<double> measure_bundle_verifications(const Node& node, const Genesis& g,
                                            const std::vector<Sample>& samples, std::size_t total) {
  const std::size_t count = std::min(kBundlesMax, samples.size());
  std::vector<Bytes> bundles;
  bundles.reserve(count);
  auto http = node.http();
  for (std::size_t i = 0; i < count; ++i) {
    auto body = get_ok(http, "/v1/bundles?content_hash=" + to_hex(samples[i].content_hash));
    if (!body) return body.status();
    const Json j = Json::parse(*body, nullptr, false);
    auto raw = j.is_object() && j.contains("bundle") && j["bundle"].is_string()
                   ? from_hex(j["bundle"].get<std::string>())
                   : std::nullopt;
    if (!raw) return Status::error("NODE_BAD_RESPONSE", "GET /v1/bundles: no bundle");
    bundles.push_back(std::move(*raw));
  }
  const unsigned threads = cores();
  std::vector<Status> failed(threads, Status::ok());
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < total && !g_interrupted.load(); i += threads) {
        const std::size_t k = i % bundles.size();
        auto bundle = client::decode_bundle(bundles[k]);
        if (!bundle) {
          failed[t] = bundle.status();
          return;
        }
        auto verdict = verify_bundle(g, *bundle, samples[k].content_hash);
        if (!verdict || verdict->overall != Verdict::kValid) {
          failed[t] = verdict ? Status::error("VERIFY_UNEXPECTED", "bundle verdict not valid")
                              : verdict.status();
          return;
        }
      }
    });
  for (auto& th : pool) th.join();
  const double seconds = seconds_since(t0);
  if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
  for (const auto& st : failed) EMLEDGER_TRY(st);
  return static_cast<double>(total) / seconds;
}

// ---- restart and disk -----------------------------------------------------

// Starts the node on its data and times until GET /v1/health and a state
// proof answer 200, from the start of the process.
Result<double> timed_start(Node& node, const Sample& probe) {
  const auto t0 = Clock::now();
  EMLEDGER_TRY(node.start());
  const auto deadline = t0 + std::chrono::seconds(kReadyTimeoutS);
  auto http = node.http();
  for (const std::string& target : {std::string("/v1/health"), probe.state_path})
    for (;;) {
      auto res = http.Get(target);
      if (res && res->status == 200) break;
      if (Clock::now() > deadline || g_interrupted.load())
        return Status::error("NODE_NOT_READY", target + " did not answer 200 after the start");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  return seconds_since(t0);
}

Result<Restart> measure_restarts(Node& node, const Sample& probe) {
  Restart r;
  node.stop(SIGKILL);
  auto k = timed_start(node, probe);
  if (!k) return k.status();
  r.sigkill_s = *k;
  const auto t0 = Clock::now();
  node.stop(SIGTERM);
  r.sigterm_stop_s = seconds_since(t0);
  auto t = timed_start(node, probe);
  if (!t) return t.status();
  r.sigterm_s = *t;
  return r;
}

// Bytes of every regular file under `dir` (their sizes, not blocks).
std::uint64_t dir_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

// LevelDB's own estimate of the on-disk bytes of each key prefix
// (docs/formats/storage.md) in the stopped node's database: no scan, so it
// costs nothing at any size. LevelDB is the kernel's private dependency; the
// benchmark opens the files directly, with the node stopped, only to read
// these sizes, with the options open_leveldb uses (ledger/src/leveldb_store.cpp)
// because opening writes the log's entries into a level-0 table, which the
// estimate then covers. Errors: STORAGE_ERROR.
Result<std::map<char, std::uint64_t>> prefix_bytes(const fs::path& db_dir) {
  const std::unique_ptr<const leveldb::FilterPolicy> filter(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options options;
  options.create_if_missing = false;
  options.paranoid_checks = true;
  options.filter_policy = filter.get();
  options.write_buffer_size = 64 << 20;
  options.max_file_size = 8 << 20;
  options.compression = leveldb::kSnappyCompression;
  leveldb::DB* raw = nullptr;
  const leveldb::Status st = leveldb::DB::Open(options, db_dir.string(), &raw);
  if (!st.ok()) return Status::error("STORAGE_ERROR", st.ToString());
  const std::unique_ptr<leveldb::DB> db(raw);  // closed before the filter goes
  static constexpr char kPrefixes[] = {'n', 'v', 's', 'x', 't', 'i', 'h', 'c', 'b'};
  std::map<char, std::uint64_t> out;
  for (const char p : kPrefixes) {
    const std::string lo(1, p), hi(1, static_cast<char>(p + 1));
    const leveldb::Range range(lo, hi);
    std::uint64_t size = 0;
    db->GetApproximateSizes(&range, 1, &size);
    out[p] = size;
  }
  return out;
}

// Submits the next record over HTTP with ?wait=commit and stops the node:
// shows that the node goes on committing blocks on the chain the load built
// (its consensus anchored at the loaded head, its views above the load's).
// The record joins the chain's records. Errors: NODE_DID_NOT_COMMIT, and the
// node's start errors.
Status check_node_commits(Node& node, Records& records) {
  EMLEDGER_TRY(node.start());
  auto http = node.http();
  auto health = get_ok(http, "/v1/health");
  if (!health) return health.status();
  const Json h = Json::parse(*health, nullptr, false);
  if (!h.is_object() || !h.contains("height") || !h["height"].is_number_unsigned())
    return Status::error("NODE_BAD_RESPONSE", "GET /v1/health: no height");
  const std::uint64_t n = records.count();
  const std::uint64_t expires = h["height"].get<std::uint64_t>() + kTxLifetimeBlocksMax;
  const Json body = {{"tx", to_hex(encode(records.make(n, expires)))}};
  auto res = http.Post("/v1/transactions?wait=commit", body.dump(), "application/json");
  if (!res || res->status != 200)
    return Status::error("NODE_DID_NOT_COMMIT",
                         "a transaction posted after the load: " +
                             (res ? "HTTP " + std::to_string(res->status) + " " + res->body
                                  : httplib::to_string(res.error())));
  records.add_session(n, n + 1, expires);
  node.stop(SIGTERM);
  return Status::ok();
}

// The 1-minute load average: the machine is shared, and this says how busy
// it was when a point was measured.
double load_average() {
  double v = 0;
  std::ifstream("/proc/loadavg") >> v;
  return v;
}

// ---- one point ------------------------------------------------------------

// Free bytes where the data lives, against what the next load should need.
Status check_disk(const fs::path& dir, std::uint64_t used, std::uint64_t records_now,
                  std::uint64_t records_next) {
  std::error_code ec;
  const auto space = fs::space(dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot read the free space of " + dir.string());
  std::fprintf(stderr, "  disk: data %.2f GB, %.1f GB free in %s\n", used / 1e9,
               space.available / 1e9, dir.string().c_str());
  if (records_now == 0) return Status::ok();
  const double need = kDiskMargin * static_cast<double>(used) / static_cast<double>(records_now) *
                      static_cast<double>(records_next - records_now);
  std::fprintf(stderr, "  disk: the next point should need about %.2f GB more\n", need / 1e9);
  if (need > static_cast<double>(space.available))
    return Status::error("DISK_FULL", "the next point needs about " + fixed(need / 1e9, 1) +
                                          " GB, " + fixed(space.available / 1e9, 1) +
                                          " GB free in " + dir.string() + " (--dir elsewhere)");
  return Status::ok();
}

struct Run {
  const Options& o;
  bench::LocalNetwork& net;
  Records& records;
  const ValidatorKey& validator;
  Node& node;
  std::ostream* latency_log;  // null without --latency-log
};

Status measure_point(Run& run, std::uint64_t target, Point& p) {
  const Options& o = run.o;
  const Genesis& g = run.net.genesis();
  p.records = target;
  p.loaded = target - run.records.count();
  std::cout << "[" << target << " records] loading " << p.loaded << " through the kernel..."
            << std::endl;
  const auto t0 = Clock::now();
  EMLEDGER_TRY(load_records(run.records, run.validator, run.node.db_dir(), target,
                            o.ledger_options(), o.full_compaction, p.compaction_s));
  p.load_s = seconds_since(t0) - p.compaction_s;
  p.loaded_db_bytes = dir_bytes(run.node.db_dir());

  // The latency phase at start asks about draws [0, 3 requests), the one
  // after the start-up scan about [3, 6 requests), the one at rest about
  // [6, 9 requests), the throughput phase about the next clients x requests;
  // the bundles are of the first draws (fetched before their clock: the
  // node's caches do not matter there).
  const std::size_t draws = 9 * o.requests + o.clients * o.requests;
  const auto samples = draw_samples(run.records, draws, kSampleSeed + target);
  const auto s0 = Clock::now();
  p.load_average = load_average();
  EMLEDGER_TRY(run.node.start());
  std::cout << "[" << target << " records] node up in " << fixed(seconds_since(s0), 2)
            << " s; latency, " << o.requests << " requests of each kind, one at a time..."
            << std::endl;
  const auto started = Clock::now();
  const std::string tag = std::to_string(target) + " ";
  auto early = measure_latencies(run.node, g, samples, o.requests, run.latency_log, tag + "start");
  if (!early) return early.status();
  p.latency_at_start = *early;
  EMLEDGER_TRY(wait_startup_scan(run.node));
  p.startup_scan_s = seconds_since(started);
  std::cout << "[" << target << " records] start-up scan complete " << fixed(p.startup_scan_s, 1)
            << " s after the node answered; latency again..." << std::endl;
  const std::vector<Sample> later(samples.begin() + 3 * o.requests, samples.end());
  auto lat = measure_latencies(run.node, g, later, o.requests, run.latency_log, tag + "scanned");
  if (!lat) return lat.status();
  p.latency = *lat;
  std::cout << "[" << target << " records] waiting for LevelDB's compaction to fall idle..."
            << std::endl;
  const auto c0 = Clock::now();
  EMLEDGER_TRY(wait_compaction_idle(run.node));
  p.compaction_wait_s = seconds_since(c0);
  p.rest_db_bytes = dir_bytes(run.node.db_dir());
  std::cout << "[" << target << " records] compaction idle after " << fixed(p.compaction_wait_s, 1)
            << " s; latency at rest..." << std::endl;
  const std::vector<Sample> at_rest(samples.begin() + 6 * o.requests, samples.end());
  auto rested = measure_latencies(run.node, g, at_rest, o.requests, run.latency_log, tag + "rest");
  if (!rested) return rested.status();
  p.latency_at_rest = *rested;
  std::cout << "[" << target << " records] proofs/s: " << o.clients << " clients x " << o.requests
            << " requests per kind..." << std::endl;
  const std::vector<Sample> rest(samples.begin() + 9 * o.requests, samples.end());
  auto rates = measure_proof_rates(run.node, rest, o.clients, o.requests);
  if (!rates) return rates.status();
  p.rates = *rates;
  std::cout << "[" << target << " records] bundle verifications on " << cores() << " cores..."
            << std::endl;
  auto bv = measure_bundle_verifications(run.node, g, samples, o.clients * o.requests);
  if (!bv) return bv.status();
  p.bundle_verifications_per_s = *bv;
  std::cout << "[" << target << " records] restarts (SIGKILL, then SIGTERM)..." << std::endl;
  auto restart = measure_restarts(run.node, samples[0]);
  if (!restart) return restart.status();
  p.restart = *restart;
  run.node.stop(SIGTERM);
  p.disk_bytes = dir_bytes(run.node.data_dir());
  p.db_bytes = dir_bytes(run.node.db_dir());
  auto prefixes = prefix_bytes(run.node.db_dir());
  if (!prefixes) return prefixes.status();
  p.prefixes = *prefixes;
  EMLEDGER_TRY(check_node_commits(run.node, run.records));
  std::cout << "[" << target << " records] " << fixed(p.bytes_per_record(), 0)
            << " bytes per record on disk (" << fixed(p.disk_bytes / 1e9, 2) << " GB)" << std::endl;
  return Status::ok();
}

int run(const Options& o) {
  // The loader's store holds as many tables as the node's (ADR 028); the
  // node raises its own limit in the same way.
  ledger::raise_open_files_limit();
  // Before any load: a wrong path would otherwise show only after it.
  if (::access(o.node_bin.c_str(), X_OK) != 0) {
    std::cerr << "scale_bench: no executable node at " << o.node_bin << " (--node)\n";
    return 2;
  }
  RunDir dir(o.dir.empty() ? fs::temp_directory_path() : fs::path(o.dir), o.keep);
  bench::LocalNetwork net;
  if (Status st = net.write(dir.path(), 1); !st.is_ok()) {
    std::cerr << "scale_bench: " << st.to_string() << "\n";
    return 3;
  }
  auto key = crypto::read_key_file((dir.path() / "v0.key").string(), std::nullopt);
  if (!key) {
    std::cerr << "scale_bench: " << key.status().to_string() << "\n";
    return 3;
  }
  const ValidatorKey validator{*key, 0};
  Records records(net.genesis(), net.issuer_key());
  Node node(o.node_bin, dir.path(), o.state_cache_mib, o.state_retention_blocks);
  std::ofstream latency_log;
  if (!o.latency_log.empty()) {
    latency_log.open(o.latency_log, std::ios::trunc);
    if (!latency_log) {
      std::cerr << "scale_bench: cannot write " << o.latency_log << " (--latency-log)\n";
      return 2;
    }
  }
  Run r{o, net, records, validator, node, o.latency_log.empty() ? nullptr : &latency_log};
  std::vector<Point> points;
  Status failed = Status::ok();
  for (const std::uint64_t target : o.points) {
    if (!points.empty())
      failed = check_disk(dir.path(), points.back().disk_bytes, points.back().records, target);
    if (!failed.is_ok()) break;
    Point p;
    failed = measure_point(r, target, p);
    node.stop(SIGKILL);  // stopped already unless the point failed
    if (!failed.is_ok()) break;
    points.push_back(std::move(p));
  }
  if (g_interrupted.load()) {
    std::cerr << "interrupted\n";
    return 130;
  }
  if (!points.empty()) {
    print_report(o, points);
    if (!o.json_out.empty()) write_json(o, points);
  }
  if (!failed.is_ok()) {
    std::cerr << "scale_bench: " << failed.to_string() << "\n";
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return bench::bench_main("scale_bench", argc, argv, parse, run); }
