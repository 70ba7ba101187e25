// The single benchmark driver of issue 5: one command, one run on this
// machine, one table and one JSON file (docs/benchmarks.md).
//
//   ./build/benchmarks/bench_all [--json FILE]
//       [--skip ingest,baselines,sustained,scale] [--sustained-txs N]
//       [--txs N] [--validators LIST] [--paced-shares LIST] [--latency-s S]
//       [--rows N] [--etcd-puts N] [--points LIST] [--scale-dir DIR]
//       [--state-cache-mib M] [--state-retention-blocks W] [--scale-compaction C]
//       [--node PATH] [--no-plots]
//   ./build/benchmarks/bench_all --plot-scale SCALE_JSON [--json FILE]
//
// --plot-scale measures nothing: it draws scale.png (with scale.dat and
// plots.gp) beside FILE from a JSON that scale_bench --json wrote, for a
// scale run made on its own (a 10M point takes well over an hour).
//
// 1. Ceilings, measured here at the start and again at the end of the run (the
//    ratios use the higher of the two): Ed25519 verifications per second on all cores
//    (bench_common.hpp), and LevelDB synced-batch commits per second, of
//    batches holding one real block's writes (the kernel executes a block of
//    register transactions to get them) and of one 311-byte write.
// 2. The other benchmarks as child processes of this build, each with --json
//    to a file in the results dir: ingest_bench (emledger, 1 node and 4
//    validators, several paced loads), baseline_bench (PostgreSQL 15, etcd
//    3.4), the sustained load (ingest_bench and baseline_bench's PostgreSQL
//    again, each loaded with --sustained-txs transactions, default 400,000),
//    scale_bench (proofs and 10^5..10^7 records; skipped with a note if it is
//    not built).
//
// The saturation phase of the first ingest run is a burst: 40,000
// transactions take about a second on one node, too short for LevelDB to
// flush and compact what they wrote. The sustained part loads ten times as
// many, through several memtable flushes and compactions, so that its rate
// (and the half load it paces from it) is one the node keeps up; PostgreSQL
// is loaded with as many rows, so the two are compared over the same length.
// 3. One table of every figure with its unit, setup, and, where issue 5 sets a
//    target, the ratio, the target and PASS or MISS; FILE (default
//    bench-results/results.json) with all of it and the children's JSON; and,
//    with gnuplot, throughput_latency.png and scale.png beside FILE.
//
// Exit status: 0 every part ran, 1 a part reported failed transactions or
// did not run, 2 bad usage, 3 an error, 130 interrupted.
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "all/ceiling.hpp"
#include "all/children.hpp"
#include "all/plots.hpp"
#include "all/targets.hpp"
#include "bench_common.hpp"
#include "bench_run.hpp"
#include "bench_txs.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/ledger.hpp"
#include "host_monitors.hpp"

using namespace emledger;
using ledger::Json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using bench::fixed;
using bench::g_interrupted;
using namespace emledger::bench::all;

namespace {

// Transactions (and PostgreSQL rows) of the sustained part: ten times the
// first run's burst, about 20 s of one node at its sustained rate here, and
// a bit over a gigabyte written by each node.
constexpr std::size_t kSustainedTxs = 400'000;

struct Options {
  std::string json_out = "bench-results/results.json";
  bool run_ingest = true, run_baselines = true, run_sustained = true, run_scale = true,
       plots = true;
  std::string node_bin = EMLEDGER_NODE_BIN;
  // Passed through when set.
  std::string txs, validators = "1,4", paced_shares = "0.25,0.5,0.75,0.9", latency_s, rows,
                   etcd_puts, points, scale_dir, state_cache_mib, state_retention_blocks,
                   scale_compaction;
  std::string sustained_txs = std::to_string(kSustainedTxs);
  std::string plot_scale;  // a scale_bench JSON to draw; nothing is run
};

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::cout << "usage: bench_all [--json FILE] [--skip ingest,baselines,sustained,scale]\n"
                   "    [--sustained-txs N] [--txs N] [--validators LIST] [--paced-shares LIST]\n"
                   "    [--latency-s S] [--rows N] [--etcd-puts N] [--points LIST]\n"
                   "    [--scale-dir DIR] [--state-cache-mib M]\n"
                   "    [--state-retention-blocks W] [--scale-compaction background|full]\n"
                   "    [--node PATH] [--no-plots]\n"
                   "       bench_all --plot-scale SCALE_JSON [--json FILE]\n"
                   "The benchmark run of issue 5: ceilings, emledger 1 node and 4 validators,\n"
                   "PostgreSQL 15, etcd 3.4, both again under a sustained load, proofs and\n"
                   "scale; one table, one JSON, two PNGs\n"
                   "(docs/benchmarks.md). ./dev bench installs what it needs and runs it.\n";
      std::exit(0);
    }
    if (k == "--no-plots") {
      o.plots = false;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "option " << k << " needs a value\n";
      return std::nullopt;
    }
    const std::string v = argv[++i];
    std::string* pass = k == "--txs"                      ? &o.txs
                        : k == "--validators"             ? &o.validators
                        : k == "--paced-shares"           ? &o.paced_shares
                        : k == "--latency-s"              ? &o.latency_s
                        : k == "--rows"                   ? &o.rows
                        : k == "--etcd-puts"              ? &o.etcd_puts
                        : k == "--points"                 ? &o.points
                        : k == "--scale-dir"              ? &o.scale_dir
                        : k == "--state-cache-mib"        ? &o.state_cache_mib
                        : k == "--state-retention-blocks" ? &o.state_retention_blocks
                        : k == "--scale-compaction"       ? &o.scale_compaction
                        : k == "--sustained-txs"          ? &o.sustained_txs
                        : k == "--plot-scale"             ? &o.plot_scale
                        : k == "--json"                   ? &o.json_out
                        : k == "--node"                   ? &o.node_bin
                                                          : nullptr;
    if (pass != nullptr) {
      *pass = v;
      continue;
    }
    if (k != "--skip") {
      std::cerr << "unknown option " << k << "\n";
      return std::nullopt;
    }
    std::stringstream ss(v);
    for (std::string part; std::getline(ss, part, ',');) {
      if (part == "ingest") {
        o.run_ingest = false;
      } else if (part == "baselines") {
        o.run_baselines = false;
      } else if (part == "sustained") {
        o.run_sustained = false;
      } else if (part == "scale") {
        o.run_scale = false;
      } else {
        std::cerr << "--skip: ingest, baselines, sustained, scale (comma-separated)\n";
        return std::nullopt;
      }
    }
  }
  return o;
}

// ---------------------------------------------------------------- figures

struct Figure {
  std::string group;
  std::string name;
  double value = 0;
  std::string unit;
  std::string setup;
  std::optional<double> ratio;  // value / basis, when compared
  std::string ratio_basis;      // what the ratio divides by
  std::string target;           // e.g. ">= 0.6"; empty: no target
  std::optional<bool> pass;
};

class Table {
 public:
  Figure& add(std::string group, std::string name, double value, std::string unit,
              std::string setup) {
    figures_.push_back({std::move(group), std::move(name), value, std::move(unit), std::move(setup),
                        std::nullopt, "", "", std::nullopt});
    return figures_.back();
  }
  const std::vector<Figure>& figures() const { return figures_; }

 private:
  std::vector<Figure> figures_;
};

// Figure f compared: ratio = f.value / basis, checked against `min` (or, with
// `below`, under `max`) when a target is given.
void compare(Figure& f, double basis, const std::string& basis_name) {
  f.ratio = basis > 0 ? f.value / basis : 0;
  f.ratio_basis = basis_name;
}
void target_at_least(Figure& f, double min, bool on_ratio) {
  const double x = on_ratio ? f.ratio.value_or(0) : f.value;
  f.target = ">= " + fixed(min, min < 10 ? 1 : 0) + (on_ratio ? "" : " " + f.unit);
  f.pass = x >= min;
}
void target_above(Figure& f, double min, bool on_ratio) {
  const double x = on_ratio ? f.ratio.value_or(0) : f.value;
  f.target = "> " + fixed(min, min < 10 ? 1 : 0) + (on_ratio ? "" : " " + f.unit);
  f.pass = x > min;
}
void target_below(Figure& f, double max) {
  f.target = "< " + fixed(max, max < 10 ? 1 : 0) + " " + f.unit;
  f.pass = f.value < max;
}
void target_at_most(Figure& f, double max) {
  f.target = "<= " + fixed(max, 0) + " " + f.unit;
  f.pass = f.value <= max;
}

std::string cores_text() { return std::to_string(bench::cores()) + " cores"; }

void ceiling_figures(Table& t, const Ceiling& start, const Ceiling& end, const Ceiling& best) {
  const auto& l = best.leveldb;
  t.add("ceiling", "Ed25519 verifications/s, all cores", best.ed25519_per_s, "verify/s",
        cores_text() + ", one thread per core, libsodium, 330-byte messages; higher of start " +
            fixed(start.ed25519_per_s, 0) + " and end " + fixed(end.ed25519_per_s, 0));
  t.add("ceiling", "LevelDB synced block-batch commits/s", l.block_commits_per_s, "commits/s",
        "one block's writes of " + std::to_string(l.block_txs) + " register txs (" +
            std::to_string(l.block_puts) + " puts, " + fixed(l.block_bytes / 1024.0, 0) +
            " KiB) per batch, sync=true, fresh LevelDB in the temp dir; higher of start " +
            fixed(start.leveldb.block_commits_per_s, 0) + " and end " +
            fixed(end.leveldb.block_commits_per_s, 0));
  t.add("ceiling", "  = LevelDB-bound tx/s (commits/s x block txs)",
        l.block_commits_per_s * static_cast<double>(l.block_txs), "tx/s",
        "as above; what fsync alone allows at this block size");
  t.add("ceiling", "LevelDB synced 1-write commits/s", l.single_commits_per_s, "commits/s",
        "one " + std::to_string(kSingleWriteBytes) +
            "-byte put per batch, sync=true; higher of start " +
            fixed(start.leveldb.single_commits_per_s, 0) + " and end " +
            fixed(end.leveldb.single_commits_per_s, 0));
}

// The mode of `validators` in ingest_bench's JSON, or null.
Json ingest_mode(const Json& ingest, std::size_t validators) {
  if (!ingest.is_object() || !ingest.contains("modes")) return nullptr;
  for (const auto& m : ingest["modes"])
    if (m.value("validators", std::size_t{0}) == validators) return m;
  return nullptr;
}

// The figures of one ingest_bench run. `group` names the run in the table;
// `load` says what its saturation phase was ("at saturation" for the burst,
// "over N txs" for the sustained load), and its half load is half of that.
// "; state cache ..." from a saturation phase's JSON (ADR 047): node 0's
// cache size and the pages written to it by the phase's end; "" from an
// ingest_bench that did not report them.
std::string state_cache_text(const Json& saturation) {
  const auto bytes = saturation.value("state_cache_bytes", std::uint64_t{0});
  if (bytes == 0) return "";
  const auto written = saturation.value("state_cache_written_bytes", std::uint64_t{0});
  return "; node 0's state cache " + fixed(static_cast<double>(bytes) / (1 << 20), 0) + " MiB, " +
         fixed(static_cast<double>(written) / (1 << 20), 0) + " MiB written to it";
}

void ingest_figures(Table& t, const Json& ingest, const Ceiling& c, const std::string& group,
                    const std::string& load) {
  if (!ingest.is_object() || !ingest.contains("modes")) return;
  const std::string tx = std::to_string(ingest.value("tx_bytes", std::size_t{0}));
  for (const auto& m : ingest["modes"]) {
    const auto n = m.value("validators", std::size_t{0});
    const std::string who = n == 1 ? "1 node" : std::to_string(n) + " validators";
    const Json& s = m["saturation"];
    const Json& p = m["paced"];
    const std::string sat_setup =
        tx + "-byte register txs, pre-signed; " + std::to_string(s.value("txs", 0)) +
        " txs in batches of " + std::to_string(s.value("batch", 0)) + " (" +
        ingest.value("body", std::string("json")) + " body), " +
        std::to_string(s.value("clients", 0)) +
        " clients, ?wait=commit (final and fsynced: one synced LevelDB batch per block), " +
        fixed(num(s, "seconds"), 1) + " s; " + cores_text() + " shared by load and nodes" +
        state_cache_text(s);
    Figure& f = t.add(group, who + ": committed tx/s " + load, num(s, "committed_tx_per_s"), "tx/s",
                      sat_setup);
    compare(f, c.ed25519_per_s / static_cast<double>(n),
            n == 1 ? "Ed25519 ceiling" : "Ed25519 ceiling / " + std::to_string(n));
    if (n == 1) target_at_least(f, kOneNodeShareMin, true);
    if (n == 4) target_at_least(f, kValidatorsShareMin, true);
    const std::string paced_setup =
        "batches of " + std::to_string(p.value("batch", 0)) + " offered on a schedule at " +
        fixed(100 * num(p, "share"), 0) + "% of the rate " + load + " (" +
        fixed(num(p, "offered_tx_per_s"), 0) + " tx/s), " + std::to_string(p.value("batches", 0)) +
        " batches; post to the ?wait=commit answer";
    t.add(group, who + ": finality p50 at half load", num(p, "finality_latency_ms_p50"), "ms",
          paced_setup);
    Figure& p99 = t.add(group, who + ": finality p99 at half load",
                        num(p, "finality_latency_ms_p99"), "ms", paced_setup);
    if (n == 4) target_below(p99, kFinalityP99MaxMs);
    // What "half load" left of the machine: LevelDB's background work on what
    // the saturation phase wrote runs during the paced phase too.
    if (p.contains("host_cpu_busy_share") && p.contains("outcome"))
      t.add(
          group, who + ": host CPU busy at half load", 100 * num(p, "host_cpu_busy_share"), "%",
          "all cores, /proc/stat, while the paced phase ran; node CPU " +
              fixed(1e6 * num(p, "node_cpu_s") / std::max(1.0, num(p["outcome"], "committed")), 1) +
              " us per committed tx");
  }
}

// Context for the burst: how near one node runs to fsync's limit.
void leveldb_bound_figure(Table& t, const Json& ingest, const Ceiling& c) {
  const Json one = ingest_mode(ingest, 1);
  if (one.is_null()) return;
  Figure& f = t.add("emledger", "1 node tx/s vs LevelDB-bound tx/s",
                    num(one["saturation"], "committed_tx_per_s"), "tx/s",
                    "same run; how close the node runs to fsync's limit at its block size");
  compare(f, c.leveldb.block_commits_per_s * static_cast<double>(c.leveldb.block_txs),
          "LevelDB-bound tx/s");
}

void baseline_figures(Table& t, const Json& b, const Json& ingest, const Ceiling& c) {
  if (!b.is_object()) return;
  const Json one = ingest_mode(ingest, 1);  // null when ingest did not run
  const double one_node = one.is_object() && one.contains("saturation")
                              ? num(one["saturation"], "committed_tx_per_s")
                              : 0.0;
  if (b.contains("postgresql")) {
    const Json& pg = b["postgresql"];
    const Json& su = pg["setup"];
    const std::string setup =
        "PostgreSQL " + pg.value("version", std::string("?")) +
        ", fsync=on, synchronous_commit=on; " + std::to_string(su.value("rows", 0)) +
        " index rows of " + std::to_string(su.value("tx_bytes", 0)) + "-byte txs in batches of " +
        std::to_string(su.value("batch", 0)) + " (BEGIN, COPY, COMMIT), " +
        std::to_string(su.value("connections", 0)) + " connections; " + cores_text();
    Figure& v = t.add("postgresql", "verified rows/s (Ed25519 one by one, all cores)",
                      num(pg["verified"], "rows_per_s"), "rows/s", setup);
    compare(v, c.ed25519_per_s, "Ed25519 ceiling");
    // Since ADR 039 the node verifies each request's signatures together; the
    // alternative gets the same verifier, and the target is judged on it.
    const bool has_batch = pg.contains("verified_batch");
    const Json& vb = has_batch ? pg["verified_batch"] : pg["verified"];
    if (has_batch) {
      Figure& w = t.add("postgresql", "verified rows/s (Ed25519 in batches, all cores)",
                        num(vb, "rows_per_s"), "rows/s", setup);
      compare(w, c.ed25519_per_s, "Ed25519 ceiling");
    }
    t.add("postgresql", "unverified rows/s", num(pg["unverified"], "rows_per_s"), "rows/s", setup);
    t.add("postgresql", "verified batch commit p99 at saturation", num(vb, "batch_ms_p99"), "ms",
          setup);
    if (one_node > 0) {
      if (has_batch) {
        Figure& o = t.add("postgresql", "1 node tx/s vs PostgreSQL verified one by one", one_node,
                          "tx/s", "both from this run; context: the node verifies in batches");
        compare(o, num(pg["verified"], "rows_per_s"), "PostgreSQL rows/s, one by one");
      }
      Figure& r =
          t.add("postgresql",
                has_batch ? "1 node tx/s vs PostgreSQL verified in batches"
                          : "1 node tx/s vs PostgreSQL verified rows/s",
                one_node, "tx/s",
                "both from this run; same transactions, same verifier, both durable per batch");
      compare(r, num(vb, "rows_per_s"),
              has_batch ? "PostgreSQL rows/s, in batches" : "PostgreSQL verified rows/s");
      target_above(r, kOverPostgresMin, true);
    }
  }
  if (b.contains("etcd")) {
    const Json& e = b["etcd"];
    const Json& su = e["setup"];
    const std::string setup =
        "etcd " + e.value("version", std::string("?")) + ", " +
        std::to_string(su.value("members", 0)) + " members on loopback, WAL fsynced per commit; " +
        std::to_string(su.value("puts", 0)) + " puts of " +
        std::to_string(su.value("value_bytes", 0)) + " bytes, " +
        std::to_string(su.value("clients", 0)) + " clients; no signature checks; " + cores_text();
    t.add("etcd", "puts/s (3 members)", num(e, "puts_per_s"), "puts/s", setup);
    t.add("etcd", "put latency p50", num(e, "latency_ms_p50"), "ms", setup);
    t.add("etcd", "put latency p99", num(e, "latency_ms_p99"), "ms", setup);
    if (one_node > 0) {
      Figure& r = t.add("etcd", "1 node tx/s vs etcd puts/s", one_node, "tx/s",
                        "both from this run; context, no target (etcd verifies nothing)");
      compare(r, num(e, "puts_per_s"), "etcd puts/s");
    }
  }
}

// The sustained part: the node and PostgreSQL each loaded with the same
// number of transactions, ten times the burst, so that LevelDB's flushes and
// compactions (and PostgreSQL's own background writes) fall inside the
// measurement. The targets are judged here as in the burst.
void sustained_figures(Table& t, const Json& ingest, const Json& pg_run, const Ceiling& c) {
  if (!ingest.is_object() || !ingest.contains("modes") || ingest["modes"].empty()) return;
  // Every mode of the run posts the same --txs.
  const auto txs = ingest["modes"][0]["saturation"].value("txs", std::size_t{0});
  ingest_figures(t, ingest, c, "sustained", "over " + std::to_string(txs) + " txs");
  const Json one = ingest_mode(ingest, 1);
  if (one.is_null() || !pg_run.is_object() || !pg_run.contains("postgresql")) return;
  const Json& pg = pg_run["postgresql"];
  if (!pg.contains("verified_batch")) return;
  const Json& su = pg["setup"];
  Figure& v = t.add("sustained", "PostgreSQL verified rows/s (Ed25519 in batches)",
                    num(pg["verified_batch"], "rows_per_s"), "rows/s",
                    "as the PostgreSQL rows above, loaded with " +
                        std::to_string(su.value("rows", 0)) + " rows, as many as the node's txs");
  compare(v, c.ed25519_per_s, "Ed25519 ceiling");
  Figure& r = t.add("sustained", "1 node tx/s vs PostgreSQL verified in batches",
                    num(one["saturation"], "committed_tx_per_s"), "tx/s",
                    "both from this run, each loaded with the same number of transactions");
  compare(r, num(pg["verified_batch"], "rows_per_s"), "PostgreSQL rows/s, in batches");
  target_above(r, kOverPostgresMin, true);
}

void scale_figures(Table& t, const Json& s) {
  if (!s.is_object()) return;
  if (s.contains("table") && s["table"].is_array())
    for (const auto& row : s["table"]) {
      const std::string name = row.value("figure", std::string());
      const bool proofs =
          name.find("proof") != std::string::npos || name.find("verif") != std::string::npos;
      t.add(proofs ? "proofs" : "scale", row.value("figure", std::string("?")), num(row, "value"),
            row.value("unit", std::string()), row.value("setup", std::string()));
    }
  if (!s.contains("points") || !s["points"].is_array() || s["points"].empty()) return;
  // The targets apply at 10M records: checked at the largest point measured.
  const Json& last = s["points"].back();
  const auto records = last.value("records", std::uint64_t{0});
  const std::string at = "at " + std::to_string(records) + " records" +
                         (records < kScaleTargetRecords ? " (the target is for 10M)" : "");
  const auto p99 = [&](const char* key) {
    return last.contains(key) ? num(last[key], "p99") : 0.0;
  };
  target_below(t.add("targets", "state proof p99", p99("state_proof_ms"), "ms", at),
               kStateProofP99MaxMs);
  target_above(t.add("targets", "bundle verifications/s", num(last, "bundle_verifications_per_s"),
                     "verify/s", at),
               kBundleVerifyMinPerS, false);
  target_at_most(
      t.add("targets", "bytes on disk per record", num(last, "bytes_per_record"), "B", at),
      kBytesPerRecordMax);
  const Json restart = last.value("restart_s", Json::object());
  const double slowest = std::max(num(restart, "sigkill"), num(restart, "sigterm"));
  target_below(t.add("targets", "restart (slower of SIGKILL and SIGTERM)", slowest, "s", at),
               kRestartMaxS);
}

std::string value_text(double v) {
  const double a = std::abs(v);
  return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

// The table: one row per figure; setups as numbered notes below it, each
// written once.
void print_table(const Table& t, const std::vector<ChildRun>& parts) {
  std::vector<std::string> setups;
  const auto note = [&](const std::string& s) {
    for (std::size_t i = 0; i < setups.size(); ++i)
      if (setups[i] == s) return i + 1;
    setups.push_back(s);
    return setups.size();
  };
  std::printf("\n%-11s %-50s %12s %-10s %-38s %-15s %-5s %s\n", "group", "figure", "value", "unit",
              "ratio (of)", "target", "", "setup");
  for (const auto& f : t.figures()) {
    const std::string ratio =
        f.ratio ? fixed(*f.ratio, 3) + " (" + f.ratio_basis + ")" : std::string("-");
    const std::string verdict = f.pass ? (*f.pass ? "PASS" : "MISS") : "";
    std::printf("%-11s %-50s %12s %-10s %-38s %-15s %-5s [%zu]\n", f.group.c_str(), f.name.c_str(),
                value_text(f.value).c_str(), f.unit.c_str(), ratio.c_str(), f.target.c_str(),
                verdict.c_str(), note(f.setup));
  }
  std::printf("\nsetups:\n");
  for (std::size_t i = 0; i < setups.size(); ++i)
    std::printf("  [%zu] %s\n", i + 1, setups[i].c_str());
  for (const auto& p : parts)
    if (!p.note.empty()) std::printf("note: %s: %s\n", p.name.c_str(), p.note.c_str());
}

Json figures_json(const Table& t) {
  Json out = Json::array();
  for (const auto& f : t.figures()) {
    Json j = {{"group", f.group},
              {"figure", f.name},
              {"value", f.value},
              {"unit", f.unit},
              {"setup", f.setup}};
    if (f.ratio) {
      j["ratio"] = *f.ratio;
      j["ratio_of"] = f.ratio_basis;
    }
    if (!f.target.empty()) {
      j["target"] = f.target;
      j["verdict"] = *f.pass ? "PASS" : "MISS";
    }
    out.push_back(std::move(j));
  }
  return out;
}

// ---------------------------------------------------------------- run

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Json machine_json() {
  utsname u{};
  ::uname(&u);
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  return {{"cores", bench::cores()},
          {"cpu", cpu},
          {"kernel", std::string(u.sysname) + " " + u.release},
          {"memory_monitors", bench::memory_monitors_json(bench::running_memory_monitors())}};
}

ChildRun part(const std::string& name, const fs::path& bin) {
  ChildRun c;
  c.name = name;
  c.argv = {bin.string()};
  return c;
}

std::vector<ChildRun> plan(const Options& o, const fs::path& bin_dir) {
  std::vector<ChildRun> parts;
  const auto add_if = [](std::vector<std::string>& argv, const char* flag, const std::string& v) {
    if (!v.empty()) {
      argv.push_back(flag);
      argv.push_back(v);
    }
  };
  if (o.run_ingest) {
    ChildRun c = part("ingest", bin_dir / "ingest_bench");
    add_if(c.argv, "--validators", o.validators);
    add_if(c.argv, "--paced-shares", o.paced_shares);
    add_if(c.argv, "--txs", o.txs);
    add_if(c.argv, "--latency-s", o.latency_s);
    add_if(c.argv, "--node", o.node_bin);
    parts.push_back(std::move(c));
  }
  if (o.run_baselines) {
    ChildRun c = part("baselines", bin_dir / "baseline_bench");
    add_if(c.argv, "--rows", o.rows);
    add_if(c.argv, "--etcd-puts", o.etcd_puts);
    parts.push_back(std::move(c));
  }
  if (o.run_sustained) {
    // One paced phase, at half of the sustained rate: that is the half load
    // these figures judge. The validators are the first run's.
    ChildRun c = part("sustained-ingest", bin_dir / "ingest_bench");
    add_if(c.argv, "--validators", o.validators);
    add_if(c.argv, "--paced-shares", "0.5");
    add_if(c.argv, "--txs", o.sustained_txs);
    add_if(c.argv, "--latency-s", o.latency_s);
    add_if(c.argv, "--node", o.node_bin);
    parts.push_back(std::move(c));
    ChildRun pg = part("sustained-pg", bin_dir / "baseline_bench");
    add_if(pg.argv, "--only", "pg");
    add_if(pg.argv, "--pg-paced-shares", "none");
    add_if(pg.argv, "--rows", o.sustained_txs);
    parts.push_back(std::move(pg));
  }
  if (o.run_scale) {
    ChildRun c = part("scale", bin_dir / "scale_bench");
    add_if(c.argv, "--points", o.points);
    add_if(c.argv, "--dir", o.scale_dir);
    add_if(c.argv, "--state-cache-mib", o.state_cache_mib);
    add_if(c.argv, "--state-retention-blocks", o.state_retention_blocks);
    add_if(c.argv, "--compaction", o.scale_compaction);
    add_if(c.argv, "--node", o.node_bin);
    parts.push_back(std::move(c));
  }
  return parts;
}

// The ceilings the ratios use: the higher of the start and end values of
// each. A ceiling is what the machine can do; other load on it (a shared
// host) can only make a measurement read low, and a low ceiling would flatter
// every ratio against it.
Ceiling best_of(const Ceiling& a, const Ceiling& b) {
  Ceiling m = a;
  m.ed25519_per_s = std::max(a.ed25519_per_s, b.ed25519_per_s);
  m.leveldb.block_commits_per_s =
      std::max(a.leveldb.block_commits_per_s, b.leveldb.block_commits_per_s);
  m.leveldb.single_commits_per_s =
      std::max(a.leveldb.single_commits_per_s, b.leveldb.single_commits_per_s);
  return m;
}

int run(const Options& o) {
  const auto t0 = Clock::now();
  const std::string started = utc_now();
  const fs::path json_path = fs::absolute(o.json_out);
  const fs::path out_dir = json_path.parent_path();
  fs::create_directories(out_dir);
  if (!o.plot_scale.empty()) {
    std::ifstream in(o.plot_scale);
    const Json scale = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!in || scale.is_discarded() || !scale.is_object() || scale.value("bench", "") != "scale") {
      std::cerr << "--plot-scale: " << o.plot_scale << " is not a scale_bench JSON\n";
      return 2;
    }
    return plot_all(out_dir, Json(), Json(), scale).empty() ? 3 : 0;
  }
  const fs::path bin_dir = fs::canonical("/proc/self/exe").parent_path();
  bench::ScratchDir scratch("emledger-bench-all", "LevelDB ceiling stores", false);

  auto start = measure_ceiling(scratch.path() / "ceiling", "start");
  if (!start) {
    std::cerr << "ceiling: " << start.status().to_string() << "\n";
    return 3;
  }
  std::vector<ChildRun> parts = plan(o, bin_dir);
  for (auto& p : parts) {
    if (g_interrupted.load()) break;
    run_part(p, out_dir / (p.name + ".json"));
  }
  if (g_interrupted.load()) {
    std::cerr << "interrupted\n";
    return 130;
  }
  auto end = measure_ceiling(scratch.path() / "ceiling", "end");
  if (!end) {
    std::cerr << "ceiling: " << end.status().to_string() << "\n";
    return 3;
  }
  const Ceiling best = best_of(*start, *end);
  const auto child = [&](const char* name) -> Json {
    for (const auto& p : parts)
      if (p.name == name) return p.json;
    return nullptr;
  };
  Table table;
  ceiling_figures(table, *start, *end, best);
  ingest_figures(table, child("ingest"), best, "emledger", "at saturation");
  leveldb_bound_figure(table, child("ingest"), best);
  baseline_figures(table, child("baselines"), child("ingest"), best);
  sustained_figures(table, child("sustained-ingest"), child("sustained-pg"), best);
  scale_figures(table, child("scale"));
  print_table(table, parts);
  std::printf("%s\n", bench::memory_monitors_line(bench::running_memory_monitors()).c_str());

  const Json plots = o.plots
                         ? plot_all(out_dir, child("ingest"), child("baselines"), child("scale"))
                         : Json::array();
  Json parts_json = Json::object();
  for (const auto& p : parts)
    parts_json[p.name] = {{"argv", p.argv},
                          {"exit_code", p.exit_code ? Json(*p.exit_code) : Json(nullptr)},
                          {"note", p.note},
                          {"seconds", p.seconds},
                          {"json", p.json}};
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const Json j = {{"bench", "all"},
                  {"started_utc", started},
                  {"seconds", seconds},
                  {"machine", machine_json()},
                  {"ceiling",
                   {{"start", ceiling_json(*start)},
                    {"end", ceiling_json(*end)},
                    {"best", ceiling_json(best)}}},
                  {"figures", figures_json(table)},
                  {"plots", plots},
                  {"children", parts_json}};
  std::ofstream(json_path) << j.dump(2) << "\n";
  std::printf("results: %s (%.0f s)\n", json_path.string().c_str(), seconds);
  const bool all_ran =
      std::all_of(parts.begin(), parts.end(), [](const ChildRun& p) { return p.exit_code == 0; });
  return all_ran ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return bench::bench_main("bench_all", argc, argv, parse, run); }
