// Kernel benchmark: how fast the deterministic kernel executes and commits
// blocks of register transactions (no HTTP, no admission), beside the
// single-core Ed25519 verification rate measured in the same run.
//
//   ./build/benchmarks/kernel_bench [--blocks N] [--block-txs M] [--state-retention-blocks W]
//       [--state-cache-mib C] [--state-threads T] [--admission-facts 0|1]
//
// --state-retention-blocks W prunes state-tree nodes below a window of W
// heights (ADR 021; default 0 keeps every tree): from block W on, each block
// also erases what the block W heights below it superseded.
// --state-cache-mib C sizes the state-page cache (default the node's, 112 MiB);
// like the node's, it sits on transparent huge pages (ADR 024).
// --state-threads T lets each block's state-tree update use T threads (ADR
// 040; default 1). Prepare's wall time then falls below its thread's CPU.
// --admission-facts 1 hands prepare each transaction's encoding, id and log
// leaf hash, as the node's admission does (CandidateFacts; computed before
// the timing, as admission does on its own threads); 0 (the default) leaves
// prepare to encode and hash each one.
//
// It separates the block path's serial cost (prepare + commit) from the
// signature checks that the node spreads over all cores on admission.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_common.hpp"
#include "bench_txs.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/ledger.hpp"

using namespace emledger;
using namespace emledger::ledger;
using Clock = std::chrono::steady_clock;
using emledger::bench::thread_cpu_seconds;

int main(int argc, char** argv) {
  std::size_t blocks = 20, block_txs = 2000;
  LedgerOptions lo;
  lo.state_cache_huge_pages = true;  // as the node's
  std::uint64_t cache_mib = kStateCacheMibDefault;
  bool admission_facts = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--blocks")
      blocks = std::stoul(argv[i + 1]);
    else if (k == "--block-txs")
      block_txs = std::stoul(argv[i + 1]);
    else if (k == "--state-retention-blocks")
      lo.state_retention_blocks = std::stoull(argv[i + 1]);
    else if (k == "--state-cache-mib")
      cache_mib = std::stoull(argv[i + 1]);
    else if (k == "--state-threads")
      lo.state_update_threads = static_cast<unsigned>(std::stoul(argv[i + 1]));
    else if (k == "--admission-facts")
      admission_facts = std::string(argv[i + 1]) == "1";
    else {
      std::fprintf(stderr,
                   "usage: kernel_bench [--blocks N] [--block-txs M] [--state-retention-blocks W] "
                   "[--state-cache-mib C] [--state-threads T] [--admission-facts 0|1]\n");
      return 2;
    }
  }
  if (cache_mib < 1 || cache_mib > kStateCacheMibMax) {
    std::fprintf(stderr, "kernel_bench: --state-cache-mib 1..%llu\n",
                 static_cast<unsigned long long>(kStateCacheMibMax));
    return 2;
  }
  lo.state_cache_mib = cache_mib;
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("emledger-kbench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const bench::OneValidatorChain chain = bench::one_validator_chain();
  const crypto::KeyPair& issuer = chain.issuer;
  const crypto::KeyPair& validator = chain.validator;
  const Genesis& g = chain.genesis;
  auto store = open_leveldb(dir.string());
  if (!store) return 3;
  auto ledger = Ledger::open(std::move(*store), g, lo);
  if (!ledger) {
    std::fprintf(stderr, "%s\n", ledger.status().to_string().c_str());
    return 3;
  }

  std::vector<std::vector<Tx>> all(blocks);
  std::uint64_t n = 0;
  for (auto& b : all)
    for (std::size_t i = 0; i < block_txs; ++i, ++n)
      b.push_back(bench::register_tx(n, "bench", "a.issuer", issuer, 1000));

  // What admission hands prepare (--admission-facts 1): each encoding, id
  // and log leaf hash.
  std::vector<std::vector<Bytes>> encodings(blocks);
  std::vector<std::vector<CandidateFacts>> facts(blocks);
  if (admission_facts)
    for (std::size_t h = 0; h < blocks; ++h) {
      for (const auto& tx : all[h]) encodings[h].push_back(encode(tx));
      for (std::size_t i = 0; i < all[h].size(); ++i)
        facts[h].push_back(CandidateFacts{encodings[h][i], crypto::sha256(encodings[h][i]),
                                          CandidateFacts::kUnknown,
                                          log_leaf_hash(encodings[h][i])});
    }

  double prepare_s = 0, commit_s = 0, prepare_cpu_s = 0, commit_cpu_s = 0;
  for (std::size_t h = 0; h < blocks; ++h) {
    std::vector<TxOutcome> oc;
    const double c0 = thread_cpu_seconds();
    auto t0 = Clock::now();
    auto p = (*ledger)->prepare(all[h], 1000 + h, h + 1, validator.public_key(), true, oc, nullptr,
                                facts[h]);
    auto t1 = Clock::now();
    const double c1 = thread_cpu_seconds();
    if (!p) return 4;
    Certificate cert;
    sign_certificate(g, p->block.header, 0, validator, cert);
    if (!(*ledger)->commit(*p, cert).is_ok()) return 4;
    auto t2 = Clock::now();
    prepare_cpu_s += c1 - c0;
    commit_cpu_s += thread_cpu_seconds() - c1;
    prepare_s += std::chrono::duration<double>(t1 - t0).count();
    commit_s += std::chrono::duration<double>(t2 - t1).count();
  }
  // Single-core Ed25519 verification rate over the same transactions.
  auto t0 = Clock::now();
  std::size_t verified = 0;
  for (const auto& b : all)
    for (const auto& tx : b)
      verified += (*ledger)->check_tx_stateless(tx).is_ok() ? 0 : 1, ++verified;
  double verify_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double total = static_cast<double>(n);
  std::printf("%-48s %12.0f\n", "kernel prepare tx/s", total / prepare_s);
  std::printf("%-48s %12.1f\n", "prepare wall time per tx, us", 1e6 * prepare_s / total);
  std::printf("%-48s %12.0f\n", "kernel commit tx/s (synced batch per block)", total / commit_s);
  std::printf("%-48s %12.0f\n", "kernel prepare+commit tx/s", total / (prepare_s + commit_s));
  std::printf("%-48s %12.1f\n", "prepare CPU per tx (this thread), us",
              1e6 * prepare_cpu_s / total);
  std::printf("%-48s %12.1f\n", "commit CPU per tx (this thread), us", 1e6 * commit_cpu_s / total);
  std::printf("%-48s %12.0f\n", "stateless check incl. Ed25519, one core, tx/s",
              verified / verify_s);
  std::uint64_t db_bytes = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) db_bytes += e.file_size();
  std::printf("%-48s %12.0f\n", "LevelDB bytes per tx (as the blocks left it)",
              static_cast<double>(db_bytes) / total);
  std::printf(
      "setup: %zu blocks of %zu register txs, fresh LevelDB, state trees kept: %s, state cache "
      "%llu MiB on huge pages, state update threads %u, admission facts %s\n",
      blocks, block_txs,
      lo.state_retention_blocks == kStateRetentionKeepAll
          ? "all"
          : ("last " + std::to_string(lo.state_retention_blocks) + " heights").c_str(),
      static_cast<unsigned long long>(cache_mib), lo.state_update_threads,
      admission_facts ? "given" : "none");
  fs::remove_all(dir);
  return 0;
}
