// The block producer: one thread that turns pending transactions into
// committed blocks (n = 1: this node is the only validator, so it proposes,
// certifies and commits alone).
//
// Group commit: while one block executes and syncs, new transactions gather in
// the mempool; the next take() picks all of them (up to kBlockTxsMax). No block
// is made without a transaction.
//
// Pipeline: block N+1 executes (on top of N's pending writes) while block N's
// synced write runs on a second thread. Waiters of N are told only after N is
// durable; if N's commit fails, N+1 is discarded and its transactions fail
// with N's error, so nothing is acknowledged that is not on disk.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <thread>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/ledger.hpp"
#include "mempool.hpp"

namespace emledger::node {

// Wall-clock milliseconds since the Unix epoch. The kernel has no clock; the
// node passes time in, and tests pass their own.
using Clock = std::function<std::uint64_t()>;
std::uint64_t system_clock_ms();

class Producer {
 public:
  // `validator_index` is this key's index in the genesis validator set.
  Producer(ledger::Ledger& ledger, Mempool& mempool, const crypto::KeyPair& key,
           std::uint16_t validator_index, Clock clock = system_clock_ms);
  ~Producer();  // stop()s

  void start();
  // Returns once the block in flight (if any) is committed and its waiters
  // told. The mempool must have been close()d first, or stop() waits for it.
  void stop();

  // Executes, certifies and commits one block from `candidates` (all already
  // in flight in the mempool), then completes them. Public for tests.
  void produce(std::vector<Candidate> candidates);

  std::uint64_t blocks_committed() const { return blocks_committed_.load(); }

 private:
  // A block executed and certified, with the fate of each candidate.
  struct Staged {
    std::optional<ledger::PreparedBlock> prepared;  // none: nothing to commit
    ledger::Certificate cert;
    std::vector<TxResult> results;
    std::uint64_t base_log_size = 0;
  };
  Staged stage(std::vector<Candidate> candidates, const ledger::PreparedBlock* parent);
  // Completes `s` after its commit returned `st` (OK when nothing was committed).
  void finish(Staged& s, const Status& st);
  void run();

  ledger::Ledger& ledger_;
  Mempool& mempool_;
  crypto::KeyPair key_;
  std::uint16_t validator_index_;
  Clock clock_;
  std::thread thread_;
  std::atomic<std::uint64_t> blocks_committed_{0};
};

}  // namespace emledger::node
