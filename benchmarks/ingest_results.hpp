// ingest_bench's options and what its phases measured: what the run fills
// in (ingest_bench.cpp) and the report prints and writes (ingest_report.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace emledger::bench::ingest {

using Clock = std::chrono::steady_clock;

// The headline paced phase offers this share of the saturated rate (issue 5:
// finality latency at half load).
constexpr double kHeadlineShare = 0.5;

// The command line (ingest_bench's usage).
struct Options {
  std::vector<std::size_t> validators{1};
  std::size_t txs = 40000;
  std::size_t batch = 1000;
  std::size_t clients = 8;
  std::size_t latency_batch = 100;
  double latency_s = 10.0;
  std::vector<double> paced_shares{kHeadlineShare};  // one paced phase each, in order
  std::uint64_t view_timeout_ms = 2000;              // the node's default
  std::string json_out;
  std::string trace_out;                     // --trace: one line per batch posted
  std::string node_bin = EMLEDGER_NODE_BIN;  // --node: another build, for A/B runs
  bool binary_body = true;                   // --body: binary (TxBatch) or json
  bool keep = false;                         // --keep: leave the temp dir (node logs) behind
};

// Where all batch send times are counted from (--trace).
inline const Clock::time_point g_origin = Clock::now();

// One batch as a client posted it (--trace).
struct BatchRecord {
  std::size_t node = 0;
  double sent_ms = 0;     // since g_origin
  double latency_ms = 0;  // post to answer (to the error, for a failed post)
  std::size_t txs = 0;
  std::size_t committed = 0;
};

// What a set of client threads saw.
struct Tally {
  std::size_t committed = 0;
  std::size_t failed = 0;
  std::map<std::string, std::size_t> errors;  // why, in transactions
  std::vector<double> latencies_ms;           // per answered batch: post to answer
  std::size_t late_starts = 0;                // paced batches sent a slot or more late
  std::string stalled;                        // why the phase was cut short; empty if it was not
  std::vector<BatchRecord> batches;           // each post, kept only with --trace

  void fail(const std::string& why, std::size_t txs) {
    failed += txs;
    errors[why] += txs;
  }
  void merge(const Tally& o) {
    committed += o.committed;
    failed += o.failed;
    for (const auto& [k, v] : o.errors) errors[k] += v;
    latencies_ms.insert(latencies_ms.end(), o.latencies_ms.begin(), o.latencies_ms.end());
    late_starts += o.late_starts;
    batches.insert(batches.end(), o.batches.begin(), o.batches.end());
  }
};

// The blocks a node committed at heights (from, to], from their headers.
struct ChainStats {
  std::uint64_t blocks = 0;
  std::uint64_t empty_blocks = 0;
  std::uint64_t txs = 0;
  std::uint64_t views = 0;  // views they took: more than blocks when views ended without one
};

struct SaturationResult {
  Tally tally;
  double seconds = 0;
  // Node 0's state-tree page cache at the phase's end (/v1/health, ADR 047):
  // its memory and the bytes of pages written to its ring since the node
  // started. 0 from a node that does not report them.
  std::uint64_t state_cache_bytes = 0;
  std::uint64_t state_cache_written_bytes = 0;
  double node_cpu_s = 0;  // all nodes
  double client_cpu_s = 0;
  ChainStats chain;
  double tps() const { return seconds > 0 ? static_cast<double>(tally.committed) / seconds : 0; }
};

struct PacedResult {
  double share = 0;  // of the saturated rate
  Tally tally;
  double offered_tps = 0;
  double seconds = 0;  // first scheduled post to last answer
  std::size_t batches = 0;
  std::size_t clients = 0;
  double node_cpu_s = 0;       // all nodes, while the phase ran
  double host_busy_share = 0;  // of all cores' time, while the phase ran
  ChainStats chain;
  double tps() const { return seconds > 0 ? static_cast<double>(tally.committed) / seconds : 0; }
};

struct ModeResult {
  std::size_t validators = 0;
  std::size_t tx_bytes = 0;
  SaturationResult saturation;
  PacedResult paced;               // the headline: the share nearest kHeadlineShare
  std::vector<PacedResult> curve;  // every paced phase, in --paced-shares order
};

// tx/s ÷ (ceiling / validators): every validator verifies every transaction
// once (admission on the node that took it, re-execution on the others), so
// ceiling / n is what n validators sharing these cores could at best commit.
double ratio(const ModeResult& m, double ceiling) {
  return m.saturation.tps() / (ceiling / static_cast<double>(m.validators));
}

}  // namespace emledger::bench::ingest
