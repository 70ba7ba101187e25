// Restart benchmark: the worst case of opening a ledger, which is LevelDB
// replaying a write-ahead log that holds a full memtable (the store's shipped
// options, ledger/src/leveldb_store.cpp), beside the same open with an empty
// log, in the same run.
//
//   ./build/benchmarks/restart_bench [--block-txs M] [--fill PERCENT]
//
// A node stopped by SIGKILL, or by SIGTERM (LevelDB does not flush its
// memtable on close), replays on its next start every block committed since
// the last memtable flush. The scale benchmark's restarts follow a bulk load
// whose log is nearly empty; this one commits register blocks until the log
// holds PERCENT of what the previous log held when LevelDB switched to a new
// one (the memtable's capacity in log bytes), closes the ledger as a crash
// would leave it, and times Ledger::open on it (the node's own open path, less
// its HTTP listener). Then, the log having been replayed into a table, it
// times a second open, whose log is empty.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_txs.hpp"
#include "emledger/ledger/ledger.hpp"

using namespace emledger;
using namespace emledger::ledger;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// The write-ahead log LevelDB writes to now: the *.log file with the highest
// number. Returns its number and size, or {0, 0} when there is none.
struct LogFile {
  std::uint64_t number = 0;
  std::uint64_t bytes = 0;
};

LogFile current_log(const fs::path& dir) {
  LogFile last;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".log" || name == "LOG") continue;
    const std::uint64_t number = std::stoull(e.path().stem().string());
    if (number >= last.number) last = {number, e.file_size()};
  }
  return last;
}

// Opens the ledger in `dir` as a node does and returns the seconds it took.
Result<double> timed_open(const fs::path& dir, const Genesis& genesis,
                          std::unique_ptr<Ledger>& out) {
  const auto t0 = Clock::now();
  auto store = open_leveldb(dir.string());
  if (!store) return store.status();
  auto ledger = Ledger::open(std::move(*store), genesis, LedgerOptions{});
  if (!ledger) return ledger.status();
  (void)(*ledger)->head();  // the node reads it before it answers
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  out = std::move(*ledger);
  return s;
}

int usage() {
  std::fprintf(stderr, "usage: restart_bench [--block-txs M] [--fill PERCENT (1..99)]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t block_txs = 2000;
  std::uint64_t fill_percent = 95;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return usage();
    if (k == "--block-txs")
      block_txs = std::stoul(argv[i + 1]);
    else if (k == "--fill")
      fill_percent = std::stoull(argv[i + 1]);
    else
      return usage();
  }
  if (block_txs == 0 || fill_percent < 1 || fill_percent > 99) return usage();

  const fs::path dir =
      fs::temp_directory_path() / ("emledger-restart-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const bench::OneValidatorChain chain = bench::one_validator_chain();
  std::unique_ptr<Ledger> ledger;
  if (auto first = timed_open(dir, chain.genesis, ledger); !first) {
    std::fprintf(stderr, "%s\n", first.status().to_string().c_str());
    return 3;
  }

  // Commit blocks until LevelDB has switched logs once (the log it left holds
  // a full memtable), then until the new log holds fill_percent of that.
  std::uint64_t n = 0, height = 0, full_log_bytes = 0;
  constexpr std::uint64_t kBlocksMax = 100'000;
  for (;;) {
    if (height == kBlocksMax) {
      std::fprintf(stderr, "no log switch after %llu blocks\n",
                   static_cast<unsigned long long>(height));
      return 4;
    }
    const LogFile before = current_log(dir);
    std::vector<Tx> txs;
    txs.reserve(block_txs);
    for (std::size_t i = 0; i < block_txs; ++i, ++n)
      txs.push_back(bench::register_tx(n, "bench", "a.issuer", chain.issuer, 1000));
    std::vector<TxOutcome> outcomes;
    ++height;
    auto p =
        ledger->prepare(txs, 1000 + height, height, chain.validator.public_key(), true, outcomes);
    if (!p) {
      std::fprintf(stderr, "prepare: %s\n", p.status().to_string().c_str());
      return 4;
    }
    Certificate cert;
    sign_certificate(chain.genesis, p->block.header, 0, chain.validator, cert);
    if (auto s = ledger->commit(*p, cert); !s.is_ok()) {
      std::fprintf(stderr, "commit: %s\n", s.to_string().c_str());
      return 4;
    }
    const LogFile after = current_log(dir);
    // LevelDB switches logs before writing the batch that finds the memtable
    // full, so the log it left ended at its size before this commit.
    if (full_log_bytes == 0 && after.number != before.number) full_log_bytes = before.bytes;
    if (full_log_bytes > 0 && after.bytes * 100 >= full_log_bytes * fill_percent) break;
  }
  const std::uint64_t replayed = current_log(dir).bytes;
  ledger.reset();  // closes LevelDB without flushing its memtable, as a crash leaves it

  std::unique_ptr<Ledger> reopened;
  auto full = timed_open(dir, chain.genesis, reopened);
  if (!full) {
    std::fprintf(stderr, "reopen: %s\n", full.status().to_string().c_str());
    return 5;
  }
  if (reopened->head().height != height) {
    std::fprintf(stderr, "reopen: the head is not the last committed block\n");
    return 5;
  }
  reopened.reset();
  auto empty = timed_open(dir, chain.genesis, reopened);
  if (!empty) {
    std::fprintf(stderr, "reopen: %s\n", empty.status().to_string().c_str());
    return 5;
  }
  reopened.reset();

  std::printf("%-56s %12.1f\n", "log bytes of a full memtable, MiB",
              static_cast<double>(full_log_bytes) / (1 << 20));
  std::printf("%-56s %12.1f\n", "log bytes replayed, MiB",
              static_cast<double>(replayed) / (1 << 20));
  std::printf("%-56s %12.3f\n", "open with that log, s (worst-case restart)", *full);
  std::printf("%-56s %12.3f\n", "open with an empty log, s", *empty);
  std::printf("%-56s %12.1f\n", "ratio full / empty", *full / std::max(*empty, 1e-6));
  std::printf(
      "setup: %llu register txs in blocks of %zu, shipped LevelDB options, one core for "
      "the open\n",
      static_cast<unsigned long long>(n), block_txs);
  fs::remove_all(dir);
  return 0;
}
