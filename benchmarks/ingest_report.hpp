// ingest_bench's report: the table it prints, its --json file and its
// --trace file, from the results of a run (ingest_results.hpp).
#pragma once

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/json.hpp"
#include "ingest_results.hpp"

namespace emledger::bench::ingest {

using ledger::Json;

void row(const std::string& label, const std::vector<ModeResult>& ms,
         const std::function<std::string(const ModeResult&)>& cell) {
  std::printf("%-56s", label.c_str());
  for (const auto& m : ms) std::printf(" %18s", cell(m).c_str());
  std::printf("\n");
}

void print_report(const Options& o, double before, double after,
                  const std::vector<ModeResult>& ms) {
  const double ceiling = (before + after) / 2;
  std::printf("\n");
  row("validators", ms, [](const ModeResult& m) { return std::to_string(m.validators); });
  std::printf("saturation: %zu txs, batches of %zu, %zu clients (client i -> node i mod n)\n",
              o.txs, o.batch, o.clients);
  row("  committed tx/s", ms, [](const ModeResult& m) { return fixed(m.saturation.tps(), 0); });
  row("  committed / failed txs", ms, [](const ModeResult& m) {
    return std::to_string(m.saturation.tally.committed) + " / " +
           std::to_string(m.saturation.tally.failed);
  });
  row("  seconds", ms, [](const ModeResult& m) { return fixed(m.saturation.seconds, 2); });
  row("  node 0 state cache MiB / MiB written to it (ADR 047)", ms, [](const ModeResult& m) {
    const auto& s = m.saturation;
    if (s.state_cache_bytes == 0) return std::string("-");
    return fixed(static_cast<double>(s.state_cache_bytes) / (1 << 20), 0) + " / " +
           fixed(static_cast<double>(s.state_cache_written_bytes) / (1 << 20), 0);
  });
  row("  batch latency p50 / p99, ms", ms, [](const ModeResult& m) {
    const auto& l = m.saturation.tally.latencies_ms;
    return fixed(percentile(l, 0.5), 0) + " / " + fixed(percentile(l, 0.99), 0);
  });
  row("  blocks on node 0 (empty)", ms, [](const ModeResult& m) {
    const auto& c = m.saturation.chain;
    return std::to_string(c.blocks) + " (" + std::to_string(c.empty_blocks) + ")";
  });
  row("  txs per non-empty block", ms, [](const ModeResult& m) {
    const auto& c = m.saturation.chain;
    return fixed(static_cast<double>(c.txs) /
                     static_cast<double>(std::max<std::uint64_t>(1, c.blocks - c.empty_blocks)),
                 0);
  });
  row("  views per block (1.00: no view ended without one)", ms, [](const ModeResult& m) {
    const auto& c = m.saturation.chain;
    if (m.validators == 1) return std::string("-");
    return fixed(
        static_cast<double>(c.views) / static_cast<double>(std::max<std::uint64_t>(1, c.blocks)),
        2);
  });
  row("  node CPU per committed tx, us (all nodes)", ms, [](const ModeResult& m) {
    return fixed(cpu_us_per(m.saturation.node_cpu_s, m.saturation.tally.committed), 1);
  });
  row("  load generator CPU per committed tx, us", ms, [](const ModeResult& m) {
    return fixed(cpu_us_per(m.saturation.client_cpu_s, m.saturation.tally.committed), 1);
  });
  std::printf("paced at %.0f%% of the saturated rate: batches of %zu, batch k -> node k mod n\n",
              100 * (ms.empty() ? kHeadlineShare : ms[0].paced.share), o.latency_batch);
  row("  offered tx/s", ms, [](const ModeResult& m) { return fixed(m.paced.offered_tps, 0); });
  row("  committed tx/s", ms, [](const ModeResult& m) { return fixed(m.paced.tps(), 0); });
  row("  committed / failed txs", ms, [](const ModeResult& m) {
    return std::to_string(m.paced.tally.committed) + " / " + std::to_string(m.paced.tally.failed);
  });
  row("  finality latency p50, ms (post to commit answer)", ms,
      [](const ModeResult& m) { return fixed(percentile(m.paced.tally.latencies_ms, 0.5), 0); });
  row("  finality latency p99, ms", ms,
      [](const ModeResult& m) { return fixed(percentile(m.paced.tally.latencies_ms, 0.99), 0); });
  row("  batches sent late (pacer behind) / batches", ms, [](const ModeResult& m) {
    return std::to_string(m.paced.tally.late_starts) + " / " + std::to_string(m.paced.batches);
  });
  row("  client threads", ms, [](const ModeResult& m) { return std::to_string(m.paced.clients); });
  row("  node CPU per committed tx, us (all nodes)", ms, [](const ModeResult& m) {
    return fixed(cpu_us_per(m.paced.node_cpu_s, m.paced.tally.committed), 1);
  });
  row("  host CPU busy meanwhile (all cores, /proc/stat)", ms,
      [](const ModeResult& m) { return fixed(100 * m.paced.host_busy_share, 0) + "%"; });
  row("  blocks on node 0 (empty)", ms, [](const ModeResult& m) {
    const auto& c = m.paced.chain;
    return std::to_string(c.blocks) + " (" + std::to_string(c.empty_blocks) + ")";
  });
  if (o.paced_shares.size() > 1)
    for (std::size_t k = 0; k < o.paced_shares.size(); ++k) {
      const auto point = [k](const ModeResult& m) -> const PacedResult* {
        return k < m.curve.size() ? &m.curve[k] : nullptr;
      };
      row("paced at " + fixed(100 * o.paced_shares[k], 0) + "%: tx/s, p50 / p99 ms, busy", ms,
          [&](const ModeResult& m) {
            const PacedResult* p = point(m);
            if (p == nullptr) return std::string("-");
            return fixed(p->tps(), 0) + ", " + fixed(percentile(p->tally.latencies_ms, 0.5), 0) +
                   " / " + fixed(percentile(p->tally.latencies_ms, 0.99), 0) + ", " +
                   fixed(100 * p->host_busy_share, 0) + "%";
          });
    }
  std::printf("%-56s %18.0f\n", "ed25519 verifications/s, all cores (ceiling)", ceiling);
  std::printf("%-56s %18s\n", "  measured before / after the modes",
              (fixed(before, 0) + " / " + fixed(after, 0)).c_str());
  std::printf("%-56s %18.1f\n", "  Ed25519 verify CPU, us (cores / ceiling)",
              1e6 * cores() / ceiling);
  row("tx/s / (ceiling / validators)", ms,
      [&](const ModeResult& m) { return fixed(ratio(m, ceiling), 3); });
  for (const auto& m : ms) {
    if (m.validators == 1)
      std::printf("ratio 1-node tx/s / ceiling: %.3f (issue-2 target >= 0.3)\n", ratio(m, ceiling));
    else
      std::printf("ratio %zu-validator tx/s / (ceiling / %zu): %.3f (issue-5 target >= 0.5)\n",
                  m.validators, m.validators, ratio(m, ceiling));
    for (const auto& [why, count] : m.saturation.tally.errors)
      std::printf("  %zu validator(s), saturation: %zu txs failed: %s\n", m.validators, count,
                  why.c_str());
    for (const auto& p : m.curve)
      for (const auto& [why, count] : p.tally.errors)
        std::printf("  %zu validator(s), paced at %.0f%%: %zu txs failed: %s\n", m.validators,
                    100 * p.share, count, why.c_str());
  }
  std::printf(
      "setup: register txs of %zu bytes (encoded, signed), pre-signed by one issuer key; a tx "
      "counts once ?wait=commit answers: its block final and fsynced (one synced LevelDB batch "
      "per block) on the node that took it; batches in the %s body; nodes on loopback, view "
      "timeout %llu ms; %u cores shared by the load generator and every node\n",
      ms.empty() ? 0 : ms[0].tx_bytes, o.binary_body ? "binary" : "JSON",
      static_cast<unsigned long long>(o.view_timeout_ms), cores());
  std::printf("node: %s\n", o.node_bin.c_str());
  if (std::any_of(ms.begin(), ms.end(), [](const ModeResult& m) { return m.validators > 1; }))
    std::printf(
        "note: a node with mempool gossip (commit 7c636e7 on) forwards each transaction to the "
        "other validators and the next leader proposes it; without (an older --node) it waits at "
        "the node it was posted to until that node leads a view (every n-th view). A leader with "
        "nothing pending waits 250 ms, then proposes an empty block\n");
}

Json tally_json(const Tally& t) {
  Json errors = Json::object();
  for (const auto& [why, count] : t.errors) errors[why] = count;
  return {{"committed", t.committed}, {"failed", t.failed}, {"errors", errors}};
}

Json chain_json(const ChainStats& c) {
  return {
      {"blocks", c.blocks}, {"empty_blocks", c.empty_blocks}, {"txs", c.txs}, {"views", c.views}};
}

Json paced_json(const Options& o, const PacedResult& p) {
  return {{"share", p.share},
          {"batch", o.latency_batch},
          {"batches", p.batches},
          {"clients", p.clients},
          {"seconds", p.seconds},
          {"offered_tx_per_s", p.offered_tps},
          {"committed_tx_per_s", p.tps()},
          {"finality_latency_ms_p50", percentile(p.tally.latencies_ms, 0.5)},
          {"finality_latency_ms_p99", percentile(p.tally.latencies_ms, 0.99)},
          {"late_starts", p.tally.late_starts},
          {"node_cpu_s", p.node_cpu_s},
          {"host_cpu_busy_share", p.host_busy_share},
          {"outcome", tally_json(p.tally)},
          {"chain", chain_json(p.chain)}};
}

Json mode_json(const Options& o, const ModeResult& m, double ceiling) {
  const auto& s = m.saturation;
  Json curve = Json::array();
  for (const auto& p : m.curve) curve.push_back(paced_json(o, p));
  return {{"validators", m.validators},
          {"ratio_to_ceiling_per_validator", ratio(m, ceiling)},
          {"saturation",
           {{"txs", o.txs},
            {"batch", o.batch},
            {"clients", o.clients},
            {"committed_tx_per_s", s.tps()},
            {"seconds", s.seconds},
            {"state_cache_bytes", s.state_cache_bytes},
            {"state_cache_written_bytes", s.state_cache_written_bytes},
            {"batch_latency_ms_p50", percentile(s.tally.latencies_ms, 0.5)},
            {"batch_latency_ms_p99", percentile(s.tally.latencies_ms, 0.99)},
            {"node_cpu_s", s.node_cpu_s},
            {"client_cpu_s", s.client_cpu_s},
            {"outcome", tally_json(s.tally)},
            {"chain", chain_json(s.chain)}}},
          {"paced", paced_json(o, m.paced)},
          {"paced_points", curve}};
}

void write_json(const Options& o, double before, double after, const std::vector<ModeResult>& ms) {
  const double ceiling = (before + after) / 2;
  Json j = {{"ed25519_verify_per_s", ceiling},
            {"ed25519_verify_per_s_before", before},
            {"ed25519_verify_per_s_after", after},
            {"cores", cores()},
            {"tx_bytes", ms.empty() ? 0 : ms[0].tx_bytes},
            {"fsync", "every block"},
            {"body", o.binary_body ? "binary" : "json"},
            {"view_timeout_ms", o.view_timeout_ms},
            {"modes", Json::array()}};
  for (const auto& m : ms) {
    j["modes"].push_back(mode_json(o, m, ceiling));
    if (m.validators != 1) continue;
    // The one-node fields of the earlier form, for scripts that read them.
    j["committed_tx_per_s"] = m.saturation.tps();
    j["ratio"] = ratio(m, ceiling);
    j["txs"] = o.txs;
    j["batch"] = o.batch;
    j["clients"] = o.clients;
    j["failed"] = m.saturation.tally.failed;
    j["node_cpu_s"] = m.saturation.node_cpu_s;
    j["client_cpu_s"] = m.saturation.client_cpu_s;
  }
  std::ofstream(o.json_out) << j.dump(2) << "\n";
}

// --trace: a header line, then one line per batch, each mode's phases in the
// order they ran.
Status write_trace(const Options& o, const std::vector<ModeResult>& ms) {
  std::ofstream out(o.trace_out);
  out << "validators\tphase\tnode\tsent_ms\tlatency_ms\ttxs\tcommitted\n";
  const auto phase = [&](std::size_t n, const std::string& name, const Tally& t) {
    std::vector<BatchRecord> sorted = t.batches;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.sent_ms < b.sent_ms; });
    for (const auto& b : sorted)
      out << n << '\t' << name << '\t' << b.node << '\t' << fixed(b.sent_ms, 1) << '\t'
          << fixed(b.latency_ms, 1) << '\t' << b.txs << '\t' << b.committed << '\n';
  };
  for (const auto& m : ms) {
    phase(m.validators, "saturation", m.saturation.tally);
    for (const auto& p : m.curve) phase(m.validators, "paced-" + fixed(p.share, 2), p.tally);
  }
  out.flush();
  if (!out) return Status::error("STORAGE_ERROR", "cannot write " + o.trace_out);
  return Status::ok();
}

}  // namespace emledger::bench::ingest
