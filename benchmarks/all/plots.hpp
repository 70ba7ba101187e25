// bench_all's plots, drawn with gnuplot (Debian's gnuplot-nox):
// throughput_latency.png (emledger and the baselines) and scale.png (the
// scale curves), with their data files and plots.gp beside them.
#pragma once

#include <filesystem>

#include "emledger/ledger/json.hpp"

namespace emledger::bench::all {

// The plots of the run in DIR, and their paths (none if gnuplot failed: then
// says why, and the data and script stay for a rerun).
ledger::Json plot_all(const std::filesystem::path& dir, const ledger::Json& ingest,
                      const ledger::Json& baselines, const ledger::Json& scale);

}  // namespace emledger::bench::all
