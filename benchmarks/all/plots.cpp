// bench_all's plots: plots.hpp.
#include "plots.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "children.hpp"
#include "emledger/crypto/result.hpp"
#include "targets.hpp"

namespace emledger::bench::all {

using ledger::Json;
namespace fs = std::filesystem;

namespace {

// Throughput-latency data, one file per system: "tx/s p50_ms p99_ms" per
// paced point in the order of the loads offered (a curve that bends back
// shows an overload: less committed at a higher offer), and the saturated
// point in a second file.
void write_curve(const fs::path& path, const std::vector<std::array<double, 3>>& rows,
                 const std::string& comment) {
  std::ofstream out(path);
  out << "# " << comment << "\n# throughput_per_s p50_ms p99_ms\n";
  for (const auto& r : rows) out << r[0] << " " << r[1] << " " << r[2] << "\n";
}

// The gnuplot data files and script in DIR; returns the script's path and
// the series it plots (possibly none).
struct PlotFiles {
  fs::path script;
  std::vector<std::string> tl_series;  // gnuplot plot clauses
  bool scale = false;
  std::uint64_t records_min = 0, records_max = 0;  // of the scale points
};

PlotFiles write_plot_data(const fs::path& dir, const Json& ingest, const Json& baselines,
                          const Json& scale) {
  PlotFiles pf;
  const auto quoted = [&](const std::string& file) { return "'" + (dir / file).string() + "'"; };
  int color = 1;
  const auto series = [&](const std::string& file, const std::string& title) {
    pf.tl_series.push_back(quoted(file) + " using 1:COL with linespoints lw 2 pt 7 lc " +
                           std::to_string(color) + " title '" + title + "'");
  };
  const auto saturated = [&](const std::string& file, const std::string& title) {
    pf.tl_series.push_back(quoted(file) + " using 1:COL with points pt 6 ps 2 lc " +
                           std::to_string(color) + " title '" + title + "'");
  };
  if (ingest.is_object() && ingest.contains("modes"))
    for (const auto& m : ingest["modes"]) {
      const auto n = m.value("validators", std::size_t{0});
      std::vector<std::array<double, 3>> rows;
      for (const auto& p : m.value("paced_points", Json::array()))
        rows.push_back({num(p, "committed_tx_per_s"), num(p, "finality_latency_ms_p50"),
                        num(p, "finality_latency_ms_p99")});
      const std::string base = "tl_emledger_" + std::to_string(n);
      const std::string who =
          n == 1 ? "emledger 1 node" : "emledger " + std::to_string(n) + " validators";
      write_curve(dir / (base + ".dat"), rows, who + ", paced, batches of 100");
      const Json& s = m["saturation"];
      write_curve(dir / (base + "_sat.dat"),
                  {{num(s, "committed_tx_per_s"), num(s, "batch_latency_ms_p50"),
                    num(s, "batch_latency_ms_p99")}},
                  who + ", saturated, batches of " + std::to_string(s.value("batch", 0)));
      series(base + ".dat", who + " (batches of 100)");
      saturated(base + "_sat.dat",
                who + " saturated (batches of " + std::to_string(s.value("batch", 0)) + ")");
      ++color;
    }
  if (baselines.is_object() && baselines.contains("postgresql")) {
    const Json& pg = baselines["postgresql"];
    std::vector<std::array<double, 3>> rows;
    for (const auto& p : pg.value("paced_points", Json::array()))
      rows.push_back({num(p, "rows_per_s"), num(p, "batch_ms_p50"), num(p, "batch_ms_p99")});
    write_curve(dir / "tl_postgresql.dat", rows, "PostgreSQL verified, paced");
    // The saturated point of the verification the paced points use (in
    // batches, as the node, since ADR 039).
    const Json& v = pg.contains("verified_batch") ? pg["verified_batch"] : pg["verified"];
    write_curve(dir / "tl_postgresql_sat.dat",
                {{num(v, "rows_per_s"), num(v, "batch_ms_p50"), num(v, "batch_ms_p99")}},
                "PostgreSQL verified, saturated");
    if (!rows.empty()) series("tl_postgresql.dat", "PostgreSQL 15 verified (batches of 100)");
    saturated("tl_postgresql_sat.dat", "PostgreSQL 15 verified saturated (batches of " +
                                           std::to_string(pg["setup"].value("batch", 0)) + ")");
    ++color;
  }
  if (baselines.is_object() && baselines.contains("etcd")) {
    std::vector<std::array<double, 3>> rows;
    for (const auto& p : baselines["etcd"].value("points", Json::array()))
      rows.push_back({num(p, "puts_per_s"), num(p, "latency_ms_p50"), num(p, "latency_ms_p99")});
    write_curve(dir / "tl_etcd.dat", rows, "etcd, one point per client count");
    series("tl_etcd.dat", "etcd 3.4, 3 members (single puts; points: client counts)");
    ++color;
  }
  if (scale.is_object() && scale.contains("points") && !scale["points"].empty()) {
    std::ofstream out(dir / "scale.dat");
    // The state proof's p99 at rest (ADR 034) beside the one once the scan is
    // complete; a JSON of a run before the phase at rest has none (NaN: gnuplot
    // draws no point).
    out << "# records lookup_p99_ms state_proof_p99_ms verify_p99_ms bytes_per_record "
           "restart_sigkill_s restart_sigterm_s state_proof_at_rest_p99_ms\n";
    for (const auto& p : scale["points"]) {
      const auto p99 = [&](const char* k) { return p.contains(k) ? num(p[k], "p99") : 0.0; };
      const Json rest = p.value("at_rest", Json::object());
      const bool has_rest = rest.contains("state_proof_ms");
      const Json restart = p.value("restart_s", Json::object());
      const auto records = p.value("records", std::uint64_t{0});
      pf.records_min = pf.records_min == 0 ? records : std::min(pf.records_min, records);
      pf.records_max = std::max(pf.records_max, records);
      out << records << " " << p99("lookup_ms") << " " << p99("state_proof_ms") << " "
          << p99("verify_ms") << " " << num(p, "bytes_per_record") << " " << num(restart, "sigkill")
          << " " << num(restart, "sigterm") << " ";
      if (has_rest)
        out << num(rest["state_proof_ms"], "p99") << "\n";
      else
        out << "NaN\n";
    }
    pf.scale = true;
  }
  return pf;
}

std::string join_plot(const std::vector<std::string>& series, const std::string& col) {
  std::string out;
  for (const auto& s : series) {
    std::string one = s;
    one.replace(one.find("COL"), 3, col);
    out += (out.empty() ? "" : ", \\\n     ") + one;
  }
  return out;
}

// Writes DIR/plots.gp and runs gnuplot on it. Returns the PNGs made, or why not.
Result<std::vector<fs::path>> make_plots(const fs::path& dir, const PlotFiles& pf) {
  std::ofstream gp(dir / "plots.gp");
  gp << "# Written by bench_all; gnuplot " << (dir / "plots.gp").string() << "\n"
     << "set terminal pngcairo size 1400,760 font ',10'\nset grid\n";
  std::vector<fs::path> pngs;
  if (!pf.tl_series.empty()) {
    pngs.push_back(dir / "throughput_latency.png");
    gp << "set output '" << pngs.back().string() << "'\n"
       << "set multiplot layout 1,2 title 'Throughput against latency, durable commits, this "
          "machine, one run'\n"
       << "set xlabel 'committed per second (tx, rows or puts)'\nset logscale y\n"
       << "set bmargin 10\nset key at screen 0.5, screen 0.01 center bottom horizontal maxcols 2\n"
       << "set ylabel 'p50 latency, ms (log)'\nset title 'p50'\n"
       << "plot " << join_plot(pf.tl_series, "2") << "\n"
       << "unset key\nset ylabel 'p99 latency, ms (log)'\nset title 'p99'\n"
       << "plot " << join_plot(pf.tl_series, "3") << "\n"
       << "unset multiplot\nunset logscale\nset bmargin\nset key default\n";
  }
  if (pf.scale) {
    const std::string d = "'" + (dir / "scale.dat").string() + "'";
    pngs.push_back(dir / "scale.png");
    gp << "set output '" << pngs.back().string() << "'\n"
       << "set terminal pngcairo size 1500,500 font ',10'\n"
       << "set multiplot layout 1,3 title 'Scale: one node holding N records'\n"
       << "set key top left\nset logscale x\nset xlabel 'records'\n"
       << "set xrange [" << pf.records_min / 2 << ":" << pf.records_max * 2 << "]\n"
       << "set logscale y\nset ylabel 'p99, ms (log)'\nset title 'latency p99'\n"
       << "plot " << d
       << " using 1:3 with linespoints lw 2 pt 7 title 'state proof, scan complete', " << d
       << " using 1:8 with linespoints lw 2 pt 7 title 'state proof, at rest', " << d
       << " using 1:2 with linespoints lw 2 pt 7 title 'lookup', " << d
       << " using 1:4 with linespoints lw 2 pt 7 title 'verify', " << kStateProofP99MaxMs
       << " with lines dt 2 lc rgb 'red' title 'target: state proof p99 < 2 ms'\n"
       << "unset logscale y\nset yrange [0:*]\nset ylabel 'bytes'\nset title 'bytes on disk per "
          "record'\n"
       << "plot " << d << " using 1:5 with linespoints lw 2 pt 7 title 'bytes/record', "
       << kBytesPerRecordMax << " with lines dt 2 lc rgb 'red' title 'target <= 1 KiB'\n"
       << "set ylabel 'seconds'\nset title 'restart time'\n"
       << "plot " << d << " using 1:6 with linespoints lw 2 pt 7 title 'after SIGKILL', " << d
       << " using 1:7 with linespoints lw 2 pt 7 title 'after SIGTERM', " << kRestartMaxS
       << " with lines dt 2 lc rgb 'red' title 'target < 3 s'\n"
       << "unset multiplot\n";
  }
  gp.close();
  if (pngs.empty()) return pngs;
  const int rc = run_child({"/usr/bin/gnuplot", (dir / "plots.gp").string()}, dir / "gnuplot.log");
  if (rc != 0)
    return Status::error("GNUPLOT", rc == 127 ? "/usr/bin/gnuplot not found (Debian: gnuplot-nox)"
                                              : "gnuplot exited with " + std::to_string(rc) +
                                                    "; see " + (dir / "gnuplot.log").string());
  return pngs;
}

}  // namespace

// The plots of the run in DIR, and their paths (none if gnuplot failed: then
// says why, and the data and script stay for a rerun).
Json plot_all(const fs::path& dir, const Json& ingest, const Json& baselines, const Json& scale) {
  Json out = Json::array();
  auto pngs = make_plots(dir, write_plot_data(dir, ingest, baselines, scale));
  if (!pngs) {
    std::printf("plots: not made: %s (data and plots.gp are in %s)\n",
                pngs.status().message().c_str(), dir.string().c_str());
    return out;
  }
  for (const auto& p : *pngs) {
    out.push_back(p.string());
    std::printf("plot: %s\n", p.string().c_str());
  }
  return out;
}

}  // namespace emledger::bench::all
