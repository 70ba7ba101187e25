// The scale benchmark's loader: load.hpp.
#include "load.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "../bench_common.hpp"
#include "../bench_run.hpp"

namespace emledger::bench::scale {

using namespace emledger::ledger;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// Signed blocks waiting for the committer: bounds the loader's memory (a
// block of register transactions is about 2.5 MB in memory).
constexpr std::size_t kBatchesAheadMax = 8;
// Every register transaction of one load session expires at its first
// height + kTxLifetimeBlocksMax (the furthest the kernel allows), so a
// session may hold at most this many blocks before its transactions expire.
constexpr std::uint64_t kSessionBlocksMax = kTxLifetimeBlocksMax / 2;
// Views of the blocks a load commits start this far above the head's view:
// above any view the node's vote WAL holds (an idle single validator passes
// one view per timeout, 2 to 60 s), so the node's consensus, anchored at the
// loaded head, never meets its own earlier votes above it.
constexpr std::uint64_t kLoadViewGap = 1'000'000;
constexpr auto kProgressInterval = std::chrono::seconds(5);

// Blocks of signed register transactions, signed by `threads` workers at most
// kBatchesAheadMax blocks ahead of the one taken, handed out in order.
class SignedBlocks {
 public:
  SignedBlocks(const Records& records, std::uint64_t first, std::uint64_t end,
               std::uint64_t expires_at_height, unsigned threads)
      : records_(records),
        first_(first),
        end_(end),
        expires_(expires_at_height),
        blocks_((end - first + kBlockTxsMax - 1) / kBlockTxsMax) {
    for (unsigned t = 0; t < threads; ++t) pool_.emplace_back([this] { work(); });
  }
  ~SignedBlocks() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& th : pool_) th.join();
  }
  SignedBlocks(const SignedBlocks&) = delete;
  SignedBlocks& operator=(const SignedBlocks&) = delete;

  // The next block's transactions in order; nullopt after the last one or
  // once the benchmark is interrupted.
  std::optional<std::vector<Tx>> next() {
    std::unique_lock lock(mu_);
    if (taken_ == blocks_ || g_interrupted.load()) return std::nullopt;
    while (!ready_.contains(taken_)) {
      if (g_interrupted.load()) return std::nullopt;
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    auto node = ready_.extract(taken_);
    ++taken_;
    cv_.notify_all();
    return std::move(node.mapped());
  }

 private:
  void work() {
    for (;;) {
      std::uint64_t k = 0;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] {
          return stop_ || signing_ == blocks_ || signing_ < taken_ + kBatchesAheadMax;
        });
        if (stop_ || signing_ == blocks_) return;
        k = signing_++;
      }
      std::vector<Tx> txs;
      const std::uint64_t lo = first_ + k * kBlockTxsMax;
      const std::uint64_t hi = std::min(end_, lo + kBlockTxsMax);
      txs.reserve(hi - lo);
      for (std::uint64_t n = lo; n < hi; ++n) txs.push_back(records_.make(n, expires_));
      {
        std::lock_guard lock(mu_);
        ready_.emplace(k, std::move(txs));
      }
      cv_.notify_all();
    }
  }

  const Records& records_;
  const std::uint64_t first_, end_, expires_, blocks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::vector<Tx>> ready_;  // guarded by mu_
  std::uint64_t signing_ = 0;                       // guarded by mu_: next block to sign
  std::uint64_t taken_ = 0;                         // guarded by mu_: next block to hand out
  bool stop_ = false;                               // guarded by mu_
  std::vector<std::thread> pool_;
};

// Where a load's wall time went: waiting for signed blocks, Ledger::prepare,
// and waiting for the previous block's Ledger::commit (with its fsync) beyond
// the prepare it overlaps.
struct LoadTimes {
  double wait_s = 0;
  double prepare_s = 0;
  double commit_wait_s = 0;
  std::string line() const {
    return "waiting for signatures " + fixed(wait_s, 1) + " s, prepare " + fixed(prepare_s, 1) +
           " s, waiting for commits " + fixed(commit_wait_s, 1) + " s";
  }
};

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Commits blocks as the node does for blocks its validators finalized: block
// N + 1 is prepared on block N (whose writes it reads as committed) while N's
// synced commit runs on another thread (ADR 008, node/src/validator.cpp); a
// certificate of the validator's own signature makes each final. Not thread
// safe.
class Committer {
 public:
  Committer(Ledger& ledger, const ValidatorKey& v) : ledger_(ledger), v_(v) {}
  ~Committer() { (void)finish(); }
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Prepares a block of every one of `txs` at `view` and starts its commit
  // once the previous block's is done. Errors: LOAD_REJECTED (the kernel
  // refused a transaction: a bug here), the previous commit's, the kernel's.
  Status add(const std::vector<Tx>& txs, std::uint64_t view, LoadTimes& times) {
    const auto t0 = Clock::now();
    const PreparedBlock* parent = pending_ ? &*pending_ : nullptr;
    const std::uint64_t parent_ms = parent ? parent->block.header.time_ms : ledger_.head().time_ms;
    std::vector<TxOutcome> outcomes;
    auto p = ledger_.prepare(txs, std::max(wall_ms(), parent_ms), view, v_.key.public_key(),
                             /*signatures_checked=*/true, outcomes, parent);
    const auto t1 = Clock::now();
    times.prepare_s += std::chrono::duration<double>(t1 - t0).count();
    Status previous = finish();
    times.commit_wait_s += seconds_since(t1);
    EMLEDGER_TRY(previous);
    if (!p) return p.status();
    for (const auto& o : outcomes)
      if (!o.status.is_ok())
        return Status::error("LOAD_REJECTED",
                             "the kernel refused a load transaction: " + o.status.to_string());
    EMLEDGER_ASSERT(p->block.txs.size() == txs.size());
    pending_.emplace(std::move(*p));
    Certificate cert;
    sign_certificate(ledger_.genesis(), pending_->block.header, v_.index, v_.key, cert);
    commit_ = std::async(std::launch::async, [this, cert = std::move(cert)] {
      return ledger_.commit(*pending_, cert);
    });
    return Status::ok();
  }
  // Waits for the last block's commit.
  Status finish() { return commit_.valid() ? commit_.get() : Status::ok(); }

 private:
  Ledger& ledger_;
  const ValidatorKey& v_;
  std::optional<PreparedBlock> pending_;  // the block committing or last committed
  std::future<Status> commit_;            // its commit, until finish()
};
}  // namespace

// Commits records [records.count(), target) into the ledger at `db_dir`
// (the node stopped), printing progress to stderr. Errors: INTERRUPTED, and
// the kernel's and storage's.
Status load_records(Records& records, const ValidatorKey& v, const fs::path& db_dir,
                    std::uint64_t target, const LedgerOptions& lo, bool full_compaction,
                    double& compaction_s) {
  std::error_code ec;
  fs::create_directories(db_dir, ec);
  if (ec)
    return Status::error("IO_ERROR", "cannot create " + db_dir.string() + ": " + ec.message());
  auto store = open_leveldb(db_dir.string());
  if (!store) return store.status();
  auto opened = Ledger::open(std::move(*store), records.genesis(), lo);
  if (!opened) return opened.status();
  Ledger& ledger = **opened;
  const std::uint64_t start = records.count();
  const auto t0 = Clock::now();
  auto shown_at = t0;
  std::uint64_t shown_n = start;
  LoadTimes times;
  while (records.count() < target) {
    const ChainHead head = ledger.head();
    std::uint64_t view = kLoadViewGap;
    if (head.height > 0) {
      auto h = ledger.header(head.height);
      if (!h) return h.status();
      if (!h->has_value()) return Status::error("STORAGE_CORRUPT", "no header at the head");
      view += (*h)->view;
    }
    const std::uint64_t first = records.count();
    const std::uint64_t end = std::min(target, first + kSessionBlocksMax * kBlockTxsMax);
    const std::uint64_t expires = head.height + kTxLifetimeBlocksMax;
    SignedBlocks blocks(records, first, end, expires, cores());
    Committer committer(ledger, v);
    std::uint64_t n = first;
    for (;;) {
      const auto w0 = Clock::now();
      auto txs = blocks.next();
      times.wait_s += seconds_since(w0);
      if (!txs) break;
      EMLEDGER_TRY(committer.add(*txs, view++, times));
      n += txs->size();
      if (Clock::now() - shown_at >= kProgressInterval) {
        const double rate = static_cast<double>(n - shown_n) / seconds_since(shown_at);
        std::fprintf(stderr, "  load: %llu / %llu records, %.0f records/s, %.0f s (%s)\n",
                     static_cast<unsigned long long>(n), static_cast<unsigned long long>(target),
                     rate, seconds_since(t0), times.line().c_str());
        shown_at = Clock::now();
        shown_n = n;
      }
    }
    EMLEDGER_TRY(committer.finish());
    if (g_interrupted.load()) return Status::error("INTERRUPTED", "interrupted");
    EMLEDGER_ASSERT(n == end);
    records.add_session(first, end, expires);
  }
  std::fprintf(stderr, "  load: %llu records in %.1f s (%.0f records/s; %s)\n",
               static_cast<unsigned long long>(target - start), seconds_since(t0),
               static_cast<double>(target - start) / std::max(1e-9, seconds_since(t0)),
               times.line().c_str());
  compaction_s = 0;
  if (full_compaction) {
    const auto c0 = Clock::now();
    EMLEDGER_TRY(ledger.store().compact());
    compaction_s = seconds_since(c0);
    std::fprintf(stderr, "  full compaction: %.1f s\n", compaction_s);
  }
  return Status::ok();
}

}  // namespace emledger::bench::scale
