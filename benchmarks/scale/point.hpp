// What the scale benchmark (scale_bench.cpp) measures at each point, the
// options it runs with, and its report (report.cpp): the table on stdout and
// the JSON file bench_all reads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "emledger/ledger/ledger.hpp"

namespace emledger::bench::scale {

struct Options {
  std::vector<std::uint64_t> points{100'000, 1'000'000, 10'000'000};
  std::size_t requests = 2000;  // per client thread and proof kind; latency samples per kind
  std::size_t clients = 8;
  std::string json_out;
  // Every one-at-a-time request of the latency phases, one line each:
  // "POINT PHASE KIND UNIX_TIME_S MS" (docs/benchmarks.md); empty: none.
  std::string latency_log;
  std::string node_bin = EMLEDGER_NODE_BIN;
  std::string dir;  // empty: the system temp dir
  bool keep = false;
  std::uint64_t state_cache_mib = ledger::kStateCacheMibDefault;
  std::uint64_t state_retention_blocks = ledger::kStateRetentionKeepAll;
  bool full_compaction = false;
  ledger::LedgerOptions ledger_options() const {
    ledger::LedgerOptions lo;
    lo.state_cache_mib = state_cache_mib;
    lo.state_cache_huge_pages = true;  // as the node's (ADR 024)
    lo.state_retention_blocks = state_retention_blocks;
    return lo;
  }
};

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
};

struct PointLatencies {
  Latency lookup, state_proof, verify;
};

struct Rate {
  double per_s = 0;
  Latency latency;  // under this load
};

struct ProofRates {
  Rate inclusion, consistency, state;
};

struct Restart {
  double sigkill_s = 0;
  double sigterm_s = 0;
  double sigterm_stop_s = 0;  // from SIGTERM to the process's exit
};

struct Point {
  std::uint64_t records = 0;
  double load_s = 0;        // loading the records added since the previous point
  double compaction_s = 0;  // --compaction full: compacting the database after the load
  std::uint64_t loaded = 0;
  PointLatencies latency;           // once the node's start-up scan is complete
  PointLatencies latency_at_start;  // in the first seconds after the start, during that scan
  double startup_scan_s = 0;        // from the node answering to its scan complete
  // ADR 034: once GET /v1/health reports LevelDB's compaction idle, after the
  // latencies above; how long that took from their end; the bytes of DATA/db
  // then, and as the load left them.
  PointLatencies latency_at_rest;
  double compaction_wait_s = 0;
  std::uint64_t rest_db_bytes = 0;
  std::uint64_t loaded_db_bytes = 0;
  ProofRates rates;
  double bundle_verifications_per_s = 0;
  Restart restart;
  std::uint64_t disk_bytes = 0;            // every file of the data directory
  std::uint64_t db_bytes = 0;              // LevelDB's files alone (DATA/db)
  std::map<char, std::uint64_t> prefixes;  // LevelDB's estimate per key prefix
  double load_average = 0;                 // before the HTTP phases
  double bytes_per_record() const {
    return static_cast<double>(disk_bytes) / static_cast<double>(records);
  }
  double prefix_per_record(char p) const {
    auto it = prefixes.find(p);
    return it == prefixes.end() ? 0
                                : static_cast<double>(it->second) / static_cast<double>(records);
  }
};

// The table of every point's figures, with their setups, on stdout.
void print_report(const Options& o, const std::vector<Point>& points);
// The same figures to o.json_out ({"bench":"scale","setup","table","points"}).
void write_json(const Options& o, const std::vector<Point>& points);

}  // namespace emledger::bench::scale
