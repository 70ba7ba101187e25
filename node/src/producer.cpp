#include "producer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>

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
  std::optional<Staged> in_flight;
  std::future<Status> commit;
  for (;;) {
    // With a block syncing, never block here: its waiters must be told.
    auto batch = in_flight ? mempool_.try_take(ledger::kBlockTxsMax)
                           : mempool_.take(ledger::kBlockTxsMax);
    if (batch.empty()) {
      if (!in_flight) return;  // closed and drained
      finish(*in_flight, commit.get());
      in_flight.reset();
      continue;
    }
    Staged next = stage(std::move(batch), in_flight ? &*in_flight->prepared : nullptr);
    if (in_flight) {
      Status st = commit.get();
      finish(*in_flight, st);
      in_flight.reset();
      if (!st.is_ok()) {  // `next` was built on a block that is not on disk
        next.prepared.reset();
        for (auto& r : next.results)
          if (r.status.is_ok()) r.status = st;
      }
    }
    if (!next.prepared) {
      finish(next, Status::ok());
      continue;
    }
    in_flight.emplace(std::move(next));
    Staged& s = *in_flight;
    commit = std::async(std::launch::async,
                        [this, &s] { return ledger_.commit(*s.prepared, s.cert); });
  }
}

void Producer::produce(std::vector<Candidate> candidates) {
  Staged s = stage(std::move(candidates), nullptr);
  Status st = s.prepared ? ledger_.commit(*s.prepared, s.cert) : Status::ok();
  finish(s, st);
}

Producer::Staged Producer::stage(std::vector<Candidate> candidates,
                                 const ledger::PreparedBlock* parent) {
  EMLEDGER_ASSERT(!candidates.empty() && candidates.size() <= ledger::kBlockTxsMax);
  const ledger::ChainHead head = parent ? parent->new_head : ledger_.head();
  // Block time never goes backwards, even if the wall clock does.
  const std::uint64_t time_ms = std::max(clock_(), head.time_ms);
  // One view per height: with a single validator no view is ever skipped.
  const std::uint64_t view = head.height + 1;

  Staged s;
  s.base_log_size = head.log_size;
  s.results.resize(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) s.results[i].id = candidates[i].id;
  std::vector<ledger::Tx> txs;
  txs.reserve(candidates.size());
  for (auto& c : candidates) txs.push_back(std::move(c.tx));
  std::vector<ledger::TxOutcome> outcomes;
  auto prepared = ledger_.prepare(txs, time_ms, view, key_.public_key(),
                                  /*signatures_checked=*/true, outcomes, parent);
  if (!prepared.is_ok()) {
    std::fprintf(stderr, "emledger-node: block execution failed: %s\n",
                 prepared.status().to_string().c_str());
    for (auto& r : s.results) r.status = prepared.status();
    return s;
  }
  EMLEDGER_ASSERT(outcomes.size() == candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    EMLEDGER_ASSERT(outcomes[i].id == s.results[i].id);
    s.results[i].status = outcomes[i].status;
  }
  if (prepared->tx_ids.empty()) {
    for (const auto& r : s.results) EMLEDGER_ASSERT(!r.status.is_ok());
    return s;
  }
  const ledger::BlockHeader& header = prepared->block.header;
  EMLEDGER_ASSERT(header.height == head.height + 1);
  EMLEDGER_ASSERT(prepared->new_head.log_size == head.log_size + prepared->tx_ids.size());
  ledger::sign_certificate(ledger_.genesis(), header, validator_index_, key_, s.cert);
  s.prepared.emplace(std::move(*prepared));
  return s;
}

void Producer::finish(Staged& s, const Status& st) {
  if (s.prepared) {
    const auto& header = s.prepared->block.header;
    if (!st.is_ok())
      std::fprintf(stderr, "emledger-node: commit of block %llu failed: %s\n",
                   static_cast<unsigned long long>(header.height), st.to_string().c_str());
    // Log positions follow the order of the block's transactions.
    const auto& ids = s.prepared->tx_ids;
    std::unordered_map<Hash, std::uint64_t, HashHasher> position;
    for (std::size_t k = 0; k < ids.size(); ++k) position[ids[k]] = s.base_log_size + k;
    for (auto& r : s.results) {
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
  }
  mempool_.complete(s.results);
}

}  // namespace emledger::node
