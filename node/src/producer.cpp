#include "producer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace emledger::node {

std::uint64_t system_clock_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

Producer::Producer(ledger::Ledger& ledger, Mempool& mempool, const crypto::KeyPair& key,
                   std::uint16_t validator_index, Clock clock)
    : ledger_(ledger),
      mempool_(mempool),
      key_(key),
      validator_index_(validator_index),
      clock_(std::move(clock)) {
  const auto& validators = ledger_.genesis().validators;
  EMLEDGER_ASSERT(validator_index_ < validators.size());
  EMLEDGER_ASSERT(validators[validator_index_].public_key == key_.public_key());
}

Producer::~Producer() { stop(); }

void Producer::start() {
  EMLEDGER_ASSERT(!thread_.joinable());
  thread_ = std::thread([this] { run(); });
}

void Producer::stop() {
  if (thread_.joinable()) thread_.join();
}

void Producer::run() {
  for (;;) {
    auto batch = mempool_.take(ledger::kBlockTxsMax);
    if (batch.empty()) return;  // closed
    produce(std::move(batch));
  }
}

void Producer::produce(std::vector<Candidate> candidates) {
  EMLEDGER_ASSERT(!candidates.empty() && candidates.size() <= ledger::kBlockTxsMax);
  const ledger::ChainHead head = ledger_.head();
  // Block time never goes backwards, even if the wall clock does.
  const std::uint64_t time_ms = std::max(clock_(), head.time_ms);
  // One view per height: with a single validator no view is ever skipped.
  const std::uint64_t view = head.height + 1;

  std::vector<ledger::Tx> txs;
  txs.reserve(candidates.size());
  for (auto& c : candidates) txs.push_back(std::move(c.tx));
  std::vector<ledger::TxOutcome> outcomes;
  auto prepared = ledger_.prepare(txs, time_ms, view, key_.public_key(),
                                  /*signatures_checked=*/true, outcomes);

  std::vector<TxResult> results(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) results[i].id = candidates[i].id;

  if (!prepared.is_ok()) {
    std::fprintf(stderr, "emledger-node: block execution failed: %s\n",
                 prepared.status().to_string().c_str());
    for (auto& r : results) r.status = prepared.status();
    mempool_.complete(results);
    return;
  }
  EMLEDGER_ASSERT(outcomes.size() == candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    EMLEDGER_ASSERT(outcomes[i].id == candidates[i].id);
    results[i].status = outcomes[i].status;
  }

  const auto& ids = prepared->tx_ids;
  if (!ids.empty()) {
    const ledger::BlockHeader& header = prepared->block.header;
    EMLEDGER_ASSERT(header.height == head.height + 1);
    EMLEDGER_ASSERT(prepared->new_head.log_size == head.log_size + ids.size());
    ledger::Certificate cert;
    cert.height = header.height;
    cert.view = header.view;
    cert.header_hash = header.hash();
    ledger::sign_certificate(ledger_.genesis(), header, validator_index_, key_, cert);
    Status st = ledger_.commit(*prepared, cert);
    if (!st.is_ok()) {
      std::fprintf(stderr, "emledger-node: commit of block %llu failed: %s\n",
                   static_cast<unsigned long long>(header.height), st.to_string().c_str());
    }
    // Log positions follow the order of the block's transactions.
    std::unordered_map<Hash, std::uint64_t, HashHasher> position;
    for (std::size_t k = 0; k < ids.size(); ++k) position[ids[k]] = head.log_size + k;
    for (auto& r : results) {
      if (!r.status.is_ok()) continue;
      auto it = position.find(r.id);
      EMLEDGER_ASSERT(it != position.end());
      if (!st.is_ok()) {
        r.status = st;
        continue;
      }
      r.height = header.height;
      r.log_index = it->second;
    }
    if (st.is_ok()) blocks_committed_.fetch_add(1);
  } else {
    for (const auto& r : results) EMLEDGER_ASSERT(!r.status.is_ok());
  }
  mempool_.complete(results);
}

}  // namespace emledger::node
