// Snapshot benchmark: what joining from a state snapshot costs against
// joining by replaying every block (what range sync does: fetch each block,
// re-execute it with its signature checks, verify its finality proof, commit
// it), on one chain built in the same run, without the network.
//
//   ./build/benchmarks/snapshot_bench [--blocks N] [--block-txs M] [--window W]
//
// Prints the time and bytes of each way and their ratios. The snapshot
// carries every transaction of the last W blocks (the replay window,
// docs/formats/snapshot.md); the default W (100,000 blocks) covers a short
// chain entirely, so `--window` shows how the size falls once a chain is
// longer than its window.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_common.hpp"
#include "bench_txs.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/snapshot.hpp"

using namespace emledger;
using namespace emledger::ledger;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Ledger> open_at(const fs::path& dir, const Genesis& g) {
  auto store = open_leveldb(dir.string());
  if (!store) return nullptr;
  auto l = Ledger::open(std::move(*store), g);
  return l ? std::move(*l) : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t blocks = 50, block_txs = 2000;
  std::uint64_t window = kTxLifetimeBlocksMax;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--blocks") {
      blocks = std::stoul(argv[i + 1]);
    } else if (k == "--block-txs") {
      block_txs = std::stoul(argv[i + 1]);
    } else if (k == "--window") {
      window = std::stoull(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: snapshot_bench [--blocks N] [--block-txs M] [--window W]\n");
      return 2;
    }
  }
  if (blocks == 0 || window == 0) {
    std::fprintf(stderr, "snapshot_bench: --blocks and --window must be at least 1\n");
    return 2;
  }
  const fs::path dir =
      fs::temp_directory_path() / ("emledger-sbench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const bench::OneValidatorChain chain = bench::one_validator_chain();
  const crypto::KeyPair& issuer = chain.issuer;
  const crypto::KeyPair& validator = chain.validator;
  const Genesis& g = chain.genesis;

  // The source chain.
  auto source = open_at(dir / "source", g);
  if (!source) return 3;
  std::uint64_t n = 0;
  for (std::size_t h = 0; h < blocks; ++h) {
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < block_txs; ++i, ++n)
      txs.push_back(bench::register_tx(n, "bench", "a.issuer", issuer, h + 100));
    std::vector<TxOutcome> oc;
    auto p = source->prepare(txs, 1000 + h, h + 1, validator.public_key(), true, oc);
    if (!p) return 4;
    Certificate cert;
    sign_certificate(g, p->block.header, 0, validator, cert);
    if (!source->commit(*p, cert).is_ok()) return 4;
  }

  // Baseline: replay every block into a fresh ledger.
  std::uint64_t block_bytes = 0;
  auto replica = open_at(dir / "replay", g);
  if (!replica) return 3;
  auto t0 = Clock::now();
  for (std::uint64_t h = 1; h <= source->head().height; ++h) {
    auto b = source->block(h);
    auto proof = source->finality_proof(h);
    if (!b || !b->has_value() || !proof || !proof->has_value()) return 4;
    block_bytes += encode(**b).size() + encode_finality_proof(**proof).size();
    auto p = replica->execute(**b);
    if (!p) return 4;
    if (!replica->commit(*p, **proof).is_ok()) return 4;
  }
  const double replay_s = bench::seconds_since(t0);

  // A snapshot written to a file and imported into a fresh directory.
  const fs::path file = dir / "ledger.snap";
  std::FILE* out = std::fopen(file.c_str(), "wb");
  if (!out) return 3;
  t0 = Clock::now();
  auto written = write_snapshot(
      *source,
      [&](ByteView b) {
        return std::fwrite(b.data(), 1, b.size(), out) == b.size()
                   ? Status::ok()
                   : Status::error("IO_ERROR", "cannot write the snapshot");
      },
      window);
  const bool closed = std::fclose(out) == 0;
  const double write_s = bench::seconds_since(t0);
  if (!written || !closed) return 4;

  std::FILE* in = std::fopen(file.c_str(), "rb");
  if (!in) return 3;
  auto target = open_leveldb((dir / "restored").string());
  auto scratch = open_leveldb((dir / "sort").string());
  if (!target || !scratch) return 3;
  t0 = Clock::now();
  auto imported = import_snapshot(
      [&](std::span<std::uint8_t> buf) -> Result<std::size_t> {
        return std::fread(buf.data(), 1, buf.size(), in);
      },
      g, **target, **scratch, window);
  const double import_s = bench::seconds_since(t0);
  std::fclose(in);
  if (!imported) {
    std::fprintf(stderr, "import failed: %s\n", imported.status().to_string().c_str());
    return 4;
  }
  scratch->reset();
  auto restored = Ledger::open(std::move(*target), g);
  if (!restored || encode((*restored)->head()) != encode(source->head())) return 4;

  const double snap_bytes = static_cast<double>(written->bytes);
  std::printf("%-52s %12.2f\n", "replay every block (execute, verify, commit), s", replay_s);
  std::printf("%-52s %12.2f\n", "write snapshot, s", write_s);
  std::printf("%-52s %12.2f\n", "import snapshot (verify, build, sync), s", import_s);
  std::printf("%-52s %12.3f\n", "join time ratio: import / replay", import_s / replay_s);
  std::printf("%-52s %12.0f\n", "blocks and finality proofs, bytes",
              static_cast<double>(block_bytes));
  std::printf("%-52s %12.0f\n", "snapshot, bytes", snap_bytes);
  std::printf("%-52s %12.3f\n", "size ratio: snapshot / blocks", snap_bytes / block_bytes);
  std::printf(
      "setup: %zu blocks of %zu register txs (%llu txs, %llu state keys), window %llu blocks "
      "(%llu window txs, %llu anchors)\n",
      blocks, block_txs, static_cast<unsigned long long>(n),
      static_cast<unsigned long long>(written->counts.state_entries),
      static_cast<unsigned long long>(window),
      static_cast<unsigned long long>(written->counts.window_txs),
      static_cast<unsigned long long>(written->counts.anchor_txs));
  restored->reset();
  source.reset();
  replica.reset();
  fs::remove_all(dir);
  return 0;
}
