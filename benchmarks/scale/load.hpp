// The scale benchmark's loader (scale_bench.cpp, step 1): the register
// records a run has put on its chain, and committing more of them through the
// kernel with the node stopped, as the node commits finalized blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "../bench_txs.hpp"
#include "../network_setup.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/ledger.hpp"

namespace emledger::bench::scale {

// Record n is bench::register_tx(n, ...) with the expiry height of the load
// session that committed it; sessions are kept so that any loaded record's
// transaction (and so its id and record id) can be rebuilt: Ed25519
// signatures are deterministic.
class Records {
 public:
  Records(const ledger::Genesis& g, const crypto::KeyPair& issuer) : genesis_(g), issuer_(issuer) {}

  ledger::Tx tx(std::uint64_t n) const {
    auto it = std::upper_bound(sessions_.begin(), sessions_.end(), n,
                               [](std::uint64_t v, const Session& s) { return v < s.end; });
    EMLEDGER_ASSERT(it != sessions_.end() && n >= it->first);
    return make(n, it->expires_at_height);
  }
  ledger::Tx make(std::uint64_t n, std::uint64_t expires_at_height) const {
    return bench::register_tx(n, genesis_.chain_id, bench::kBenchIssuerOrg, issuer_,
                              expires_at_height);
  }
  void add_session(std::uint64_t first, std::uint64_t end, std::uint64_t expires_at_height) {
    EMLEDGER_ASSERT(first == count() && end > first);
    sessions_.push_back(Session{first, end, expires_at_height});
  }
  std::uint64_t count() const { return sessions_.empty() ? 0 : sessions_.back().end; }
  const ledger::Genesis& genesis() const { return genesis_; }

 private:
  struct Session {
    std::uint64_t first = 0;
    std::uint64_t end = 0;  // exclusive
    std::uint64_t expires_at_height = 0;
  };
  const ledger::Genesis& genesis_;
  const crypto::KeyPair& issuer_;
  std::vector<Session> sessions_;  // consecutive, in order
};

// The chain's one validator: its key (read from its key file) and index.
struct ValidatorKey {
  crypto::KeyPair key;
  std::uint16_t index = 0;
};

// Commits records [records.count(), target) into the ledger at `db_dir`
// (the node stopped), printing progress to stderr. Errors: INTERRUPTED, and
// the kernel's and storage's.
Status load_records(Records& records, const ValidatorKey& v, const std::filesystem::path& db_dir,
                    std::uint64_t target, const ledger::LedgerOptions& lo, bool full_compaction,
                    double& compaction_s);

}  // namespace emledger::bench::scale
