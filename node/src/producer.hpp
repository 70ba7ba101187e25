// The block producer: one thread that turns pending transactions into
// committed blocks (n = 1: this node is the only validator, so it proposes,
// certifies and commits alone).
//
// Group commit: while one block executes and syncs, new transactions gather in
// the mempool; the next take() picks all of them (up to kBlockTxsMax). No block
// is made without a transaction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
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
