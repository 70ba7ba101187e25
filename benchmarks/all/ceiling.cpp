// bench_all's ceilings: ceiling.hpp.
#include "ceiling.hpp"

#include <chrono>
#include <iostream>
#include <vector>

#include "../bench_common.hpp"
#include "../bench_run.hpp"
#include "../bench_txs.hpp"
#include "../network_setup.hpp"
#include "emledger/ledger/ledger.hpp"

namespace emledger::bench::all {

using ledger::Json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr double kEd25519Seconds = 3.0;
// Seconds of synced writes per LevelDB figure (time inside the write only).
constexpr double kLevelDbBlockSeconds = 3.0;
constexpr double kLevelDbSingleSeconds = 2.0;
// The block whose writes the LevelDB ceiling repeats: ingest_bench's default
// batch, after a few blocks so that the state tree has some depth.
constexpr std::size_t kBlockTxs = 1000;
constexpr std::size_t kWarmBlocks = 3;

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

}  // namespace

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

}  // namespace emledger::bench::all
