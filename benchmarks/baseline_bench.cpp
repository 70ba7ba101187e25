// The baselines of issue 5, measured on this machine in one run beside its
// Ed25519 verification rate on all cores:
//
//   - PostgreSQL 15, the central-database alternative (baselines/postgres.hpp):
//     the index rows of N register transactions loaded in batches of B, each
//     batch one durable transaction (fsync=on, synchronous_commit=on), by a
//     loader that verifies every row's Ed25519 signature on all cores before
//     inserting it: one by one (libsodium), and each batch's signatures
//     together (crypto::verify_batch, as emledger's admission does since
//     ADR 039); and the same load without verification.
//   - etcd 3.4, the replicated-log reference (baselines/etcd.hpp): three
//     members on loopback, puts of the same transaction bytes from concurrent
//     keep-alive clients through the v3 HTTP/JSON gateway.
//
//   ./build/benchmarks/baseline_bench [--rows N] [--batch B] [--pg-clients C]
//       [--pg-paced-shares LIST|none] [--pg-paced-batch B] [--pg-paced-s S]
//       [--etcd-puts N] [--etcd-clients LIST] [--only pg|etcd] [--json FILE]
//       [--pg-bin DIR] [--etcd-bin PATH] [--keep]
//
// For throughput-latency curves: after its saturated loads, PostgreSQL (with
// verification in batches) is loaded on a fixed schedule at each share of
// that saturated rate, in batches of --pg-paced-batch (ingest_bench's latency
// batch) for about --pg-paced-s seconds each; etcd runs once per client count
// of --etcd-clients (ascending; the largest is the headline figure).
//
// The transactions are those ingest_bench posts to emledger (bench_txs.hpp),
// signed before any clock starts. Every server is started in a temp dir on
// free loopback ports and stopped on every way out (an error, an exception,
// SIGINT/SIGTERM/SIGHUP; its parent-death signal covers SIGKILL); the dir is
// removed unless --keep.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "baselines/etcd.hpp"
#include "baselines/postgres.hpp"
#include "bench_common.hpp"
#include "bench_run.hpp"

using namespace emledger;
using bench::cpu_us_per;
using bench::fixed;
using bench::g_interrupted;
using bench::install_signal_handlers;
using bench::ScratchDir;
namespace fs = std::filesystem;

namespace {

constexpr double kCeilingSeconds = 2.0;
// One batch is at most what one emledger block holds.
constexpr std::size_t kBatchTxsMax = ledger::kBlockTxsMax;
// Connections and client threads: beyond these the machine measures its
// scheduler.
constexpr std::size_t kPgClientsMax = 64;
constexpr std::size_t kEtcdClientsMax = 512;
constexpr std::size_t kCurvePointsMax = 8;
// A paced PostgreSQL point has at least this many batches, so that p99 means
// something (ingest_bench's kPacedBatchesMin).
constexpr std::size_t kPacedBatchesMin = 20;
// An etcd point below the largest client count makes at least this many puts
// (or --etcd-puts, if fewer), and otherwise --etcd-puts scaled by its clients.
constexpr std::size_t kEtcdPointPutsMin = 2000;

struct Options {
  std::size_t rows = 20000;
  std::size_t batch = 1000;    // ingest_bench's default batch
  std::size_t pg_clients = 8;  // ingest_bench's default clients
  std::size_t etcd_puts = 20000;
  // etcd batches concurrent puts into one raft entry and one fsync, so its
  // rate grows with the clients in flight; on the 2-core machine it stopped
  // growing at 256 (4,500 puts/s; 512 clients: the same rate, twice the latency).
  // Also 16 and 64 clients, for etcd's throughput-latency curve.
  std::vector<std::size_t> etcd_clients{16, 64, 256};
  std::vector<double> pg_paced_shares{0.25, 0.5, 0.75, 0.9};
  std::size_t pg_paced_batch = 100;  // ingest_bench's --latency-batch
  double pg_paced_s = 5.0;
  bool run_pg = true;
  bool run_etcd = true;
  std::string json_out;
  std::string pg_bin = bench::kPgBinDirDefault;
  std::string etcd_bin = bench::kEtcdBinDefault;
  bool keep = false;
};

// "a,b,c" into 1..kCurvePointsMax items that `one` accepts (it throws otherwise).
template <class T, class F>
std::vector<T> parse_list(const std::string& v, F one) {
  std::vector<T> out;
  std::stringstream ss(v);
  for (std::string item; std::getline(ss, item, ',');) {
    std::size_t used = 0;
    out.push_back(one(item, &used));
    if (used != item.size()) throw std::invalid_argument(item);
  }
  if (out.empty() || out.size() > kCurvePointsMax) throw std::invalid_argument(v);
  return out;
}

constexpr const char* kUsage =
    "usage: baseline_bench [--rows N] [--batch B] [--pg-clients C]\n"
    "    [--pg-paced-shares LIST|none] [--pg-paced-batch B] [--pg-paced-s S]\n"
    "    [--etcd-puts N] [--etcd-clients LIST] [--only pg|etcd] [--json FILE]\n"
    "    [--pg-bin DIR] [--etcd-bin PATH] [--keep]\n"
    "PostgreSQL 15 (with and without Ed25519 verification) and a 3-member etcd 3.4\n"
    "loaded with the register transactions ingest_bench posts (docs/benchmarks.md).\n";

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  const bool ok = bench::walk_options(
      argc, argv, kUsage, "--keep", [&] { o.keep = true; },
      [&](const std::string& k, const std::string& v) {
        if (k == "--rows") {
          o.rows = std::stoul(v);
        } else if (k == "--batch") {
          o.batch = std::stoul(v);
        } else if (k == "--pg-clients") {
          o.pg_clients = std::stoul(v);
        } else if (k == "--etcd-puts") {
          o.etcd_puts = std::stoul(v);
        } else if (k == "--etcd-clients") {
          o.etcd_clients = parse_list<std::size_t>(
              v, [](const std::string& x, std::size_t* used) { return std::stoul(x, used); });
          std::sort(o.etcd_clients.begin(), o.etcd_clients.end());
        } else if (k == "--pg-paced-shares") {
          o.pg_paced_shares =
              v == "none" ? std::vector<double>{}
                          : parse_list<double>(v, [](const std::string& x, std::size_t* used) {
                              return std::stod(x, used);
                            });
        } else if (k == "--pg-paced-batch") {
          o.pg_paced_batch = std::stoul(v);
        } else if (k == "--pg-paced-s") {
          o.pg_paced_s = std::stod(v);
        } else if (k == "--only") {
          if (v != "pg" && v != "etcd") throw std::invalid_argument(v);
          o.run_pg = v == "pg";
          o.run_etcd = v == "etcd";
        } else if (k == "--json") {
          o.json_out = v;
        } else if (k == "--pg-bin") {
          o.pg_bin = v;
        } else if (k == "--etcd-bin") {
          o.etcd_bin = v;
        } else {
          return false;
        }
        return true;
      });
  if (!ok) return std::nullopt;
  const bool shares_ok = std::all_of(o.pg_paced_shares.begin(), o.pg_paced_shares.end(),
                                     [](double x) { return x > 0 && x <= 1.5; });
  if (o.rows < 1 || o.batch < 1 || o.batch > kBatchTxsMax || o.pg_clients < 1 ||
      o.pg_clients > kPgClientsMax || o.etcd_puts < 1 || o.etcd_clients.front() < 1 ||
      o.etcd_clients.back() > kEtcdClientsMax || !shares_ok || o.pg_paced_batch < 1 ||
      o.pg_paced_batch > kBatchTxsMax || !(o.pg_paced_s > 0)) {
    std::cerr << "--rows, --etcd-puts >= 1; --batch, --pg-paced-batch 1.." << kBatchTxsMax
              << "; --pg-clients 1.." << kPgClientsMax << "; --etcd-clients each 1.."
              << kEtcdClientsMax << "; --pg-paced-shares each in (0, 1.5]; --pg-paced-s > 0\n";
    return std::nullopt;
  }
  return o;
}

struct PgPacedPoint {
  double share = 0;  // of the verified saturated rate
  bench::PgLoadResult load;
};

struct PgFigures {
  std::string version;
  bench::PgLoadResult verified, verified_batch, unverified;
  std::vector<PgPacedPoint> paced;  // verified in batches, one per --pg-paced-shares
};

struct EtcdPoint {
  std::size_t clients = 0;
  bench::EtcdLoadResult load;
};

struct EtcdFigures {
  std::string version;
  bench::EtcdLoadResult load;    // the headline: the largest client count
  std::vector<EtcdPoint> curve;  // every client count, ascending
};

// The canary: a transaction with one signature bit flipped must be refused,
// or the "verified" figure would measure nothing.
void check_verification_runs(const bench::Workload& w) {
  Bytes bad = w.txs.at(0);
  EMLEDGER_ASSERT(bad.size() > crypto::kSignatureSize);
  bad.back() ^= 1;  // the signature is the encoding's last field
  bench::CopyStream s;
  EMLEDGER_ASSERT(bench::append_row(w.txs[0], w.keys, true, s));
  const Status st = bench::append_row(bad, w.keys, true, s);
  EMLEDGER_ASSERT(st.code() == "BAD_SIGNATURE");
  std::vector<Bytes> some(w.txs.begin(), w.txs.begin() + std::min<std::size_t>(w.txs.size(), 16));
  EMLEDGER_ASSERT(bench::append_rows_batch_verified(some, w.keys, s));
  some.back() = bad;
  EMLEDGER_ASSERT(bench::append_rows_batch_verified(some, w.keys, s).code() == "BAD_SIGNATURE");
}

Result<PgFigures> run_pg(const Options& o, const bench::Workload& w, const fs::path& dir) {
  bench::PgServer server;
  std::cout << "[postgresql] initdb and start in " << dir.string() << "..." << std::endl;
  EMLEDGER_TRY(server.start(dir, o.pg_bin));
  PgFigures f;
  {
    bench::PgConn c(server.conninfo());
    EMLEDGER_TRY(c.connected());
    f.version = c.server_version();
  }
  struct Mode {
    bench::PgLoadResult* out;
    bool verify, in_batches;
    const char* what;
  };
  for (const Mode& m : {Mode{&f.verified, true, false, "every signature verified, one by one"},
                        Mode{&f.verified_batch, true, true,
                             "every signature verified, each batch's together (as the node)"},
                        Mode{&f.unverified, false, false, "no verification"}}) {
    std::printf("[postgresql] loading %zu rows in batches of %zu, %zu connections, %s...\n",
                w.txs.size(), o.batch, o.pg_clients, m.what);
    std::fflush(stdout);
    auto r = bench::pg_load(server.conninfo(), w, {o.batch, o.pg_clients, m.verify, m.in_batches},
                            g_interrupted);
    if (!r) return r.status();
    *m.out = std::move(*r);
  }
  for (const double share : o.pg_paced_shares) {
    const double rate = share * f.verified_batch.rows_per_s();
    if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
    const auto rows = std::clamp<std::size_t>(static_cast<std::size_t>(rate * o.pg_paced_s),
                                              kPacedBatchesMin * o.pg_paced_batch, w.txs.size());
    bench::Workload part;
    part.keys = w.keys;
    part.txs.assign(w.txs.begin(), w.txs.begin() + static_cast<std::ptrdiff_t>(rows));
    std::printf("[postgresql] paced at %.0f%%: %zu rows in batches of %zu at %.0f rows/s...\n",
                100 * share, rows, o.pg_paced_batch, rate);
    std::fflush(stdout);
    auto r = bench::pg_paced(server.conninfo(), part, {o.pg_paced_batch, o.pg_clients, true, true},
                             rate, g_interrupted);
    if (!r) return r.status();
    f.paced.push_back({share, std::move(*r)});
  }
  server.stop();
  return f;
}

Result<EtcdFigures> run_etcd(const Options& o, const bench::Workload& w, const fs::path& dir) {
  bench::EtcdCluster cluster;
  std::cout << "[etcd] starting " << bench::kEtcdMembers << " members in " << dir.string() << "..."
            << std::endl;
  EMLEDGER_TRY(cluster.start(dir, o.etcd_bin));
  EtcdFigures f;
  f.version = cluster.version();
  for (const std::size_t clients : o.etcd_clients) {
    const std::size_t puts = clients == o.etcd_clients.back()
                                 ? o.etcd_puts
                                 : std::max(std::min(o.etcd_puts, kEtcdPointPutsMin),
                                            o.etcd_puts * clients / o.etcd_clients.back());
    std::printf("[etcd] %zu puts from %zu clients...\n", puts, clients);
    std::fflush(stdout);
    f.curve.push_back({clients, bench::etcd_load(cluster, w, puts, clients, g_interrupted)});
    if (g_interrupted.load()) break;
  }
  f.load = f.curve.back().load;
  cluster.stop();
  if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
  return f;
}

void line(const std::string& label, const std::string& value) {
  std::printf("%-58s %20s\n", label.c_str(), value.c_str());
}

void print_pg(const Options& o, const PgFigures& f, double ceiling) {
  std::printf(
      "PostgreSQL %s: fsync=on, synchronous_commit=on; batches of %zu rows, each "
      "BEGIN, binary COPY, COMMIT; %zu connections; %u verifying threads\n",
      f.version.c_str(), o.batch, o.pg_clients, bench::cores());
  for (const auto* r : {&f.verified, &f.verified_batch, &f.unverified}) {
    line(r == &f.verified         ? "  rows/s, every signature verified one by one"
         : r == &f.verified_batch ? "  rows/s, every signature verified in batches"
                                  : "  rows/s, no verification",
         fixed(r->rows_per_s(), 0));
    line("    batch BEGIN..COMMIT p50 / p99, ms",
         fixed(bench::percentile(r->batch_ms, 0.5), 1) + " / " +
             fixed(bench::percentile(r->batch_ms, 0.99), 1));
    line("    loader CPU per row, us", fixed(cpu_us_per(r->loader_cpu_s, r->rows), 1));
  }
  line("  verified rows/s / Ed25519 ceiling", fixed(f.verified.rows_per_s() / ceiling, 3));
  line("  verified in batches rows/s / Ed25519 ceiling",
       fixed(f.verified_batch.rows_per_s() / ceiling, 3));
  line("  verified / unverified rows/s",
       fixed(f.verified.rows_per_s() / std::max(1.0, f.unverified.rows_per_s()), 3));
  for (const auto& p : f.paced)
    line("  paced at " + fixed(100 * p.share, 0) + "% (batches of " +
             std::to_string(o.pg_paced_batch) + "): rows/s, p50 / p99 ms",
         fixed(p.load.rows_per_s(), 0) + ", " + fixed(bench::percentile(p.load.batch_ms, 0.5), 1) +
             " / " + fixed(bench::percentile(p.load.batch_ms, 0.99), 1));
}

void print_etcd(const Options& o, const EtcdFigures& f) {
  const auto& l = f.load;
  std::printf(
      "etcd %s: %zu members on loopback, WAL fsynced per commit; POST /v3/kv/put, "
      "%zu keep-alive clients (client i -> member i mod %zu)\n",
      f.version.c_str(), bench::kEtcdMembers, o.etcd_clients.back(), bench::kEtcdMembers);
  line("  puts/s", fixed(l.puts_per_s(), 0));
  line("  put latency p50 / p99, ms", fixed(bench::percentile(l.latency_ms, 0.5), 1) + " / " +
                                          fixed(bench::percentile(l.latency_ms, 0.99), 1));
  line("  puts / failed", std::to_string(l.puts) + " / " + std::to_string(l.failed));
  if (!l.first_error.empty()) std::printf("  first failure: %s\n", l.first_error.c_str());
  for (const auto& p : f.curve)
    line("  " + std::to_string(p.clients) + " clients: puts/s, p50 / p99 ms",
         fixed(p.load.puts_per_s(), 0) + ", " +
             fixed(bench::percentile(p.load.latency_ms, 0.5), 1) + " / " +
             fixed(bench::percentile(p.load.latency_ms, 0.99), 1));
}

ledger::Json pg_run_json(const bench::PgLoadResult& r) {
  return {{"rows", r.rows},
          {"rows_per_s", r.rows_per_s()},
          {"seconds", r.seconds},
          {"batch_ms_p50", bench::percentile(r.batch_ms, 0.5)},
          {"batch_ms_p99", bench::percentile(r.batch_ms, 0.99)},
          {"loader_cpu_us_per_row", cpu_us_per(r.loader_cpu_s, r.rows)}};
}

ledger::Json pg_paced_json(const Options& o, const PgPacedPoint& p) {
  ledger::Json j = pg_run_json(p.load);
  j["share"] = p.share;
  j["batch"] = o.pg_paced_batch;
  j["connections"] = o.pg_clients;
  j["offered_rows_per_s"] = p.load.offered_rows_per_s;
  j["late_starts"] = p.load.late_starts;
  j["latency"] = "per batch: decode, verify, BEGIN, COPY, COMMIT's answer";
  return j;
}

ledger::Json etcd_point_json(const EtcdPoint& p) {
  return {{"clients", p.clients},
          {"puts", p.load.puts},
          {"failed", p.load.failed},
          {"seconds", p.load.seconds},
          {"puts_per_s", p.load.puts_per_s()},
          {"latency_ms_p50", bench::percentile(p.load.latency_ms, 0.5)},
          {"latency_ms_p99", bench::percentile(p.load.latency_ms, 0.99)}};
}

void write_json(const Options& o, std::size_t tx_bytes, double before, double after,
                const std::optional<PgFigures>& pg, const std::optional<EtcdFigures>& etcd) {
  const double ceiling = (before + after) / 2;
  ledger::Json j = {{"cores", bench::cores()},
                    {"tx_bytes", tx_bytes},
                    {"ed25519_verify_per_s", ceiling},
                    {"ed25519_verify_per_s_before", before},
                    {"ed25519_verify_per_s_after", after}};
  if (pg)
    j["postgresql"] = {
        {"version", pg->version},
        {"setup",
         {{"rows", o.rows},
          {"tx_bytes", tx_bytes},
          {"batch", o.batch},
          {"connections", o.pg_clients},
          {"verifying_threads", bench::cores()},
          {"cores", bench::cores()},
          {"fsync",
           "fsync=on, synchronous_commit=on: every batch's COMMIT waits for its WAL flush"},
          {"load", "per batch BEGIN; COPY records FROM STDIN (FORMAT binary); COMMIT"},
          {"indexes", {"record_id (primary key)", "tx_id (unique)", "content_hash"}}}},
        {"verified", pg_run_json(pg->verified)},
        {"verified_batch", pg_run_json(pg->verified_batch)},
        {"unverified", pg_run_json(pg->unverified)},
        {"verified_over_ceiling", pg->verified.rows_per_s() / ceiling},
        {"paced_points", ledger::Json::array()}};
  if (pg)
    for (const auto& p : pg->paced) j["postgresql"]["paced_points"].push_back(pg_paced_json(o, p));
  if (etcd)
    j["etcd"] = {{"version", etcd->version},
                 {"setup",
                  {{"members", bench::kEtcdMembers},
                   {"puts", o.etcd_puts},
                   {"value_bytes", tx_bytes},
                   {"clients", o.etcd_clients.back()},
                   {"cores", bench::cores()},
                   {"fsync", "etcd default: WAL fsynced before a commit is acknowledged"},
                   {"api", "v3 HTTP/JSON gateway, POST /v3/kv/put, keep-alive"}}},
                 {"puts_per_s", etcd->load.puts_per_s()},
                 {"puts", etcd->load.puts},
                 {"failed", etcd->load.failed},
                 {"seconds", etcd->load.seconds},
                 {"latency_ms_p50", bench::percentile(etcd->load.latency_ms, 0.5)},
                 {"latency_ms_p99", bench::percentile(etcd->load.latency_ms, 0.99)},
                 {"points", ledger::Json::array()}};
  if (etcd)
    for (const auto& p : etcd->curve) j["etcd"]["points"].push_back(etcd_point_json(p));
  std::ofstream(o.json_out) << j.dump(2) << "\n";
}

int run(const Options& o) {
  ScratchDir scratch("emledger-baselines", "server data and logs", o.keep);
  std::cout << "measuring the Ed25519 ceiling (all cores)..." << std::endl;
  const double before = bench::ed25519_ceiling(kCeilingSeconds);
  const std::size_t count = std::max(o.run_pg ? o.rows : 0, o.run_etcd ? o.etcd_puts : 0);
  std::cout << "pre-signing " << count << " register transactions..." << std::endl;
  const auto w = bench::make_workload(count);
  check_verification_runs(w);
  bench::Workload pg_w;  // the first `rows` of w
  pg_w.keys = w.keys;
  if (o.run_pg) pg_w.txs.assign(w.txs.begin(), w.txs.begin() + static_cast<std::ptrdiff_t>(o.rows));
  int rc = 0;
  std::optional<PgFigures> pg;
  std::optional<EtcdFigures> etcd;
  if (o.run_pg) {
    auto f = run_pg(o, pg_w, scratch.path() / "pg");
    if (f) {
      pg = std::move(*f);
    } else {
      std::cerr << "postgresql: " << f.status().to_string() << "\n";
      rc = 3;
    }
  }
  if (o.run_etcd && !g_interrupted.load()) {
    auto f = run_etcd(o, w, scratch.path() / "etcd");
    if (f) {
      etcd = std::move(*f);
    } else {
      std::cerr << "etcd: " << f.status().to_string() << "\n";
      rc = 3;
    }
  }
  if (g_interrupted.load()) return 130;
  if (!pg && !etcd) return rc;
  std::cout << "measuring the Ed25519 ceiling again..." << std::endl;
  const double after = bench::ed25519_ceiling(kCeilingSeconds);
  const double ceiling = (before + after) / 2;
  const std::size_t tx_bytes = w.txs[0].size();
  std::printf(
      "\nbaselines: register transactions of %zu bytes (encoded, signed), pre-signed; "
      "%u cores shared by the load and the servers\n",
      tx_bytes, bench::cores());
  line("ed25519 verifications/s, all cores (ceiling)", fixed(ceiling, 0));
  line("  measured before / after", fixed(before, 0) + " / " + fixed(after, 0));
  if (pg) print_pg(o, *pg, ceiling);
  if (etcd) print_etcd(o, *etcd);
  if (!o.json_out.empty()) write_json(o, tx_bytes, before, after, pg, etcd);
  if (etcd && std::any_of(etcd->curve.begin(), etcd->curve.end(),
                          [](const EtcdPoint& p) { return p.load.failed > 0; }))
    rc = std::max(rc, 1);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::bench_main("baseline_bench", argc, argv, parse, run);
}
