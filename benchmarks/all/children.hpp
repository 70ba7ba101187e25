// How bench_all runs the other benchmarks: as child processes of this build,
// each writing its figures to a JSON file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "emledger/ledger/json.hpp"

namespace emledger::bench::all {

// One benchmark run as a child (ingest_bench, baseline_bench, scale_bench).
struct ChildRun {
  std::string name;
  std::vector<std::string> argv;
  std::optional<int> exit_code;  // nullopt: not run
  std::string note;              // why it did not run, or how it failed
  ledger::Json json;             // its --json output, or null
  double seconds = 0;
};

// Runs argv (argv[0] a path) with this process's stdout and stderr, in a
// process group of its own (a terminal's Ctrl-C reaches only this driver,
// which then stops the child once, with SIGTERM, so that it stops its own
// servers), with SIGTERM as its parent-death signal. Returns its exit status
// (128 + signal if killed); -1 if it could not be started. With `log`, the
// child's stdout and stderr go to that file instead.
int run_child(const std::vector<std::string>& argv, const std::filesystem::path& log = {});

// Runs c.argv with --json JSON_PATH added and fills in c: its exit code, its
// JSON, and a note when it was not built or failed.
void run_part(ChildRun& c, const std::filesystem::path& json_path);

}  // namespace emledger::bench::all
