// Ingest benchmark (issue 2): committed, durable, signature-verified register
// transactions per second on one node, beside this machine's Ed25519
// verification rate on all cores measured in the same run, and their ratio.
//
//   ./build/benchmarks/ingest_bench [--txs N] [--batch B] [--clients C] [--json FILE]
//                                   [--node PATH]
//
// Setup: a real emledger-node process (--dev, fresh LevelDB in a temp dir) on
// loopback; transactions are pre-signed before the clock starts so the load
// generator does not compete for signing; each batch is submitted with
// ?wait=commit, so a transaction counts only once its block is fsynced.
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "../tests/support/node_process.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/json.hpp"

using namespace emledger;
using namespace emledger::ledger;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::size_t txs = 40000;
  std::size_t batch = 1000;
  std::size_t clients = 8;
  std::string json_out;
  std::string node_bin = EMLEDGER_NODE_BIN;  // --node: another build, for A/B runs
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--txs")
      o.txs = std::stoul(v);
    else if (k == "--batch")
      o.batch = std::stoul(v);
    else if (k == "--clients")
      o.clients = std::stoul(v);
    else if (k == "--json")
      o.json_out = v;
    else if (k == "--node")
      o.node_bin = v;
    else {
      std::cerr << "unknown option " << k << "\n";
      std::exit(2);
    }
  }
  return o;
}

// Ed25519 verifications per second with one thread per core, over distinct
// messages of the size of a register transaction's signed bytes.
double ed25519_ceiling(double seconds) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  constexpr std::size_t kMsgs = 256;
  auto key = crypto::KeyPair::generate();
  std::vector<Bytes> msgs;
  std::vector<crypto::Signature> sigs;
  for (std::size_t i = 0; i < kMsgs; ++i) {
    Bytes m(330, static_cast<std::uint8_t>(i));
    sigs.push_back(key.sign(m));
    msgs.push_back(std::move(m));
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> pool;
  auto t0 = Clock::now();
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::uint64_t n = 0;
      for (std::size_t i = t; !stop.load(std::memory_order_relaxed); ++i, ++n)
        if (!crypto::verify(key.public_key(), msgs[i % kMsgs], sigs[i % kMsgs])) std::abort();
      total += n;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(total.load()) / elapsed;
}

std::vector<std::string> presign(const Genesis& g, const crypto::KeyPair& key, std::size_t n) {
  std::vector<std::string> out(n);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < n; i += threads) {
        RegisterRecord r;
        r.body.kind = static_cast<std::uint8_t>(RecordKind::kMaterial);
        r.body.type_code = "bench.material";
        r.body.holder_ref = crypto::sha256(as_bytes("holder-" + std::to_string(i % 1000)));
        r.body.content_hash = crypto::sha256(as_bytes("bench-file-" + std::to_string(i)));
        r.body.size_bytes = 100000 + i;
        r.body.media_type = "application/pdf";
        r.body.locator = "store://bench/" + std::to_string(i);
        r.body.issued_at_ms = 1'800'000'000'000;
        TxBody b = make_body(TxType::kRegisterRecord, r);
        b.chain_id = g.chain_id;
        b.signer_org = "dev.issuer";
        b.key_id = 1;
        b.expires_at_height = kTxLifetimeBlocksMax;
        b.nonce = i;
        out[i] = to_hex(encode(sign_tx(std::move(b), key)));
      }
    });
  for (auto& th : pool) th.join();
  return out;
}

// User plus system CPU seconds of `who` (RUSAGE_SELF or RUSAGE_CHILDREN).
double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("emledger-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);

  std::cout << "measuring the Ed25519 ceiling (all cores)...\n";
  double ceiling = ed25519_ceiling(3.0);

  emledger::testing::NodeProcess node(o.node_bin, (dir / "node").string());
  if (!node.start({"--dev", "--data", (dir / "node").string(), "--listen", "127.0.0.1:0"})) {
    std::cerr << "node did not start:\n" << node.log();
    return 3;
  }
  auto genesis = load_genesis_file((dir / "node" / "genesis.json").string());
  auto key =
      crypto::read_key_file((dir / "node" / "keys" / "dev.issuer.key").string(), std::nullopt);
  if (!genesis || !key) {
    std::cerr << "cannot read the dev genesis or key\n";
    return 3;
  }
  std::cout << "pre-signing " << o.txs << " register transactions...\n";
  auto txs = presign(*genesis, *key, o.txs);

  std::atomic<std::size_t> next{0}, committed{0}, failed{0};
  const double client_cpu0 = cpu_seconds(RUSAGE_SELF);
  auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (std::size_t c = 0; c < o.clients; ++c)
    clients.emplace_back([&] {
      httplib::Client http(node.host(), node.port());
      http.set_read_timeout(120, 0);
      for (;;) {
        std::size_t begin = next.fetch_add(o.batch);
        if (begin >= txs.size()) break;
        std::size_t end = std::min(begin + o.batch, txs.size());
        Json body = {{"txs", Json::array()}};
        for (std::size_t i = begin; i < end; ++i) body["txs"].push_back(txs[i]);
        auto res = http.Post("/v1/transactions/batch?wait=commit", body.dump(), "application/json");
        if (!res || res->status != 200) {
          failed += end - begin;
          continue;
        }
        Json j = Json::parse(res->body, nullptr, false);
        for (const auto& r : j["results"])
          (r.value("status", "") == "committed" ? committed : failed) += 1;
      }
    });
  for (auto& th : clients) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double client_cpu = cpu_seconds(RUSAGE_SELF) - client_cpu0;
  node.stop(SIGTERM);
  // The node is our only child and idles until the clients start, so its
  // lifetime CPU is (nearly all) the cost of this load.
  const double node_cpu = cpu_seconds(RUSAGE_CHILDREN);

  double tps = static_cast<double>(committed.load()) / elapsed;
  double ratio = tps / ceiling;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("\n%-52s %14s\n", "measure", "value");
  std::printf("%-52s %14.0f\n", "ed25519 verifications/s, all cores (ceiling)", ceiling);
  std::printf("%-52s %14.0f\n", "emledger 1 node: committed register tx/s", tps);
  std::printf("%-52s %14.3f\n", "ratio (target >= 0.3)", ratio);
  // CPU per transaction: steadier than rates when other work shares the cores.
  const double per_tx_us = 1e6 / std::max<double>(1.0, static_cast<double>(committed.load()));
  std::printf("%-52s %14.1f\n", "Ed25519 verify CPU, us (cores / ceiling)", 1e6 * cores / ceiling);
  std::printf("%-52s %14.1f\n", "node CPU per committed tx, us", node_cpu * per_tx_us);
  std::printf("%-52s %14.1f\n", "load generator CPU per committed tx, us", client_cpu * per_tx_us);
  std::printf(
      "setup: %zu txs of ~%zu bytes, batches of %zu, %zu clients, wait=commit (fsync per block), "
      "%u cores; committed %zu, failed %zu, %.2f s\n",
      o.txs, txs.empty() ? 0 : txs[0].size() / 2, o.batch, o.clients, cores, committed.load(),
      failed.load(), elapsed);
  if (!o.json_out.empty()) {
    std::ofstream(o.json_out) << Json{{"ed25519_verify_per_s", ceiling},
                                      {"committed_tx_per_s", tps},
                                      {"ratio", ratio},
                                      {"txs", o.txs},
                                      {"batch", o.batch},
                                      {"clients", o.clients},
                                      {"cores", cores},
                                      {"failed", failed.load()},
                                      {"node_cpu_s", node_cpu},
                                      {"client_cpu_s", client_cpu}}
                                     .dump(2)
                              << "\n";
  }
  fs::remove_all(dir);
  return failed.load() == 0 ? 0 : 1;
}
