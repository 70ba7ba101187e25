// The load both baselines carry: the register transactions of bench_txs.hpp,
// of the chain id and issuer org ingest_bench's networks use (so of the same
// size as those it posts to emledger), signed before any clock starts,
// as the encoded bytes an application would receive, with the record id each
// creates and the directory of org keys that verifies them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../bench_common.hpp"
#include "../bench_txs.hpp"
#include "../network_setup.hpp"
#include "emledger/ledger/encoding.hpp"

namespace emledger::bench {

// (org id, key id) -> public key: what an application in front of a central
// database would keep to check who signed a request.
using KeyDirectory = std::map<std::pair<std::string, std::uint32_t>, crypto::PublicKey>;

struct Workload {
  std::vector<Bytes> txs;        // encode(Tx), signed
  std::vector<Hash> record_ids;  // record_id_for(tx id), of txs[i]
  KeyDirectory keys;
};

// `count` register transactions of one issuer key, signed on all cores.
inline Workload make_workload(std::size_t count) {
  Workload w;
  const auto key = crypto::KeyPair::generate();
  w.keys[{kBenchIssuerOrg, 1}] = key.public_key();
  w.txs.resize(count);
  w.record_ids.resize(count);
  const unsigned threads = cores();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t k = t; k < count; k += threads) {
        const ledger::Tx tx =
            register_tx(k, kBenchChainId, kBenchIssuerOrg, key, ledger::kTxLifetimeBlocksMax);
        w.txs[k] = ledger::encode(tx);
        w.record_ids[k] = ledger::record_id_for(tx.id());
      }
    });
  for (auto& th : pool) th.join();
  return w;
}

}  // namespace emledger::bench
