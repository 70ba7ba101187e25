// The scale benchmark's report: point.hpp.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "../bench_common.hpp"
#include "../bench_run.hpp"
#include "../bench_txs.hpp"
#include "../host_monitors.hpp"
#include "../network_setup.hpp"
#include "emledger/ledger/json.hpp"
#include "point.hpp"

namespace emledger::bench::scale {

using namespace emledger::ledger;

namespace {

// Issue 5's targets, printed beside the figures.
constexpr double kTargetStateProofP99Ms = 2.0;      // at 10M records
constexpr double kTargetBundleVerifyPerS = 5000.0;  // at 10M records
constexpr double kTargetBytesPerRecord = 1024.0;    // on disk
constexpr double kTargetRestartS = 3.0;

struct Figure {
  std::string figure;
  double value = 0;
  std::string unit;
  std::string setup;
  std::string target;  // issue 5's, or empty
};

// What every figure shares: cores, record size, fsync policy.
std::string setup_line(const Options& o) {
  return "one emledger-node (1 validator, fsync: one synced LevelDB batch per block, state cache " +
         std::to_string(o.state_cache_mib) + " MiB, " +
         (o.state_retention_blocks == kStateRetentionKeepAll
              ? std::string("every state tree kept")
              : "state trees of the last " + std::to_string(o.state_retention_blocks) +
                    " heights kept") +
         (o.full_compaction ? ", the database fully compacted after each load" : "") +
         ") and the clients on " + std::to_string(cores()) + " shared cores; register records of " +
         std::to_string(encode(bench::register_tx(0, bench::kBenchChainId, bench::kBenchIssuerOrg,
                                                  crypto::KeyPair::generate(), 1))
                            .size()) +
         "-byte signed txs";
}

std::vector<Figure> figures(const Options& o, const std::vector<Point>& points) {
  std::vector<Figure> out;
  const std::string c = std::to_string(cores());
  const std::string one = "1 client, one request at a time, " + std::to_string(o.requests) +
                          " random loaded records, HTTP keep-alive";
  const std::string load = std::to_string(o.clients) + " client threads x " +
                           std::to_string(o.requests) + " requests, keep-alive, random records";
  for (const auto& p : points) {
    const std::string at = " (" + std::to_string(p.records) + " records)";
    auto add = [&](std::string f, double v, std::string unit, std::string setup,
                   std::string target = "") {
      out.push_back(
          Figure{std::move(f) + at, v, std::move(unit), std::move(setup), std::move(target)});
    };
    const std::string sdk =
        "1 client, SDK Client::fetch_bundle (GET /v1/bundles, connection per call, decode, "
        "verify_bundle)";
    const std::string ready = ", once the node's start-up scan is complete";
    const std::string early = ", from the node's first answer, during its start-up scan";
    add("record lookup p50", p.latency.lookup.p50_ms, "ms", one + ", GET /v1/records/{id}" + ready);
    add("record lookup p99", p.latency.lookup.p99_ms, "ms", one + ", GET /v1/records/{id}" + ready);
    add("state proof p50", p.latency.state_proof.p50_ms, "ms",
        one + ", GET /v1/proofs/state" + ready);
    add("state proof p99", p.latency.state_proof.p99_ms, "ms",
        one + ", GET /v1/proofs/state" + ready, "< 2 ms at 10M records");
    add("verify p50", p.latency.verify.p50_ms, "ms", sdk + ready);
    add("verify p99", p.latency.verify.p99_ms, "ms", sdk + ready);
    add("node start-up scan", p.startup_scan_s, "s",
        "first answer to GET /v1/health reporting committed_id_filter complete (the scan of "
        "every 'b' and 's' entry, ADR 026)");
    // A later set of one-client latencies: its lookup p99, state proof p50
    // and p99, and verify p99, named with `when`.
    auto add_set = [&](const std::string& when, const PointLatencies& l, const std::string& setup,
                       const std::string& target) {
      add("record lookup p99 " + when, l.lookup.p99_ms, "ms",
          one + ", GET /v1/records/{id}" + setup);
      add("state proof p50 " + when, l.state_proof.p50_ms, "ms",
          one + ", GET /v1/proofs/state" + setup);
      add("state proof p99 " + when, l.state_proof.p99_ms, "ms",
          one + ", GET /v1/proofs/state" + setup, target);
      add("verify p99 " + when, l.verify.p99_ms, "ms", sdk + setup);
    };
    add_set("at start", p.latency_at_start, early, "");
    add("compaction catch-up", p.compaction_wait_s, "s",
        "from the end of the latencies once the scan is complete to GET /v1/health reporting "
        "compaction idle: the work the load left LevelDB's background thread and the sweeper "
        "(ADR 034)");
    add_set("at rest", p.latency_at_rest,
            ", once GET /v1/health reports compaction idle (LevelDB and the sweeper, ADR 034), "
            "after the sets above",
            "< 2 ms at 10M records");
    add("inclusion proofs/s", p.rates.inclusion.per_s, "1/s", load + ", ?tx=ID");
    add("inclusion proof p50 under load", p.rates.inclusion.latency.p50_ms, "ms", load);
    add("inclusion proof p99 under load", p.rates.inclusion.latency.p99_ms, "ms", load);
    add("consistency proofs/s", p.rates.consistency.per_s, "1/s",
        load + ", first random, second head");
    add("consistency proof p50 under load", p.rates.consistency.latency.p50_ms, "ms", load);
    add("consistency proof p99 under load", p.rates.consistency.latency.p99_ms, "ms", load);
    add("state proofs/s", p.rates.state.per_s, "1/s", load + ", record keys");
    add("state proof p50 under load", p.rates.state.latency.p50_ms, "ms", load);
    add("state proof p99 under load", p.rates.state.latency.p99_ms, "ms", load);
    add("bundle verifications/s", p.bundle_verifications_per_s, "1/s",
        c + " threads, decode_bundle + verify_bundle (certificate included), bundles fetched "
            "before the clock",
        "> 5000/s at 10M records");
    add("bytes on disk per record", p.bytes_per_record(), "B",
        "every file of the node's data dir after SIGTERM / records", "<= 1024 B");
    add("LevelDB bytes per record",
        static_cast<double>(p.db_bytes) / static_cast<double>(p.records), "B",
        "the files of DATA/db alone / records");
    add("LevelDB bytes per record as loaded",
        static_cast<double>(p.loaded_db_bytes) / static_cast<double>(p.records), "B",
        "the files of DATA/db as the load left them, before the node starts / records");
    add("LevelDB bytes per record at rest",
        static_cast<double>(p.rest_db_bytes) / static_cast<double>(p.records), "B",
        "the files of DATA/db once GET /v1/health reports compaction idle / records");
    add("state-tree node bytes per record", p.prefix_per_record('n'), "B",
        "LevelDB's approximate size of the 'n' keys / records");
    add("restart after SIGKILL", p.restart.sigkill_s, "s",
        "process start to GET /v1/health and a state proof answering", "< 3 s");
    add("restart after SIGTERM", p.restart.sigterm_s, "s",
        "process start to GET /v1/health and a state proof answering", "< 3 s");
    add("load", static_cast<double>(p.loaded) / std::max(1e-9, p.load_s), "records/s",
        "records " + std::to_string(p.records - p.loaded) + " to " + std::to_string(p.records) +
            " in-process through the kernel, blocks of " + std::to_string(kBlockTxsMax) +
            ", synced commit per block, signing on " + c + " threads");
    if (o.full_compaction)
      add("full compaction after the load", p.compaction_s, "s",
          "LevelDB CompactRange over every key, in the loader, before the node starts");
  }
  return out;
}

Json latency_json(const Latency& l) { return {{"p50", l.p50_ms}, {"p99", l.p99_ms}}; }

}  // namespace

void print_report(const Options& o, const std::vector<Point>& points) {
  std::printf("\nevery figure: %s\n", setup_line(o).c_str());
  std::printf("%-52s %12s %-9s %-24s %s\n", "figure", "value", "unit", "target (issue 5)", "setup");
  for (const auto& f : figures(o, points))
    std::printf("%-52s %12s %-9s %-24s %s\n", f.figure.c_str(),
                fixed(f.value, f.value >= 100 ? 0
                               : f.value >= 1 ? 2
                                              : 3)
                    .c_str(),
                f.unit.c_str(), f.target.c_str(), f.setup.c_str());
  std::printf("\nper point: records, MB on disk, bytes/record by key prefix (LevelDB estimate)\n");
  for (const auto& p : points) {
    std::printf("  %llu records: %.1f MB;", static_cast<unsigned long long>(p.records),
                p.disk_bytes / 1e6);
    for (const auto& [k, v] : p.prefixes)
      std::printf(" %c %.0f", k, static_cast<double>(v) / static_cast<double>(p.records));
    std::printf("; clean stop %.2f s; load average %.2f before the HTTP phases\n",
                p.restart.sigterm_stop_s, p.load_average);
  }
  std::printf(
      "targets (issue 5): state proof p99 < %.0f ms and bundle verification > %.0f/s at 10M "
      "records; <= %.0f B on disk per record; restart < %.0f s\n",
      kTargetStateProofP99Ms, kTargetBundleVerifyPerS, kTargetBytesPerRecord, kTargetRestartS);
  std::printf("node: %s\n", o.node_bin.c_str());
  std::printf("%s\n", memory_monitors_line(running_memory_monitors()).c_str());
}

void write_json(const Options& o, const std::vector<Point>& points) {
  Json setup = {{"cores", cores()},
                {"clients", o.clients},
                {"requests_per_client", o.requests},
                {"latency_samples", o.requests},
                {"bundle_verify_threads", cores()},
                {"validators", 1},
                {"fsync", "every block"},
                {"block_txs", kBlockTxsMax},
                {"load", "in-process through the kernel (prepare, certificate, synced commit)"},
                {"description", setup_line(o)},
                {"state_cache_mib", o.state_cache_mib},
                {"state_retention_blocks", o.state_retention_blocks},
                {"compaction", o.full_compaction ? "full" : "background"},
                {"node", o.node_bin},
                {"host_memory_monitors", memory_monitors_json(running_memory_monitors())}};
  Json table = Json::array();
  for (const auto& f : figures(o, points))
    table.push_back({{"figure", f.figure},
                     {"value", f.value},
                     {"unit", f.unit},
                     {"setup", f.setup + "; " + setup_line(o) +
                                   (f.target.empty() ? "" : "; issue-5 target " + f.target)}});
  Json pts = Json::array();
  for (const auto& p : points) {
    Json prefixes = Json::object();
    for (const auto& [k, v] : p.prefixes) prefixes[std::string(1, k)] = v;
    pts.push_back(
        {{"records", p.records},
         {"lookup_ms", latency_json(p.latency.lookup)},
         {"state_proof_ms", latency_json(p.latency.state_proof)},
         {"verify_ms", latency_json(p.latency.verify)},
         {"startup_scan_s", p.startup_scan_s},
         {"at_start",
          {{"lookup_ms", latency_json(p.latency_at_start.lookup)},
           {"state_proof_ms", latency_json(p.latency_at_start.state_proof)},
           {"verify_ms", latency_json(p.latency_at_start.verify)}}},
         {"compaction_wait_s", p.compaction_wait_s},
         {"at_rest",
          {{"lookup_ms", latency_json(p.latency_at_rest.lookup)},
           {"state_proof_ms", latency_json(p.latency_at_rest.state_proof)},
           {"verify_ms", latency_json(p.latency_at_rest.verify)},
           {"db_bytes", p.rest_db_bytes}}},
         {"loaded_db_bytes", p.loaded_db_bytes},
         {"inclusion_proofs_per_s", p.rates.inclusion.per_s},
         {"consistency_proofs_per_s", p.rates.consistency.per_s},
         {"state_proofs_per_s", p.rates.state.per_s},
         {"bundle_verifications_per_s", p.bundle_verifications_per_s},
         {"bytes_per_record", p.bytes_per_record()},
         {"restart_s", {{"sigkill", p.restart.sigkill_s}, {"sigterm", p.restart.sigterm_s}}},
         // Beyond the driver's contract: read by people.
         {"state_tree_bytes_per_record", p.prefix_per_record('n')},
         {"disk_bytes", p.disk_bytes},
         {"db_bytes", p.db_bytes},
         {"load_average_1m", p.load_average},
         {"prefix_bytes", prefixes},
         {"load_records_per_s", static_cast<double>(p.loaded) / std::max(1e-9, p.load_s)},
         {"full_compaction_s", p.compaction_s}});
  }
  Json j = {{"bench", "scale"}, {"setup", setup}, {"table", table}, {"points", pts}};
  std::ofstream out(o.json_out, std::ios::trunc);
  out << j.dump(2) << "\n";
  if (!out) std::cerr << "cannot write " << o.json_out << "\n";
}
}  // namespace emledger::bench::scale
