// The single benchmark driver of issue 5: one command, one run on this
// machine, one table and one JSON file (docs/benchmarks.md).
//
//   ./build/benchmarks/bench_all [--json FILE] [--skip ingest,baselines,scale]
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
//    3.4), scale_bench (proofs and 10^5..10^7 records; skipped with a note if
//    it is not built).
// 3. One table of every figure with its unit, setup, and, where issue 5 sets a
//    target, the ratio, the target and PASS or MISS; FILE (default
//    bench-results/results.json) with all of it and the children's JSON; and,
//    with gnuplot, throughput_latency.png and scale.png beside FILE.
//
// Exit status: 0 every part ran, 1 a part reported failed transactions or
// did not run, 2 bad usage, 3 an error, 130 interrupted.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "bench_run.hpp"
#include "bench_txs.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/ledger.hpp"

using namespace emledger;
using ledger::Json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using bench::fixed;
using bench::g_interrupted;

namespace {

constexpr double kEd25519Seconds = 3.0;
// Seconds of synced writes per LevelDB figure (time inside the write only).
constexpr double kLevelDbBlockSeconds = 3.0;
constexpr double kLevelDbSingleSeconds = 2.0;
// The block whose writes the LevelDB ceiling repeats: ingest_bench's default
// batch, after a few blocks so that the state tree has some depth.
constexpr std::size_t kBlockTxs = 1000;
constexpr std::size_t kWarmBlocks = 3;
constexpr std::size_t kSingleWriteBytes = 311;  // one register transaction
// Issue 5's targets.
constexpr double kOneNodeShareMin = 0.6;     // of the all-core Ed25519 rate
constexpr double kValidatorsShareMin = 0.5;  // of (Ed25519 rate / validators)
constexpr double kFinalityP99MaxMs = 1000;   // 4 validators, at half load
constexpr double kOverPostgresMin = 1.0;     // 1 node / PostgreSQL verified
constexpr double kStateProofP99MaxMs = 2.0;  // at 10M records
constexpr double kBundleVerifyMinPerS = 5000;
constexpr double kBytesPerRecordMax = 1024;
constexpr double kRestartMaxS = 3.0;
constexpr std::uint64_t kScaleTargetRecords = 10'000'000;
constexpr auto kChildPoll = std::chrono::milliseconds(100);
constexpr auto kChildStopGrace = std::chrono::seconds(60);

struct Options {
  std::string json_out = "bench-results/results.json";
  bool run_ingest = true, run_baselines = true, run_scale = true, plots = true;
  std::string node_bin = EMLEDGER_NODE_BIN;
  // Passed through when set.
  std::string txs, validators = "1,4", paced_shares = "0.25,0.5,0.75,0.9", latency_s, rows,
                   etcd_puts, points, scale_dir, state_cache_mib, state_retention_blocks,
                   scale_compaction;
  std::string plot_scale;  // a scale_bench JSON to draw; nothing is run
};

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::cout << "usage: bench_all [--json FILE] [--skip ingest,baselines,scale] [--txs N]\n"
                   "    [--validators LIST] [--paced-shares LIST] [--latency-s S] [--rows N]\n"
                   "    [--etcd-puts N] [--points LIST] [--scale-dir DIR] [--state-cache-mib M]\n"
                   "    [--state-retention-blocks W] [--scale-compaction background|full]\n"
                   "    [--node PATH] [--no-plots]\n"
                   "       bench_all --plot-scale SCALE_JSON [--json FILE]\n"
                   "The benchmark run of issue 5: ceilings, emledger 1 node and 4 validators,\n"
                   "PostgreSQL 15, etcd 3.4, proofs and scale; one table, one JSON, two PNGs\n"
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
      } else if (part == "scale") {
        o.run_scale = false;
      } else {
        std::cerr << "--skip: ingest, baselines, scale (comma-separated)\n";
        return std::nullopt;
      }
    }
  }
  return o;
}

// ---------------------------------------------------------------- ceilings

struct LevelDbCeiling {
  std::size_t block_txs = 0;
  std::size_t block_puts = 0;
  std::size_t block_bytes = 0;  // keys and values
  double block_commits_per_s = 0;
  double single_commits_per_s = 0;
};

struct Ceiling {
  double ed25519_per_s = 0;
  LevelDbCeiling leveldb;
};

// The writes the kernel makes for the (kWarmBlocks + 1)-th block of kBlockTxs
// register transactions, as kernel_bench executes them.
Result<ledger::WriteBatch> block_writes(const fs::path& dir) {
  using namespace emledger::ledger;
  const bench::OneValidatorChain chain = bench::one_validator_chain();
  const crypto::KeyPair& issuer = chain.issuer;
  const crypto::KeyPair& validator = chain.validator;
  const Genesis& g = chain.genesis;
  auto store = open_leveldb(dir.string());
  if (!store) return store.status();
  auto ledger = Ledger::open(std::move(*store), g);
  if (!ledger) return ledger.status();
  std::uint64_t nonce = 0;
  for (std::size_t h = 0;; ++h) {
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < kBlockTxs; ++i)
      txs.push_back(bench::register_tx(nonce++, "bench", "a.issuer", issuer, 1000));
    std::vector<TxOutcome> outcomes;
    auto p = (*ledger)->prepare(txs, 1000 + h, h + 1, validator.public_key(), true, outcomes);
    if (!p) return p.status();
    if (h == kWarmBlocks) return std::move(p->writes);
    Certificate cert;
    sign_certificate(g, p->block.header, 0, validator, cert);
    EMLEDGER_TRY((*ledger)->commit(*p, cert));
  }
}

// Synced commits per second of `make(i)`'s batches into a fresh LevelDB in
// DIR, over `seconds` spent inside the writes (building a batch is not timed).
template <class Make>
Result<double> synced_commits_per_s(const fs::path& dir, double seconds, Make make) {
  auto store = ledger::open_leveldb(dir.string());
  if (!store) return store.status();
  double in_writes_s = 0;
  std::size_t commits = 0;
  while (in_writes_s < seconds && !g_interrupted.load()) {
    const ledger::WriteBatch batch = make(commits);
    const ledger::WriteBatch* batches[] = {&batch};
    const auto t0 = Clock::now();
    EMLEDGER_TRY((*store)->write_all(batches, true));
    in_writes_s += std::chrono::duration<double>(Clock::now() - t0).count();
    ++commits;
  }
  return static_cast<double>(commits) / in_writes_s;
}

// The block's puts with every key made distinct by the commit's number, as a
// real next block's keys are (new log leaves, records, tree nodes).
ledger::WriteBatch renamed(const ledger::WriteBatch& block, std::size_t i) {
  ledger::WriteBatch out;
  out.reserve(block.size());
  Bytes key;
  for (const auto& [k, v] : block.entries()) {
    key.assign(k.begin(), k.end());
    for (int b = 0; b < 8; ++b) key.push_back(static_cast<std::uint8_t>(i >> (8 * b)));
    out.put(key, v);
  }
  return out;
}

Result<LevelDbCeiling> leveldb_ceiling(const fs::path& dir) {
  LevelDbCeiling c;
  auto block = block_writes(dir / "kernel");
  if (!block) return block.status();
  c.block_txs = kBlockTxs;
  c.block_puts = block->size();
  for (const auto& [k, v] : block->entries()) c.block_bytes += k.size() + v.size();
  auto per_s = synced_commits_per_s(dir / "blocks", kLevelDbBlockSeconds,
                                    [&](std::size_t i) { return renamed(*block, i); });
  if (!per_s) return per_s.status();
  c.block_commits_per_s = *per_s;
  const Bytes value(kSingleWriteBytes, 0x5a);
  per_s = synced_commits_per_s(dir / "single", kLevelDbSingleSeconds, [&](std::size_t i) {
    ledger::WriteBatch b;
    Bytes key{'w', '/'};
    for (int s = 56; s >= 0; s -= 8) key.push_back(static_cast<std::uint8_t>(i >> s));
    b.put(key, value);
    return b;
  });
  if (!per_s) return per_s.status();
  c.single_commits_per_s = *per_s;
  return c;
}

Result<Ceiling> measure_ceiling(const fs::path& dir, const char* when) {
  std::cout << "[ceiling, " << when << "] Ed25519 verifications on all cores..." << std::endl;
  Ceiling c;
  c.ed25519_per_s = bench::ed25519_ceiling(kEd25519Seconds);
  std::cout << "[ceiling, " << when << "] LevelDB synced-batch commits..." << std::endl;
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto l = leveldb_ceiling(dir);
  fs::remove_all(dir);
  if (!l) return l.status();
  c.leveldb = *l;
  return c;
}

Json ceiling_json(const Ceiling& c) {
  const auto& l = c.leveldb;
  return {{"ed25519_verify_per_s", c.ed25519_per_s},
          {"leveldb",
           {{"block_txs", l.block_txs},
            {"block_puts", l.block_puts},
            {"block_bytes", l.block_bytes},
            {"block_commits_per_s", l.block_commits_per_s},
            {"block_tx_per_s", l.block_commits_per_s * static_cast<double>(l.block_txs)},
            {"single_write_bytes", kSingleWriteBytes},
            {"single_commits_per_s", l.single_commits_per_s}}}};
}

// ---------------------------------------------------------------- children

struct ChildRun {
  std::string name;
  std::vector<std::string> argv;
  std::optional<int> exit_code;  // nullopt: not run
  std::string note;              // why it did not run, or how it failed
  Json json;                     // its --json output, or null
  double seconds = 0;
};

// Runs argv (argv[0] a path) with this process's stdout and stderr, in a
// process group of its own (a terminal's Ctrl-C reaches only this driver,
// which then stops the child once, with SIGTERM, so that it stops its own
// servers), with SIGTERM as its parent-death signal. Returns its exit status
// (128 + signal if killed); -1 if it could not be started. With `log`, the
// child's stdout and stderr go to that file instead.
int run_child(const std::vector<std::string>& argv, const fs::path& log = {}) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd =
      log.empty() ? -1 : ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!log.empty() && log_fd < 0) return -1;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(125);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  if (log_fd >= 0) ::close(log_fd);
  bool stopping = false;
  auto stop_at = Clock::now();
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 && errno != EINTR) return -1;
    if (g_interrupted.load() && !stopping) {
      stopping = true;
      stop_at = Clock::now();
      ::kill(pid, SIGTERM);
    }
    if (stopping && Clock::now() - stop_at > kChildStopGrace) ::kill(-pid, SIGKILL);
    std::this_thread::sleep_for(kChildPoll);
  }
}

void run_part(ChildRun& c, const fs::path& json_path) {
  if (!fs::exists(c.argv[0])) {
    c.note = c.argv[0] + " is not built";
    std::cout << "[" << c.name << "] skipped: " << c.note << std::endl;
    return;
  }
  fs::remove(json_path);
  c.argv.push_back("--json");
  c.argv.push_back(json_path.string());
  std::cout << "\n[" << c.name << "] running:";
  for (const auto& a : c.argv) std::cout << " " << a;
  std::cout << std::endl;
  const auto t0 = Clock::now();
  c.exit_code = run_child(c.argv);
  c.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::ifstream in(json_path);
  if (in) c.json = Json::parse(in, nullptr, false);
  if (c.json.is_discarded()) c.json = nullptr;
  if (*c.exit_code != 0)
    c.note = "exited with status " + std::to_string(*c.exit_code) +
             (c.json.is_null() ? ", no JSON" : ", JSON written (some loads failed)");
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

double num(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0;
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

void ingest_figures(Table& t, const Json& ingest, const Ceiling& c) {
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
        " clients, ?wait=commit (final and fsynced: one synced LevelDB batch per block); " +
        cores_text() + " shared by load and nodes";
    Figure& f = t.add("emledger", who + ": committed tx/s at saturation",
                      num(s, "committed_tx_per_s"), "tx/s", sat_setup);
    compare(f, c.ed25519_per_s / static_cast<double>(n),
            n == 1 ? "Ed25519 ceiling" : "Ed25519 ceiling / " + std::to_string(n));
    if (n == 1) target_at_least(f, kOneNodeShareMin, true);
    if (n == 4) target_at_least(f, kValidatorsShareMin, true);
    const std::string paced_setup = "batches of " + std::to_string(p.value("batch", 0)) +
                                    " offered on a schedule at " + fixed(100 * num(p, "share"), 0) +
                                    "% of saturation (" + fixed(num(p, "offered_tx_per_s"), 0) +
                                    " tx/s), " + std::to_string(p.value("batches", 0)) +
                                    " batches; post to the ?wait=commit answer";
    t.add("emledger", who + ": finality p50 at half load", num(p, "finality_latency_ms_p50"), "ms",
          paced_setup);
    Figure& p99 = t.add("emledger", who + ": finality p99 at half load",
                        num(p, "finality_latency_ms_p99"), "ms", paced_setup);
    if (n == 4) target_below(p99, kFinalityP99MaxMs);
  }
  const Json one = ingest_mode(ingest, 1);
  if (!one.is_null()) {
    Figure& f = t.add("emledger", "1 node tx/s vs LevelDB-bound tx/s",
                      num(one["saturation"], "committed_tx_per_s"), "tx/s",
                      "same run; how close the node runs to fsync's limit at its block size");
    compare(f, c.leveldb.block_commits_per_s * static_cast<double>(c.leveldb.block_txs),
            "LevelDB-bound tx/s");
  }
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
    Figure& v = t.add("postgresql", "verified rows/s (Ed25519 per row, all cores)",
                      num(pg["verified"], "rows_per_s"), "rows/s", setup);
    compare(v, c.ed25519_per_s, "Ed25519 ceiling");
    t.add("postgresql", "unverified rows/s", num(pg["unverified"], "rows_per_s"), "rows/s", setup);
    t.add("postgresql", "verified batch commit p99 at saturation",
          num(pg["verified"], "batch_ms_p99"), "ms", setup);
    if (one_node > 0) {
      Figure& r = t.add("postgresql", "1 node tx/s vs PostgreSQL verified rows/s", one_node, "tx/s",
                        "both from this run; same transactions, both durable per batch");
      compare(r, num(pg["verified"], "rows_per_s"), "PostgreSQL verified rows/s");
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

// ---------------------------------------------------------------- plots

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
    const Json& v = pg["verified"];
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
    out << "# records lookup_p99_ms state_proof_p99_ms verify_p99_ms bytes_per_record "
           "restart_sigkill_s restart_sigterm_s\n";
    for (const auto& p : scale["points"]) {
      const auto p99 = [&](const char* k) { return p.contains(k) ? num(p[k], "p99") : 0.0; };
      const Json restart = p.value("restart_s", Json::object());
      const auto records = p.value("records", std::uint64_t{0});
      pf.records_min = pf.records_min == 0 ? records : std::min(pf.records_min, records);
      pf.records_max = std::max(pf.records_max, records);
      out << records << " " << p99("lookup_ms") << " " << p99("state_proof_ms") << " "
          << p99("verify_ms") << " " << num(p, "bytes_per_record") << " " << num(restart, "sigkill")
          << " " << num(restart, "sigterm") << "\n";
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
       << "plot " << d << " using 1:3 with linespoints lw 2 pt 7 title 'state proof', " << d
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
          {"kernel", std::string(u.sysname) + " " + u.release}};
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
  ingest_figures(table, child("ingest"), best);
  baseline_figures(table, child("baselines"), child("ingest"), best);
  scale_figures(table, child("scale"));
  print_table(table, parts);

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
