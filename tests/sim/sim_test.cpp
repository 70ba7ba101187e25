// The simulator's test cases (docs/simulation.md): the CI seed sweep, the
// negative controls, and replay of one seed.
//
// Environment:
//   EMLEDGER_SIM_SEEDS=N    seeds in the sweep (default 2000); soak: 100000
//   EMLEDGER_SIM_FIRST=S    first seed of the sweep (default 1)
//   EMLEDGER_SIM_SEED=S     run only seed S, verbosely (replay a failure)
//   EMLEDGER_SIM_TRACE=1    with EMLEDGER_SIM_SEED: every event to stderr
//   EMLEDGER_SIM_THREADS=T  worker threads (default 2); results do not depend on it
#include "sim.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "fault_fs.hpp"

using namespace emledger::consensus::sim;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// Runs seeds first .. first + count - 1 on `threads` workers. Each seed is
// independent, so the results are those of running them one by one.
std::vector<RunResult> run_many(std::uint64_t first, std::uint64_t count, Control control,
                                std::uint64_t threads) {
  std::vector<RunResult> results(count);
  std::atomic<std::uint64_t> next{0};
  auto work = [&] {
    for (std::uint64_t i = next++; i < count; i = next++) results[i] = run_seed(first + i, control);
  };
  std::vector<std::thread> pool;
  for (std::uint64_t t = 1; t < std::max<std::uint64_t>(threads, 1); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return results;
}

void print_run(const RunResult& r) {
  std::printf("seed %llu: %s\n", static_cast<unsigned long long>(r.seed), r.describe.c_str());
  std::printf(
      "  events %llu, ended at %llu ms (healed at %llu ms), lowest honest height %llu, "
      "trace %016llx\n",
      static_cast<unsigned long long>(r.events), static_cast<unsigned long long>(r.end_ms),
      static_cast<unsigned long long>(r.heal_ms), static_cast<unsigned long long>(r.finalized_min),
      static_cast<unsigned long long>(r.trace));
  for (const auto& v : r.violations)
    std::printf("  VIOLATION at %llu ms: %s: %s\n", static_cast<unsigned long long>(v.at_ms),
                invariant_name(v.invariant), v.what.c_str());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("sim: every seed holds every invariant, and makes progress once faults heal") {
  const std::uint64_t threads = env_u64("EMLEDGER_SIM_THREADS", 2);
  if (std::getenv("EMLEDGER_SIM_SEED") != nullptr) {
    const RunResult r = run_seed(env_u64("EMLEDGER_SIM_SEED", 1), Control::kNone,
                                 env_u64("EMLEDGER_SIM_TRACE", 0) != 0);
    print_run(r);
    for (std::size_t k = 0; k < kFaultKinds; ++k)
      if (r.faults[k] != 0)
        std::printf("  %-28s %llu\n", fault_name(static_cast<Fault>(k)),
                    static_cast<unsigned long long>(r.faults[k]));
    CHECK(r.violations.empty());
    return;
  }
  const std::uint64_t first = env_u64("EMLEDGER_SIM_FIRST", 1);
  const std::uint64_t count = env_u64("EMLEDGER_SIM_SEEDS", 2000);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<RunResult> results = run_many(first, count, Control::kNone, threads);
  const double took = seconds_since(t0);

  std::array<std::uint64_t, kFaultKinds> faults{};
  std::array<std::uint64_t, kInvariantKinds> violated{};
  std::array<std::uint64_t, kFsOps> crash_ops{};
  std::array<std::uint64_t, kFsOps> compaction_crash_ops{};
  std::uint64_t real = 0, byz_seeds = 0, small_wal = 0, events = 0, failed = 0;
  std::map<std::size_t, std::uint64_t> sizes;
  for (const RunResult& r : results) {
    for (std::size_t k = 0; k < kFaultKinds; ++k) faults[k] += r.faults[k];
    for (std::size_t k = 0; k < kFsOps; ++k) crash_ops[k] += r.crashes_at_op[k];
    for (std::size_t k = 0; k < kFsOps; ++k)
      compaction_crash_ops[k] += r.crashes_in_compaction_at_op[k];
    for (const auto& v : r.violations) ++violated[static_cast<std::size_t>(v.invariant)];
    real += r.real_signatures ? 1 : 0;
    byz_seeds += r.byzantine > 0 ? 1 : 0;
    small_wal += r.small_wal ? 1 : 0;
    events += r.events;
    ++sizes[r.n];
    if (!r.violations.empty()) {
      if (++failed <= 10) print_run(r);
    }
  }
  std::printf("== simulation: %llu seeds (%llu..%llu) in %.1f s on %llu threads, %llu events\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + count - 1), took,
              static_cast<unsigned long long>(threads), static_cast<unsigned long long>(events));
  std::printf("   sizes:");
  for (const auto& [n, c] : sizes)
    std::printf(" n=%zu:%llu", n, static_cast<unsigned long long>(c));
  std::printf("\n   seeds with real Ed25519 verification: %llu; with Byzantine validators: %llu",
              static_cast<unsigned long long>(real), static_cast<unsigned long long>(byz_seeds));
  std::printf("; with small WALs: %llu\n", static_cast<unsigned long long>(small_wal));
  std::vector<const RunResult*> heavy;
  for (const RunResult& r : results) heavy.push_back(&r);
  std::sort(heavy.begin(), heavy.end(),
            [](const RunResult* a, const RunResult* b) { return a->events > b->events; });
  std::printf("   most events:");
  for (std::size_t i = 0; i < std::min<std::size_t>(5, heavy.size()); ++i)
    std::printf(" seed %llu (%llu)", static_cast<unsigned long long>(heavy[i]->seed),
                static_cast<unsigned long long>(heavy[i]->events));
  std::printf("\n   faults injected:\n");
  for (std::size_t k = 0; k < kFaultKinds; ++k)
    std::printf("     %-28s %llu\n", fault_name(static_cast<Fault>(k)),
                static_cast<unsigned long long>(faults[k]));
  std::printf("   crashes at a file-system operation, by operation:");
  for (std::size_t k = 0; k < kFsOps; ++k)
    std::printf(" %s %llu", fs_op_name(static_cast<FsOp>(k)),
                static_cast<unsigned long long>(crash_ops[k]));
  std::printf("\n   of those inside a WAL compaction:");
  for (std::size_t k = 0; k < kFsOps; ++k)
    if (compaction_crash_ops[k] != 0)
      std::printf(" %s %llu", fs_op_name(static_cast<FsOp>(k)),
                  static_cast<unsigned long long>(compaction_crash_ops[k]));
  std::printf("\n");
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < kInvariantKinds; ++k) {
    total += violated[k];
    if (violated[k] != 0)
      std::printf("   violations of %s: %llu\n", invariant_name(static_cast<Invariant>(k)),
                  static_cast<unsigned long long>(violated[k]));
  }
  std::printf("   invariant violations: %llu (seeds failing: %llu)\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(failed));
  CHECK(total == 0);
  // Every kind of fault was exercised somewhere in a full sweep, and crashes
  // hit every persistence boundary of the WAL: its creation, its header's
  // sync and the directory's, each append and each sync of an append, each
  // step of a compaction, and the removal of a rewrite file left behind.
  if (count >= 2000) {
    for (std::size_t k = 0; k < kFaultKinds; ++k) {
      CAPTURE(std::string(fault_name(static_cast<Fault>(k))));
      CHECK(faults[k] > 0);
    }
    for (FsOp op :
         {FsOp::kCreate, FsOp::kOpen, FsOp::kRead, FsOp::kAppend, FsOp::kSync, FsOp::kSyncDir}) {
      CAPTURE(std::string(fs_op_name(op)));
      CHECK(crash_ops[static_cast<std::size_t>(op)] > 0);
    }
    CHECK(crash_ops[static_cast<std::size_t>(FsOp::kRemove)] > 0);
    for (FsOp op : {FsOp::kCreate, FsOp::kAppend, FsOp::kSync, FsOp::kRename, FsOp::kSyncDir}) {
      CAPTURE("in a compaction: " + std::string(fs_op_name(op)));
      CHECK(compaction_crash_ops[static_cast<std::size_t>(op)] > 0);
    }
  }
}

TEST_CASE("sim: the negative controls are caught by the checker") {
  struct Case {
    Control control;
    const char* name;
    std::vector<Invariant> expect;  // any of these counts as caught
  };
  const Case cases[] = {
      {Control::kTooManyByzantine,
       "f+1 Byzantine validators",
       {Invariant::kOneNotarization, Invariant::kOneFinalization, Invariant::kPrefix}},
      {Control::kNoFsync, "fsync disabled", {Invariant::kHonestConflict}},
      {Control::kNoRuleOne, "one-notarize-per-view rule disabled", {Invariant::kOneNotarization}},
  };
  constexpr std::uint64_t kRuns = 40;
  std::printf("== negative controls (%llu seeds each):\n", static_cast<unsigned long long>(kRuns));
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    const auto results = run_many(1, kRuns, c.control, env_u64("EMLEDGER_SIM_THREADS", 2));
    std::uint64_t caught = 0;
    for (const RunResult& r : results) {
      bool hit = false;
      for (Invariant i : c.expect) hit = hit || r.caught(i);
      caught += hit ? 1 : 0;
    }
    std::printf("   %-40s caught in %llu of %llu\n", c.name,
                static_cast<unsigned long long>(caught), static_cast<unsigned long long>(kRuns));
    CHECK(caught == kRuns);
  }
}

TEST_CASE("sim: a seed replays exactly") {
  for (std::uint64_t seed : {3ull, 32ull, 1234ull}) {  // 32: real Ed25519 and wire encoding
    CAPTURE(seed);
    const RunResult a = run_seed(seed);
    const RunResult b = run_seed(seed);
    CHECK(a.trace == b.trace);
    CHECK(a.events == b.events);
    CHECK(a.end_ms == b.end_ms);
    CHECK(a.faults == b.faults);
    CHECK(a.describe == b.describe);
    // And a different seed is a different run.
    CHECK(run_seed(seed + 1).trace != a.trace);
  }
}
